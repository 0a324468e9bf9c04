"""Crafted images for the analysis tests: ImageRecords built from (box, class[, score]) lists,
and the three images whose confusion matrix and score curves are worked out by hand."""
import numpy as np

from ppfcos.analysis.records import ImageRecord

A, B, C = [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]


def record(gts, dets, image_id=1, crowd=(), file_name="a.jpg"):
    """ImageRecord from gts [(box xyxy, class)] and dets [(box, class, score)]; ``crowd``:
    indices of the gts that are crowd regions."""
    return ImageRecord(
        image_id, file_name, np.array([g[0] for g in gts], dtype=np.float64).reshape(-1, 4),
        np.array([g[1] for g in gts], dtype=np.int64),
        np.isin(np.arange(len(gts)), list(crowd)),
        np.array([d[0] for d in dets], dtype=np.float64).reshape(-1, 4),
        np.array([d[1] for d in dets], dtype=np.int64),
        np.array([d[2] for d in dets], dtype=np.float64))


# Classes 0, 1, 2 (a, b, c). At IoU 0.5 and score >= 0.25:
# image 1: a found as a (0.9); b found as c (0.8)
# image 2: c found as c (0.9); a detection on nothing (a, 0.6); b on the c box at 0.1 (below
#          the score threshold, so not in the confusion matrix; a false positive for the curves)
# image 3: a found (0.7) and found again (0.5, a duplicate: false positive); a second a missed
THREE_IMAGES = [
    record([(A, 0), (B, 1)], [(A, 0, 0.9), (B, 2, 0.8)], image_id=1),
    record([(A, 2)], [(A, 2, 0.9), (C, 0, 0.6), (A, 1, 0.1)], image_id=2),
    record([(A, 0), (C, 0)], [(A, 0, 0.7), ([1, 0, 11, 10], 0, 0.5)], image_id=3),
]
