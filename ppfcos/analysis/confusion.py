"""Confusion matrix of the classes plus background, at an IoU and a score threshold.

Rows are the true class, columns the predicted one; index ``num_classes`` is background.
Per image, the detections scored >= the score threshold are matched to the ground truth
regardless of class (matching.match_image, class_aware=False): a matched pair counts at
[true class, predicted class], an unmatched detection at [background, predicted class]
(a false positive), an unmatched box at [true class, background] (missed). Crowd boxes
and the detections on them are left out; [background, background] stays 0.
"""
import numpy as np

from .matching import match_image, missed_boxes


def confusion_matrix(records, num_classes, iou_threshold=0.5, score_threshold=0.25):
    """Counts [C + 1, C + 1] int64 over ``records`` (ImageRecords); see the module doc."""
    background = num_classes
    counts = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for record in records:
        record = record.detections_above(score_threshold)
        matched = match_image(record, iou_threshold, class_aware=False)
        hit = matched >= 0
        np.add.at(counts, (record.gt_classes[matched[hit]], record.det_classes[hit]), 1)
        np.add.at(counts, (background, record.det_classes[matched == -1]), 1)
        np.add.at(counts, (record.gt_classes[missed_boxes(record, matched)], background), 1)
    return counts


def normalize_rows(counts):
    """Each row divided by its sum (the share of a true class that went to each predicted
    class); rows with no count stay 0. -> float64 of the same shape."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
