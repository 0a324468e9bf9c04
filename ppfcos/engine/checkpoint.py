"""Load weights files (``.pdparams``) into a model by parameter name.

PaddleDetection's released weights use the same names as ppfcos, so they load
with no renaming. A file that does not fit fails with every missing,
unexpected and mis-shaped key listed; ``strict=False`` (backbone-only
pretrained weights) loads what fits and reports what it skipped.

Files are read with a restricted unpickler (:mod:`ppfcos.core.safe_pickle`),
never with ``pickle.load``/``paddle.load``: a ``.pdparams`` or ``.pdopt`` file
is a pickled dict of numpy arrays, and anything else in it (a class, a
function) is refused before it can run.
"""
import os
from dataclasses import dataclass, field

import numpy as np

from ..core.safe_pickle import NUMPY_GLOBALS, UnsafePickleError, restricted_load

# Keys paddle.save adds beside the tensors (see paddle.framework.io).
NAME_TABLE_KEY = "StructuredToParameterName@@"
BIG_TENSOR_KEY = "UnpackBigParamInfor@@"   # Paddle's spelling
# paddle.save pickles a paddle.Tensor (not a Parameter) as tuple((name, ndarray)).
PADDLE_GLOBALS = {**NUMPY_GLOBALS, ("builtins", "tuple"): tuple}


def _untuple_tensor(value):
    """A tensor that paddle.save stored as (name, ndarray) -> the ndarray."""
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], np.ndarray)):
        return value[1]
    return value


class WeightsError(ValueError):
    """A weights file that cannot be loaded into the model."""


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

    A URL is downloaded into the weights cache (see ppfcos.engine.download).
    """
    from ppfcos.engine import download  # imported here: download imports WeightsError from us
    if download.is_url(path):
        return download.fetch(path if path.endswith(".pdparams") else path + ".pdparams")
    candidates = [path] if path.endswith(".pdparams") else [path + ".pdparams", path]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise WeightsError(f"weights file not found: {candidates[0]} "
                       f"(resolved to {os.path.abspath(candidates[0])})")


def read_state_file(path):
    """Read a file written by ``paddle.save(state_dict)`` (``.pdparams``, ``.pdopt``).

    Returns {name: numpy array, or a plain value such as the LR scheduler's dict}.
    Tensors that Paddle split into slices (over 1 GiB, protocols 2-3) are joined
    again and Paddle's name table is dropped, as ``paddle.load`` does.
    Raises WeightsError for a file that holds code, is damaged, or is not a dict.
    """
    try:
        with open(path, "rb") as f:
            state = restricted_load(f, PADDLE_GLOBALS)
    except UnsafePickleError as e:
        raise WeightsError(f"refusing to load {path}: {e}") from None
    except Exception as e:  # truncated or foreign files raise assorted errors
        raise WeightsError(f"cannot read weights file {path}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a dict of named tensors")
    state = {name: _untuple_tensor(value) for name, value in state.items()}
    state.pop(NAME_TABLE_KEY, None)
    for name, info in state.pop(BIG_TENSOR_KEY, {}).items():
        parts = [state.pop(part) for part in info["slices"]]
        state[name] = np.concatenate(parts).reshape(info["OriginShape"])
    return state


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
