"""Per-box fields follow their boxes through the augmentation ops, and the sample's
generators make the draws the global ones made before (RandomResize, RandomFlip)."""
import numpy as np
import pytest

from ppfcos.data.transforms import (BatchRandomResize, Mixup, RandomCrop, RandomExpand,
                                    RandomFlip, RandomResize, RandomSelect,
                                    RandomShortSideResize, RandomSizeCrop)
from ppfcos.data.transforms.draws import RANDOM_KEY, SampleRandom, wrap_to_uint8


def labelled_sample(seed, n=12, h=90, w=140):
    """A random image with ``n`` random boxes whose class is their row number, crowd flag
    class % 2, difficulty class % 3 and score class / 100, so any mix-up shows."""
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, w - 20, n), rng.uniform(0, h - 20, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(4, 60, n), y1 + rng.uniform(4, 40, n)], 1)
    classes = np.arange(n, dtype=np.int32)[:, None]
    return {"image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            "gt_bbox": np.minimum(boxes, [w, h, w, h]).astype(np.float32),
            "gt_class": classes, "is_crowd": classes % 2, "difficult": classes % 3,
            "gt_score": (classes / 100).astype(np.float32),
            RANDOM_KEY: SampleRandom(seed, seed)}


def assert_fields_follow_boxes(sample):
    classes = sample["gt_class"][:, 0]
    n = len(sample["gt_bbox"])
    assert sample["gt_bbox"].shape == (n, 4) and sample["gt_bbox"].dtype == np.float32
    for field in ("gt_class", "is_crowd", "difficult", "gt_score"):
        assert sample[field].shape == (n, 1), field
    np.testing.assert_array_equal(sample["is_crowd"][:, 0], classes % 2)
    np.testing.assert_array_equal(sample["difficult"][:, 0], classes % 3)
    np.testing.assert_allclose(sample["gt_score"][:, 0], classes / 100, rtol=1e-6)
    h, w = sample["image"].shape[:2]
    boxes = sample["gt_bbox"]
    assert (boxes >= 0).all()
    assert (boxes[:, 2] <= w + 1e-3).all() and (boxes[:, 3] <= h + 1e-3).all()


OPS = [RandomCrop(), RandomSizeCrop(30, 80), RandomExpand(prob=0.0),
       RandomShortSideResize([60, 100], max_size=150), RandomFlip(prob=1.0),
       RandomSelect([{"RandomSizeCrop": {"min_size": 20, "max_size": 50}}],
                    [{"RandomCrop": {"thresholds": [0.7, 0.9], "allow_no_crop": False}}])]


@pytest.mark.parametrize("op", OPS, ids=lambda op: type(op).__name__)
def test_per_box_fields_follow_the_boxes(op):
    dropped = 0
    for seed in range(20):
        sample = op(labelled_sample(seed))
        assert_fields_follow_boxes(sample)
        dropped += 12 - len(sample["gt_bbox"])
    if isinstance(op, (RandomCrop, RandomSizeCrop, RandomSelect)):
        assert dropped > 0  # the crops did drop boxes, and their fields with them


@pytest.mark.parametrize("op", OPS + [RandomExpand(prob=0.0, ratio=2.0)],
                         ids=lambda op: type(op).__name__)
def test_images_without_boxes_pass(op):
    sample = labelled_sample(0, n=0)
    out = op(sample)
    assert out["gt_bbox"].shape == (0, 4) and out["gt_class"].shape == (0, 1)
    assert out["image"].ndim == 3


def test_mixup_and_batch_resize_keep_every_box_with_its_fields():
    first, second = labelled_sample(1, n=3), labelled_sample(2, n=5, h=120, w=60)
    second[RANDOM_KEY] = first[RANDOM_KEY]
    second["gt_score"] = np.ones((5, 1), np.float32)
    mixed = Mixup(alpha=50, beta=50)([first, second])  # Beta(50, 50): f about 0.5
    assert mixed["image"].shape == (120, 140, 3) and mixed["image"].dtype == np.uint8
    np.testing.assert_array_equal(mixed["gt_class"][:, 0], [0, 1, 2, 0, 1, 2, 3, 4])
    factor = float(mixed["gt_score"][0, 0])
    assert 0.3 < factor < 0.7
    np.testing.assert_allclose(mixed["gt_score"][:, 0], [factor] * 3 + [1 - factor] * 5,
                               rtol=1e-6)
    batch = BatchRandomResize([[64, 64], [96, 128]], keep_ratio=False)([mixed, second])
    assert {s["image"].shape for s in batch} <= {(64, 64, 3), (96, 128, 3)}
    assert len({s["image"].shape for s in batch}) == 1  # one size per batch
    assert [len(s["gt_bbox"]) for s in batch] == [8, 5]


def test_sample_generators_make_the_draws_of_the_seeded_global_ones():
    ops = [RandomResize([[64, 1000], [96, 1000], [128, 1000]], random_interp=True),
           RandomFlip()]
    for index in range(10):
        key = [5, 2, index]
        np.random.seed(key)
        by_global = labelled_sample(index)
        by_global.pop(RANDOM_KEY)
        by_sample = labelled_sample(index)
        by_sample[RANDOM_KEY] = SampleRandom.for_sample(*key)
        for op in ops:
            by_global, by_sample = op(by_global), op(by_sample)
        np.testing.assert_array_equal(by_global["image"], by_sample["image"])
        np.testing.assert_array_equal(by_global["gt_bbox"], by_sample["gt_bbox"])


def test_wrap_to_uint8_is_numpy_cast_on_x86():
    values = np.array([-300.7, -3.2, 0.0, 12.9, 255.9, 256.0, 268.5, 1000.2])
    np.testing.assert_array_equal(wrap_to_uint8(values), [212, 253, 0, 12, 255, 0, 12, 232])
