"""Collate: stacking, ground truth per image, skipped samples, empty ground truth."""
import re

import numpy as np

from ppfcos.data.collate import EMPTY_KEY, BatchCollator, ZeroSizeArray, restore_empty
from ppfcos.data.datasets import READER_ERROR_KEY, SKIPPED_KEY


def sample(im_id, boxes, side=4):
    return {"image": np.full((3, side, side), im_id, np.float32), "im_id": np.array([im_id]),
            "h": side, "w": side, "im_file": f"{im_id}.jpg",
            "gt_bbox": np.ones((boxes, 4), np.float32), "gt_class": np.zeros((boxes, 1), np.int32)}


def test_fixed_shapes_stack_and_ground_truth_stays_per_image():
    batch = BatchCollator([])([sample(1, 2), sample(2, 3)])
    assert sorted(batch) == ["gt_bbox", "gt_class", "im_file", "im_id", "image", SKIPPED_KEY]
    assert batch["image"].shape == (2, 3, 4, 4) and batch["image"][1].max() == 2
    assert batch["im_id"].tolist() == [[1], [2]]
    assert [b.shape for b in batch["gt_bbox"]] == [(2, 4), (3, 4)]
    assert batch["im_file"] == ["1.jpg", "2.jpg"] and batch[SKIPPED_KEY] == []


def test_batch_ops_run_on_the_readable_samples_only():
    seen = []
    batch = BatchCollator([lambda samples: seen.append(len(samples)) or samples])(
        [sample(1, 1), {SKIPPED_KEY: "2.jpg: cannot decode image"}, sample(3, 1)])
    assert seen == [2] and batch["im_id"].tolist() == [[1], [3]]
    assert batch[SKIPPED_KEY] == ["2.jpg: cannot decode image"]


def test_a_batch_of_unreadable_images_is_marked_empty():
    batch = BatchCollator([])([{SKIPPED_KEY: "1.jpg: missing"}, {SKIPPED_KEY: "2.jpg: empty"}])
    assert sorted(batch) == [EMPTY_KEY, SKIPPED_KEY]
    assert batch[SKIPPED_KEY] == ["1.jpg: missing", "2.jpg: empty"]


def test_collate_refuses_unpadded_images_with_a_hint():
    samples = [{"image": np.zeros((3, 4, 4)), "im_file": "a.jpg"},
               {"image": np.zeros((3, 4, 8)), "im_file": "b.jpg"}]
    batch = BatchCollator([])(samples)
    line, = batch[READER_ERROR_KEY]
    assert re.match(r"batch of a.jpg, b.jpg: ValueError: cannot batch 'image': shapes differ"
                    r".*PadBatch.*\(at collate.py:\d+\)$", line), line
    assert EMPTY_KEY in batch and batch[SKIPPED_KEY] == []


def test_empty_ground_truth_travels_as_a_stand_in_and_comes_back_as_an_empty_tensor():
    batch = BatchCollator([])([sample(1, 2), sample(2, 0)])
    stand_in = batch["gt_bbox"][1]
    assert isinstance(stand_in, ZeroSizeArray) and stand_in.shape == (0, 4)
    restored = restore_empty(batch)
    assert [list(b.shape) for b in restored["gt_bbox"]] == [[2, 4], [0, 4]]
    assert str(restored["gt_bbox"][1].dtype).endswith("float32")
    assert [list(c.shape) for c in restored["gt_class"]] == [[2, 1], [0, 1]]
    assert str(restored["gt_class"][1].dtype).endswith("int32")
