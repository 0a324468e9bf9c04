"""Colour ops, named and parameterized like PaddleDetection's: they change pixels only.

``RandomDistort`` (PaddleDetection's YOLO-family distortion, through Pillow),
``RandomColorJitter`` (its semi-supervised strong view, through paddle.vision's
OpenCV functions), ``RandomGaussianBlur`` and ``RandomGrayscale``. Boxes,
classes and crowd flags are untouched, so images without boxes pass as any
other. Each op makes PaddleDetection's draws, in its order, from the sample's
generators (``draws``); the docstrings list them.
"""
import cv2
import numpy as np
from PIL import Image, ImageEnhance

from ppfcos.core.registry import register

from .draws import draws_of, wrap_to_uint8
from .operators import BaseOperator

__all__ = ["RandomDistort", "RandomColorJitter", "RandomGaussianBlur", "RandomGrayscale"]


def _check_range(name, value):
    """[low, high, prob] of one RandomDistort function; TypeError if not three numbers."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise TypeError(f"RandomDistort: {name} must be [low, high, prob], got {value!r}")
    return [float(v) for v in value]


def _enhance(kind):
    """A RandomDistort function applying Pillow's ``ImageEnhance.<kind>`` with the delta."""
    def apply(image, delta):
        return np.asarray(getattr(ImageEnhance, kind)(Image.fromarray(image)).enhance(delta))
    return apply


# RandomDistort's Pillow enhancers.
_ENHANCERS = {"brightness": "Brightness", "contrast": "Contrast", "saturation": "Color"}


def _shift_hue(image, delta):
    """Add ``delta`` to Pillow's HSV hue (0..255) of the uint8 RGB ``image`` [H, W, 3].

    The sum is written back with numpy's float -> uint8 cast (``wrap_to_uint8``).
    """
    hsv = np.array(Image.fromarray(image).convert("HSV"))
    hsv[..., 0] = wrap_to_uint8(hsv[..., 0] + delta)
    return np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"))


@register
class RandomDistort(BaseOperator):
    """Random brightness, contrast, saturation and hue (PaddleDetection's YOLO reader op).

    Args:
        hue ([low, high, prob]): adds delta to Pillow's HSV hue (see below).
        saturation ([low, high, prob]): Pillow's ``ImageEnhance.Color`` with factor delta.
        contrast ([low, high, prob]): Pillow's ``ImageEnhance.Contrast`` with factor delta.
        brightness ([low, high, prob]): Pillow's ``ImageEnhance.Brightness`` with factor
            delta. Each of these four functions draws u = uniform(0, 1) and is skipped
            when u < prob; else it draws delta = uniform(low, high).
        random_apply (bool): apply the first ``count`` functions of a random
            permutation of [brightness, contrast, saturation, hue]; otherwise
            brightness, then contrast before or after (one draw) saturation and hue.
        count (int): functions applied with ``random_apply``.
        random_channel (bool): without ``random_apply``, permute the channels
            with probability 1/2 at the end.
        prob (float): Python ``random()`` > prob leaves the sample unchanged.

    Draws: py ``random()``; then with ``random_apply`` np ``permutation(4)`` and
    each function's np draws in that order. The image becomes float32 [H, W, 3]
    (uint8 values); a skipped sample keeps its image.
    """

    def __init__(self, hue=(-18, 18, 0.5), saturation=(0.5, 1.5, 0.5),
                 contrast=(0.5, 1.5, 0.5), brightness=(0.5, 1.5, 0.5), random_apply=True,
                 count=4, random_channel=False, prob=1.0):
        self.hue = _check_range("hue", hue)
        self.saturation = _check_range("saturation", saturation)
        self.contrast = _check_range("contrast", contrast)
        self.brightness = _check_range("brightness", brightness)
        self.random_apply = random_apply
        self.count = int(count)
        self.random_channel = random_channel
        self.prob = prob

    def _maybe(self, name, image, draw):
        """Apply function ``name`` to ``image`` (uint8) unless its first draw skips it."""
        low, high, prob = getattr(self, name)
        if draw.uniform(0.0, 1.0) < prob:
            return image
        function = _shift_hue if name == "hue" else _enhance(_ENHANCERS[name])
        return function(image, draw.uniform(low, high))

    def _random_order(self, image, draw):
        names = ["brightness", "contrast", "saturation", "hue"]
        for index in draw.permutation(len(names))[:self.count]:
            image = self._maybe(names[index], image, draw)
        return image

    def _fixed_order(self, image, draw):
        image = self._maybe("brightness", image, draw)
        contrast_first = draw.randint(0, 2)
        if contrast_first:
            image = self._maybe("contrast", image, draw)
        image = self._maybe("saturation", image, draw)
        image = self._maybe("hue", image, draw)
        if not contrast_first:
            image = self._maybe("contrast", image, draw)
        if self.random_channel and draw.randint(0, 2):
            image = image[..., draw.permutation(3)]
        return image

    def apply(self, sample):
        draws = draws_of(sample)
        if draws.py.random() > self.prob:
            return sample
        image = wrap_to_uint8(sample["image"])
        order = self._random_order if self.random_apply else self._fixed_order
        sample["image"] = order(image, draws.np).astype(np.float32)
        return sample



def _lookup_table(function):
    """uint8 table [256] of ``function(i)`` for i = 0..255, clipped to 0..255."""
    return np.clip(function(np.arange(256, dtype=np.float64)), 0, 255).astype(np.uint8)


def _adjust_brightness(image, factor):
    """paddle.vision's OpenCV brightness: every value times ``factor`` (uint8 table)."""
    return cv2.LUT(image, _lookup_table(lambda i: i * factor))


def _adjust_contrast(image, factor):
    """paddle.vision's OpenCV contrast: (value - 74) * factor + 74 (uint8 table)."""
    return cv2.LUT(image, _lookup_table(lambda i: (i - 74) * factor + 74))


def _adjust_saturation(image, alpha):
    """paddle.vision's OpenCV saturation: blend with the BGR2GRAY grey by ``alpha``."""
    values = image.astype(np.float32)
    grey = cv2.cvtColor(values, cv2.COLOR_BGR2GRAY)[..., None]
    return np.clip(values * alpha + grey * (1 - alpha), 0, 255).astype(image.dtype)


def _adjust_hue(image, factor):
    """paddle.vision's OpenCV hue: rotate OpenCV's full-range HSV hue by int(factor * 255)."""
    hue, saturation, value = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV_FULL))
    hue = ((hue.astype(np.int32) + int(factor * 255)) % 256).astype(np.uint8)
    return cv2.cvtColor(cv2.merge([hue, saturation, value]), cv2.COLOR_HSV2BGR_FULL)


@register
class RandomColorJitter(BaseOperator):
    """Colour jitter of the semi-supervised strong view (PaddleDetection's RandomColorJitter).

    Args:
        prob (float): np ``uniform(0, 1)`` < prob applies the jitter; otherwise
            the sample is unchanged.
        brightness (float >= 0): factor drawn from py ``uniform(max(0, 1 - v), 1 + v)``
            with v = brightness; 0 leaves the brightness alone.
        contrast (float >= 0): the same for the contrast.
        saturation (float >= 0): the same for the saturation.
        hue (float in [0, 0.5]): shift drawn from py ``uniform(-hue, hue)``.

    Draws: np ``uniform(0, 1)``; py ``shuffle`` of the four adjustments; each
    adjustment's py ``uniform`` in that order, applied at once with
    paddle.vision's OpenCV functions on the uint8 image. As paddle.vision's
    saturation does, it then draws its blend weight again, np
    ``uniform(max(0, 1 - s), 1 + s)`` around the drawn factor s. Output float32.
    """

    def __init__(self, prob=0.8, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1):
        for name, value in (("brightness", brightness), ("contrast", contrast),
                            ("saturation", saturation)):
            if value < 0:
                raise ValueError(f"RandomColorJitter: {name} must be >= 0, got {value!r}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"RandomColorJitter: hue must be in [0, 0.5], got {hue!r}")
        self.prob = prob
        self.brightness, self.contrast = brightness, contrast
        self.saturation, self.hue = saturation, hue

    def _adjustments(self, draw):
        """(function, low, high) of each adjustment, None for the ones set to 0.

        ``draw`` (a numpy RandomState) gives the saturation's second draw.
        """
        def factor(function, v):
            return (function, max(0.0, 1 - v), 1 + v) if v else None

        def saturate(image, s):
            return _adjust_saturation(image, draw.uniform(max(0, 1 - s), 1 + s))
        return [factor(_adjust_brightness, self.brightness),
                factor(_adjust_contrast, self.contrast),
                factor(saturate, self.saturation),
                (_adjust_hue, -self.hue, self.hue) if self.hue else None]

    def apply(self, sample):
        draws = draws_of(sample)
        if draws.np.uniform(0, 1) >= self.prob:
            return sample
        image = wrap_to_uint8(sample["image"])
        adjustments = self._adjustments(draws.np)
        draws.py.shuffle(adjustments)
        for adjustment in adjustments:
            if adjustment is not None:
                function, low, high = adjustment
                image = function(image, draws.py.uniform(low, high))
        sample["image"] = image.astype(np.float32)
        return sample


@register
class RandomGaussianBlur(BaseOperator):
    """Gaussian blur with a random sigma (23 x 23 kernel), with probability ``prob``.

    Draws: np ``uniform(0, 1)`` < prob applies it, then np ``uniform(*sigma)``.
    The image keeps its dtype.
    """

    def __init__(self, prob=0.5, sigma=(0.1, 2.0)):
        if len(sigma) != 2:
            raise TypeError(f"RandomGaussianBlur: sigma must be [min, max], got {sigma!r}")
        self.prob = prob
        self.sigma = [float(v) for v in sigma]

    def apply(self, sample):
        draw = draws_of(sample).np
        if draw.uniform(0, 1) < self.prob:
            sigma = draw.uniform(*self.sigma)
            sample["image"] = cv2.GaussianBlur(sample["image"], (23, 23), sigma)
        return sample


@register
class RandomGrayscale(BaseOperator):
    """Grey (OpenCV RGB2GRAY, repeated on 3 channels) with probability ``prob``.

    Draws: np ``uniform(0, 1)`` < prob applies it. The image keeps its dtype.
    """

    def __init__(self, prob=0.2):
        self.prob = prob

    def apply(self, sample):
        if draws_of(sample).np.uniform(0, 1) < self.prob:
            grey = cv2.cvtColor(sample["image"], cv2.COLOR_RGB2GRAY)
            sample["image"] = np.repeat(grey[..., None], 3, axis=2)
        return sample
