"""mmdetection's zoo rows exported (their LevelTopKPostProcess in the static graph): Paddle
Inference, oneDNN on and off, gives mmdetection 3.3.0's detections (tests/fixtures/mmdet)
and the dygraph model's, for a batch of two and for each image alone; infer_cfg.yml
carries the caffe-style BGR preprocessing."""
import os

import numpy as np
import paddle
import pytest
import yaml

from ppfcos.export import export_model
from ppfcos.export.predictor import create_predictor

from mmdet_fixtures import (FULL, TEST_SIZE, as_reference, assert_same_detections,
                            converted_model, eval_batch, mmdet_fixture)


@pytest.fixture(scope="module", params=FULL)
def exported(request, tmp_path_factory):
    """(config, cfg, dygraph model, export directory) of a zoo row with mmdetection's
    name-seeded weights."""
    cfg, model = converted_model(request.param)
    model_dir = str(tmp_path_factory.mktemp("export") / request.param)
    export_model(model, cfg, model_dir)
    return request.param, cfg, model, model_dir


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "no-onednn"])
def test_predictor_gives_mmdet_and_dygraph_detections(exported, onednn):
    config, cfg, model, model_dir = exported
    ref = mmdet_fixture(config)
    predictor = create_predictor(model_dir, threads=1, onednn=onednn)
    for indices, prefix in (([0, 1], ""), ([0], "single_"), ([1], "single_")):
        batch = eval_batch(cfg, indices, TEST_SIZE["full"])
        bbox, bbox_num = predictor.run({k: v.numpy() for k, v in batch.items()})
        found = {"bbox": bbox, "bbox_num": bbox_num}
        expected = ref if prefix == "" else {f"single_{k}0": ref[f"single_{k}{indices[0]}"]
                                             for k in ("labels", "scores", "bboxes")}
        assert_same_detections(found, expected, prefix)
        with paddle.no_grad():
            assert_same_detections(found, as_reference(model(batch)))


def test_infer_cfg_has_the_caffe_style_bgr_preprocessing(exported):
    config, cfg, _, model_dir = exported
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        steps = yaml.safe_load(f)["Preprocess"]
    normalize = next(iter(cfg["TestReader"]["sample_transforms"][2].values()))
    assert steps == [{"type": "ToBGR"},
                     {"type": "Resize", "target_size": [800, 1333], "keep_ratio": True,
                      "interp": 1},
                     {"type": "NormalizeImage", "mean": normalize["mean"],
                      "std": [1.0, 1.0, 1.0], "is_scale": False},
                     {"type": "Permute"}, {"type": "PadStride", "stride": 32}]
    assert normalize["mean"][0] < normalize["mean"][2]    # caffe's mean, blue first
