"""Static inference models: export (program + weights + infer_cfg.yml), conversion to
ONNX (onnx.py, onnx_nms.py), int8 quantization, and evaluation of a model in training
through ppfcos_runtime's backends (predictor.py)."""
from .exporter import export_model  # noqa: F401
from .program import program_file  # noqa: F401
