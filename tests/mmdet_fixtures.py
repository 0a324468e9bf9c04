"""Helpers for the mmdetection fixtures (tests/fixtures/mmdet/, made by
make_mmdet_fixtures.py): the fixture images through a config's EvalReader, and the
detection comparison, and our model of a zoo row with mmdetection's name-seeded weights
(ppfcos.modeling.seeded_weights.mmdet_seeded_state) through the checkpoint converter."""
import functools
import json
import os

import numpy as np
import paddle

import ppfcos
from ppfcos.checkpoint.conversion.mmdet import convert_mmdet_state
from ppfcos.data.reader import build_ops
from ppfcos.data.transforms import Resize
from ppfcos.modeling.seeded_weights import mmdet_seeded_state

from conftest import CONFIGS, FIXTURES

MMDET_FIXTURES = os.path.join(FIXTURES, "mmdet")
# The zoo rows with full fixtures (preprocessed batch, head outputs, detections, losses),
# and those with detections on a small image only.
FULL = ["fcos_r50_caffe_fpn_gn-head_1x_coco", "fcos_r50_caffe_fpn_gn-head_tricks_1x_coco",
        "fcos_r50_caffe_fpn_gn-head_tricks_dcn_1x_coco"]
TINY_INPUT = ["fcos_r101_caffe_fpn_gn-head_1x_coco",
              "fcos_x101_64x4d_fpn_gn-head_mstrain_640-800_2x_coco"]
TEST_SIZE = {"full": [128, 224], "tiny": [64, 96]}   # make_mmdet_fixtures' test scales


def mmdet_fixture(name):
    return np.load(os.path.join(MMDET_FIXTURES, f"{name}.npz"))


@functools.lru_cache(maxsize=None)
def mmdet_keys():
    """config -> mmdetection's state-dict [(name, shape)] of that zoo row."""
    with open(os.path.join(MMDET_FIXTURES, "state_dict_keys.json")) as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def converted_model(config):
    """(cfg, eval-mode model) of ``config`` with mmdetection's name-seeded weights, through
    the converter."""
    cfg = ppfcos.load_config(os.path.join(CONFIGS, f"{config}.yml"))
    model = ppfcos.build_model(cfg)
    shapes = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    model.set_state_dict(convert_mmdet_state(shapes, mmdet_seeded_state(mmdet_keys()[config])))
    model.eval()
    return cfg, model


def eval_batch(cfg, indices, size):
    """The config's EvalReader on the fixture images ``indices``, resized into ``size``."""
    images = np.load(os.path.join(MMDET_FIXTURES, "images.npz"))
    ops = [Resize(size, op.keep_ratio, op.interp) if isinstance(op, Resize) else op
           for op in build_ops(cfg, "EvalReader", "sample_transforms")]
    samples = []
    for i in indices:
        sample = {"image": images[f"png{i}"].tobytes()}
        for op in ops:
            sample = op(sample)
        samples.append(sample)
    for op in build_ops(cfg, "EvalReader", "batch_transforms"):
        samples = op(samples)
    return {k: paddle.to_tensor(np.stack([s[k] for s in samples]))
            for k in ("image", "im_shape", "scale_factor")}


def assert_same_detections(out, ref, prefix=""):
    """Per image: the same detections, compared in (class, score) order (scores within
    1e-8 of each other may come out of NMS in either order): classes equal, scores to
    1e-4, boxes to 1e-2 px."""
    bbox, counts = np.asarray(out["bbox"]), np.asarray(out["bbox_num"])
    start = 0
    for i, count in enumerate(counts):
        ours = bbox[start:start + count]
        start += count
        labels, scores = ref[f"{prefix}labels{i}"], ref[f"{prefix}scores{i}"]
        assert len(ours) == len(labels)
        ours = ours[np.lexsort((-ours[:, 1], ours[:, 0]))]
        order = np.lexsort((-scores, labels))
        np.testing.assert_array_equal(ours[:, 0].astype(np.int64), labels[order])
        np.testing.assert_allclose(ours[:, 1], scores[order], rtol=0, atol=1e-4)
        np.testing.assert_allclose(ours[:, 2:], ref[f"{prefix}bboxes{i}"][order], rtol=0,
                                   atol=1e-2)


def as_reference(out, prefix=""):
    """Detections {"bbox" [K, 6], "bbox_num" [N]} in the fixtures' per-image layout."""
    bbox, counts = np.asarray(out["bbox"]), np.asarray(out["bbox_num"])
    ref, start = {}, 0
    for i, count in enumerate(counts):
        rows = bbox[start:start + count]
        start += count
        ref[f"{prefix}labels{i}"] = rows[:, 0].astype(np.int64)
        ref[f"{prefix}scores{i}"], ref[f"{prefix}bboxes{i}"] = rows[:, 1], rows[:, 2:]
    return ref
