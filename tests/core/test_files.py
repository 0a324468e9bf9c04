"""Atomic writes: the file appears whole when the block completes, else stays as it was."""
import json

import pytest

from ppfcos.core.files import atomic_path, write_json


def test_the_file_appears_only_when_the_block_completes(tmp_path):
    target = tmp_path / "new" / "dir" / "weights.bin"           # parent folders are made
    with atomic_path(str(target)) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"complete")
        assert not target.exists()
    assert target.read_bytes() == b"complete"
    assert [p.name for p in target.parent.iterdir()] == ["weights.bin"]


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_an_error_inside_the_block_keeps_the_old_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "weights.bin"
    target.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_path(str(target)) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise error
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]


def test_write_json_replaces_the_file_whole(tmp_path):
    target = tmp_path / "results.json"
    write_json({"mAP": 0.5, "images": [1, 2]}, str(target))
    assert json.loads(target.read_text()) == {"mAP": 0.5, "images": [1, 2]}
    write_json([0.25], str(target))
    assert json.loads(target.read_text()) == [0.25]


def test_write_json_that_fails_midway_keeps_the_old_file(tmp_path):
    target = tmp_path / "results.json"
    write_json({"mAP": 0.5}, str(target))
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json({"mAP": 0.6, "model": object()}, str(target))   # fails after "mAP" is out
    assert json.loads(target.read_text()) == {"mAP": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
