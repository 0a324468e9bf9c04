"""Ctrl-C (SIGINT) and SIGTERM (docker stop, Kubernetes, Slurm) during training,
evaluation and export, as a user or a scheduler sends them: one line (no traceback, no
Paddle C++ dump), exit 130 for SIGINT and 143 for SIGTERM, the last complete checkpoint
or the previous export intact, the save_dir's lock free and no temporaries left; a
second signal during the cleanup exits at once."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO
from ppfcos.checkpoint.snapshot import DIGEST_KEY, check_pair
from ppfcos.checkpoint.state_file import read_state_file
from ppfcos.core.files import exclusive_lock
from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import checksums, one_error_line, tool

NAME = "fcos_r18_lite_synthetic"


def start(command, cwd, pythonpath=()):
    """Start ``command`` in its own process group (a terminal's Ctrl-C reaches the group);
    ``pythonpath``: folders searched for modules before the repository's."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, REPO]))
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(path, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{path} never appeared: {process.communicate()[1][-3000:]}")
        time.sleep(0.1)


# (signal, exit status, its name in the error line)
SIGNALS = [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]


def wait_for_line(process, text, timeout=240):
    """Read the process's stdout (its log) until a line holds ``text``."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if text in line:
            return
        if time.monotonic() > deadline:
            break
    process.kill()
    pytest.fail(f"no line with {text!r}: {process.communicate()[1][-3000:]}")


@pytest.mark.parametrize("signum, code, name", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_training_with_one_line_and_keeps_the_last_checkpoint(
        tmp_path, signum, code, name):
    data = str(tmp_path / "data")
    make_synthetic_coco(data, num_train=8, num_val=2, image_size=(64, 64))
    out = tmp_path / "output" / NAME
    run = start(tool("train", data, f"save_dir={tmp_path}/output", "epoch=1000",
                     "snapshot_epoch=1"), str(tmp_path))
    wait_for(out / "epoch_1.pdopt", run)
    time.sleep(0.5)   # into a later epoch
    os.killpg(run.pid, signum)
    stdout, stderr = run.communicate(timeout=60)
    error = one_error_line(code, run.returncode, stdout, stderr)
    assert error.startswith(f"error: interrupted ({name}): training stopped in epoch ")
    last = max((n for n in os.listdir(out) if n.endswith(".pdopt")),
               key=lambda n: int(n[len("epoch_"):-len(".pdopt")]))[:-len(".pdopt")]
    assert error.endswith(f"the last complete checkpoint is {out / last} (intact): resume "
                          f"with -r {out / last}")
    check_pair(str(out / last), read_state_file(str(out / last) + ".pdopt")[DIGEST_KEY])
    assert [n for n in os.listdir(out) if "-" in n.rsplit(".", 1)[-1]] == []   # temporaries
    with exclusive_lock(str(out)):   # free: a new run can take the save_dir
        pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data folder with 100 validation images, weights of a one-epoch run)."""
    root = tmp_path_factory.mktemp("trained")
    data = str(root / "data")
    make_synthetic_coco(data, num_train=8, num_val=100, image_size=(64, 64))
    run = start(tool("train", data, f"save_dir={root}/output", "epoch=1"), str(root))
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr[-3000:]
    return data, str(root / "output" / NAME / "model_final")


def test_sigterm_stops_evaluation_with_one_line(tmp_path, trained):
    signum, code, name = SIGNALS[1]   # SIGINT takes the same path (a train run shows it)
    data, weights = trained
    run = start(tool("eval", data, f"weights={weights}", f"save_dir={tmp_path}"), str(tmp_path))
    wait_for_line(run, "loaded weights")   # 100 images take seconds more
    os.killpg(run.pid, signum)
    stdout, stderr = run.communicate(timeout=60)
    error = one_error_line(code, run.returncode, stdout, stderr)
    assert error == f"error: interrupted ({name}): evaluation stopped"


def test_ctrl_c_during_export_leaves_the_previous_export_with_one_line(tmp_path, trained):
    signum, code, name = SIGNALS[0]   # SIGTERM takes the same path (a train run shows it)
    data, weights = trained
    command = tool("export_model", data, f"weights={weights}", "--output_dir",
                   str(tmp_path / "exports"))
    first = start(command, str(tmp_path))
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    export = tmp_path / "exports" / NAME
    before = checksums(export)
    run = start(command, str(tmp_path))
    wait_for_line(run, "folded")   # the program is being traced (seconds)
    os.killpg(run.pid, signum)
    stdout, stderr = run.communicate(timeout=60)
    error = one_error_line(code, run.returncode, stdout, stderr)
    assert error == (f"error: interrupted ({name}): export stopped; the previous export in "
                     f"{export} is intact")
    assert checksums(export) == before
    assert os.listdir(tmp_path / "exports") == [NAME]   # no temporaries


SLOW_CLEANUP = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, {repo!r})
    from ppfcos.engine.cli import exit_code

    def call():
        try:
            print("ready", flush=True)
            time.sleep(60)
        finally:
            time.sleep(60)   # a cleanup that takes long
    sys.exit(exit_code(call))
''')


@pytest.mark.parametrize("signum, code, name", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_during_the_cleanup_exits_at_once(tmp_path, signum, code, name):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_CLEANUP.format(repo=REPO))
    run = start([sys.executable, str(script)], str(tmp_path))
    assert run.stdout.readline() == "ready\n"
    began = time.monotonic()
    os.killpg(run.pid, signum)
    time.sleep(0.5)
    os.killpg(run.pid, signum)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == code and time.monotonic() - began < 30
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: interrupted again: exiting at once"], stderr
    assert "Traceback" not in stderr
