"""Unpickling that can build only the objects a state dict holds, never run code.

A pickle names every class or function it needs (GLOBAL / STACK_GLOBAL) and the
standard unpickler imports and calls whatever it names: a weights file can
therefore run any command when loaded. `RestrictedUnpickler` resolves
names only through an explicit allow-list of ``(module, name) -> callable``;
anything else stops the load with `UnsafePickleError` before it is called.

`NUMPY_GLOBALS` is the allow-list for numpy arrays (numeric dtypes only;
object arrays would smuggle in arbitrary pickles) and plain containers; a
format reader (Paddle's ``.pdparams``, torch's ``.pth``) extends it with the
few names of its own format.
"""
import codecs
import collections
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for a class or function outside the allow-list."""


# Array kinds a state dict holds: bool, signed, unsigned, float, complex.
_NUMERIC_KINDS = frozenset("biufc")


def numeric_dtype(*args):
    """``numpy.dtype(...)`` as a pickle calls it, refusing non-numeric dtypes.

    Object ('O') dtypes would let an array's payload unpickle arbitrary objects,
    and structured ('V') ones carry field descriptions this reader does not need.
    """
    dtype = np.dtype(*args)
    if dtype.kind not in _NUMERIC_KINDS:
        raise UnsafePickleError(f"array dtype {dtype!r} is not numeric: a weights file holds "
                                f"only numeric arrays")
    return dtype


def latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol-2 pickles use it to store ``bytes``."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _numpy_globals():
    """The names numpy arrays and scalars pickle to, under numpy 1's and 2's module paths."""
    try:
        from numpy._core import multiarray as ma, numeric   # numpy 2
    except ImportError:
        from numpy.core import multiarray as ma, numeric    # numpy 1
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): numeric_dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = ma._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = ma.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer   # protocol 5
    return allowed


NUMPY_GLOBALS = {
    **_numpy_globals(),
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``allowed``.

    allowed: {(module, name): callable}: what each permitted global resolves to.
    persistent_load: optional function for persistent ids (torch's storages);
        without one, a persistent id is refused as the standard unpickler does.
    """

    def __init__(self, file, allowed, persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._allowed = allowed
        if persistent_load is not None:
            self.persistent_load = persistent_load

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"it refers to {module}.{name}, which a file of weights "
                                    f"never needs (a pickle that names it can run code)") from None


def restricted_load(file, allowed=NUMPY_GLOBALS, persistent_load=None):
    """Unpickle one object from the binary ``file`` with `RestrictedUnpickler`."""
    return RestrictedUnpickler(file, allowed, persistent_load).load()
