"""Hooks of your own from the config (custom_hooks, mmdetection's shape), through
tools/train.py: they run, their state is kept in snapshots and given back on resume, and a
bad entry is one line before anything is built."""
import json
import os

import pytest

from conftest import REPO
from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY, checksums, data_overrides, one_error_line, run_tool

HELPERS = os.path.join(REPO, "tests", "helpers")
# 16 training images in batches of 4: 4 steps per epoch.
STEPS_PER_EPOCH = 4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("custom_hooks_data")
    make_synthetic_coco(str(root), num_train=16, num_val=2, image_size=(64, 96))
    return str(root)


def train_with_hooks(data, cwd, hooks, *extra):
    """tools/train.py with ``-o custom_hooks=<hooks>``, the test hooks importable."""
    os.makedirs(cwd, exist_ok=True)
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(data), f"save_dir={cwd}/output",
            f"custom_hooks={hooks}", *extra]
    return run_tool("train", args, str(cwd), timeout=300, pythonpath=[HELPERS])


def test_a_config_hook_runs_and_its_state_survives_a_resume(data, tmp_path):
    counts = tmp_path / "counts.json"
    hooks = f"[{{type: step_counting_hook.StepCounter, out: {counts}}}]"
    first = train_with_hooks(data, tmp_path, hooks, "epoch=1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(counts.read_text()) == {"steps": STEPS_PER_EPOCH, "resumed_from": None}

    snapshot = tmp_path / "output" / "fcos_r18_lite_synthetic" / "model_final"
    resumed = train_with_hooks(data, tmp_path / "resumed", hooks, "epoch=2", "-r", str(snapshot))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(counts.read_text()) == {"steps": 2 * STEPS_PER_EPOCH,
                                              "resumed_from": STEPS_PER_EPOCH}


@pytest.mark.parametrize("hooks, expected", [
    ("[{type: NoSuchHook}]", "error: custom_hooks[0]: type 'NoSuchHook' is neither a "
                             "registered hook"),
    ("[{type: step_counting_hook.StepCounter, out: x, speed: 2}]",
     "error: custom_hooks[0]: step_counting_hook.StepCounter does not take these arguments"),
    ("[{type: step_counting_hook.StepCounter, out: x, priority: SOON}]",
     "error: custom_hooks[0]: priority 'SOON' is neither an integer nor one of HIGHEST"),
    ("[StepCounter]", "error: custom_hooks[0]: give a hook as {type: Name, arg: value, ...}"),
])
def test_a_bad_custom_hook_is_one_line_and_keeps_the_checkpoints(data, tmp_path, hooks,
                                                                 expected):
    out = tmp_path / "output" / "fcos_r18_lite_synthetic"
    out.mkdir(parents=True)
    (out / "model_final.pdparams").write_bytes(b"earlier run")
    before = checksums(out)
    result = train_with_hooks(data, tmp_path, hooks, "epoch=1")
    line = one_error_line(1, result.returncode, result.stdout, result.stderr)
    assert line.startswith(expected), line
    assert checksums(out) == before
