"""Image preprocessing built from infer_cfg.yml's ``Preprocess`` list.

Each step gives the same arrays as ppfcos's reader op of the same name (Resize,
NormalizeImage, Permute; PadStride is PadBatch for one image; ToBGR is Decode's
``to_rgb: false``), so the exported network sees exactly what it saw in training and
evaluation. Pad fills a static-shape export's fixed input size; Letterbox fits an image
into an edge export's (resize keeping the ratio, then pad).

A sample is a dict:
    image         RGB uint8 [H, W, 3] on entry; float32 [3, H', W'] at the end
    im_shape      float32 [2]: (h, w) after Resize, before padding
    scale_factor  float32 [2]: (resized_h / h, resized_w / w) from the original image
"""
import inspect
import math

import cv2
import numpy as np

from .errors import DeployError

# The largest image side a step may make (Resize target, Pad size, PadStride stride): a
# 16384 x 16384 float32 image is 3 GB; a typo (100000) would ask cv2 for 30 GB.
MAX_SIDE = 16384
# OpenCV's interpolation flags cv2.resize takes (nearest, linear, cubic, area, lanczos4).
INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA,
                  cv2.INTER_LANCZOS4)


def image_size(value, name):
    """An int n ([n, n]) or [h, w] of integers from 1 to MAX_SIDE -> [h, w]; ValueError
    naming the argument ``name`` otherwise."""
    sides = [value, value] if isinstance(value, int) else value
    if not (isinstance(sides, (list, tuple)) and len(sides) == 2 and all(
            isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= MAX_SIDE
            for side in sides)):
        raise ValueError(f"{name} must be an integer or [h, w] of integers from 1 to "
                         f"{MAX_SIDE}, got {value!r}")
    return list(sides)


class ToBGR:
    """RGB -> BGR channel order of the HWC image (caffe-style backbones read BGR, as
    ppfcos's Decode with ``to_rgb: false``)."""

    def __call__(self, sample):
        sample["image"] = np.ascontiguousarray(sample["image"][:, :, ::-1])
        return sample


class Resize:
    """Resize the HWC image.

    target_size: an int n ([n, n]) or [h, w]. With ``keep_ratio`` the image is scaled
    by min(min(target) / min(h, w), max(target) / max(h, w)), each side rounded half
    up; otherwise it becomes exactly (h, w). ``interp`` is an OpenCV interpolation
    flag. The scale factors are the integer output size over the input size.
    """

    def __init__(self, target_size, keep_ratio=True, interp=cv2.INTER_LINEAR):
        self.target_size = image_size(target_size, "target_size")
        if interp not in INTERPOLATIONS or isinstance(interp, bool):
            raise ValueError(f"interp must be one of OpenCV's interpolations "
                             f"{', '.join(map(str, INTERPOLATIONS))}, got {interp!r}")
        self.keep_ratio = bool(keep_ratio)
        self.interp = int(interp)

    def output_size(self, h, w):
        """(resized_h, resized_w) for an h x w image."""
        if not self.keep_ratio:
            return self.target_size[0], self.target_size[1]
        scale = min(min(self.target_size) / min(h, w), max(self.target_size) / max(h, w))
        return int(scale * h + 0.5), int(scale * w + 0.5)

    def __call__(self, sample):
        h, w = sample["image"].shape[:2]
        resized_h, resized_w = self.output_size(h, w)
        image = cv2.resize(sample["image"], (resized_w, resized_h), interpolation=self.interp)
        sample["image"] = image.astype(np.float32, copy=False)
        sample["im_shape"] = np.array([resized_h, resized_w], dtype=np.float32)
        previous = sample["scale_factor"]
        sample["scale_factor"] = np.array([previous[0] * (resized_h / h),
                                           previous[1] * (resized_w / w)], dtype=np.float32)
        return sample


class NormalizeImage:
    """image = (image / 255 - mean) / std per channel of the HWC image (float32).

    The division by 255 only with ``is_scale``; mean and std only with
    ``norm_type`` 'mean_std' ('none' skips them).
    """

    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), is_scale=True,
                 norm_type="mean_std"):
        if norm_type not in ("mean_std", "none"):
            raise ValueError(f"norm_type must be 'mean_std' or 'none', got {norm_type!r}")
        self.mean, self.std = channel_values(mean, "mean"), channel_values(std, "std")
        if not self.std.all():
            raise ValueError(f"std must be non-zero, got {std!r}")
        self.is_scale = bool(is_scale)
        self.norm_type = norm_type

    def __call__(self, sample):
        image = sample["image"].astype(np.float32)
        if self.is_scale:
            image *= 1.0 / 255.0
        if self.norm_type == "mean_std":
            image -= self.mean
            image /= self.std
        sample["image"] = image
        return sample


def channel_values(values, name):
    """3 finite numbers, one per channel -> float64 [3]; ValueError naming ``name``."""
    ok = isinstance(values, (list, tuple)) and len(values) == 3 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in values)
    if not ok:
        raise ValueError(f"{name} must be 3 numbers, one per channel, got {values!r}")
    return np.array(values, dtype=np.float64)


class Permute:
    """HWC -> CHW."""

    def __call__(self, sample):
        sample["image"] = sample["image"].transpose((2, 0, 1))
        return sample


class PadStride:
    """Zero-pad the CHW image at the bottom and right to multiples of ``stride`` (0: no-op)."""

    def __init__(self, stride=0):
        if isinstance(stride, bool) or not isinstance(stride, int) or not 0 <= stride <= MAX_SIDE:
            raise ValueError(f"stride must be an integer from 0 (no padding) to {MAX_SIDE}, "
                             f"got {stride!r}")
        self.stride = stride

    def __call__(self, sample):
        image = sample["image"]
        if self.stride <= 0:
            return sample
        channels, h, w = image.shape
        padded = np.zeros((channels, math.ceil(h / self.stride) * self.stride,
                           math.ceil(w / self.stride) * self.stride), dtype=np.float32)
        padded[:, :h, :w] = image
        sample["image"] = padded
        return sample


class Pad:
    """Pad the HWC image at the bottom and right to exactly ``size`` [h, w] with
    ``fill_value`` per channel (PaddleDetection's Pad step: a static-shape export's input).
    DeployError for an image larger than ``size``."""

    def __init__(self, size, fill_value=(0.0, 0.0, 0.0)):
        self.size = image_size(size, "size")
        self.fill_value = channel_values(fill_value, "fill_value").astype(np.float32)

    def __call__(self, sample):
        image = sample["image"]
        h, w = image.shape[:2]
        if h > self.size[0] or w > self.size[1]:
            raise DeployError(f"Pad: the resized image is {h}x{w}, larger than the model's "
                              f"fixed input {self.size[0]}x{self.size[1]}")
        padded = np.empty((self.size[0], self.size[1], image.shape[2]), dtype=np.float32)
        padded[...] = self.fill_value
        padded[:h, :w] = image
        sample["image"] = padded
        return sample


class Letterbox(Resize):
    """Fit the HWC image into exactly ``size`` [h, w] (an edge export's fixed input):
    scale it by min(h / image h, w / image w), keeping its aspect ratio, each side rounded
    half up, then pad the bottom and right with ``fill_value`` per channel (the pixel the
    normalization maps to 0). ``im_shape`` and ``scale_factor`` record the resized image
    as Resize does, so boxes in the padded input map back by dividing by the scale."""

    def __init__(self, size, fill_value=(0.0, 0.0, 0.0), interp=cv2.INTER_LINEAR):
        super().__init__(size, keep_ratio=True, interp=interp)
        self.pad = Pad(size, fill_value)

    def output_size(self, h, w):
        scale = min(self.target_size[0] / h, self.target_size[1] / w)
        return (min(int(scale * h + 0.5), self.target_size[0]),
                min(int(scale * w + 0.5), self.target_size[1]))

    def __call__(self, sample):
        return self.pad(super().__call__(sample))


STEPS = {cls.__name__: cls for cls in (ToBGR, Resize, Letterbox, NormalizeImage, Pad, Permute,
                                       PadStride)}


def build_step(spec, source="infer_cfg.yml"):
    """One step from its infer_cfg entry ``{type: Name, arg: value, ...}``; DeployError
    naming ``source`` (the infer_cfg.yml path), the step and the argument that cannot run."""
    kind = spec["type"]
    if kind not in STEPS:
        raise DeployError(f"{source}: unknown Preprocess type {kind!r}; this predictor "
                          f"supports {', '.join(STEPS)}")
    cls = STEPS[kind]
    args = {key: value for key, value in spec.items() if key != "type"}
    accepted = [name for name in inspect.signature(cls).parameters]
    unknown = [key for key in args if key not in accepted]
    if unknown:
        raise DeployError(f"{source}: Preprocess {kind}: unknown argument(s) "
                          f"{', '.join(map(str, unknown))}; {kind} takes "
                          f"{', '.join(accepted) or 'no arguments'}")
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        raise DeployError(f"{source}: Preprocess {kind}: {e}") from None


class Preprocessor:
    """infer_cfg's ``Preprocess`` list as one callable on RGB images. ``source``: where
    the list comes from, for errors (the infer_cfg.yml path)."""

    def __init__(self, specs, source="infer_cfg.yml"):
        self.steps = [build_step(spec, source) for spec in specs]

    def __call__(self, image):
        """RGB uint8 [H, W, 3] -> {image float32 [3, H', W'], im_shape [2], scale_factor [2]}."""
        h, w = image.shape[:2]
        sample = {"image": image, "im_shape": np.array([h, w], dtype=np.float32),
                  "scale_factor": np.ones(2, dtype=np.float32)}
        for step in self.steps:
            sample = step(sample)
        if sample["image"].ndim != 3 or sample["image"].shape[0] != 3:
            raise DeployError(f"infer_cfg.yml: Preprocess must end with a CHW image (include "
                              f"Permute), got shape {sample['image'].shape}")
        sample["image"] = np.ascontiguousarray(sample["image"], dtype=np.float32)
        return sample
