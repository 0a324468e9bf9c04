"""Evaluate a model in training through ppfcos_runtime's backends (``--predictor``).

The model's current weights are exported to a temporary directory with the files the
backend reads at the precision asked (its row of ``ppfcos_runtime.predictor.BACKENDS``:
the program, model.onnx, or model_int8.onnx calibrated here), and run by the backend
``deploy/python/infer.py`` runs: Paddle Inference with oneDNN, ONNX Runtime or OpenVINO,
on CPU.
"""
import os
import tempfile

import numpy as np
from ppfcos_runtime.detector import INPUT_KEYS
from ppfcos_runtime.exported_model import ExportedModel
from ppfcos_runtime.model_files import ONNX, ONNX_INT8, model_paths
from ppfcos_runtime.predictor import BACKENDS, RunOptions, check_options, create_predictor

from .exporter import save_program
from .graph import DECODE_DTYPE
from .onnx import export_onnx
from .quantize import quantize_int8


def run_options(precision="fp32", threads=None):
    """The CPU RunOptions of ``precision`` with ``threads`` threads (default: all cores)."""
    return RunOptions(cpu_threads=threads or os.cpu_count() or 1, precision=precision)


def check_backend(backend, precision):
    """DeployError unless ``backend`` runs ``precision`` on this CPU: its row of the
    capability table, then its own checks (its package installed, Paddle's bf16)."""
    check_options(backend, run_options(precision))


def export_for(model, model_dir, backend, precision, calibration):
    """Write ``model`` (eval mode) to ``model_dir`` with the files ``backend`` reads at
    ``precision`` -> the ExportedModel of them. ``calibration``: int8's input dicts."""
    save_program(model, model_dir)
    reads = BACKENDS[backend].files[precision]
    if ONNX in reads or ONNX_INT8 in reads:
        export_onnx(model_dir)
    if ONNX_INT8 in reads:
        quantize_int8(model_dir, calibration)
    return ExportedModel(model_dir=model_dir, decode_dtype=DECODE_DTYPE,
                         **model_paths(model_dir))


class RuntimeEvalModel:
    """The detector's eval interface run by an inference runtime on CPU.

    Built from a dygraph ``model``: its current weights are saved as a temporary
    export (normalization left to the reader; the model itself is unchanged and
    keeps training), run by ppfcos_runtime's ``backend`` at ``precision`` with ``threads``
    threads; int8 is calibrated on ``calibration`` (input dicts,
    ``export.calibration``). Called with a reader batch (``image``, ``im_shape``,
    ``scale_factor`` tensors) -> {"bbox": [K, 6], "bbox_num": [N]} numpy arrays, like
    ``model(batch)`` in eval mode.
    """

    def __init__(self, model, threads=None, backend="paddle", precision="fp32",
                 calibration=None):
        options = run_options(precision, threads)
        check_options(backend, options)
        model.eval()
        with tempfile.TemporaryDirectory() as tmp:
            exported = export_for(model, tmp, backend, precision, calibration)
            self.predictor = create_predictor(backend, exported, options)

    def eval(self):
        return self

    def __call__(self, batch):
        bbox, bbox_num = self.predictor.run({key: np.asarray(batch[key], dtype=np.float32)
                                             for key in INPUT_KEYS})
        return {"bbox": bbox, "bbox_num": bbox_num}
