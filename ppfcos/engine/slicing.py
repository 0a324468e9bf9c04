"""Sliced inference: detect on overlapping windows of each image, merge in image pixels.

Small objects in a large image shrink below what the network can see once the whole
image is resized to the reader's size. Sliced inference (PaddleDetection's
``--slice_infer``) runs the detector on windows of ``slice_size`` original pixels,
each through the reader's own transforms (so each window is resized as a whole image
would be), shifts every window's boxes by the window's corner and merges them.

The window grid and the class-wise merge come from sahi (PaddleDetection uses it for
the grid too): ``sahi.slicing.get_slice_bboxes`` and ``sahi.postprocess.combine.
batched_nms`` (numpy backend, IoU or IoS), so ppfcos and ``deploy/python`` share one
maintained implementation instead of two copies. sahi is imported on first use
(``pip install -e .[slice]``).
"""
import logging
from dataclasses import dataclass

import numpy as np
import paddle

from ..core.config import ConfigError
from ..data.reader import BatchCollator, Compose, build_ops
from ..data.transforms.operators import Decode, ImageDecodeError
from .evaluator import split_per_image
from .progress import progress

logger = logging.getLogger("ppfcos")


@dataclass(frozen=True)
class SliceOptions:
    """size (h, w) and overlap (rh, rw) of the windows; how their detections merge:
    combine_method 'nms' (class-wise, dropping boxes whose match_metric 'iou'|'ios'
    with a higher-scored box exceeds match_threshold) or 'concat' (keep all)."""
    size: tuple = (640, 640)
    overlap: tuple = (0.25, 0.25)
    combine_method: str = "nms"
    match_threshold: float = 0.6
    match_metric: str = "ios"


def import_sahi():
    """The sahi modules sliced inference uses; ConfigError naming the extra if missing."""
    try:
        from sahi.postprocess import combine
        from sahi import slicing
    except ImportError:
        raise ConfigError("--slice_infer needs the sahi package: pip install -e .[slice] "
                          "(or pip install sahi)") from None
    return slicing, combine


def windows(height, width, options):
    """Window corners [M, 4] int (x1, y1, x2, y2) covering a height x width image; windows
    are slice-sized (smaller only when the image is) and the last ones in each row and
    column end at the image border."""
    slicing, _ = import_sahi()
    (slice_h, slice_w), (ratio_h, ratio_w) = options.size, options.overlap
    return np.asarray(slicing.get_slice_bboxes(height, width, slice_h, slice_w, False,
                                               ratio_h, ratio_w), dtype=np.int64)


def merge(rows, options):
    """Detections [K, 6] (class, score, x1, y1, x2, y2) of all windows, in image pixels ->
    the merged rows, by descending score for 'nms'."""
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
    if options.combine_method == "concat" or len(rows) == 0:
        return rows
    _, combine = import_sahi()
    keep = combine.batched_nms(rows[:, [2, 3, 4, 5, 1, 0]].astype(np.float64),
                               options.match_metric.upper(), options.match_threshold)
    return rows[np.asarray(keep, dtype=np.int64)]


def shifted(rows, corner):
    """Window detections [k, 6] moved by the window's (x1, y1) into image pixels."""
    rows = np.array(rows, dtype=np.float32).reshape(-1, 6)
    rows[:, [2, 4]] += corner[0]
    rows[:, [3, 5]] += corner[1]
    return rows


class SlicedDetector:
    """A detector (dygraph model or ``PredictorDetector``) run on windows of an image.

    ``transforms``: the reader's sample transforms (a Compose; Decode keeps an array as
    it is, so ``decode``, its Decode, reads whole images in the channel order the model
    expects); ``collate``: its batch transforms and stacking. Windows of an image share
    a shape, so up to ``batch_size`` of them run together.
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
        corners = windows(image.shape[0], image.shape[1], self.options)
        rows = []
        for start in range(0, len(corners), self.batch_size):
            chunk = corners[start:start + self.batch_size]
            samples = [self.transforms({"image": image[y1:y2, x1:x2].copy(),
                                        "im_id": np.array([0])}) for x1, y1, x2, y2 in chunk]
            batch = self.collate(samples)
            inputs = {key: paddle.to_tensor(batch[key])
                      for key in ("image", "im_shape", "scale_factor")}
            with paddle.no_grad():
                outputs = self.model(inputs)
            for det, corner in zip(split_per_image(outputs, np.zeros(len(chunk))), chunk):
                rows.append(shifted(det["bbox"], corner))
        return merge(np.concatenate(rows) if rows else np.zeros((0, 6), np.float32),
                     self.options)


def predict_sliced(detector, loader, desc="eval"):
    """Like ``evaluator.predict`` for a SlicedDetector: yield ``(batch, detections)`` per
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
