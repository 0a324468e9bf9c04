"""The small-data recipe configs of configs/demo/ (docs/training.md "Recipes for small
datasets"): each changes only what its name says, and the augmented reader gives batches of
the demo's 160x160 with boxes inside the image, as the recipe table's timing assumes."""
import os

import numpy as np
import pytest

import ppfcos
from ppfcos.data.synthetic import make_synthetic_coco

from conftest import CONFIGS

DEMO = os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic")


def config(suffix, data=None):
    """The demo config with suffix (e.g. "_aug"), its datasets at data when given."""
    cfg = ppfcos.load_config(DEMO + suffix + ".yml")
    if data:
        for section in ("TrainDataset", "EvalDataset"):
            cfg[section]["dataset_dir"] = data
    return cfg


def transform_names(cfg):
    return [next(iter(op)) for op in cfg["TrainReader"]["sample_transforms"]]


@pytest.mark.parametrize("suffix, ema, augmented", [
    ("_ema", True, False), ("_aug", False, True), ("_ema_aug", True, True)])
def test_recipe_config_changes_only_ema_and_augmentation(suffix, ema, augmented):
    demo, recipe = config(""), config(suffix)
    assert bool(recipe.get("use_ema")) == ema and not demo.get("use_ema")
    assert (transform_names(recipe) != transform_names(demo)) == augmented
    for key in ("epoch", "LearningRate", "OptimizerBuilder", "FCOS", "ResNet", "FPN",
                "FCOSHead", "EvalReader", "worker_num"):
        assert recipe[key] == demo[key], key
    assert recipe["TrainReader"]["batch_transforms"] == demo["TrainReader"]["batch_transforms"]


def test_augmented_reader_gives_160_pixel_batches_with_boxes_inside(tmp_path):
    data = str(tmp_path / "data")
    make_synthetic_coco(data, num_train=8, num_val=2, seed=5, image_size=(160, 160))
    cfg = config("_ema_aug", data)
    assert transform_names(cfg) == ["Decode", "RandomDistort", "RandomExpand", "RandomCrop",
                                    "RandomFlip", "Resize", "NormalizeImage"]
    batches = list(ppfcos.create_reader(cfg, "train", seed=1))
    assert len(batches) == 4
    for batch in batches:
        assert list(batch["image"].shape) == [2, 3, 160, 160]
        for boxes in batch["gt_bbox"]:
            boxes = np.asarray(boxes)
            assert boxes.size and (boxes >= 0).all() and (boxes <= 160).all()
            assert (boxes[:, 2:] > boxes[:, :2]).all()
