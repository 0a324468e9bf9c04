"""Fine-tuning across class counts through the tools: an 80-class demo checkpoint starts a
6-class training (its class-logit conv keeps the head's init, every other layer loads), and
evaluating or resuming with it is refused in one line."""
import hashlib
import math
import re

import numpy as np
import pytest

from ppfcos.checkpoint.state_file import read_state_file
from ppfcos.data.synthetic import make_synthetic_coco
from test_hostile_input import assert_one_line_error, base_args
from tool_runs import run_tool, train

NAME = "fcos_r18_lite_synthetic"
CLS = ["fcos_head.fcos_head_cls.weight", "fcos_head.fcos_head_cls.bias"]
PRIOR_PROB = 0.01   # the demo config's FCOSHead.prior_prob


def file_checksums(folder):
    """{file name: sha256} of the files in ``folder``."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file()}


@pytest.fixture(scope="module")
def coco80(tmp_path_factory):
    """(synthetic data, folder with output/<config>/model_final of an 80-class model)."""
    root = tmp_path_factory.mktemp("classes")
    data = str(root / "data")
    make_synthetic_coco(data, num_train=8, num_val=2, image_size=(64, 64))
    train(data, root / "coco80", "num_classes=80", "epoch=1")
    return data, root / "coco80" / "output" / NAME


def test_pretrain_weights_of_80_classes_start_a_6_class_training(coco80, tmp_path):
    data, run80 = coco80
    checkpoint = read_state_file(str(run80 / "model_final.pdparams"))
    result = train(data, tmp_path, f"pretrain_weights={run80 / 'model_final'}", "epoch=1",
                   "LearningRate.base_lr=1.0e-30")   # updates vanish: the weights stay as read
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if "re-initialised" in line]
    assert len(lines) == 1, lines
    assert re.search(r"80 classes in the file, 6 in the model: re-initialised by the model "
                     r"\(2\): fcos_head.fcos_head_cls.weight, fcos_head.fcos_head_cls.bias$",
                     lines[0]), lines[0]
    tuned = read_state_file(str(tmp_path / "output" / NAME / "model_final.pdparams"))
    assert tuned["fcos_head.fcos_head_cls.weight"].shape[0] == 6
    bias = tuned["fcos_head.fcos_head_cls.bias"]
    np.testing.assert_allclose(bias, -math.log((1 - PRIOR_PROB) / PRIOR_PROB), rtol=1e-6)
    assert not np.allclose(checkpoint["fcos_head.fcos_head_cls.bias"][:6], bias)
    batch_norm_statistics = ("_mean", "_variance")   # updated by any forward in training
    for name, value in tuned.items():
        if name not in CLS and not name.endswith(batch_norm_statistics):
            np.testing.assert_array_equal(value, checkpoint[name], err_msg=name)


def test_evaluating_or_resuming_with_another_class_count_is_refused(coco80, tmp_path):
    data, run80 = coco80
    before = file_checksums(run80)
    result = run_tool("eval", base_args(data, f"weights={run80 / 'model_final'}"),
                      str(tmp_path), timeout=300)
    assert_one_line_error(result, "was trained for 80 classes but the config has "
                          "num_classes 6", "pretrain_weights=")
    result = run_tool("train", base_args(data, f"save_dir={tmp_path}/output", "epoch=2")
                      + ["-r", str(run80 / "model_final")], str(tmp_path), timeout=300)
    assert_one_line_error(result, "was trained for 80 classes but the config has "
                          "num_classes 6")
    assert file_checksums(run80) == before
