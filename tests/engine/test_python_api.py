"""ppfcos.train and ppfcos.evaluate from Python, as in a notebook: results with
mmdetection-named metrics and the weights' paths, a second run in the same process,
extra_hooks, and errors raised (never sys.exit)."""
import json
import os

import pytest

import ppfcos
from ppfcos.checkpoint.errors import WeightsError
from ppfcos.core.config import ConfigError
from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY

from helpers.step_counting_hook import StepCounter

METRICS = {"bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l"}


def tiny_overrides(data, save_dir):
    """TINY's ``-o`` strings as keyword overrides, on ``data``, saving to ``save_dir``."""
    import yaml
    overrides = {key: yaml.safe_load(value) for key, value in
                 (item.split("=", 1) for item in TINY)}
    for section in ("TrainDataset", "EvalDataset", "TestDataset"):
        overrides[f"{section}.dataset_dir"] = data
    return dict(overrides, save_dir=save_dir, epoch=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("python_api_data")
    make_synthetic_coco(str(root), num_train=8, num_val=2, image_size=(64, 96))
    return str(root)


def test_train_twice_in_one_process_then_evaluate(data, tmp_path):
    counter = StepCounter(str(tmp_path / "counts.json"))
    first = ppfcos.train(DEMO, extra_hooks=[counter], **tiny_overrides(data, str(tmp_path / "a")))
    assert set(first.metrics) == METRICS and all(isinstance(v, float)
                                                 for v in first.metrics.values())
    assert first.log_dir == os.path.join(str(tmp_path / "a"), "fcos_r18_lite_synthetic")
    assert os.path.isfile(first.final_weights) and os.path.isfile(first.best_weights)
    assert json.loads((tmp_path / "counts.json").read_text())["steps"] == 2   # 8 images / 4

    second = ppfcos.train(DEMO, eval=False, **tiny_overrides(data, str(tmp_path / "b")))
    assert second.metrics == {} and second.best_weights is None
    assert os.path.isfile(second.final_weights)

    evaluation = ppfcos.evaluate(DEMO, weights=first.final_weights,
                                 **tiny_overrides(data, str(tmp_path / "eval")))
    assert evaluation.metrics == pytest.approx(first.metrics, abs=1e-6)


def test_errors_raise_instead_of_exiting(data, tmp_path):
    with pytest.raises(ConfigError, match="epoch must be a positive integer"):
        ppfcos.train(DEMO, **dict(tiny_overrides(data, str(tmp_path)), epoch=0))
    with pytest.raises(WeightsError, match="weights file not found: .*missing.pdparams"):
        ppfcos.evaluate(DEMO, weights=str(tmp_path / "missing.pdparams"),
                        **tiny_overrides(data, str(tmp_path)))
