"""Collate: turn a list of transformed samples into one batch of numpy arrays.

A batch stacks fixed-shape fields (``image`` [N, 3, H, W], ``im_shape`` [N, 2],
``scale_factor`` [N, 2], ``im_id`` [N, 1], FCOS targets) along a new first axis
and keeps variable-length ground truth (``gt_bbox`` [K_i, 4], ``gt_class``
[K_i, 1], ``is_crowd``, ``difficult``) as a list with one entry per image.
Samples of unreadable images carry ``SKIPPED_KEY`` instead of data: the collate
drops them (in the worker) and hands their "file: reason" strings on as the
batch's ``skipped`` list, for the loader to log in the main process. A sample
or batch op that failed makes the batch ``{READER_ERROR_KEY: [line], ...}``,
which the loader raises in the main process.
"""
import numpy as np

from .datasets import READER_ERROR_KEY, SKIPPED_KEY
from .datasets.base import GT_FIELDS, failure_line
from .transforms.draws import RANDOM_KEY

# Per-sample keys that are not model inputs (PaddleDetection removes them too), and
# the sample's generators.
DROPPED_KEYS = ("h", "w", "flipped", RANDOM_KEY)
# Batched as per-image lists: the ground truth, and Mixup's per-box weights [K_i, 1].
LIST_FIELDS = GT_FIELDS + ("gt_score",)
# Marks a batch whose images were all unreadable: the paddle DataLoader ends the
# epoch on a batch without arrays, so such a batch carries this one-element array.
EMPTY_KEY = "empty_batch"


class BatchCollator:
    """``collate_fn``: drop skipped samples, run the batch ops, stack into numpy arrays.

    Returns a dict of arrays (and lists for ground truth) plus ``skipped``, the
    list of "file: reason" strings of this batch's unreadable images. A batch
    whose images were all unreadable is ``{skipped: [...], EMPTY_KEY: array}``.
    """

    def __init__(self, batch_ops):
        self.batch_ops = list(batch_ops)

    def __call__(self, samples):
        skipped = [s[SKIPPED_KEY] for s in samples if SKIPPED_KEY in s]
        errors = [s[READER_ERROR_KEY] for s in samples if READER_ERROR_KEY in s]
        samples = [s for s in samples if SKIPPED_KEY not in s]
        batch = {EMPTY_KEY: np.zeros([1], dtype=np.int32)}
        if samples and not errors:
            try:
                for op in self.batch_ops:
                    samples = op(samples)
                batch = stack_samples(samples)
            except Exception as e:  # raised in the main process by the loader
                files = ", ".join(str(s.get("im_file")) for s in samples)
                errors = [failure_line(f"batch of {files}", e)]
        if errors:
            batch = {EMPTY_KEY: np.zeros([1], dtype=np.int32), READER_ERROR_KEY: errors}
        batch[SKIPPED_KEY] = skipped
        return batch


class ZeroSizeArray:
    """Stand-in for an empty ground-truth array (an image without boxes).

    Paddle's worker shared memory cannot carry zero-size tensors, so the
    collate sends this instead and `restore_empty` turns it back into an
    empty Tensor of the same shape and dtype.
    """

    def __init__(self, array):
        self.shape, self.dtype = array.shape, array.dtype.str

    def to_tensor(self):
        import paddle
        return paddle.to_tensor(np.zeros(self.shape, dtype=self.dtype))


def stack_samples(samples):
    """Dict of per-key batches: numpy stacks, except lists for ground truth and strings."""
    batch = {}
    for key in samples[0]:
        if key in DROPPED_KEYS:
            continue
        values = [s[key] for s in samples]
        if key in LIST_FIELDS:
            batch[key] = [ZeroSizeArray(v) if np.size(v) == 0 else v for v in values]
            continue
        if isinstance(values[0], str):
            batch[key] = values
            continue
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            raise ValueError(f"cannot batch {key!r}: shapes differ across the batch "
                             f"({sorted(shapes)}); pad images with PadBatch in batch_transforms")
        batch[key] = np.stack(values)
    return batch


def restore_empty(batch):
    """Turn the ZeroSizeArray stand-ins of a collated ``batch`` back into empty Tensors."""
    for key in LIST_FIELDS:
        if key in batch:
            batch[key] = [v.to_tensor() if isinstance(v, ZeroSizeArray) else v
                          for v in batch[key]]
    return batch
