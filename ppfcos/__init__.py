"""ppfcos: FCOS object detection in PaddlePaddle, compatible with PaddleDetection's FCOS zoo.

    cfg = ppfcos.load_config("configs/fcos_r50_fpn_1x_coco.yml", ["num_classes=20"])
    model = ppfcos.build_model(cfg)
"""
from . import data  # noqa: F401  (registers datasets and transforms)
from .core import ConfigError, create, load_config
from .data import create_reader
from .modeling import build_model

__version__ = "0.1.0"
__all__ = ["ConfigError", "build_model", "create", "create_reader", "load_config"]
