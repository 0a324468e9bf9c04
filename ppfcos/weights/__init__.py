"""Weights from other frameworks: a code-free reader of PyTorch checkpoint files
(``torch_file``), mmdetection's FCOS parameter names (``mmdet``), and the conversion
into a ``.pdparams`` file (``convert``)."""
from .convert import SOURCES, convert_weights  # noqa: F401
from .mmdet import ConversionError  # noqa: F401
from .torch_file import TorchFileError, load_torch_file  # noqa: F401
