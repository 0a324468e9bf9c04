"""Read PyTorch checkpoint files (``torch.save``) into numpy, without torch and without
running code from the file.

Two layouts exist, and mmdetection ships both:
- legacy (torch < 1.6, and ``_use_new_zipfile_serialization=False``; the model zoo's
  files): five pickles back to back (magic number, protocol, system info, the object,
  the list of storage keys), then each storage's element count (int64) and raw bytes;
- zip (what a training run writes today): ``<name>/data.pkl`` holds the object and
  ``<name>/data/<key>`` each storage's raw bytes.

Both unpickle through `ppfcos.core.safe_pickle.RestrictedUnpickler`. Tensors
are the pickle's calls of ``torch._utils._rebuild_tensor_v2`` (or ``_rebuild_parameter``)
on storages named by persistent ids; here those names resolve to functions that build
numpy arrays. Objects of the training framework that a checkpoint carries besides the
weights (mmengine's ``message_hub`` history buffers, say) resolve to `Inert`,
which keeps and runs nothing, and ``getattr`` works on those alone. Any other global
stops the load.
"""
import pickle
import zipfile

import numpy as np

from ...core.safe_pickle import NUMPY_GLOBALS, UnsafePickleError, restricted_load
from ..errors import TorchFileError

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001

# torch's typed storages as a pickle names them -> numpy dtype of their elements.
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

# Packages whose objects a checkpoint may carry beside the weights (training state).
INERT_PACKAGES = ("mmengine", "mmdet", "mmcv")


class Inert:
    """What any object of `INERT_PACKAGES` unpickles to: it ignores its arguments and
    state, so constructing, calling or filling it does nothing."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass

    def __repr__(self):
        return "Inert()"


def inert_getattr(obj, name):
    """``getattr`` as pickles of training state use it (mmengine's history buffers pickle
    their statistics methods as ``getattr(HistoryBuffer, 'min')``): allowed on
    `Inert` only, where it gives Inert again."""
    if obj is Inert or isinstance(obj, Inert):
        return Inert
    raise UnsafePickleError(f"getattr on {type(obj).__name__}: a file of weights uses "
                            f"getattr only on training-state objects")


class StorageType:
    """Stands for ``torch.<Name>Storage`` in a pickle: only its element dtype matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class Storage:
    """A storage's elements (``array``, 1-d, filled once the bytes are read)."""

    def __init__(self, storage_type, numel):
        self.storage_type = storage_type
        self.numel = int(numel)
        self.array = None

    def fill(self, data):
        array = np.frombuffer(data, dtype=self.storage_type.dtype.newbyteorder("<"),
                              count=self.numel)
        if self.storage_type.name == "BFloat16Storage":   # the high half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        self.array = array


class PendingTensor:
    """A tensor whose storage bytes may come later (legacy files): ``materialize()``."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

    def materialize(self):
        """-> a contiguous numpy array of ``size`` taken from the storage with ``stride``."""
        array = self.storage.array
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if min(self.size, default=1) > 0 and needed > array.size:
            raise TorchFileError(f"a tensor of size {list(self.size)} reads past its "
                                 f"storage of {array.size} elements")
        base = array[self.offset:]
        strides = tuple(s * base.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(base, self.size, strides).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
    if not isinstance(storage, Storage):
        raise TorchFileError("a tensor's storage is not a storage of the file")
    return PendingTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


class _TorchGlobals(dict):
    """The allow-list: numpy and containers, torch's tensor and storage names, and
    `Inert` for any name under `INERT_PACKAGES`."""

    def __missing__(self, key):
        module, _ = key
        if module.split(".")[0] in INERT_PACKAGES:
            return Inert
        raise KeyError(key)


TORCH_GLOBALS = _TorchGlobals({
    **NUMPY_GLOBALS,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("builtins", "getattr"): inert_getattr,
    ("__builtin__", "getattr"): inert_getattr,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    **{("torch", name): StorageType(name) for name in STORAGE_DTYPES},
    # storages saved from the GPU (optimizer states, say): their bytes read the same way
    **{("torch.cuda", name): StorageType(name) for name in STORAGE_DTYPES},
})


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def _storage_id(saved_id):
    """Check a persistent id ('storage', type, key, location, numel, ...) -> its parts."""
    if not (isinstance(saved_id, tuple) and saved_id and _text(saved_id[0]) == "storage"):
        raise TorchFileError(f"unsupported persistent id {saved_id!r:.80}: only storages "
                             f"are read")
    storage_type = saved_id[1]
    if not isinstance(storage_type, StorageType):
        raise TorchFileError(f"persistent id names {storage_type!r:.60}, not a storage type")
    return storage_type, _text(saved_id[2]), saved_id[4], saved_id[5:]


def _materialize(obj):
    """Replace every PendingTensor inside dicts, lists and tuples by its numpy array."""
    if isinstance(obj, PendingTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        for key in obj:
            obj[key] = _materialize(obj[key])
        return obj
    if isinstance(obj, list):
        obj[:] = [_materialize(v) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    return obj


def _load_zip(archive):
    names = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(names) != 1:
        raise TorchFileError("zip file without exactly one <name>/data.pkl: not torch.save's")
    prefix = names[0][:-len("data.pkl")]
    byteorder = prefix + "byteorder"
    if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
        raise TorchFileError("big-endian torch files are not supported")
    storages = {}

    def persistent_load(saved_id):
        storage_type, key, numel, _ = _storage_id(saved_id)
        if key not in storages:
            storage = Storage(storage_type, numel)
            data = archive.read(f"{prefix}data/{key}")
            if len(data) < storage.numel * storage_type.dtype.itemsize:
                raise TorchFileError(f"storage {key} is shorter than its {numel} elements")
            storage.fill(data)
            storages[key] = storage
        return storages[key]

    with archive.open(names[0]) as f:
        return restricted_load(f, TORCH_GLOBALS, persistent_load)


def _load_legacy(f):
    def plain():
        return restricted_load(f, TORCH_GLOBALS)

    if plain() != LEGACY_MAGIC:
        raise TorchFileError("not a torch file (wrong magic number)")
    if plain() != LEGACY_PROTOCOL:
        raise TorchFileError("unsupported legacy torch protocol version")
    sys_info = plain()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise TorchFileError("big-endian torch files are not supported")
    storages = {}

    def persistent_load(saved_id):
        storage_type, key, numel, rest = _storage_id(saved_id)
        if rest and rest[0] is not None:
            raise TorchFileError("storage views (torch < 1.0 files) are not supported")
        storages.setdefault(key, Storage(storage_type, numel))
        return storages[key]

    obj = restricted_load(f, TORCH_GLOBALS, persistent_load)
    for key in plain():
        storage = storages[_text(key)]
        numel = int(np.frombuffer(f.read(8), dtype="<i8")[0])
        nbytes = numel * storage.storage_type.dtype.itemsize
        data = f.read(nbytes)
        if numel != storage.numel or len(data) != nbytes:
            raise TorchFileError(f"storage {key} is truncated or of the wrong size")
        storage.fill(data)
    return obj


def load_torch_file(path):
    """The object a ``torch.save`` file holds, with tensors as numpy arrays.

    Raises `TorchFileError` for a file of another kind, and
    ``ppfcos.core.safe_pickle.UnsafePickleError`` when it names anything outside the
    allow-list (so nothing from the file ever runs).
    """
    try:
        with open(path, "rb") as f:
            if zipfile.is_zipfile(f):
                f.seek(0)
                with zipfile.ZipFile(f) as archive:
                    obj = _load_zip(archive)
            else:
                f.seek(0)
                obj = _load_legacy(f)
    except UnsafePickleError:
        raise
    except (EOFError, pickle.UnpicklingError, KeyError, IndexError, TypeError) as e:
        raise TorchFileError(f"{path}: not a readable torch checkpoint "
                             f"({type(e).__name__}: {e})") from e
    return _materialize(obj)
