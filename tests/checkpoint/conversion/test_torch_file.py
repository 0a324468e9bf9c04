"""Reading torch checkpoint files without torch, and refusing anything that would run code."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from ppfcos.checkpoint.conversion.torch_file import (LEGACY_MAGIC, LEGACY_PROTOCOL, Inert,
                                                     inert_getattr, load_torch_file)
from ppfcos.checkpoint.errors import TorchFileError
from ppfcos.core.safe_pickle import UnsafePickleError
from ppfcos.modeling.seeded_weights import mmdet_seeded_state

from mmdet_fixtures import MMDET_FIXTURES

LEGACY = os.path.join(MMDET_FIXTURES, "fcos_tiny_legacy.pth")
ZIP = os.path.join(MMDET_FIXTURES, "fcos_tiny_zip.pth")


@pytest.mark.parametrize("path", [LEGACY, ZIP])
def test_both_formats_give_the_seeded_weights(path):
    """The tiny model's tensors equal the recipe computed here from their names alone."""
    state = load_torch_file(path)["state_dict"]
    expected = mmdet_seeded_state([[k, list(v.shape)] for k, v in state.items()])
    assert len(state) == 369
    for name, value in state.items():
        assert value.dtype == expected[name].dtype
        np.testing.assert_array_equal(value, expected[name])


def test_training_state_is_read_as_inert_placeholders():
    checkpoint = load_torch_file(ZIP)
    assert checkpoint["meta"]["mmengine_version"] == "0.10.7"
    scalars = checkpoint["message_hub"]["log_scalars"]
    assert list(scalars) == ["train/loss", "train/lr"]
    assert all(type(v) is Inert for v in scalars.values())
    assert checkpoint["message_hub"]["runtime_info"]["iter"] == 3
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == 0.01


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _legacy_bytes(obj):
    parts = [LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}, obj, []]
    return b"".join(pickle.dumps(p, protocol=2) for p in parts)


def _zip_bytes(obj):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
    return buf.getvalue()


@pytest.mark.parametrize("layout", [_legacy_bytes, _zip_bytes])
def test_a_file_that_would_run_code_is_refused_without_running_it(tmp_path, layout):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    path.write_bytes(layout({"state_dict": {"w": _RunsCode(marker)}}))
    with pytest.raises(UnsafePickleError, match="system"):
        load_torch_file(str(path))
    assert not marker.exists()


def test_getattr_only_on_training_state_objects():
    assert inert_getattr(Inert, "min") is Inert
    with pytest.raises(UnsafePickleError):
        inert_getattr(os, "system")


def test_truncated_and_foreign_files_are_reported(tmp_path):
    with open(LEGACY, "rb") as f:
        data = f.read()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:-100])
    with pytest.raises(TorchFileError, match="truncated"):
        load_torch_file(str(cut))
    other = tmp_path / "other.pth"
    other.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(TorchFileError, match="magic"):
        load_torch_file(str(other))


def test_storages_saved_from_the_gpu_read_the_same(tmp_path):
    with open(LEGACY, "rb") as f:
        data = f.read()
    path = tmp_path / "cuda.pth"
    path.write_bytes(data.replace(b"ctorch\nFloatStorage\n", b"ctorch.cuda\nFloatStorage\n"))
    cpu, cuda = load_torch_file(LEGACY)["state_dict"], load_torch_file(str(path))["state_dict"]
    assert all(np.array_equal(cpu[k], cuda[k]) for k in cpu)
