"""Where the random ops draw from: each sample's own generators.

PaddleDetection's ops draw from two global generators, numpy's legacy
``np.random`` and Python's ``random``. Here every sample carries its own pair in
``sample[RANDOM_KEY]``, a `SampleRandom` that the dataset seeds from
``(seed, epoch, index)`` (see ``DetDataset.__getitem__``). An op makes exactly
PaddleDetection's calls, in its order, on that pair, so

- a run is deterministic per (seed, epoch, index) whichever worker process loads
  the image, and however many workers there are;
- seeding a pair from ``s`` reproduces PaddleDetection's outputs after
  ``np.random.seed(s); random.seed(s)`` (the tests compare with its fixture).

Batch ops and `Mixup` use the pair of the
first sample of their batch (or pair), continuing after that sample's own ops: a
batch's draws then depend only on (seed, epoch, its first image's index), which
is fixed per batch for a given sampler order. The collate drops the key before
stacking.

A sample without the key (an op called by hand) draws from the global
``np.random`` and ``random``, as PaddleDetection does.
"""
import random

import numpy as np

__all__ = ["RANDOM_KEY", "SampleRandom", "draws_of", "wrap_to_uint8"]

RANDOM_KEY = "random"


class SampleRandom:
    """The generators of one sample.

    Attributes:
        np: a ``numpy.random.RandomState`` seeded with ``np_seed`` (the legacy
            generator: the same sequence as ``np.random.seed(np_seed)``).
        py: a ``random.Random`` seeded with ``py_seed``.
    """

    def __init__(self, np_seed, py_seed):
        self.np = np.random.RandomState(np_seed)
        self.py = random.Random(py_seed)

    @classmethod
    def for_sample(cls, seed, epoch, index):
        """The pair of image ``index`` in ``epoch`` of a run seeded with ``seed``.

        numpy's is seeded with the list [seed, epoch, index] (the draws ppfcos made
        before the pair existed); Python's with the string "seed:epoch:index",
        which ``random.Random`` hashes with SHA-512 (the same in every process).
        """
        return cls([int(seed), int(epoch), int(index)], f"{int(seed)}:{int(epoch)}:{int(index)}")


class _GlobalRandom:
    """The process-wide ``np.random`` and ``random``, with SampleRandom's attributes."""
    np = np.random
    py = random


def draws_of(sample):
    """The generators a random op uses for ``sample`` (a dict, or a list: its first dict's)."""
    first = sample[0] if isinstance(sample, (list, tuple)) else sample
    return first.get(RANDOM_KEY) or _GlobalRandom


def wrap_to_uint8(values):
    """``values`` cast to uint8 as numpy's unsafe cast does on x86-64.

    Each value is truncated toward zero to an integer, then taken modulo 256
    (-300.7 -> 212, -3.2 -> 253, 268.5 -> 12, 255.9 -> 255). PaddleDetection's ops
    rely on this cast (a hue shift, erased patches, the final cast of
    StrongAugImage); numpy leaves out-of-range casts undefined, so it is spelled out.
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return values
    return np.mod(np.trunc(values).astype(np.int64), 256).astype(np.uint8)
