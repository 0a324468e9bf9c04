"""Ctrl-C during training, as a user presses it: one line, exit 130, the last complete
checkpoint intact, the save_dir's lock free and no temporaries left; a second Ctrl-C
during the cleanup exits at once."""
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
from tool_runs import DEMO, TINY, data_overrides

NAME = "fcos_r18_lite_synthetic"


def start(command, cwd):
    """Start ``command`` in its own process group (a terminal's Ctrl-C reaches the group)."""
    env = dict(os.environ, PYTHONPATH=REPO)
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


def test_ctrl_c_stops_training_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    data = str(tmp_path / "data")
    make_synthetic_coco(data, num_train=8, num_val=2, image_size=(64, 64))
    out = tmp_path / "output" / NAME
    run = start([sys.executable, os.path.join(REPO, "tools", "train.py"), "-c", DEMO, "-o",
                 *TINY, *data_overrides(data), f"save_dir={tmp_path}/output", "epoch=1000",
                 "snapshot_epoch=1"], str(tmp_path))
    wait_for(out / "epoch_1.pdopt", run)
    time.sleep(0.5)   # into a later epoch
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert errors[0].startswith("error: interrupted (Ctrl-C): training stopped in epoch ")
    last = max((n for n in os.listdir(out) if n.endswith(".pdopt")),
               key=lambda n: int(n[len("epoch_"):-len(".pdopt")]))[:-len(".pdopt")]
    assert errors[0].endswith(f"the last complete checkpoint is {out / last} (intact): resume with "
                              f"-r {out / last}")
    check_pair(str(out / last), read_state_file(str(out / last) + ".pdopt")[DIGEST_KEY])
    assert [n for n in os.listdir(out) if "-" in n.rsplit(".", 1)[-1]] == []   # temporaries
    with exclusive_lock(str(out)):   # free: a new run can take the save_dir
        pass


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


def test_a_second_ctrl_c_during_the_cleanup_exits_at_once(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_CLEANUP.format(repo=REPO))
    run = start([sys.executable, str(script)], str(tmp_path))
    assert run.stdout.readline() == "ready\n"
    began = time.monotonic()
    os.killpg(run.pid, signal.SIGINT)
    time.sleep(0.5)
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=30)
    assert run.returncode == 130 and time.monotonic() - began < 30
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: interrupted again: exiting at once"], stderr
    assert "Traceback" not in stderr
