"""The one way to build an ExportDetector from an export: `load_detector`.

ppfcos.Detector (an export), ``deploy/python/infer.py``, ppfcos-serve's processes and the
tests all build theirs here, so the checks (backend, precision and device against the
BACKENDS table, the files the backend reads) run in one order with one wording.
"""
from .benchmark import Timings
from .detector import ExportDetector
from .exported_model import ExportedModel, load_exported_model
from .predictor import RunOptions, check_options, create_predictor
from .preprocess import Preprocessor


def load_detector(model, backend="paddle", options=None, timings=None, warmup_runs=0):
    """An ExportDetector (images in, rows [k, 6] per image out) of an export run by
    ``backend``.

    - `model`: the export's folder, or its ExportedModel when already loaded.
    - `backend`: a BACKENDS name (paddle, onnxruntime, openvino).
    - `options`: RunOptions (default: fp32 on one CPU thread with oneDNN).
    - `timings`: the benchmark.Timings that collects the stage times (default: a new one).
    - `warmup_runs`: untimed runs of each new input shape.

    DeployError (one line) if the backend cannot run ``options`` or the export lacks a
    file it reads. The detector's ``exported`` is the ExportedModel (labels, threshold).
    """
    options = options or RunOptions()
    check_options(backend, options)
    if not isinstance(model, ExportedModel):
        model = load_exported_model(model, backend, options.precision)
    return ExportDetector(Preprocessor(model.preprocess), create_predictor(backend, model, options),
                    timings or Timings(), warmup_runs=warmup_runs, exported=model)
