"""Sliced inference: detect on overlapping windows of each image, merge in image pixels.

Small objects in a large image shrink below what the network can see once the whole
image is resized to the model's input. Sliced inference (PaddleDetection's
``--slice_infer``) runs the detector on windows of ``--slice_size`` original pixels
(``--overlap_ratio`` overlap), each through the model's preprocessing as a whole image
would be, shifts every window's boxes by the window's corner, then merges them
class-wise by NMS (``--match_metric`` iou|ios above ``--match_threshold``) or keeps them
all (``concat``).

The window grid and the NMS are sahi's (``get_slice_bboxes``, ``batched_nms``, numpy
backend; PaddleDetection uses it for the grid too). This module is the one
implementation: deploy's `SlicedDetector` runs a detector.Detector on the
windows, ppfcos's ``engine/slicing.py`` its dygraph model through the reader's
transforms, both with `window_rows` and `merge`. sahi is imported on first
use (``pip install sahi``).
"""
from dataclasses import dataclass

import numpy as np

from .errors import DeployError


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
    """sahi's slicing and combine modules, or DeployError saying how to install sahi."""
    try:
        from sahi import slicing
        from sahi.postprocess import combine
    except ImportError:
        raise DeployError("--slice_infer needs the sahi package: pip install sahi (with "
                          "ppfcos: pip install -e .[slice])") from None
    return slicing, combine


def windows(height, width, options):
    """Window corners [M, 4] int (x1, y1, x2, y2) covering a height x width image; windows
    are slice-sized (smaller only when the image is) and the last ones in each row and
    column end at the image border."""
    slicing, _ = import_sahi()
    (slice_h, slice_w), (ratio_h, ratio_w) = options.size, options.overlap
    return np.asarray(slicing.get_slice_bboxes(height, width, slice_h, slice_w, False,
                                               ratio_h, ratio_w), dtype=np.int64)


def shifted(rows, corner):
    """Window detections [k, 6] moved by the window's (x1, y1) into image pixels."""
    rows = np.array(rows, dtype=np.float32).reshape(-1, 6)
    rows[:, [2, 4]] += corner[0]
    rows[:, [3, 5]] += corner[1]
    return rows


def window_rows(image, options, detect, batch_size=1):
    """The detections of every window of ``image`` [H, W, 3], in the image's pixels ->
    float32 [K, 6] rows (class_index, score, x1, y1, x2, y2), unmerged.

    ``detect(crops)``: a list of window images [h, w, 3] (views of ``image``) -> one
    array [k, 6] of rows per window, in the window's pixels; called with up to
    ``batch_size`` windows (they share a shape)."""
    corners = windows(image.shape[0], image.shape[1], options)
    rows = [np.zeros((0, 6), np.float32)]
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        found = detect([image[y1:y2, x1:x2] for x1, y1, x2, y2 in chunk])
        rows += [shifted(window, corner) for window, corner in zip(found, chunk)]
    return np.concatenate(rows)


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


class SlicedDetector:
    """An ExportDetector run on windows of each image; the same ``detect`` interface.
    Its timings count each image once (not each window); merging is postprocessing."""

    def __init__(self, detector, options, batch_size=1):
        import_sahi()
        self.detector = detector
        self.options = options
        self.batch_size = max(1, int(batch_size))
        self.timings = detector.timings

    def detect(self, images):
        """RGB uint8 images [H, W, 3] -> one array [k, 6] of merged rows per image
        (class_index, score, x1, y1, x2, y2 in the image's pixels)."""
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image):
        images = self.timings.images
        rows = window_rows(image, self.options, self.detector.detect, self.batch_size)
        self.timings.images = images + 1
        with self.timings.measure("postprocess"):
            return merge(rows, self.options)
