"""mmdetection's zoo rows exported (their LevelTopKPostProcess in the static graph): Paddle
Inference, oneDNN on and off, gives mmdetection 3.3.0's detections (tests/fixtures/mmdet)
and the dygraph model's, for a batch of two and for each image alone (X-101, the RGB row:
one small image, as its fixture; R-101 is R-50's network deeper, left out for time);
infer_cfg.yml carries the caffe-style BGR preprocessing."""
import os

import paddle
import pytest
import yaml

from ppfcos.export import export_model

from conftest import fixture_tmp, runtime
from mmdet_fixtures import (FULL, TEST_SIZE, TINY_INPUT, as_reference, assert_same_detections,
                            converted_model, eval_batch, mmdet_fixture)

X101 = "fcos_x101_64x4d_fpn_gn-head_mstrain_640-800_2x_coco"


def fixture_batches(config):
    """-> [(image indices, size, mmdetection's detections of that batch)] the fixtures of
    ``config`` hold, the detections keyed per image as assert_same_detections reads them."""
    ref = mmdet_fixture(config)
    if config in TINY_INPUT:
        return [([0], TEST_SIZE["tiny"], ref)]
    alone = [{f"{k}0": ref[f"single_{k}{i}"] for k in ("labels", "scores", "bboxes")}
             for i in range(2)]
    return [([0, 1], TEST_SIZE["full"], ref), ([0], TEST_SIZE["full"], alone[0]),
            ([1], TEST_SIZE["full"], alone[1])]


@pytest.fixture(scope="module", params=FULL + [X101])
def exported(request):
    """(config, cfg, dygraph model, export directory) of a zoo row with mmdetection's
    name-seeded weights."""
    cfg, model = converted_model(request.param)
    model_dir = str(fixture_tmp(request, "export") / request.param)
    export_model(model, cfg, model_dir)
    return request.param, cfg, model, model_dir


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "no-onednn"])
def test_predictor_gives_mmdet_and_dygraph_detections(exported, onednn):
    config, cfg, model, model_dir = exported
    run = runtime("paddle", model_dir, threads=1, enable_mkldnn=onednn)
    for indices, size, expected in fixture_batches(config):
        batch = eval_batch(cfg, indices, size)
        bbox, bbox_num = run({k: v.numpy() for k, v in batch.items()})
        found = {"bbox": bbox, "bbox_num": bbox_num}
        assert_same_detections(found, expected)
        with paddle.no_grad():
            assert_same_detections(found, as_reference(model(batch)))


def test_infer_cfg_has_the_caffe_style_bgr_preprocessing(exported):
    """All rows but X-101 (RGB, ImageNet mean and std) read BGR with caffe's mean."""
    config, cfg, _, model_dir = exported
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        steps = yaml.safe_load(f)["Preprocess"]
    if config == X101:
        assert [step["type"] for step in steps] == ["Resize", "NormalizeImage", "Permute",
                                                    "PadStride"]
        return
    normalize = next(iter(cfg["TestReader"]["sample_transforms"][2].values()))
    assert steps == [{"type": "ToBGR"},
                     {"type": "Resize", "target_size": [800, 1333], "keep_ratio": True,
                      "interp": 1},
                     {"type": "NormalizeImage", "mean": normalize["mean"],
                      "std": [1.0, 1.0, 1.0], "is_scale": False},
                     {"type": "Permute"}, {"type": "PadStride", "stride": 32}]
    assert normalize["mean"][0] < normalize["mean"][2]    # caffe's mean, blue first
