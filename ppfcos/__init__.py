"""ppfcos: FCOS object detection in PaddlePaddle, compatible with PaddleDetection's FCOS zoo.

    cfg = ppfcos.load_config("configs/fcos_r50_fpn_1x_coco.yml", ["num_classes=20"])
    model = ppfcos.build_model(cfg)
"""
import os

# Importing paddle sets OMP_NUM_THREADS=1 when it is unset; remember whether the
# user chose a thread count, so the tools can use every core otherwise.
USER_OMP_NUM_THREADS = os.environ.get("OMP_NUM_THREADS")

from .cpu_math import use_mkl_avx2_on_amd  # noqa: E402

# Before any tensor work: MKL's fast kernels on AMD CPUs (see cpu_math).
MKL_AVX2_ON_AMD = use_mkl_avx2_on_amd()

from . import data  # noqa: E402,F401  (registers datasets and transforms)
from .core import ConfigError, create, load_config  # noqa: E402
from .data import create_reader  # noqa: E402
from .modeling import build_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ConfigError", "build_model", "create", "create_reader", "load_config"]
