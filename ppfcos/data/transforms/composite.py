"""Ops made of other ops: ``RandomSelect`` (one of two chains) and ``StrongAugImage``.

Their sub-ops are given in the config as PaddleDetection writes them, a list of
``{OpName: {args}}`` entries, and built here through the registry.
"""
from ppfcos.core.registry import is_registered, lookup, register

from .draws import draws_of, wrap_to_uint8
from .operators import BaseOperator

__all__ = ["RandomSelect", "StrongAugImage", "build_op_list"]


def build_op_list(entries, owner):
    """Ops of a ``[{OpName: {args}}, ...]`` list; TypeError naming ``owner`` if malformed.

    The builder turns the TypeError into a one-line config error.
    """
    if not isinstance(entries, (list, tuple)):
        raise TypeError(f"{owner}: expected a list of {{OpName: {{args}}}}, got {entries!r}")
    ops = []
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise TypeError(f"{owner}: each entry must be one {{OpName: {{args}}}} mapping, "
                            f"got {entry!r}")
        (name, kwargs), = entry.items()
        if not is_registered(name):
            raise TypeError(f"{owner}: unknown transform {name!r}")
        ops.append(lookup(name)(**(kwargs or {})))
    return ops


def run_ops(ops, sample):
    """``sample`` through ``ops`` in order."""
    for op in ops:
        sample = op(sample)
    return sample


@register
class RandomSelect(BaseOperator):
    """Run ``transforms1`` with probability ``p``, else ``transforms2`` (DETR's reader).

    Draws: py ``random()`` < p picks ``transforms1``; then the chosen ops' draws.
    """

    def __init__(self, transforms1, transforms2, p=0.5):
        self.transforms1 = build_op_list(transforms1, "RandomSelect.transforms1")
        self.transforms2 = build_op_list(transforms2, "RandomSelect.transforms2")
        self.p = p

    def apply(self, sample):
        chosen = self.transforms1 if draws_of(sample).py.random() < self.p else self.transforms2
        return run_ops(chosen, sample)


@register
class StrongAugImage(BaseOperator):
    """The semi-supervised strong view: ``transforms`` on the image, as uint8 in and out.

    The image is cast to uint8, goes through ``transforms`` (e.g.
    RandomColorJitter, RandomErasingCrop, RandomGaussianBlur, RandomGrayscale;
    their draws in order), and the result is cast to uint8 with numpy's wrapping
    cast (``draws.wrap_to_uint8``): after a jitter the image is float32 and
    erased noise keeps values far outside 0..255 until this cast folds them.
    The transforms should only change pixels: boxes are not checked.
    """

    def __init__(self, transforms):
        self.transforms = build_op_list(transforms, "StrongAugImage.transforms")

    def apply(self, sample):
        sample["image"] = wrap_to_uint8(sample["image"])
        sample = run_ops(self.transforms, sample)
        sample["image"] = wrap_to_uint8(sample["image"])
        return sample
