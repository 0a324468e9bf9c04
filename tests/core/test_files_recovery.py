"""Directory replacement, stale temporaries of killed processes, and the run lock."""
import os
import subprocess
import sys

import pytest

from ppfcos.core import files
from ppfcos.core.files import (DirectoryBusy, atomic_dir, exclusive_lock,
                               remove_stale_temporaries)
from hostile import dead_pid


def write(directory, **contents):
    os.makedirs(directory, exist_ok=True)
    for name, text in contents.items():
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)


def read(directory):
    return {name: open(os.path.join(directory, name)).read() for name in os.listdir(directory)}


def test_atomic_dir_swaps_in_one_step(tmp_path, monkeypatch):
    target = str(tmp_path / "export")
    write(target, a="old")
    renames = []
    monkeypatch.setattr(files.os, "replace", lambda *a: renames.append(a))   # never used
    with atomic_dir(target) as tmp:
        write(tmp, a="new")
    assert read(target) == {"a": "new"} and renames == []
    assert os.listdir(tmp_path) == ["export"]


def test_kill_between_fallback_renames_is_repaired_by_the_next_call(tmp_path, monkeypatch):
    """Without a one-step exchange, a kill after the first rename strands the old export;
    the next call puts it back before anything else."""
    target = str(tmp_path / "export")
    write(target, a="old")
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    real_replace, calls = os.replace, []

    def killed_after_first(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)
    monkeypatch.setattr(files.os, "replace", killed_after_first)
    monkeypatch.setattr(files, "_remove", lambda path: None)   # a kill cleans nothing up
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            write(tmp, a="new")
    monkeypatch.undo()
    assert not os.path.exists(target)
    stranded = [n for n in os.listdir(tmp_path) if ".old-" in n]
    assert len(stranded) == 1
    # pretend the killed process was another one, now gone
    os.replace(tmp_path / stranded[0], tmp_path / f"export.old-{dead_pid()}")
    os.replace(tmp_path / f"export.tmp-{os.getpid()}", tmp_path / f"export.tmp-{dead_pid()}")
    with pytest.raises(RuntimeError):
        with atomic_dir(target):
            assert read(target) == {"a": "old"}   # restored first
            raise RuntimeError("this export fails too")
    assert read(target) == {"a": "old"}
    assert os.listdir(tmp_path) == ["export"]   # the stale temporary is gone too


def test_remove_stale_temporaries_keeps_live_processes_and_other_files(tmp_path):
    dead = dead_pid()
    for name in [f"a.pdparams.tmp-{dead}", f"b.part-{dead}", f"c.tmp-{os.getpid()}",
                 "epoch_1.pdparams", "notes.tmp-x"]:
        (tmp_path / name).write_text("x")
    (tmp_path / f"d.tmp-{dead}").mkdir()
    removed = remove_stale_temporaries(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [f"a.pdparams.tmp-{dead}", f"b.part-{dead}", f"d.tmp-{dead}"])
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"c.tmp-{os.getpid()}", "epoch_1.pdparams", "notes.tmp-x"])


HOLD = """
import sys, time
from ppfcos.core.files import exclusive_lock
with exclusive_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_refuses_a_second_holder_and_dies_with_its_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DirectoryBusy, match=f"in use by another run \\(pid {holder.pid}\\)"):
            with exclusive_lock(str(tmp_path)):
                pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive_lock(str(tmp_path)) as path:   # a killed holder leaves nothing stuck
        assert open(path).read() == str(os.getpid())
