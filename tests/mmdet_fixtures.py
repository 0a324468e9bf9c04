"""Helpers for the mmdetection fixtures (tests/fixtures/mmdet/, made by
make_mmdet_fixtures.py): the fixture images through a config's EvalReader, and the
detection comparison. The weights recipe on mmdetection's names is
ppfcos.modeling.seeded_weights.mmdet_seeded_state."""
import os

import numpy as np
import paddle

from ppfcos.data.reader import build_ops
from ppfcos.data.transforms import Resize

from conftest import FIXTURES

MMDET_FIXTURES = os.path.join(FIXTURES, "mmdet")


def eval_batch(cfg, indices, size):
    """The config's EvalReader on the fixture images ``indices``, resized into ``size``."""
    images = np.load(os.path.join(MMDET_FIXTURES, "images.npz"))
    ops = [Resize(size, op.keep_ratio, op.interp) if isinstance(op, Resize) else op
           for op in build_ops(cfg, "EvalReader", "sample_transforms")]
    samples = []
    for i in indices:
        sample = {"image": images[f"png{i}"].tobytes()}
        for op in ops:
            sample = op(sample)
        samples.append(sample)
    for op in build_ops(cfg, "EvalReader", "batch_transforms"):
        samples = op(samples)
    return {k: paddle.to_tensor(np.stack([s[k] for s in samples]))
            for k in ("image", "im_shape", "scale_factor")}


def assert_same_detections(out, ref, prefix=""):
    """Per image: the same detections, compared in (class, score) order (scores within
    1e-8 of each other may come out of NMS in either order): classes equal, scores to
    1e-4, boxes to 1e-2 px."""
    bbox, counts = out["bbox"].numpy(), out["bbox_num"].numpy()
    start = 0
    for i, count in enumerate(counts):
        ours = bbox[start:start + count]
        start += count
        labels, scores = ref[f"{prefix}labels{i}"], ref[f"{prefix}scores{i}"]
        assert len(ours) == len(labels)
        ours = ours[np.lexsort((-ours[:, 1], ours[:, 0]))]
        order = np.lexsort((-scores, labels))
        np.testing.assert_array_equal(ours[:, 0].astype(np.int64), labels[order])
        np.testing.assert_allclose(ours[:, 1], scores[order], rtol=0, atol=1e-4)
        np.testing.assert_allclose(ours[:, 2:], ref[f"{prefix}bboxes{i}"][order], rtol=0,
                                   atol=1e-2)
