"""Weights from other frameworks: a code-free reader of PyTorch checkpoint files
(``torch_file``), mmdetection's FCOS parameter names (``mmdet``), and the conversion
into a ``.pdparams`` file (``convert``). Their errors, ``TorchFileError`` and
``ConversionError``, are in `ppfcos.checkpoint.errors`."""
from .convert import SOURCES, convert_weights  # noqa: F401
from .torch_file import load_torch_file  # noqa: F401
