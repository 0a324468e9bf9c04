"""ppfcos: FCOS object detection in PaddlePaddle, compatible with PaddleDetection's FCOS zoo.

    detector = ppfcos.Detector("configs/fcos_r50_fpn_1x_coco.yml", "model_final.pdparams")
    results = detector.predict("photos/")          # see ppfcos.api.Detector

    cfg = ppfcos.load_config("configs/fcos_r50_fpn_1x_coco.yml", ["num_classes=20"])
    ppfcos.setup_device()                          # the tools' threads and MKL settings
    model = ppfcos.build_model(cfg)

    run = ppfcos.train("configs/demo/fcos_r18_lite_synthetic.yml", epoch=1)   # tools/train.py
    run.metrics["bbox_mAP"], run.best_weights                 # see ppfcos.engine.python_api
    ppfcos.evaluate("configs/demo/fcos_r18_lite_synthetic.yml", weights=run.final_weights)

``Detector``, ``setup_device``, ``train`` and ``evaluate`` are imported on first use, so ``import ppfcos`` stays
as cheap as the modules below and changes no process setting.
"""
import importlib
import os
import sys


def user_omp_num_threads(environ=os.environ, paddle_imported=None,
                         launch_environ="/proc/self/environ"):
    """OMP_NUM_THREADS as the user set it, or None.

    Importing paddle sets it to "1" when it is unset (and keeps a user's value). Before
    paddle's import the variable is the user's; after it, a "1" is the user's only if
    the process was started with OMP_NUM_THREADS (``launch_environ``, Linux: the
    environment as the process began), so ``import paddle`` before ``import ppfcos``
    still gets every core."""
    value = environ.get("OMP_NUM_THREADS")
    imported = "paddle" in sys.modules if paddle_imported is None else paddle_imported
    if value != "1" or not imported:
        return value
    try:
        with open(launch_environ, "rb") as f:
            entries = f.read().split(b"\0")
        launched = any(entry.startswith(b"OMP_NUM_THREADS=") for entry in entries)
    except OSError:
        launched = False
    return value if launched else None


# Remember whether the user chose a thread count, so the tools can use every core
# otherwise. Importing ppfcos reads the environment but never changes it: process
# settings (threads, MKL's kernels) are made by ppfcos.utils.env.setup_device.
USER_OMP_NUM_THREADS = user_omp_num_threads()

from . import compat  # noqa: E402

compat.check_paddle_version()

from . import data  # noqa: E402,F401  (registers datasets, transforms and the readers' keys)
from .engine import optimizer  # noqa: E402,F401  (registers LR schedulers, LearningRate's keys)
from .core import ConfigError, create, load_config  # noqa: E402
from .data import create_reader  # noqa: E402
from .modeling import build_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["ConfigError", "Detector", "build_model", "create", "create_reader", "evaluate",
           "load_config", "setup_device", "train"]
# Attributes imported on first use: (module, name).
_LAZY = {"Detector": ("ppfcos.api", "Detector"),
         "setup_device": ("ppfcos.utils.env", "setup_device"),
         "train": ("ppfcos.engine.python_api", "train"),
         "evaluate": ("ppfcos.engine.python_api", "evaluate")}


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'ppfcos' has no attribute {name!r}")
