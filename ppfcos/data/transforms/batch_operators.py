"""Batch transforms: ops that see the whole batch (a list of sample dicts).

`PadBatch` lives here; the FCOS target assigner, also a batch op, is in
``fcos_target``.
"""
import math

import numpy as np

from ppfcos.core.registry import register

__all__ = ["PadBatch", "padded_shape"]


def padded_shape(shapes, stride):
    """The common (C, H, W) of images with CHW ``shapes`` padded to a ``stride`` multiple.

    Each axis is the batch maximum; H and W are rounded up to a multiple of
    ``stride`` when it is > 0.
    """
    c, h, w = np.max(np.asarray(shapes), axis=0)
    if stride > 0:
        h = int(math.ceil(h / stride) * stride)
        w = int(math.ceil(w / stride) * stride)
    return int(c), int(h), int(w)


@register
class PadBatch:
    """Zero-pad every CHW image of a batch at the bottom and right to one size.

    The size is the batch's largest H and W, rounded up to a multiple of
    ``pad_to_stride`` when it is > 0. The images become float32
    [C, H_pad, W_pad]; ``im_shape``, ``scale_factor`` and the boxes are left
    unchanged (padding does not move pixels).
    """

    def __init__(self, pad_to_stride=0):
        self.pad_to_stride = pad_to_stride

    def __call__(self, samples):
        """Pad ``samples`` (list of dicts with CHW ``image``) in place and return the list."""
        shape = padded_shape([s["image"].shape for s in samples], self.pad_to_stride)
        for sample in samples:
            im = sample["image"]
            padded = np.zeros(shape, dtype=np.float32)
            padded[:, :im.shape[1], :im.shape[2]] = im
            sample["image"] = padded
        return samples

    def __repr__(self):
        return f"PadBatch(pad_to_stride={self.pad_to_stride!r})"
