"""Tests of Gt2FCOSTarget against PaddleDetection's output and hand-made cases."""
import math
import os

import numpy as np
import pytest

from ppfcos.data.transforms import Gt2FCOSTarget

from conftest import FIXTURES

FIXTURE = os.path.join(FIXTURES, "fcos_r50_fpn_1x_coco_train.npz")
BOUNDS = [64, 128, 256, 512]
STRIDES = [8, 16, 32, 64, 128]
KEYS = ("labels", "reg_target", "centerness")


def make_op(radius=1.5, **kwargs):
    kwargs.setdefault("norm_reg_targets", True)
    return Gt2FCOSTarget(object_sizes_boundary=BOUNDS, center_sampling_radius=radius,
                         downsample_ratios=STRIDES, **kwargs)


def positives(targets, lvl):
    """Sorted (row, col, label) of the positive locations of one level."""
    labels = targets[f"labels{lvl}"][..., 0]
    return [(int(i), int(j), int(labels[i, j])) for i, j in zip(*np.nonzero(labels))]


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(FIXTURE))


@pytest.mark.parametrize("i", [0, 1])
def test_matches_paddledetection_fixture(ref, i):
    _, _, h, w = ref["image"].shape
    sample = {"image": ref["image"][i], "gt_bbox": ref[f"s{i}_gt_bbox"],
              "gt_class": ref[f"s{i}_gt_class"], "im_id": np.array([i])}
    out = make_op()([sample])[0]
    for lvl, stride in enumerate(STRIDES):
        grid = (math.ceil(h / stride), math.ceil(w / stride))
        for key in KEYS:
            got, want = out[f"{key}{lvl}"], ref[f"s{i}_{key}{lvl}"]
            assert got.shape == want.shape and got.shape[:2] == grid, (key, lvl)
            assert got.dtype == want.dtype, (key, lvl)
            if key == "labels":
                np.testing.assert_array_equal(got, want, err_msg=f"{key}{lvl}")
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{key}{lvl}")
    assert sum(len(positives(out, lvl)) for lvl in range(5)) > 0


def test_keeps_every_input_key():
    sample = {"image": np.zeros((3, 64, 64), np.float32),
              "gt_bbox": np.array([[4, 4, 60, 60]], np.float32),
              "gt_class": np.array([[1]], np.int32), "is_crowd": np.zeros((1, 1), np.int32),
              "im_shape": np.array([64, 64], np.float32), "im_id": np.array([7])}
    before = dict(sample)
    out = make_op()([sample])[0]
    for key, value in before.items():
        assert out[key] is value
    assert {f"{k}{l}" for k in KEYS for l in range(5)} <= set(out)


@pytest.mark.parametrize("boxes,crowd", [
    (np.zeros((0, 4), np.float32), None),
    (np.array([[4, 4, 60, 60], [10, 10, 30, 50]], np.float32), np.ones((2, 1), np.int32)),
])
def test_no_boxes_or_only_crowd_gives_background(boxes, crowd):
    classes = np.zeros((len(boxes), 1), np.int32)
    out = make_op().targets(100, 136, boxes, classes, crowd)
    for lvl, stride in enumerate(STRIDES):
        grid = (math.ceil(100 / stride), math.ceil(136 / stride))
        assert out[f"labels{lvl}"].shape == grid + (1,) and out[f"labels{lvl}"].dtype == np.int32
        assert out[f"reg_target{lvl}"].shape == grid + (4,)
        assert out[f"centerness{lvl}"].shape == grid + (1,)
        for key in KEYS:
            assert not out[f"{key}{lvl}"].any(), (key, lvl)


def test_crowd_boxes_never_positive():
    boxes = np.array([[20, 20, 44, 44], [4, 4, 60, 60]], np.float32)
    classes = np.array([[5], [2]], np.int32)
    crowd = np.array([[1], [0]], np.int32)
    out = make_op(radius=0).targets(64, 64, boxes, classes, crowd)
    labels = np.concatenate([out[f"labels{l}"].ravel() for l in range(5)])
    assert set(labels) == {0, 3}
    # Without the crowd flag the small box would take the centre locations.
    out = make_op(radius=0).targets(64, 64, boxes, classes)
    assert out["labels0"][3, 3, 0] == 6


def test_equal_areas_go_to_the_first_listed_box():
    a, b = [8, 8, 40, 40], [24, 24, 56, 56]  # both 32 x 32
    overlap = [(3, 3), (3, 4), (4, 3), (4, 4)]  # locations 28, 36 inside both
    for boxes, classes, winner in (([a, b], [[3], [7]], 4), ([b, a], [[7], [3]], 8)):
        out = make_op(radius=0).targets(64, 64, np.array(boxes, np.float32),
                                        np.array(classes, np.int32))
        labels = out["labels0"][..., 0]
        assert all(labels[i, j] == winner for i, j in overlap)
        assert labels[1, 1] == 4 and labels[6, 6] == 8  # each box alone elsewhere


def test_smaller_area_wins_whatever_the_order():
    big, small = [0, 0, 60, 60], [20, 20, 44, 44]
    for boxes, classes in (([big, small], [[0], [1]]), ([small, big], [[1], [0]])):
        out = make_op(radius=0).targets(64, 64, np.array(boxes, np.float32),
                                        np.array(classes, np.int32))
        labels = out["labels0"][..., 0]
        assert labels[3, 3] == 2 and labels[4, 4] == 2  # inside the small box
        assert labels[0, 0] == 1 and labels[6, 6] == 1  # only in the big one
        np.testing.assert_allclose(out["reg_target0"][3, 3], np.array([8, 8, 16, 16]) / 8)


def test_center_sampling_limits_positives_to_radius_around_centre():
    box = np.array([[4, 4, 60, 60]], np.float32)  # centre 32; locations at 4 + 8k
    cls = np.array([[0]], np.int32)
    near = make_op(radius=1.5).targets(64, 64, box, cls)  # region (20, 44)
    assert positives(near, 0) == [(3, 3, 1), (3, 4, 1), (4, 3, 1), (4, 4, 1)]
    whole = make_op(radius=0).targets(64, 64, box, cls)  # the box (4, 60)
    assert positives(whole, 0) == [(i, j, 1) for i in range(1, 7) for j in range(1, 7)]
    clipped = make_op(radius=10).targets(64, 64, box, cls)  # region clipped to the box
    assert positives(clipped, 0) == positives(whole, 0)


def test_level_assignment_normalization_and_centerness():
    box = np.array([[0, 0, 200, 100]], np.float32)
    cls = np.array([[4]], np.int32)
    out = make_op(radius=1.5).targets(256, 256, box, cls)
    assert positives(out, 0) == []  # its locations' longest side exceeds 64
    assert positives(out, 1) == [(i, j, 5) for i in (2, 3, 4) for j in (5, 6, 7)]
    l, t, r, b = 88.0, 40.0, 112.0, 60.0  # location (x 88, y 40) at level 1
    np.testing.assert_allclose(out["reg_target1"][2, 5], np.array([l, t, r, b]) / 16, rtol=1e-6)
    np.testing.assert_allclose(out["centerness1"][2, 5, 0], math.sqrt(l / r * t / b), rtol=1e-6)
    assert out["centerness1"][0, 0, 0] == 0
    pixels = make_op(radius=1.5, norm_reg_targets=False).targets(256, 256, box, cls)
    np.testing.assert_allclose(pixels["reg_target1"][2, 5], [l, t, r, b], rtol=1e-6)
    kept = make_op(radius=1.5, multiply_strides_reg_targets=True).targets(256, 256, box, cls)
    np.testing.assert_allclose(kept["reg_target1"], pixels["reg_target1"])


def test_num_shift_moves_locations():
    box = np.array([[10, 20, 30, 40]], np.float32)
    cls = np.array([[0]], np.int32)
    for shift, x in ((0.5, 4), (0.0, 0), (0.25, 2)):
        out = make_op(num_shift=shift, norm_reg_targets=False).targets(64, 64, box, cls)
        # background locations carry the first box's distances
        np.testing.assert_allclose(out["reg_target0"][0, 0], [x - 10, x - 20, 30 - x, 40 - x])


def naive_targets(h, w, boxes, classes, radius, num_shift=0.5):
    """Point-by-point, box-by-box reference of PaddleDetection's rules (float64)."""
    bounds = [-1] + BOUNDS + [math.inf]
    out = {}
    for lvl, s in enumerate(STRIDES):
        gh, gw = math.ceil(h / s), math.ceil(w / s)
        labels = np.zeros((gh, gw, 1), np.int32)
        reg = np.zeros((gh, gw, 4))
        ctn = np.zeros((gh, gw, 1))
        for i in range(gh):
            for j in range(gw):
                x, y = s * (j + num_shift), s * (i + num_shift)
                best, best_area = 0, math.inf
                for k, (x1, y1, x2, y2) in enumerate(boxes.astype(float)):
                    d = [x - x1, y - y1, x2 - x, y2 - y]
                    cx, cy, rad = (x1 + x2) / 2, (y1 + y2) / 2, radius * s
                    if radius > 0:
                        inside = (max(x1, cx - rad) < x < min(x2, cx + rad)
                                  and max(y1, cy - rad) < y < min(y2, cy + rad))
                    else:
                        inside = min(d) > 0
                    area = (x2 - x1) * (y2 - y1)
                    if inside and bounds[lvl] < max(d) < bounds[lvl + 1] and area < best_area:
                        best, best_area = k, area
                x1, y1, x2, y2 = boxes[best].astype(float)
                d = np.array([x - x1, y - y1, x2 - x, y2 - y])
                reg[i, j] = d / s
                if best_area < math.inf:
                    labels[i, j] = classes[best, 0] + 1
                    ctn[i, j] = math.sqrt(min(d[0], d[2]) / max(d[0], d[2])
                                          * min(d[1], d[3]) / max(d[1], d[3]))
        out.update({f"labels{lvl}": labels, f"reg_target{lvl}": reg, f"centerness{lvl}": ctn})
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("radius", [0, 1.5])
def test_matches_naive_reference_on_random_boxes(seed, radius):
    rng = np.random.default_rng(seed)
    h, w = 96, 136
    xy = rng.uniform(0, 1, size=(6, 2)) * [w, h]
    wh = rng.uniform(4, 120, size=(6, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    boxes[5] = boxes[2]  # a duplicate: equal areas, different class
    classes = rng.integers(0, 80, size=(6, 1)).astype(np.int32)
    got = make_op(radius=radius).targets(h, w, boxes, classes)
    want = naive_targets(h, w, boxes, classes, radius)
    for key, value in want.items():
        if key.startswith("labels"):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-4, err_msg=key)


def test_size_range_bounds_are_exclusive():
    cls = np.array([[0]], np.int32)
    out = make_op(radius=0).targets(64, 128, np.array([[20, 20, 92, 36]], np.float32), cls)
    assert out["labels0"][3, 3, 0] == 0  # (28, 28): longest side r = 64, not < 64
    assert out["labels0"][3, 4, 0] == 1  # (36, 28): r = 56
    out = make_op(radius=0).targets(64, 128, np.array([[20, 20, 88, 36]], np.float32), cls)
    assert out["labels0"][3, 3, 0] == 1  # (28, 28): r = 60
    assert out["labels1"][1, 1, 0] == 0  # (24, 24) at stride 16: r = 64, not > 64


def test_closed_size_ranges_include_their_ends():
    """mmdetection's test (size_ranges_closed): a largest distance of exactly 64 belongs to
    both levels that 64 separates."""
    cls = np.array([[0]], np.int32)
    op = make_op(radius=0, size_ranges_closed=True)
    out = op.targets(64, 128, np.array([[20, 20, 92, 36]], np.float32), cls)
    assert out["labels0"][3, 3, 0] == 1  # (28, 28): r = 64 <= 64
    out = op.targets(64, 128, np.array([[20, 20, 88, 36]], np.float32), cls)
    assert out["labels1"][1, 1, 0] == 1  # (24, 24) at stride 16: r = 64 >= 64
