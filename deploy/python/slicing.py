"""Sliced inference: detect on overlapping windows of each image, merge in image pixels.

Each window (``--slice_size`` original pixels, ``--overlap_ratio`` overlap) goes through
the model's ``Preprocess`` as a whole image would, the windows of an image run in
batches of ``--batch_size``, their boxes are shifted by the window's corner, then merged
class-wise by NMS (``--match_metric`` iou|ios above ``--match_threshold``) or kept all
(``concat``). The window grid and the NMS are sahi's (``get_slice_bboxes``,
``batched_nms``, numpy backend), the library ppfcos's tools use too, so the two do
not carry two implementations; sahi is imported only with ``--slice_infer``.
"""
from dataclasses import dataclass

import numpy as np

from .errors import DeployError


@dataclass(frozen=True)
class SliceOptions:
    """Window size (h, w) and overlap (rh, rw); merge 'nms' (match_metric 'iou'|'ios' >
    match_threshold drops the lower-scored box of a class) or 'concat'."""
    size: tuple
    overlap: tuple
    combine_method: str = "nms"
    match_threshold: float = 0.6
    match_metric: str = "ios"


def import_sahi():
    """sahi's slicing and combine modules, or DeployError saying how to install sahi."""
    try:
        from sahi import slicing
        from sahi.postprocess import combine
    except ImportError:
        raise DeployError("--slice_infer needs the sahi package: pip install sahi") from None
    return slicing, combine


class SlicedDetector:
    """A detector.Detector run on windows of each image; same ``detect`` interface."""

    def __init__(self, detector, options, batch_size=1):
        self.slicing, self.combine = import_sahi()
        self.detector = detector
        self.options = options
        self.batch_size = batch_size
        self.timings = detector.timings

    def windows(self, height, width):
        """Window corners [M, 4] (x1, y1, x2, y2) covering a height x width image."""
        (slice_h, slice_w), (ratio_h, ratio_w) = self.options.size, self.options.overlap
        return np.asarray(self.slicing.get_slice_bboxes(height, width, slice_h, slice_w, False,
                                                        ratio_h, ratio_w), dtype=np.int64)

    def detect(self, images):
        """RGB uint8 images [H, W, 3] -> one array [k, 6] of merged rows per image
        (class_index, score, x1, y1, x2, y2 in the image's pixels)."""
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image):
        corners = self.windows(*image.shape[:2])
        rows = []
        for start in range(0, len(corners), self.batch_size):
            chunk = corners[start:start + self.batch_size]
            crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in chunk]
            for found, (x1, y1, _, _) in zip(self.detector.detect(crops), chunk):
                found = np.array(found, dtype=np.float32).reshape(-1, 6)
                found[:, [2, 4]] += x1
                found[:, [3, 5]] += y1
                rows.append(found)
        self.detector.timings.images -= len(corners) - 1   # count the image, not its windows
        with self.timings.measure("postprocess"):
            return self._merge(np.concatenate(rows))

    def _merge(self, rows):
        if self.options.combine_method == "concat" or len(rows) == 0:
            return rows
        keep = self.combine.batched_nms(rows[:, [2, 3, 4, 5, 1, 0]].astype(np.float64),
                                        self.options.match_metric.upper(),
                                        self.options.match_threshold)
        return rows[np.asarray(keep, dtype=np.int64)]
