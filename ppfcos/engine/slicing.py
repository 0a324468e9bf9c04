"""Sliced inference of a ppfcos model: its reader's transforms on windows of each image.

The windows, the shift into image pixels and the merge are ``ppfcos_runtime.slicing``'s
(one implementation for the tools and ``deploy/python``; its docstring says how sliced
inference works); this module feeds the windows to a dygraph model (or a
``RuntimeEvalModel``) through the reader's own transforms, so each window is resized
as a whole image would be.
"""
import logging

import numpy as np
import paddle
from ppfcos_runtime.detector import INPUT_KEYS, split_rows
from ppfcos_runtime.slicing import import_sahi, merge, window_rows

from ..data.reader import BatchCollator, Compose, build_ops
from ..data.transforms.operators import Decode, ImageDecodeError
from ..utils.progress import progress

logger = logging.getLogger("ppfcos")


class SlicedEvalModel:
    """A model's eval interface (dygraph model or ``RuntimeEvalModel``) run on windows of an
    image; ppfcos_runtime.slicing.SlicedDetector is its runtime counterpart, on images.

    ``transforms``: the reader's sample transforms (a Compose; Decode keeps an array as
    it is, so ``decode``, its Decode, reads whole images in the channel order the model
    expects); ``collate``: its batch transforms and stacking; ``options``: a
    ``ppfcos_runtime.slicing.SliceOptions``. Windows of an image share a shape, so up to
    ``batch_size`` of them run together.
    """

    def __init__(self, model, transforms, collate, options, batch_size=1):
        import_sahi()
        self.model = model
        self.transforms = transforms
        self.decode = next((op for op in transforms.ops if isinstance(op, Decode)), Decode())
        self.collate = collate
        self.options = options
        self.batch_size = max(1, int(batch_size))

    @classmethod
    def from_config(cls, model, cfg, reader_section, options):
        """With the transforms and batch size of ``cfg[reader_section]``."""
        return cls(model, Compose(build_ops(cfg, reader_section, "sample_transforms")),
                   BatchCollator(build_ops(cfg, reader_section, "batch_transforms")), options,
                   (cfg.get(reader_section) or {}).get("batch_size", 1))

    def detect(self, image):
        """uint8 [H, W, 3] as ``decode`` gives it -> merged detections [K, 6] in the
        image's pixels."""
        return merge(window_rows(image, self.options, self.detect_windows, self.batch_size),
                     self.options)

    def detect_windows(self, crops):
        """Window images [h, w, 3] of one shape -> one array [k, 6] of rows per window,
        in the window's pixels (class_index, score, x1, y1, x2, y2)."""
        samples = [self.transforms({"image": crop.copy(), "im_id": np.array([0])})
                   for crop in crops]
        batch = self.collate(samples)
        with paddle.no_grad():
            outputs = self.model({key: paddle.to_tensor(batch[key]) for key in INPUT_KEYS})
        return split_rows(outputs["bbox"], outputs["bbox_num"], len(crops))


def predict_sliced(detector, loader, desc="eval"):
    """Like ``evaluator.predict`` for a SlicedEvalModel: yield ``(batch, detections)`` per
    image of ``loader``'s shard, batch holding ``im_file`` and ``im_id``; unreadable images
    are skipped with a warning."""
    detector.model.eval()
    indices = [i for batch in loader.batch_sampler for i in batch]
    for index in progress(indices, len(indices), desc):
        record = loader.dataset.records[index]
        try:
            image = detector.decode({"im_file": record["im_file"]})["image"]
        except ImageDecodeError as e:     # as the reader does: skip, never crash
            logger.warning("skipped unreadable image; %s", e)
            continue
        im_id = int(np.asarray(record["im_id"]).item())
        yield ({"im_file": [record["im_file"]], "im_id": np.array([[im_id]])},
               [{"im_id": im_id, "bbox": detector.detect(image)}])
