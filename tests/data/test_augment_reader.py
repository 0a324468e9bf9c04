"""PaddleDetection's augmentation ops in a reader: built from config entries, deterministic
per (seed, epoch, index) whatever the worker count, with images without boxes and Mixup."""
import json
import os

import numpy as np
import pytest

from ppfcos.core.config import ConfigError
from ppfcos.data.loader import ReaderError
from ppfcos.data.reader import create_reader

from conftest import FIXTURES
from test_reader import make_cfg, make_coco

# The reader of PaddleDetection's ppyoloe_plus_reader.yml (its TrainReader's ops and
# arguments, PadGT left out: FCOS assigns its own targets), scaled to 32..48 px images,
# plus Mixup, DETR's RandomSelect and the semi-supervised strong view.
SAMPLE_OPS = [
    {"Decode": {}},
    {"Mixup": {"alpha": 1.5, "beta": 1.5}},
    {"RandomDistort": {}},
    {"RandomExpand": {"fill_value": [123.675, 116.28, 103.53]}},
    {"RandomCrop": {}},
    {"RandomFlip": {}},
    {"RandomSelect": {"transforms1": [{"RandomShortSideResize": {"short_side_sizes": [32, 40],
                                                                 "max_size": 64}}],
                      "transforms2": [{"RandomShortSideResize": {"short_side_sizes": [40, 48]}},
                                      {"RandomSizeCrop": {"min_size": 24, "max_size": 40}},
                                      {"RandomShortSideResize": {"short_side_sizes": [32, 40],
                                                                 "max_size": 64}}]}},
    {"StrongAugImage": {"transforms": [{"RandomColorJitter": {}}, {"RandomErasingCrop": {}},
                                       {"RandomGaussianBlur": {}},
                                       {"RandomGrayscale": {}}]}},
]
BATCH_OPS = [
    {"BatchRandomResize": {"target_size": [32, 48, 64], "random_size": True,
                           "random_interp": True, "keep_ratio": False}},
    {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                        "is_scale": True}},
    {"Permute": {}},
    {"PadBatch": {"pad_to_stride": 32}},
    {"Gt2FCOSTarget": {"object_sizes_boundary": [64, 128], "center_sampling_radius": 1.5,
                       "downsample_ratios": [8, 16, 32], "norm_reg_targets": True}},
]


def augmenting_cfg(root, worker_num, **reader_opts):
    cfg = make_cfg(root, worker_num=worker_num, **reader_opts)
    cfg["TrainDataset"]["allow_empty"] = True
    cfg["TrainReader"].update(sample_transforms=SAMPLE_OPS, batch_transforms=BATCH_OPS,
                              shuffle=True)
    return cfg


def epoch_arrays(loader, epoch):
    """Every array of every batch of ``epoch``, as (key, numpy array) pairs in order."""
    loader.set_epoch(epoch)
    out = []
    for batch in loader:
        for key in sorted(batch):
            values = batch[key] if isinstance(batch[key], list) else [batch[key]]
            out += [(key, np.asarray(v)) for v in values]
    return out


def test_augmented_epochs_are_the_same_with_0_and_2_workers(tmp_path):
    make_coco(tmp_path, num_images=8, empty=(2, 7))
    runs = {}
    for workers in (0, 2):
        loader = create_reader(augmenting_cfg(tmp_path, workers, mixup_epoch=0), "train",
                               num_replicas=1, rank=0, seed=3)
        runs[workers] = [epoch_arrays(loader, epoch) for epoch in (0, 1)]
    for epoch in (0, 1):
        zero, two = runs[0][epoch], runs[2][epoch]
        assert [k for k, _ in zero] == [k for k, _ in two]
        for (key, a), (_, b) in zip(zero, two):
            assert a.shape == b.shape and np.array_equal(a, b), (epoch, key)
    first, second = runs[0]
    assert any(a.shape != b.shape or not np.array_equal(a, b)
               for (_, a), (_, b) in zip(first, second)), "epochs 0 and 1 drew the same"
    keys = {k for k, _ in first}
    assert {"gt_score", "labels0", "reg_target0", "centerness0"} <= keys
    assert "random" not in keys


def test_mixup_epoch_pairs_images_and_images_without_boxes_pass(tmp_path):
    make_coco(tmp_path, num_images=4, empty=(1, 2, 3, 4))  # no box anywhere
    cfg = augmenting_cfg(tmp_path, 0, mixup_epoch=1)
    loader = create_reader(cfg, "train", num_replicas=1, rank=0)
    arrays = dict(epoch_arrays(loader, 0))
    assert arrays["gt_bbox"].shape[0] == 0 and "gt_score" in arrays
    assert all(int(v.sum()) == 0 for k, v in epoch_arrays(loader, 0) if k == "labels0")
    assert "gt_score" not in dict(epoch_arrays(loader, 1))  # epoch 1: no pairs any more


def test_paddledetection_op_arguments_build_through_the_reader(tmp_path):
    make_coco(tmp_path, num_images=2)
    with open(os.path.join(FIXTURES, "augment", "augment.json"), encoding="utf-8") as f:
        ops = json.load(f)["ops"]
    sample_ops = [{"Decode": {}}] + [{name: op["args"]} for name, op in ops.items()
                                     if op["kind"] == "sample"]
    cfg = make_cfg(tmp_path, sample_transforms=sample_ops,
                   batch_transforms=[{"BatchRandomResize": ops["BatchRandomResize"]["args"]}])
    loader = create_reader(cfg, "train", num_replicas=1, rank=0)
    assert [type(op).__name__ for op in loader.dataset.transform.ops] == \
        ["Decode"] + [name for name, op in ops.items() if op["kind"] == "sample"]


@pytest.mark.parametrize("reader_opts,message", [
    ({"mixup_epoch": 3}, "TrainReader.mixup_epoch: pairs images for Mixup, but "
                         "sample_transforms has no Mixup"),
    ({"sample_transforms": [{"RandomSelect": {"transforms1": [{"RandomFlop": {}}],
                                              "transforms2": []}}]},
     "cannot build RandomSelect (section TrainReader.sample_transforms.RandomSelect): "
     "RandomSelect.transforms1: unknown transform 'RandomFlop'"),
    ({"sample_transforms": [{"RandomErasing": {"value": "noise"}}]},
     "RandomErasing: value must be a number, a list or 'random', got 'noise'"),
])
def test_bad_augmentation_settings_are_one_line_config_errors(tmp_path, reader_opts, message):
    make_coco(tmp_path, num_images=2)
    with pytest.raises(ConfigError) as error:
        create_reader(make_cfg(tmp_path, **reader_opts), "train", num_replicas=1, rank=0)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_op_failing_on_an_image_stops_the_reader_with_one_line(tmp_path):
    make_coco(tmp_path, num_images=2)
    cfg = make_cfg(tmp_path, worker_num=2, sample_transforms=[
        {"Decode": {}}, {"RandomSizeCrop": {"min_size": 384, "max_size": 600}}])
    with pytest.raises(ReaderError) as error:
        list(create_reader(cfg, "train", num_replicas=1, rank=0))
    message = str(error.value)
    assert "RandomSizeCrop: the image is 48 x 40, smaller than min_size 384; resize it " \
           "first or lower min_size" in message and "\n" not in message
