"""Read a file written by ``paddle.save(state_dict)`` (``.pdparams``, ``.pdopt``) safely.

Files are read with a restricted unpickler (`ppfcos.core.safe_pickle`),
never with ``pickle.load``/``paddle.load``: such a file is a pickled dict of numpy
arrays, and anything else in it (a class, a function) is refused before it can run.
"""
import numpy as np

from ..core.safe_pickle import NUMPY_GLOBALS, UnsafePickleError, restricted_load
from .errors import WeightsError

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


def read_state_file(path):
    """Read a file written by ``paddle.save(state_dict)`` (``.pdparams``, ``.pdopt``).

    Returns {name: numpy array, or a plain value such as the LR scheduler's dict}.
    Tensors that Paddle split into slices (over 1 GiB, protocols 2-3) are joined
    again and Paddle's name table is dropped, as ``paddle.load`` does.
    Raises WeightsError for a file that holds code, is damaged, or is not a dict.
    """
    state = _unpickled(path)
    state = {name: _untuple_tensor(value) for name, value in state.items()}
    state.pop(NAME_TABLE_KEY, None)
    for name, info in state.pop(BIG_TENSOR_KEY, {}).items():
        parts = [state.pop(part) for part in info["slices"]]
        state[name] = np.concatenate(parts).reshape(info["OriginShape"])
    return state


def tensor_names(path):
    """{structured name: Paddle tensor name} that ``paddle.save`` recorded in a weights
    file (its name table: the names the saving process gave the parameters); {} when the
    file has none. Raises WeightsError as `read_state_file`."""
    table = _unpickled(path).get(NAME_TABLE_KEY)
    return dict(table) if isinstance(table, dict) else {}


def _unpickled(path):
    """The dict pickled in ``path``, read without running code (WeightsError otherwise)."""
    try:
        with open(path, "rb") as f:
            state = restricted_load(f, PADDLE_GLOBALS)
    except UnsafePickleError as e:
        raise WeightsError(f"refusing to load {path}: {e}") from None
    except Exception as e:  # truncated or foreign files raise assorted errors
        raise WeightsError(f"cannot read weights file {path}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a dict of named tensors")
    return state
