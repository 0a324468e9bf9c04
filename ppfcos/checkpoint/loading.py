"""Load weights files (``.pdparams``) into a model by parameter name.

PaddleDetection's released weights use the same names as ppfcos, so they load
with no renaming. A file that does not fit fails with every missing,
unexpected and mis-shaped key listed; ``strict=False`` (backbone-only
pretrained weights) loads what fits and reports what it skipped.

Weights of another class count (an 80-class COCO model for a 3-class config)
differ only in the parameters the model names in ``class_parameter_names()``.
Non-strictly (``pretrain_weights``) those keep the model's own initialisation
and the report lists them as re-initialised; strictly (evaluation, resume) the
file is refused in one line that says so.

Files are read by `ppfcos.checkpoint.state_file.read_state_file`, which runs
no code from them; a URL is downloaded first (`ppfcos.checkpoint.download`).
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
    reinitialised: list = field(default_factory=list)  # class-dependent, other class count
    class_counts: tuple = ()                          # (in the file, in the model) if so

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
        if self.reinitialised:
            lines.append(f"{self.class_counts[0]} classes in the file, {self.class_counts[1]} "
                         f"in the model: re-initialised by the model "
                         f"({len(self.reinitialised)}): {names(self.reinitialised)}")
        return "\n".join(lines)


def resolve_weights_path(path):
    """``output/x/model_final`` or ``.../model_final.pdparams`` -> the existing file.

    A URL is downloaded into the weights cache (see `ppfcos.checkpoint.download`).
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
    """Compare a state dict with the model's parameters -> LoadReport (nothing loaded yet).

    A mis-shaped parameter that the model names in ``class_parameter_names()`` (if it
    has that method) is listed as ``reinitialised``, with the two class counts (the
    first dimension), instead of ``mismatched``."""
    report = LoadReport()
    own = model.state_dict()
    class_names = set(getattr(model, "class_parameter_names", list)())
    for name, tensor in own.items():
        if name not in state:
            report.missing.append(name)
        elif np.shape(state[name]) == tuple(tensor.shape):
            report.loaded.append(name)
        elif name in class_names:
            report.reinitialised.append(name)
            report.class_counts = (np.shape(state[name])[0], tensor.shape[0])
        else:
            report.mismatched.append((name, np.shape(state[name]), tuple(tensor.shape)))
    report.unexpected = [name for name in state if name not in own]
    return report


def load_weights(model, path, strict=True):
    """Load ``path`` into ``model``.

    strict: every model parameter must be in the file with the same shape and the
        file may hold nothing else; otherwise WeightsError lists the differences (one
        line when only the class count differs).
    Non-strict: load the matching tensors, skip the rest (the class-dependent ones of
    another class count keep the model's initialisation), and return the report.
    """
    state = read_state(path)
    report = match_state(model, state)
    only_classes = not (report.missing or report.unexpected or report.mismatched)
    if strict and report.reinitialised and only_classes:
        raise WeightsError(f"{path} was trained for {report.class_counts[0]} classes but the "
                           f"config has num_classes {report.class_counts[1]}: use weights of "
                           f"the config's classes, or start training on these classes from it "
                           f"with -o pretrain_weights={path}")
    if strict and not only_classes:
        raise WeightsError(f"{path} does not fit the model:\n{report.summary()}\n"
                           f"(for backbone-only or partial weights, load non-strictly)")
    if not report.loaded:
        raise WeightsError(f"{path}: no tensor in the file matches the model:\n"
                           f"{report.summary()}")
    model.set_state_dict({name: state[name] for name in report.loaded})
    return report
