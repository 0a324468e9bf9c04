"""Run an exported model on CPU (benchmarks, fast evaluation): Paddle Inference, or its
model.onnx in ONNX Runtime or OpenVINO, at fp32, bf16 (Paddle Inference with oneDNN,
OpenVINO) or int8 (NNCF)."""
import os
import tempfile

import numpy as np
from paddle import inference

from ..compat import paddle_inference_bf16_unsupported
from ..core.config import ConfigError
from .exporter import program_file, save_program

BACKENDS = ("paddle", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
# The precisions each backend runs (as deploy/python's backends).
BACKEND_PRECISIONS = {"paddle": ("fp32", "bf16"), "onnxruntime": ("fp32", "int8"),
                      "openvino": PRECISIONS}


class Predictor:
    """A Paddle Inference predictor of an exported detector.

    ``run(inputs)``: ``inputs`` maps ``image`` [N, 3, H, W], ``im_shape`` [N, 2] and
    ``scale_factor`` [N, 2] (float32 numpy) -> (bbox [K, 6], bbox_num [N]) numpy.
    Only the inputs the program lists are fed.
    """

    def __init__(self, predictor):
        self.predictor = predictor
        self.input_names = predictor.get_input_names()
        self.outputs = [predictor.get_output_handle(name)
                        for name in predictor.get_output_names()]

    def run(self, inputs):
        for name in self.input_names:
            self.predictor.get_input_handle(name).copy_from_cpu(
                np.ascontiguousarray(inputs[name], dtype=np.float32))
        self.predictor.run()
        bbox, bbox_num = (handle.copy_to_cpu() for handle in self.outputs)
        return bbox, bbox_num


def create_predictor(model_dir, threads=None, onednn=True, bf16=False):
    """A CPU Predictor of ``model_dir`` with ``threads`` math threads (default: all cores),
    oneDNN on or off and, with oneDNN, bf16 (oneDNN's bf16 pass: the network in bf16; the
    program's float64 decoding stays as it is, see graph.py; Paddle 3 only)."""
    refusal = paddle_inference_bf16_unsupported() if bf16 else None
    if refusal:
        raise ConfigError(refusal)
    config = inference.Config(program_file(model_dir), os.path.join(model_dir, "model.pdiparams"))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    if onednn:
        config.enable_mkldnn()
        if bf16:
            config.enable_mkldnn_bfloat16()
    else:
        config.disable_mkldnn()
    config.disable_glog_info()
    return Predictor(inference.create_predictor(config))


def onnx_runner(path, backend, precision, threads):
    """run(inputs) -> (bbox, bbox_num) of the ONNX model at ``path`` (model.onnx, or
    model_int8.onnx for int8) in ``backend`` ('onnxruntime' or 'openvino') at
    ``precision``, with ``threads`` threads."""
    from .onnx import onnxruntime_session
    from .openvino_runtime import openvino_model
    if backend == "openvino":
        return openvino_model(path, threads, precision)
    session = onnxruntime_session(path, threads)
    return lambda inputs: tuple(session.run(None, inputs))


def check_backend(backend, precision):
    """ConfigError unless ``backend`` runs ``precision`` (BACKEND_PRECISIONS)."""
    if precision not in BACKEND_PRECISIONS[backend]:
        runs = ", ".join(b for b, p in BACKEND_PRECISIONS.items() if precision in p)
        raise ConfigError(f"the {backend} predictor does not run {precision} "
                          f"(--predictor_backend {runs} does)")


class PredictorDetector:
    """The detector's eval interface run by an inference runtime on CPU.

    Built from a dygraph ``model``: its current weights are saved as a temporary
    program (normalization left to the reader; the model itself is unchanged and
    keeps training), run by ``backend`` (BACKENDS: Paddle Inference with oneDNN, or
    model.onnx in ONNX Runtime or OpenVINO) at ``precision``; int8 is calibrated on
    ``calibration`` (input dicts, ``export.calibration``). Called with a reader batch
    (``image``, ``im_shape``, ``scale_factor`` tensors) -> {"bbox": [K, 6],
    "bbox_num": [N]} numpy arrays, like ``model(batch)`` in eval mode.
    """

    def __init__(self, model, threads=None, backend="paddle", precision="fp32",
                 calibration=None):
        check_backend(backend, precision)
        model.eval()
        with tempfile.TemporaryDirectory() as tmp:
            save_program(model, tmp)
            if backend == "paddle":
                self.run = create_predictor(tmp, threads=threads, onednn=True,
                                            bf16=precision == "bf16").run
            else:
                from .onnx import export_onnx
                from .quantize import quantize_int8
                path = export_onnx(tmp)
                if precision == "int8":
                    path = quantize_int8(tmp, calibration)
                self.run = onnx_runner(path, backend, precision, threads or os.cpu_count() or 1)

    def eval(self):
        return self

    def __call__(self, batch):
        bbox, bbox_num = self.run({key: np.asarray(batch[key], dtype=np.float32) for key in
                                   ("image", "im_shape", "scale_factor")})
        return {"bbox": bbox, "bbox_num": bbox_num}
