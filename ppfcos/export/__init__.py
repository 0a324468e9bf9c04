"""Static inference models: export (program + weights + infer_cfg.yml), conversion to
ONNX (onnx.py, onnx_nms.py) and running them with Paddle Inference."""
from .exporter import export_model, program_file  # noqa: F401
