"""What a resumed run carries over, through tools/train.py: with use_ema (and accumulated
gradients) a run killed with Ctrl-C and resumed with -r ends with the files of one left
alone; the best score and the early-stopping count come back, so best_model is not
overwritten by a worse evaluation."""
import hashlib
import json
import os
import signal
import sys
import time

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppfcos.data.synthetic import make_synthetic_coco
from test_interrupt import start, wait_for
from tool_runs import DEMO, TINY, data_overrides, train

NAME = "fcos_r18_lite_synthetic"
# EMA restarted every 2 epochs; 4 batches of 2 an epoch, accumulated in pairs
EMA = ["use_ema=true", "cycle_epoch=2", "TrainReader.batch_size=2",
       "OptimizerBuilder.accumulative_counts=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 train / 3 val images, and ``instances_far.json``: the val set with every box moved
    to a 1-pixel square in a corner, where no detection overlaps (every mAP is 0)."""
    root = str(tmp_path_factory.mktemp("resume_state"))
    make_synthetic_coco(root, num_train=8, num_val=3, image_size=(64, 64))
    with open(os.path.join(root, "annotations", "instances_val.json")) as f:
        coco = json.load(f)
    for annotation in coco["annotations"]:
        annotation.update(bbox=[0, 0, 1, 1], area=1)
    with open(os.path.join(root, "annotations", "instances_far.json"), "w") as f:
        json.dump(coco, f)
    return root


def arrays(path):
    return {k: v.numpy() for k, v in paddle.load(str(path)).items()}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_with_ema_and_accumulation_killed_and_resumed_ends_as_one_left_alone(
        data, tmp_path):
    train(data, tmp_path / "straight", *EMA, "epoch=3")
    killed = tmp_path / "killed"
    run = start([sys.executable, os.path.join(REPO, "tools", "train.py"), "-c", DEMO, "-o",
                 *TINY, *data_overrides(data), f"save_dir={killed}/output", "epoch=3",
                 "snapshot_epoch=1", *EMA], str(tmp_path))
    out = killed / "output" / NAME
    wait_for(out / "epoch_1.pdopt", run)
    time.sleep(0.3)
    os.killpg(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    # 0: it finished before the signal; -SIGINT: it had finished (model_final written) and
    # the signal met Python on its way out, after the tool's handlers were put back
    finished = (out / "model_final.pdparams").exists()
    assert run.returncode == 130 or (finished and run.returncode in (0, -signal.SIGINT)), \
        stderr[-3000:]
    for name in os.listdir(out):
        if name.startswith(("epoch_2", "model_final")):
            os.remove(out / name)                         # resume from epoch 1 in any case
    result = train(data, killed, *EMA, "epoch=3", "-r", str(out / "epoch_1"))
    assert "1 epochs, 4 iterations done" in result.stdout

    straight = tmp_path / "straight" / "output" / NAME
    for suffix in (".pdparams", ".pdema"):
        expected, resumed = (arrays(d / f"model_final{suffix}") for d in (straight, out))
        assert resumed.keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_array_equal(resumed[name], value, err_msg=name + suffix)
    ema, own = (arrays(out / f"model_final{suffix}") for suffix in (".pdparams", ".pdema"))
    assert any(not np.array_equal(ema[k], own[k]) for k in own)   # the EMA was applied


def test_best_model_and_patience_count_survive_a_resume(data, tmp_path):
    far = ["EvalDataset.anno_path=annotations/instances_far.json", "early_stop_patience=2"]
    first = train(data, tmp_path, *far, "epoch=2", "--eval")
    assert "best mAP so far 0.0000 at epoch 1" in first.stdout
    out = tmp_path / "output" / NAME
    for suffix in (".pdparams", ".pdopt"):
        os.replace(out / f"model_final{suffix}", out / f"epoch_2{suffix}")
    best = sha256(out / "best_model.pdparams"), sha256(out / "best_model.pdopt")

    resumed = train(data, tmp_path, *far, "epoch=10", "--eval", "-r", str(out / "epoch_2"))
    # epoch 2 counted one evaluation without improvement; epoch 3's is the second
    assert ("early stopping at epoch 3: mAP has not improved on 0.0000 in 2 evaluations "
            "(early_stop_patience 2)") in resumed.stdout
    assert "best mAP so far" not in resumed.stdout
    assert (sha256(out / "best_model.pdparams"), sha256(out / "best_model.pdopt")) == best
    assert (out / "model_final.pdparams").is_file() and not (out / "epoch_3.pdparams").exists()
    assert "Epoch: [3]" not in resumed.stdout
