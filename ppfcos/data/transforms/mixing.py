"""Mixup: blend two images and keep both sets of boxes (PaddleDetection's Mixup).

The dataset hands the transforms a pair ``[sample, partner]`` while the reader's
``mixup_epoch`` says so (see ``DetDataset``); the ops before Mixup treat each
half alone, Mixup turns the pair into one sample, the ops after it see one.
"""
import numpy as np

from ppfcos.core.registry import register

from .draws import draws_of
from .operators import BaseOperator

__all__ = ["Mixup"]

# The fields the mixed sample concatenates from both halves.
CONCATENATED = ("gt_bbox", "gt_class", "is_crowd", "difficult")


def _blend(first, second, factor):
    """uint8 [max H, max W, C]: ``first * factor + second * (1 - factor)``, top-left aligned.

    The sum is computed in float32 on a zero canvas and truncated to uint8.
    """
    h = max(first.shape[0], second.shape[0])
    w = max(first.shape[1], second.shape[1])
    canvas = np.zeros((h, w, first.shape[2]), np.float32)
    canvas[:first.shape[0], :first.shape[1]] = first.astype(np.float32) * factor
    canvas[:second.shape[0], :second.shape[1]] += second.astype(np.float32) * (1.0 - factor)
    return canvas.astype(np.uint8)


@register
class Mixup(BaseOperator):
    """Blend a pair of samples with a weight drawn from Beta(alpha, beta).

    Draws: np ``beta(alpha, beta)`` = f (from the first sample's generators),
    clipped to [0, 1]; f = 1 returns the first sample, f = 0 the second. Else the
    image is the blend (uint8, the larger height and width), ``gt_bbox``,
    ``gt_class``, ``is_crowd`` and ``difficult`` are concatenated, and
    ``gt_score`` [n0 + n1, 1] float32 is f for the first sample's boxes and 1 - f
    for the second's. Other fields (``im_shape``, ``h``, ``w``, ...) are the first
    sample's. A single sample (no pair) passes unchanged. ``Gt2FCOSTarget``
    ignores ``gt_score``: FCOS trains every mixed box as a full positive, as
    PaddleDetection's FCOS does.
    """

    def __init__(self, alpha=1.5, beta=1.5):
        if alpha <= 0 or beta <= 0:
            raise ValueError(f"Mixup: alpha and beta must be > 0, got {alpha!r}, {beta!r}")
        self.alpha = alpha
        self.beta = beta

    def __call__(self, sample):
        """The mixed sample of a pair ``[first, second]``; a single sample is returned as is."""
        if not isinstance(sample, (list, tuple)):
            return sample
        if len(sample) != 2:
            raise ValueError(f"Mixup needs a pair of samples, got {len(sample)}")
        first, second = sample
        factor = float(min(1.0, max(0.0, draws_of(first).np.beta(self.alpha, self.beta))))
        if factor >= 1.0:
            return first
        if factor <= 0.0:
            return second
        mixed = dict(first)
        mixed["image"] = _blend(first["image"], second["image"], factor)
        for field in CONCATENATED:
            if field in first and field in second:
                mixed[field] = np.concatenate([first[field], second[field]], axis=0)
        mixed["gt_score"] = np.concatenate(
            [np.full((len(first["gt_class"]), 1), factor),
             np.full((len(second["gt_class"]), 1), 1.0 - factor)]).astype(np.float32)
        return mixed
