"""Tests of the per-sample transforms and PadBatch."""
import os

import cv2
import numpy as np
import pytest

from ppfcos.core.registry import lookup
from ppfcos.data.transforms import (Decode, ImageDecodeError, NormalizeImage, PadBatch, Permute,
                                    RandomFlip, RandomResize, Resize)

from conftest import FIXTURES

FIXTURE = os.path.join(FIXTURES, "transforms.npz")
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(FIXTURE))


def _sample(h=120, w=200, boxes=((10, 20, 50, 60),), seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8),
            "gt_bbox": np.array(boxes, dtype=np.float32).reshape(-1, 4),
            "gt_class": np.zeros((len(boxes), 1), np.int32)}


def _png_bytes(h=40, w=60):
    ok, buf = cv2.imencode(".png", np.full((h, w, 3), (10, 20, 30), np.uint8))
    assert ok
    return buf.tobytes()


# ---- the reference pipeline ------------------------------------------------

def test_pipeline_matches_paddledetection_fixture(ref):
    sample = {"image": ref["jpeg"].tobytes(), "gt_bbox": ref["src_gt_bbox"].copy()}
    ops = [Decode(), Resize([int(v) for v in ref["target_size"]], keep_ratio=True, interp=1),
           NormalizeImage(MEAN, STD, is_scale=True), RandomFlip(prob=1.0), Permute()]
    for op in ops:
        sample = op(sample)
    sample = PadBatch(pad_to_stride=int(ref["pad_to_stride"]))([sample])[0]
    for key in ("image", "gt_bbox", "im_shape", "scale_factor"):
        assert sample[key].shape == ref[key].shape, key
        np.testing.assert_allclose(sample[key], ref[key], rtol=0, atol=1e-4, err_msg=key)


def test_config_style_construction():
    op = lookup("Resize")(**{"target_size": [800, 1333], "keep_ratio": True, "interp": 1})
    assert isinstance(op, Resize) and op.target_size == [800, 1333] and op.interp == 1
    assert isinstance(lookup("NormalizeImage")(is_scale=True, mean=MEAN, std=STD), NormalizeImage)
    for name in ("Decode", "RandomResize", "RandomFlip", "Permute", "PadBatch", "Gt2FCOSTarget"):
        assert lookup(name).__name__ == name


# ---- Decode -------------------------------------------------------------------

def test_decode_bytes_sets_shape_keys():
    out = Decode()({"image": _png_bytes(40, 60)})
    assert out["image"].shape == (40, 60, 3) and out["image"].dtype == np.uint8
    np.testing.assert_array_equal(out["image"][0, 0], [30, 20, 10])  # BGR file -> RGB
    assert (out["h"], out["w"]) == (40, 60)
    np.testing.assert_array_equal(out["im_shape"], [40, 60])
    np.testing.assert_array_equal(out["scale_factor"], [1, 1])
    assert out["im_shape"].dtype == np.float32 and out["scale_factor"].dtype == np.float32


def test_decode_keeps_bgr_for_caffe_backbones():
    out = Decode(to_rgb=False)({"image": _png_bytes(4, 6)})
    np.testing.assert_array_equal(out["image"][0, 0], [10, 20, 30])


def test_decode_from_im_file_and_path(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(_png_bytes(30, 50))
    assert Decode()({"im_file": str(path)})["image"].shape == (30, 50, 3)
    assert Decode()({"image": str(path)})["image"].shape == (30, 50, 3)


def test_decode_corrupt_and_missing_raise_specific_error(tmp_path):
    with pytest.raises(ImageDecodeError) as err:
        Decode()({"image": b"not an image", "im_file": "x.jpg"})
    assert err.value.path == "x.jpg"
    with pytest.raises(ImageDecodeError):
        Decode()({"image": b""})
    missing = str(tmp_path / "missing.jpg")
    with pytest.raises(ImageDecodeError) as err:
        Decode()({"im_file": missing})
    assert err.value.path == missing


# ---- Resize / RandomResize ------------------------------------------------------

def test_resize_keep_ratio_rounds_sizes_and_scales_per_axis():
    s = Resize([256, 384], keep_ratio=True, interp=1)(_sample(120, 200, [(0, 60, 200, 130)]))
    # scale min(256/120, 384/200) = 1.92: 230.4 x 384 -> 230 x 384
    assert s["image"].shape == (230, 384, 3) and s["image"].dtype == np.float32
    np.testing.assert_array_equal(s["im_shape"], [230, 384])
    np.testing.assert_allclose(s["scale_factor"], [230 / 120, 384 / 200], rtol=1e-6)
    # y scaled by 230/120, y2 = 130 * 1.9167 clipped to the 230 rows
    np.testing.assert_allclose(s["gt_bbox"], [[0, 60 * 230 / 120, 384, 230]], rtol=1e-6)


def test_resize_keep_ratio_rounds_half_up():
    s = Resize([32, 1000], keep_ratio=True)(_sample(64, 21, boxes=[]))
    # scale 32 / 21: 97.52 x 32 -> 98 x 32
    assert s["image"].shape == (98, 32, 3)
    np.testing.assert_allclose(s["scale_factor"], [98 / 64, 32 / 21], rtol=1e-6)


def test_resize_without_keep_ratio_and_int_target():
    s = Resize([100, 300], keep_ratio=False)(_sample(120, 200, [(20, 30, 100, 90)]))
    assert s["image"].shape == (100, 300, 3)
    np.testing.assert_allclose(s["scale_factor"], [100 / 120, 1.5], rtol=1e-6)
    np.testing.assert_allclose(s["gt_bbox"], [[30, 25, 150, 75]], rtol=1e-6)
    s = Resize(64, keep_ratio=False)(_sample(120, 200))
    assert s["image"].shape == (64, 64, 3)


def test_resize_composes_scale_factor_and_keeps_empty_boxes():
    s = _sample(100, 100, boxes=[])
    s["scale_factor"] = np.array([2.0, 0.5], np.float32)
    s = Resize([50, 50], keep_ratio=False)(s)
    np.testing.assert_allclose(s["scale_factor"], [1.0, 0.25])
    assert s["gt_bbox"].shape == (0, 4)


def test_random_resize_picks_among_sizes_and_is_seeded():
    sizes = [[64, 1000], [96, 1000], [128, 1000]]
    op = RandomResize(sizes, keep_ratio=True)

    def heights(seed):
        np.random.seed(seed)
        return [op(_sample(100, 150))["image"].shape[0] for _ in range(30)]

    first = heights(3)
    assert set(first) == {64, 96, 128}
    assert heights(3) == first
    assert heights(4) != first


def test_random_resize_range_and_fixed_size():
    np.random.seed(0)
    op = RandomResize([[60, 1000], [70, 1000]], random_range=True, random_size=False)
    shorts = {op(_sample(100, 150))["image"].shape[0] for _ in range(40)}
    assert shorts <= set(range(60, 71)) and len(shorts) > 3
    fixed = RandomResize([50, 80], keep_ratio=False, random_size=False)
    assert fixed(_sample())["image"].shape == (50, 80, 3)
    with pytest.raises(TypeError):
        RandomResize(800)


# ---- RandomFlip -------------------------------------------------------------------

def test_random_flip_boxes_and_image():
    s = _sample(20, 100, [(10, 2, 30, 8), (0, 0, 100, 20)])
    image = s["image"].copy()
    s = RandomFlip(prob=1.0)(s)
    np.testing.assert_array_equal(s["gt_bbox"], [[70, 2, 90, 8], [0, 0, 100, 20]])
    np.testing.assert_array_equal(s["image"], image[:, ::-1])
    assert s["flipped"] is True


def test_random_flip_twice_is_identity_and_prob_zero_is_noop():
    s = _sample(30, 50, [(1, 2, 11.5, 20)])
    image, boxes = s["image"].copy(), s["gt_bbox"].copy()
    flip = RandomFlip(prob=1.0)
    s = flip(flip(s))
    np.testing.assert_array_equal(s["image"], image)
    np.testing.assert_array_equal(s["gt_bbox"], boxes)
    s = RandomFlip(prob=0.0)(_sample(30, 50, [(1, 2, 11.5, 20)]))
    np.testing.assert_array_equal(s["gt_bbox"], boxes)
    assert "flipped" not in s


def test_random_flip_probability_is_seeded():
    def flips(seed):
        np.random.seed(seed)
        return [RandomFlip()(_sample(4, 4)).get("flipped", False) for _ in range(40)]

    assert flips(1) == flips(1)
    assert 5 < sum(flips(1)) < 35


# ---- NormalizeImage / Permute / list input -------------------------------------------

def test_normalize_image_numbers():
    image = np.array([[[0, 255, 51]]], np.uint8)
    out = NormalizeImage(MEAN, STD, is_scale=True)({"image": image})["image"]
    assert out.dtype == np.float32
    want = (np.array([0, 1, 0.2]) - MEAN) / STD
    np.testing.assert_allclose(out[0, 0], want, rtol=1e-6)
    out = NormalizeImage([1, 2, 3], [2, 2, 2], is_scale=False)({"image": image})["image"]
    np.testing.assert_allclose(out[0, 0], [-0.5, 126.5, 24])
    out = NormalizeImage(is_scale=True, norm_type="none")({"image": image})["image"]
    np.testing.assert_allclose(out[0, 0], [0, 1, 0.2], rtol=1e-6)
    with pytest.raises(ValueError):
        NormalizeImage(std=[1, 0, 1])


def test_permute_hwc_to_chw():
    image = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    out = Permute()({"image": image})["image"]
    assert out.shape == (3, 2, 4)
    np.testing.assert_array_equal(out[1], image[:, :, 1])


def test_sample_op_applies_to_each_sample_of_a_list():
    batch = [{"image": np.zeros((2, 3, 3))}, {"image": np.zeros((4, 5, 3))}]
    out = Permute()(batch)
    assert isinstance(out, list) and [s["image"].shape for s in out] == [(3, 2, 3), (3, 4, 5)]


# ---- PadBatch ----------------------------------------------------------------------------

def test_pad_batch_to_stride_preserves_content():
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((3, 50, 70)).astype(np.float32),
              rng.standard_normal((3, 65, 30)).astype(np.float32)]
    batch = PadBatch(pad_to_stride=32)([{"image": im.copy()} for im in images])
    for sample, im in zip(batch, images):
        out = sample["image"]
        assert out.shape == (3, 96, 96) and out.dtype == np.float32
        np.testing.assert_array_equal(out[:, :im.shape[1], :im.shape[2]], im)
        assert not out[:, im.shape[1]:, :].any() and not out[:, :, im.shape[2]:].any()


def test_pad_batch_without_stride_pads_to_batch_max():
    batch = [{"image": np.ones((3, 5, 9), np.float32)}, {"image": np.ones((3, 7, 4), np.float32)}]
    assert [s["image"].shape for s in PadBatch()(batch)] == [(3, 7, 9), (3, 7, 9)]
    single = PadBatch(pad_to_stride=128)([{"image": np.ones((3, 800, 1216), np.float32)}])
    assert single[0]["image"].shape == (3, 896, 1280)
