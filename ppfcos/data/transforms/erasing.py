"""Random erasing (a rectangle of noise or a constant) for the semi-supervised strong view.

``RandomErasing`` follows paddle.vision's RandomErasing with PaddleDetection's
draws; ``RandomErasingCrop`` is PaddleDetection's three erasers in a row. Boxes
are not changed (an erased object keeps its box, as in PaddleDetection).
"""
import math

import numpy as np

from ppfcos.core.registry import register

from .draws import draws_of, wrap_to_uint8
from .operators import BaseOperator

__all__ = ["RandomErasing", "RandomErasingCrop"]


@register
class RandomErasing(BaseOperator):
    """Erase one random rectangle of the HWC image with probability ``prob``.

    Args:
        prob (float): py ``random()`` < prob erases.
        scale ([min, max]): erased area as a fraction of the image.
        ratio ([min, max]): aspect ratio range of the rectangle (drawn log-uniform).
        value (number | list of C numbers | "random"): the fill; "random" is
            Gaussian noise N(0, 255^2) per pixel and channel.
        inplace (bool): erase in the sample's array instead of a copy.

    Draws: py ``random()``; np ``uniform(*scale)`` times H W = area; np
    ``uniform(log ratio0, log ratio1)``, ar = exp of it; eh = round(sqrt(area ar)),
    ew = round(sqrt(area / ar)); nothing is erased (and nothing more drawn) if
    eh >= H or ew >= W; with "random" np ``normal(size=[eh, ew, C])``; np
    ``randint(0, H - eh + 1)`` = top, np ``randint(0, W - ew + 1)`` = left. The
    fill is cast to the image's dtype (a uint8 image wraps values modulo 256,
    as numpy's cast does: ``draws.wrap_to_uint8``).
    """

    def __init__(self, prob=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        if len(scale) != 2 or len(ratio) != 2 or min(ratio) <= 0:
            raise ValueError(f"RandomErasing: scale and ratio must be [min, max] (ratio > 0), "
                             f"got {scale!r}, {ratio!r}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a list or 'random', "
                             f"got {value!r}")
        self.prob = prob
        self.scale = [float(v) for v in scale]
        self.ratio = [float(v) for v in ratio]
        self.value = value
        self.inplace = inplace

    def _fill(self, height, width, channels, draw):
        """The erased patch [height, width, channels] (float64)."""
        if self.value == "random":
            return draw.normal(size=[height, width, channels]) * 255
        return np.broadcast_to(np.asarray(self.value, np.float64), (height, width, channels))

    def apply(self, sample):
        draws = draws_of(sample)
        if draws.py.random() >= self.prob:
            return sample
        image = sample["image"]
        height, width, channels = image.shape
        area = draws.np.uniform(*self.scale) * height * width
        aspect = math.exp(draws.np.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        erase_h = int(round(math.sqrt(area * aspect)))
        erase_w = int(round(math.sqrt(area / aspect)))
        if erase_h >= height or erase_w >= width:
            return sample
        patch = self._fill(erase_h, erase_w, channels, draws.np)
        top = draws.np.randint(0, height - erase_h + 1)
        left = draws.np.randint(0, width - erase_w + 1)
        image = image if self.inplace else image.copy()
        patch = wrap_to_uint8(patch) if image.dtype == np.uint8 else patch
        image[top:top + erase_h, left:left + erase_w] = patch
        sample["image"] = image
        return sample


@register
class RandomErasingCrop(BaseOperator):
    """PaddleDetection's three random erasers in a row (DenseTeacher's strong view).

    Gaussian-noise erasing of 5-20 % of the image with probability 0.7 (aspect
    ratio 0.3-3.3), then 0.5 (0.1-6), then 0.3 (0.05-8); see `RandomErasing`
    for the draws of each.
    """

    def __init__(self):
        self.erasers = [RandomErasing(prob, (0.05, 0.2), ratio, "random")
                        for prob, ratio in ((0.7, (0.3, 3.3)), (0.5, (0.1, 6)),
                                            (0.3, (0.05, 8)))]

    def apply(self, sample):
        for eraser in self.erasers:
            sample = eraser.apply(sample)
        return sample
