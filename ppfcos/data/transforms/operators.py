"""Per-sample data transforms, named and parameterized like PaddleDetection's.

A sample is a dict with PaddleDetection's keys: ``image`` (HWC before
`Permute`, CHW after), ``gt_bbox`` [n, 4] float32 x1, y1, x2, y2 in
pixels, ``gt_class`` [n, 1] int32, ``is_crowd`` [n, 1] int32, ``im_shape`` [2]
float32 (h, w after resizing), ``scale_factor`` [2] float32 (scale_y,
scale_x), ``h``, ``w`` (decoded size), ``im_id``, ...

Every op is a callable: ``op(sample) -> sample``. Called with a list of
samples (a config may list a sample op under ``batch_transforms``), it applies
itself to each sample and returns the list.
"""
import os

import cv2
import numpy as np

from ppfcos.core.messages import excerpt
from ppfcos.core.registry import register

from .draws import draws_of

__all__ = [
    "BaseOperator", "ImageDecodeError", "Decode", "Resize", "RandomResize",
    "RandomFlip", "NormalizeImage", "Permute",
]

# The interpolations the random resizes draw from when random_interp is set.
INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_AREA,
                   cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)


class ImageDecodeError(ValueError):
    """An image file is missing, unreadable or not a decodable image.

    ``path`` names the file (or ``"<bytes>"`` for in-memory data) so a reader
    can log and skip the sample.
    """

    def __init__(self, path, reason="cannot decode image"):
        super().__init__(f"{reason}: {path}")
        self.path = path


class BaseOperator:
    """Base of the per-sample ops: subclasses implement `apply`."""

    def apply(self, sample):
        """Transform one sample dict and return it."""
        raise NotImplementedError

    def __call__(self, sample):
        """Apply to one sample dict, or to each dict of a list (returned as a list)."""
        if isinstance(sample, (list, tuple)):
            return [self.apply(s) for s in sample]
        return self.apply(sample)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _read_bytes(path):
    """Bytes of the file at ``path``; ImageDecodeError if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ImageDecodeError(path, f"cannot read image ({e.strerror})") from None


@register
class Decode(BaseOperator):
    """Decode an encoded image into an RGB (or, with ``to_rgb: false``, BGR) uint8
    array [H, W, 3]. Caffe-style backbones (mmdetection's caffe ResNets) read BGR.

    The encoded data is ``sample['image']`` (bytes, or a path string) or, when
    there is no ``image``, the file ``sample['im_file']``. An already decoded
    array (ndim 3) is kept as is. Sets ``h``, ``w`` (actual size),
    ``im_shape`` = [h, w] and ``scale_factor`` = [1, 1] (float32).
    Raises `ImageDecodeError` for an unreadable or undecodable image, and
    for a decoded file whose size is not the ``h``, ``w`` its annotation record
    declares (its boxes would be in other pixels): the reader skips and counts it.
    """

    def __init__(self, to_rgb=True):
        self.to_rgb = to_rgb

    def apply(self, sample):
        data = sample.get("image")
        path = sample.get("im_file", "<bytes>")
        if data is None:
            data = _read_bytes(sample["im_file"])
        elif isinstance(data, (str, os.PathLike)):
            path = data
            data = _read_bytes(data)
        if isinstance(data, np.ndarray) and data.ndim == 3:
            im = data
        else:
            im = _decode(data, path, self.to_rgb)
            _check_declared_size(sample, im.shape[:2], path)
        sample["image"] = im
        sample["h"], sample["w"] = im.shape[:2]
        sample["im_shape"] = np.array(im.shape[:2], dtype=np.float32)
        sample["scale_factor"] = np.array([1.0, 1.0], dtype=np.float32)
        return sample


def _check_declared_size(sample, shape, path):
    """ImageDecodeError if the record's ``h``, ``w`` (when given) are not ``shape``."""
    if "h" not in sample or "w" not in sample:
        return
    declared = (int(round(sample["h"])), int(round(sample["w"])))
    if declared != tuple(shape):
        raise ImageDecodeError(path, f"the annotation file gives width {declared[1]} height "
                               f"{declared[0]}, the image is {shape[1]} x {shape[0]}; fix the "
                               f"record's width/height (its boxes must be in the image's "
                               f"pixels)")


def _decode(data, path, to_rgb):
    """Decode encoded image bytes into RGB (or BGR) uint8 [H, W, 3]."""
    buf = np.frombuffer(data, dtype=np.uint8)
    im = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if im is None:
        raise ImageDecodeError(path)
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB) if to_rgb else im


def _resized_hw(h, w, target_size, keep_ratio):
    """Output size (resize_h, resize_w) of `Resize` for an h x w image.

    With ``keep_ratio`` the image is scaled by
    ``min(min(target) / min(h, w), max(target) / max(h, w))`` and each side is
    rounded half up to an integer; otherwise it is ``target_size`` (h, w).
    """
    if not keep_ratio:
        return int(target_size[0]), int(target_size[1])
    scale = min(min(target_size) / min(h, w), max(target_size) / max(h, w))
    return int(scale * h + 0.5), int(scale * w + 0.5)


def scale_boxes(boxes, scale_x, scale_y, width, height):
    """Scale x1, y1, x2, y2 boxes [n, 4] and clip them to [0, width] x [0, height]."""
    scale = np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
    out = boxes.astype(np.float32) * scale
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


@register
class Resize(BaseOperator):
    """Resize the HWC image and its boxes.

    Args:
        target_size (int | [h, w]): an int means [n, n]. With ``keep_ratio``
            the image is scaled so its short side fits min(target_size) and its
            long side max(target_size); otherwise it is stretched to (h, w).
        keep_ratio (bool): keep the aspect ratio.
        interp (int): OpenCV interpolation flag.

    The integer output size is computed first (rounded half up), and the
    per-axis scales are ``resize_h / h`` and ``resize_w / w`` (so with
    ``keep_ratio`` they can differ slightly). Sets ``image`` float32
    [resize_h, resize_w, C], ``im_shape`` = [resize_h, resize_w], multiplies
    ``scale_factor`` (scale_y, scale_x) into any existing one, and scales
    ``gt_bbox`` clipped to the new image.
    """

    def __init__(self, target_size, keep_ratio=True, interp=cv2.INTER_LINEAR):
        if isinstance(target_size, (int, np.integer)):
            target_size = [target_size, target_size]
        if len(target_size) != 2:
            raise TypeError(f"Resize: target_size must be an int or [h, w], "
                            f"got {excerpt(target_size)}")
        self.target_size = [int(v) for v in target_size]
        self.keep_ratio = keep_ratio
        self.interp = interp

    def apply(self, sample):
        im = sample["image"]
        if not isinstance(im, np.ndarray) or im.ndim != 3:
            raise TypeError("Resize: sample['image'] must be an HWC numpy array")
        h, w = im.shape[:2]
        resize_h, resize_w = _resized_hw(h, w, self.target_size, self.keep_ratio)
        scale_y, scale_x = resize_h / h, resize_w / w
        im = cv2.resize(im, (resize_w, resize_h), interpolation=self.interp)
        sample["image"] = im.astype(np.float32, copy=False)
        sample["im_shape"] = np.array([resize_h, resize_w], dtype=np.float32)
        prev = sample.get("scale_factor", np.ones(2, dtype=np.float32))
        sample["scale_factor"] = np.array([prev[0] * scale_y, prev[1] * scale_x],
                                          dtype=np.float32)
        if len(sample.get("gt_bbox", ())) > 0:
            sample["gt_bbox"] = scale_boxes(sample["gt_bbox"], scale_x, scale_y,
                                            resize_w, resize_h)
        return sample


@register
class RandomResize(BaseOperator):
    """`Resize` to a size drawn per sample (multiscale training).

    Args:
        target_size: with ``random_size``, a list of sizes (int or [h, w])
            to pick one from uniformly; with ``random_range``,
            [[min_short, long], [max_short, long]] to draw the short side in
            [min_short, max_short] (the long side is PaddleDetection's
            ``max(long_0, long_1 + 1)``); otherwise one size.
        keep_ratio (bool), interp (int): as for `Resize`.
        random_range (bool): draw the short side from a range.
        random_size (bool): pick among ``target_size``.
        random_interp (bool): pick the interpolation among nearest, linear,
            area, cubic and Lanczos.

    Draws use the sample's numpy generator (see ``draws``): ``np.random.randint``
    for the size, then for the interpolation.
    """

    def __init__(self, target_size, keep_ratio=True, interp=cv2.INTER_LINEAR,
                 random_range=False, random_size=True, random_interp=False):
        is_list = isinstance(target_size, (list, tuple))
        if (random_range or random_size) and not is_list:
            raise TypeError("RandomResize: target_size must be a list when "
                            "random_size or random_range is set")
        if random_range and len(target_size) != 2:
            raise TypeError("RandomResize: random_range needs target_size "
                            "[[min_short, long], [max_short, long]]")
        self.target_size = target_size
        self.keep_ratio = keep_ratio
        self.interp = interp
        self.random_range = random_range
        self.random_size = random_size
        self.random_interp = random_interp

    def _draw_size(self, draw):
        """The target size for one sample (``draw``: a numpy RandomState)."""
        if self.random_range:
            (short_lo, long_0), (short_hi, long_1) = self.target_size
            return [draw.randint(short_lo, short_hi + 1), max(long_0, long_1 + 1)]
        if self.random_size:
            return self.target_size[draw.randint(len(self.target_size))]
        return self.target_size

    def apply(self, sample):
        draw = draws_of(sample).np
        size = self._draw_size(draw)
        interp = self.interp
        if self.random_interp:
            interp = INTERPOLATIONS[draw.randint(len(INTERPOLATIONS))]
        return Resize(size, self.keep_ratio, interp).apply(sample)


def flip_boxes(boxes, width):
    """Mirror x1, y1, x2, y2 boxes [n, 4] in an image of the given width."""
    out = boxes.copy()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


@register
class RandomFlip(BaseOperator):
    """Flip the HWC image and its boxes left-right with probability ``prob``.

    Boxes become x1' = w - x2, x2' = w - x1; sets ``flipped`` = True. One draw:
    the sample's ``np.random.uniform(0, 1)``.
    """

    def __init__(self, prob=0.5):
        self.prob = prob

    def apply(self, sample):
        if draws_of(sample).np.uniform(0, 1) >= self.prob:
            return sample
        im = sample["image"]
        width = im.shape[1]
        sample["image"] = im[:, ::-1, :]
        if len(sample.get("gt_bbox", ())) > 0:
            sample["gt_bbox"] = flip_boxes(sample["gt_bbox"], width)
        sample["flipped"] = True
        return sample


@register
class NormalizeImage(BaseOperator):
    """Convert the image to float32 and normalize it.

    ``image = (image / 255 - mean) / std`` per channel (last axis, so before
    `Permute`); the division by 255 only with ``is_scale``, the mean
    and std step only with ``norm_type='mean_std'``.

    Args:
        mean (list of 3 floats): per-channel mean (RGB).
        std (list of 3 floats): per-channel standard deviation (RGB).
        is_scale (bool): divide by 255 first.
        norm_type (str): 'mean_std' or 'none'.
    """

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 is_scale=True, norm_type="mean_std"):
        if norm_type not in ("mean_std", "none"):
            raise ValueError("NormalizeImage: norm_type must be 'mean_std' or 'none', "
                             f"got {excerpt(norm_type)}")
        if np.prod(std) == 0:
            raise ValueError(f"NormalizeImage: std must be non-zero, got {excerpt(std)}")
        self.mean = list(mean)
        self.std = list(std)
        self.is_scale = is_scale
        self.norm_type = norm_type

    def apply(self, sample):
        im = sample["image"].astype(np.float32)
        if self.is_scale:
            im *= 1.0 / 255.0
        if self.norm_type == "mean_std":
            im -= np.array(self.mean)
            im /= np.array(self.std)
        sample["image"] = im
        return sample


@register
class Permute(BaseOperator):
    """Transpose the image from HWC to CHW (a view, no copy)."""

    def apply(self, sample):
        sample["image"] = sample["image"].transpose((2, 0, 1))
        return sample
