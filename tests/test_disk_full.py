"""A full disk while training saves a checkpoint or the exporter writes an export, as
it happens: the save_dir or output_dir on a tmpfs of its own with room for less than
the next file (root mounts one; skipped where the sandbox refuses), and a file size
limit (``ulimit -f``, EFBIG; no root needed). The tool says in one line which file
could not be written and that the previous checkpoint or export is intact, exits 1,
and leaves every earlier file byte for byte as it was, with no temporaries."""
import os
import resource
import shutil
import subprocess

import pytest

from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY, checksums, data_overrides, one_error_line, run_tool

NAME = "fcos_r18_lite_synthetic"


def used_bytes(path):
    """Bytes in use on the filesystem holding ``path``."""
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


@pytest.fixture
def small_disk(tmp_path):
    """(a tmpfs mounted on tmp_path/disk, ``leave_room(n)``: shrink it to hold ``n``
    bytes more than it holds now)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)],
                             capture_output=True, text=True, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")

    def leave_room(free_bytes):
        subprocess.run(["mount", "-o", f"remount,size={used_bytes(disk) + free_bytes}",
                        str(disk)], check=True, timeout=30)
    try:
        yield disk, leave_room
    finally:
        subprocess.run(["umount", str(disk)], check=True, timeout=30)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    make_synthetic_coco(root, num_train=8, num_val=2, image_size=(64, 64))
    return root


def tool_args(data, *options):
    """-c/-o arguments of the tiny demo config over ``data``, then ``options``."""
    return ["-c", DEMO, "-o", *TINY, *data_overrides(data), *options]


def temporaries(directory):
    """Entries of ``directory`` named like atomic writes' temporaries (.tmp-<pid>)."""
    return [n for n in os.listdir(directory) if "-" in n.rsplit(".", 1)[-1]]


def checkpoint_checksums(save_dir):
    """checksums() of the snapshots in ``save_dir`` (not its .lock, which holds the pid)."""
    return {name: digest for name, digest in checksums(save_dir).items() if name != ".lock"}


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_last_one(
        tmp_path, data, small_disk):
    disk, leave_room = small_disk
    out = disk / "output" / NAME
    first = run_tool("train", tool_args(data, f"save_dir={disk}/output", "epoch=2",
                                        "snapshot_epoch=1"), str(tmp_path))
    assert first.returncode == 0, first.stderr[-3000:]
    before = checkpoint_checksums(out)
    leave_room(os.path.getsize(out / "model_final.pdparams") // 2)
    resumed = run_tool("train", tool_args(data, f"save_dir={disk}/output", "epoch=4",
                                          "snapshot_epoch=1", "-r", str(out / "model_final")),
                       str(tmp_path))
    error = one_error_line(1, resumed.returncode, resumed.stdout, resumed.stderr)
    assert error.startswith(f"error: training stopped in epoch 3 after 6 iterations: could "
                            f"not write {out / 'epoch_3.pdparams'}: No space left on device; ")
    assert error.endswith(f"the last complete checkpoint is {out / 'model_final'} (intact): "
                          f"resume with -r {out / 'model_final'}")
    assert checkpoint_checksums(out) == before and temporaries(out) == []


@pytest.fixture(scope="module")
def weights(tmp_path_factory, data):
    """The model_final of a one-epoch run."""
    root = tmp_path_factory.mktemp("weights")
    run = run_tool("train", tool_args(data, f"save_dir={root}/output", "epoch=1"), str(root))
    assert run.returncode == 0, run.stderr[-3000:]
    return root / "output" / NAME / "model_final"


@pytest.fixture(scope="module")
def export_args(data, weights):
    """A function: output_dir -> the arguments exporting ``weights`` into it."""
    return lambda output_dir: tool_args(data, f"weights={weights}") + ["--output_dir",
                                                                         str(output_dir)]


@pytest.fixture(scope="module")
def first_export(tmp_path_factory, export_args):
    """A folder holding an export of ``weights`` (copied where a test needs one)."""
    root = tmp_path_factory.mktemp("first_export")
    run = run_tool("export_model", export_args(root), str(root))
    assert run.returncode == 0, run.stderr[-3000:]
    return root / NAME


def export_again(first_export, export_args, output_dir, preexec_fn=None):
    """Copy ``first_export`` into ``output_dir`` and export there again (``preexec_fn``:
    the child's limits) -> (the export's folder, its checksums before, the run)."""
    export = output_dir / NAME
    shutil.copytree(first_export, export)
    before = checksums(export)
    return export, before, run_tool("export_model", export_args(output_dir), str(output_dir),
                                    preexec_fn=preexec_fn)


def test_a_full_disk_while_exporting_is_one_line_and_keeps_the_previous_export(
        first_export, export_args, small_disk):
    disk, leave_room = small_disk
    shutil.copytree(first_export, disk / "room")
    leave_room(os.path.getsize(first_export / "model.pdiparams") // 2)
    shutil.rmtree(disk / "room")   # the disk holds room for 1.5 exports
    export, before, second = export_again(first_export, export_args, disk)
    error = one_error_line(1, second.returncode, second.stdout, second.stderr)
    assert error == (f"error: export stopped: could not write {export}: No space left on "
                     f"device; the previous export in {export} is intact")
    assert checksums(export) == before and os.listdir(disk) == [NAME]


def limit_file_size(size):
    """A preexec_fn: files of the child may grow to ``size`` bytes (``ulimit -f``)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_file_size_limit_while_exporting_is_one_line_and_keeps_the_previous_export(
        tmp_path, first_export, export_args):
    # Paddle's paddle.jit.save cuts model.pdiparams at the limit without an error: the
    # exporter sees the file at the limit and refuses the cut export.
    limit = os.path.getsize(first_export / "model.pdiparams") // 2
    export, before, second = export_again(first_export, export_args, tmp_path,
                                          preexec_fn=limit_file_size(limit))
    error = one_error_line(1, second.returncode, second.stdout, second.stderr)
    assert error == (f"error: export stopped: could not write {export / 'model.pdiparams'}: "
                     f"File too large; the previous export in {export} is intact")
    assert checksums(export) == before and os.listdir(tmp_path) == [NAME]
