"""Geometric ops, named and parameterized like PaddleDetection's: they move pixels and boxes.

``RandomExpand`` (place the image on a larger canvas), ``RandomCrop`` (SSD-style
IoU-constrained crop), ``RandomShortSideResize`` and ``RandomSizeCrop`` (DETR's
multi-scale recipe) and the batch op ``BatchRandomResize``. Box handling is
vectorized over the boxes; ``gt_class``, ``is_crowd``, ``difficult`` and
``gt_score`` follow the boxes that survive, and images without boxes pass
through every op. Each op makes PaddleDetection's draws, in its order, from the
sample's generators (``draws``); the docstrings list them.
"""
import math

import cv2
import numpy as np

from ppfcos.core.registry import register

from .draws import draws_of
from .operators import INTERPOLATIONS, BaseOperator, Resize, scale_boxes

__all__ = ["RandomExpand", "RandomCrop", "RandomShortSideResize", "RandomSizeCrop",
           "BatchRandomResize"]

# Per-box fields that follow gt_bbox when boxes are dropped.
BOX_FIELDS = ("gt_class", "is_crowd", "difficult", "gt_score")


def num_boxes(sample):
    """Number of boxes of ``sample`` (0 without ``gt_bbox``)."""
    return len(sample.get("gt_bbox", ()))


def keep_boxes(sample, boxes, keep):
    """Set ``gt_bbox`` to ``boxes[keep]`` [k, 4] and keep the same rows of the per-box fields."""
    sample["gt_bbox"] = boxes[keep].astype(np.float32)
    for field in BOX_FIELDS:
        if field in sample:
            sample[field] = sample[field][keep]


@register
class RandomExpand(BaseOperator):
    """Place the image at a random spot of a canvas up to ``ratio`` times larger.

    Args:
        ratio (float): largest side multiplier (> 1).
        prob (float): np ``uniform(0, 1)`` < prob leaves the sample unchanged.
        fill_value (3 floats): the canvas colour.

    Draws: np ``uniform(0, 1)``; np ``uniform(1, ratio)`` = r; the canvas is
    int(H r) x int(W r) (unchanged sample unless both sides grow); np
    ``randint(0, h - H)`` = y, np ``randint(0, w - W)`` = x. The image becomes a
    float32 canvas with the image at (y, x) and the boxes move by (x, y). As in
    PaddleDetection, ``im_shape``, ``h`` and ``w`` keep the input's size.
    """

    def __init__(self, ratio=4.0, prob=0.5, fill_value=(127.5, 127.5, 127.5)):
        if ratio < 1.01:
            raise ValueError(f"RandomExpand: ratio must be > 1.01, got {ratio!r}")
        if isinstance(fill_value, (int, float)):
            fill_value = (fill_value,) * 3
        self.ratio = ratio
        self.prob = prob
        self.fill_value = [float(v) for v in fill_value]

    def apply(self, sample):
        draw = draws_of(sample).np
        if draw.uniform(0.0, 1.0) < self.prob:
            return sample
        image = sample["image"]
        height, width = image.shape[:2]
        ratio = draw.uniform(1.0, self.ratio)
        h, w = int(height * ratio), int(width * ratio)
        if not (h > height and w > width):
            return sample
        y, x = draw.randint(0, h - height), draw.randint(0, w - width)
        canvas = np.empty((h, w, image.shape[2]), np.float32)
        canvas[...] = np.array(self.fill_value, np.float32)
        canvas[y:y + height, x:x + width] = image
        sample["image"] = canvas
        if num_boxes(sample):
            sample["gt_bbox"] = sample["gt_bbox"] + np.array([x, y, x, y], np.float32)
        return sample


def iou_with(boxes, window):
    """IoU [n] of x1, y1, x2, y2 ``boxes`` [n, 4] with one ``window`` [4]."""
    top_left = np.maximum(boxes[:, :2], window[:2])
    bottom_right = np.minimum(boxes[:, 2:], window[2:])
    overlap = np.prod(bottom_right - top_left, axis=1) * (top_left < bottom_right).all(axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    window_area = np.prod(window[2:] - window[:2])
    return overlap / (areas + window_area - overlap + 1e-10)


def crop_boxes_by_centre(boxes, window):
    """Boxes [n, 4] clipped to ``window`` [4] and moved to its origin, and the mask [n]
    of boxes whose centre lies in the window (x1 <= c < x2) and that keep a positive size."""
    cropped = boxes.copy()
    cropped[:, :2] = np.maximum(boxes[:, :2], window[:2]) - window[:2]
    cropped[:, 2:] = np.minimum(boxes[:, 2:], window[2:]) - window[:2]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((window[:2] <= centres) & (centres < window[2:])).all(axis=1)
    return cropped, inside & (cropped[:, :2] < cropped[:, 2:]).all(axis=1)


@register
class RandomCrop(BaseOperator):
    """SSD-style random crop that keeps objects (PaddleDetection's RandomCrop, IoU mode).

    Args:
        aspect_ratio ([min, max]): crop aspect ratio range.
        thresholds (list): minimum IoU of some box with the crop, one tried at a time.
        scaling ([min, max]): crop side scale range.
        num_attempts (int): crops drawn per threshold.
        allow_no_crop (bool): "no crop" is one of the shuffled choices.
        cover_all_box (bool): every box (not some box) must reach the threshold.
        prob (float): Python ``random()`` > prob leaves the sample unchanged.

    Draws: py ``random()``; none more for a sample without boxes (returned
    unchanged); np ``shuffle`` of the thresholds (+ "no crop"); for each in that
    order, up to ``num_attempts`` times: np ``uniform(*scaling)`` = s, np
    ``uniform(max(ar_min, s^2), min(ar_max, s^-2))`` = ar, crop h = int(H s / sqrt(ar)),
    w = int(W s sqrt(ar)), np ``randint(0, H - h)`` = y, np ``randint(0, W - w)`` = x.
    The first crop whose max IoU reaches the threshold and holds some box centre
    is taken: boxes are clipped to it and moved, boxes whose centre is outside are
    dropped with their class, crowd flag, difficulty and score. The image stays
    uint8; as in PaddleDetection ``im_shape`` keeps the input's size.
    """

    def __init__(self, aspect_ratio=(0.5, 2.0), thresholds=(0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
                 scaling=(0.3, 1.0), num_attempts=50, allow_no_crop=True, cover_all_box=False,
                 prob=1.0):
        self.aspect_ratio = [float(v) for v in aspect_ratio]
        self.thresholds = [float(v) for v in thresholds]
        self.scaling = [float(v) for v in scaling]
        self.num_attempts = int(num_attempts)
        self.allow_no_crop = allow_no_crop
        self.cover_all_box = cover_all_box
        self.prob = prob

    def _find_window(self, boxes, height, width, draw):
        """(window [4] int, kept mask [n], cropped boxes [n, 4]), or None for no crop."""
        choices = self.thresholds + ([None] if self.allow_no_crop else [])
        order = np.arange(len(choices))
        draw.shuffle(order)
        for threshold in (choices[i] for i in order):
            if threshold is None:
                return None
            for _ in range(self.num_attempts):
                scale = draw.uniform(*self.scaling)
                ratio = draw.uniform(max(self.aspect_ratio[0], scale ** 2),
                                     min(self.aspect_ratio[1], scale ** -2))
                crop_h = int(height * scale / math.sqrt(ratio))
                crop_w = int(width * scale * math.sqrt(ratio))
                y, x = draw.randint(0, height - crop_h), draw.randint(0, width - crop_w)
                window = np.array([x, y, x + crop_w, y + crop_h], np.float32)
                iou = iou_with(boxes, window)
                if iou.max() < threshold or (self.cover_all_box and iou.min() < threshold):
                    continue
                cropped, kept = crop_boxes_by_centre(boxes, window)
                if kept.any():
                    return window.astype(int), kept, cropped
        return None

    def apply(self, sample):
        draws = draws_of(sample)
        if draws.py.random() > self.prob or not num_boxes(sample):
            return sample
        height, width = sample["image"].shape[:2]
        found = self._find_window(sample["gt_bbox"], height, width, draws.np)
        if found is None:
            return sample
        (x1, y1, x2, y2), kept, cropped = found
        sample["image"] = sample["image"][y1:y2, x1:x2]
        keep_boxes(sample, cropped, kept)
        return sample


def short_side_size(height, width, size, max_size=None):
    """(out_w, out_h) with short side ``size``, long side at most ``max_size`` (DETR's rule).

    When the long side would exceed ``max_size`` the short side becomes
    round(max_size * short / long); the other side is round(size * long / short).
    """
    if max_size is not None:
        short, long = float(min(width, height)), float(max(width, height))
        if long / short * size > max_size:
            size = int(round(max_size * short / long))
    if (width <= height and width == size) or (height <= width and height == size):
        return width, height
    if width < height:
        return size, int(round(size * height / width))
    return int(round(size * width / height)), size


@register
class RandomShortSideResize(BaseOperator):
    """Resize to a short side drawn from ``short_side_sizes`` (DETR's multi-scale).

    Args:
        short_side_sizes (list of int): py ``choice`` picks one.
        max_size (int or None): cap on the long side.
        interp (int): OpenCV interpolation.
        random_interp (bool): py ``choice`` of the interpolation too (second draw).

    The image keeps its dtype; ``im_shape`` becomes the new [h, w],
    ``scale_factor`` is multiplied by (sy, sx), boxes are scaled and clipped.
    """

    def __init__(self, short_side_sizes, max_size=None, interp=cv2.INTER_LINEAR,
                 random_interp=False):
        if not isinstance(short_side_sizes, (list, tuple)) or not short_side_sizes:
            raise TypeError(f"RandomShortSideResize: short_side_sizes must be a list of "
                            f"ints, got {short_side_sizes!r}")
        self.short_side_sizes = [int(v) for v in short_side_sizes]
        self.max_size = max_size
        self.interp = interp
        self.random_interp = random_interp

    def apply(self, sample):
        draws = draws_of(sample)
        size = draws.py.choice(self.short_side_sizes)
        interp = draws.py.choice(INTERPOLATIONS) if self.random_interp else self.interp
        image = sample["image"]
        height, width = image.shape[:2]
        out_w, out_h = short_side_size(height, width, size, self.max_size)
        scale_y, scale_x = out_h / height, out_w / width
        sample["image"] = cv2.resize(image, (out_w, out_h), interpolation=interp)
        sample["im_shape"] = np.array([out_h, out_w], np.float32)
        prev = sample.get("scale_factor", np.ones(2, np.float32))
        sample["scale_factor"] = np.array([prev[0] * scale_y, prev[1] * scale_x], np.float32)
        if num_boxes(sample):
            sample["gt_bbox"] = scale_boxes(sample["gt_bbox"], scale_x, scale_y, out_w, out_h)
        return sample


@register
class RandomSizeCrop(BaseOperator):
    """Crop a random th x tw window, sides drawn in [min_size, min(side, max_size)] (DETR).

    Draws: py ``randint(min_size, min(H, max_size))`` = th, py
    ``randint(min_size, min(W, max_size))`` = tw; then, unless the window is the
    whole image, py ``randint(0, H - th + 1)`` = i and py ``randint(0, W - tw + 1)`` = j
    (PaddleDetection's +1: the window may reach one pixel past the image and
    then holds one row or column less). Boxes move by (-j, -i), are clipped to
    [0, tw] x [0, th], and boxes left without area are dropped with their
    per-box fields. ``im_shape`` becomes the cropped size; ``scale_factor`` stays.
    """

    def __init__(self, min_size, max_size):
        self.min_size = int(min_size)
        self.max_size = int(max_size)

    def apply(self, sample):
        draw = draws_of(sample).py
        height, width = sample["image"].shape[:2]
        if min(height, width) < self.min_size:
            raise ValueError(f"RandomSizeCrop: the image is {width} x {height}, smaller than "
                             f"min_size {self.min_size}; resize it first or lower min_size")
        th = draw.randint(self.min_size, min(height, self.max_size))
        tw = draw.randint(self.min_size, min(width, self.max_size))
        i = j = 0
        if (th, tw) != (height, width):
            i, j = draw.randint(0, height - th + 1), draw.randint(0, width - tw + 1)
        sample["image"] = sample["image"][i:i + th, j:j + tw]
        sample["im_shape"] = np.array(sample["image"].shape[:2], np.float32)
        if num_boxes(sample):
            boxes = sample["gt_bbox"] - np.array([j, i, j, i], np.float32)
            boxes = np.clip(boxes, 0, np.array([tw, th, tw, th], np.float32))
            keep_boxes(sample, boxes, np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) > 0)
        return sample


@register
class BatchRandomResize:
    """Batch op: resize every image of the batch to one size drawn per batch.

    Args:
        target_size (int | [h, w] | list of them): with ``random_size`` a list
            to pick from, else the one size.
        keep_ratio (bool), interp (int): as for `Resize`.
        random_size (bool): np ``choice(len(target_size))`` picks the size.
        random_interp (bool): np ``choice`` among nearest, linear, area, cubic
            and Lanczos picks the interpolation (after the size).

    The draws come from the generators of the batch's first sample (see
    ``draws``), so a batch's size depends only on (seed, epoch, its first
    image's index), whichever worker builds it.
    """

    def __init__(self, target_size, keep_ratio, interp=cv2.INTER_NEAREST, random_size=True,
                 random_interp=False):
        if random_size and not isinstance(target_size, (list, tuple)):
            raise TypeError("BatchRandomResize: target_size must be a list when random_size "
                            "is set")
        self.target_size = target_size
        self.keep_ratio = keep_ratio
        self.interp = interp
        self.random_size = random_size
        self.random_interp = random_interp

    def __call__(self, samples):
        """Resize the list of samples (HWC images) in place and return it."""
        draw = draws_of(samples).np
        size = self.target_size
        if self.random_size:
            size = self.target_size[draw.choice(len(self.target_size))]
        interp = int(draw.choice(INTERPOLATIONS)) if self.random_interp else self.interp
        return Resize(size, self.keep_ratio, interp)(samples)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"BatchRandomResize({args})"
