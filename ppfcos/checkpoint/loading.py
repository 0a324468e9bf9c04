"""Load weights files (``.pdparams``) into a model by parameter name.

PaddleDetection's released weights use the same names as ppfcos, so they load
with no renaming. A file that does not fit fails with every missing,
unexpected and mis-shaped key listed; ``strict=False`` (backbone-only
pretrained weights) loads what fits and reports what it skipped.

Files are read by :func:`ppfcos.checkpoint.state_file.read_state_file`, which runs
no code from them; a URL is downloaded first (:mod:`ppfcos.checkpoint.download`).
"""
import os
from dataclasses import dataclass, field

import numpy as np

from . import download
from .errors import WeightsError
from .state_file import read_state_file


@dataclass
class LoadReport:
    """What a load did: names loaded, and names skipped for each reason."""
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)      # in the model, not in the file
    unexpected: list = field(default_factory=list)   # in the file, not in the model
    mismatched: list = field(default_factory=list)   # (name, file shape, model shape)

    def summary(self, limit=10):
        def names(items):
            shown = ", ".join(map(str, items[:limit]))
            return shown + (f" ... (+{len(items) - limit} more)" if len(items) > limit else "")
        lines = [f"loaded {len(self.loaded)} tensors"]
        if self.missing:
            lines.append(f"missing from the file ({len(self.missing)}): {names(self.missing)}")
        if self.unexpected:
            lines.append(f"not in the model ({len(self.unexpected)}): {names(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{n} file {list(f)} vs model {list(m)}" for n, f, m in self.mismatched]
            lines.append(f"shape mismatch ({len(shapes)}): {names(shapes)}")
        return "\n".join(lines)


def resolve_weights_path(path):
    """``output/x/model_final`` or ``.../model_final.pdparams`` -> the existing file.

    A URL is downloaded into the weights cache (see :mod:`ppfcos.checkpoint.download`).
    """
    if download.is_url(path):
        return download.fetch(path if path.endswith(".pdparams") else path + ".pdparams")
    candidates = [path] if path.endswith(".pdparams") else [path + ".pdparams", path]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise WeightsError(f"weights file not found: {candidates[0]} "
                       f"(resolved to {os.path.abspath(candidates[0])})")


def read_state(path):
    """Read a ``.pdparams`` file (path, prefix or URL) into {name: numpy array}."""
    return read_state_file(resolve_weights_path(path))


def match_state(model, state):
    """Compare a state dict with the model's parameters -> LoadReport (nothing loaded yet)."""
    report = LoadReport()
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in state:
            report.missing.append(name)
        elif np.shape(state[name]) != tuple(tensor.shape):
            report.mismatched.append((name, np.shape(state[name]), tuple(tensor.shape)))
        else:
            report.loaded.append(name)
    report.unexpected = [name for name in state if name not in own]
    return report


def load_weights(model, path, strict=True):
    """Load ``path`` into ``model``.

    strict: every model parameter must be in the file with the same shape and the
        file may hold nothing else; otherwise WeightsError lists the differences.
    Non-strict: load the matching tensors, skip the rest, and return the report.
    """
    state = read_state(path)
    report = match_state(model, state)
    if strict and (report.missing or report.unexpected or report.mismatched):
        raise WeightsError(f"{path} does not fit the model:\n{report.summary()}\n"
                           f"(for backbone-only or partial weights, load non-strictly)")
    if not report.loaded:
        raise WeightsError(f"{path}: no tensor in the file matches the model:\n"
                           f"{report.summary()}")
    model.set_state_dict({name: state[name] for name in report.loaded})
    return report
