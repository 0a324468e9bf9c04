"""Weights I/O: reading, downloading, loading, snapshotting and converting weights.

    errors.py      WeightsError, TorchFileError, ConversionError (imports no ppfcos module)
    state_file.py  reading a .pdparams/.pdopt safely (no code from the file runs)
    download.py    weights by URL: a local cache, atomic downloads
    loading.py     load_weights by parameter name, strict or with a report of what did not fit
    optimizer_state.py  optimizer state keyed by structured parameter names (portable)
    ppdet_snapshot.py   reading PaddleDetection's snapshot layout for resuming
    snapshot.py    atomic save / exact resume of model + optimizer + LR schedule + progress
    conversion/    other frameworks' checkpoints (PyTorch files, mmdetection names) -> .pdparams

Imports run one way: errors <- state_file <- download <- loading <- snapshot, and
errors, state_file <- optimizer_state <- ppdet_snapshot <- snapshot; conversion
uses errors only. The package knows nothing of training loops or hooks (``ppfcos.engine``
uses it, never the other way round).
"""
from .errors import ConversionError, TorchFileError, WeightsError  # noqa: F401
from .loading import LoadReport, load_weights  # noqa: F401
from .snapshot import resume_snapshot, save_snapshot  # noqa: F401
