"""Precision, recall and F1 against the score threshold, per class and over all classes.

A detection is a true positive when it takes a ground-truth box of its class at IoU >=
the threshold (matching.match_image, class-aware); detections on crowd regions are left
out, and crowd boxes are not counted as ground truth. At a score threshold t, precision
is TP / (detections >= t), recall TP / ground-truth boxes and F1 = 2PR / (P + R).
Precision is NaN where no detection reaches t; F1 is then 0 (nothing is found).
"all" pools the detections and boxes of every class (micro average).
"""
from dataclasses import dataclass

import numpy as np

from .matching import match_image

THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)


@dataclass
class Outcomes:
    """Every counted detection: ``scores`` [D], ``classes`` [D], ``is_tp`` [D] bool, and
    ``num_gt`` [C]: the non-crowd ground-truth boxes of each class."""
    scores: np.ndarray
    classes: np.ndarray
    is_tp: np.ndarray
    num_gt: np.ndarray


def detection_outcomes(records, num_classes, iou_threshold=0.5):
    """The ``Outcomes`` of ``records`` (ImageRecords) at ``iou_threshold``."""
    scores, classes, is_tp = [], [], []
    num_gt = np.zeros(num_classes, dtype=np.int64)
    for record in records:
        matched = match_image(record, iou_threshold, class_aware=True)
        counted = matched != -2
        scores.append(record.det_scores[counted])
        classes.append(record.det_classes[counted])
        is_tp.append(matched[counted] >= 0)
        np.add.at(num_gt, record.gt_classes[~record.gt_crowd], 1)
    return Outcomes(np.concatenate(scores or [np.zeros(0)]),
                    np.concatenate(classes or [np.zeros(0, dtype=np.int64)]),
                    np.concatenate(is_tp or [np.zeros(0, dtype=bool)]), num_gt)


def prf_at(scores, is_tp, num_gt, thresholds=THRESHOLDS):
    """(precision, recall, f1), each [T], of detections ``scores`` [D] / ``is_tp`` [D]
    against ``num_gt`` boxes at each threshold of ``thresholds`` [T]."""
    kept = scores[None, :] >= np.asarray(thresholds)[:, None]          # [T, D]
    tp = (kept & is_tp[None, :]).sum(axis=1).astype(np.float64)
    n = kept.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, n, out=np.full_like(tp, np.nan), where=n > 0)
    recall = tp / num_gt if num_gt else np.full_like(tp, np.nan)
    denominator = np.nan_to_num(precision) + np.nan_to_num(recall)
    f1 = np.divide(2 * np.nan_to_num(precision) * np.nan_to_num(recall), denominator,
                   out=np.zeros_like(tp), where=denominator > 0)
    return precision, recall, f1


def score_curves(outcomes, class_names, thresholds=THRESHOLDS):
    """{name: (precision, recall, f1)} for each class of ``class_names`` and ``"all"``."""
    curves = {}
    for k, name in enumerate(class_names):
        mine = outcomes.classes == k
        curves[name] = prf_at(outcomes.scores[mine], outcomes.is_tp[mine],
                              int(outcomes.num_gt[k]), thresholds)
    curves["all"] = prf_at(outcomes.scores, outcomes.is_tp, int(outcomes.num_gt.sum()),
                           thresholds)
    return curves


def best_f1(curve, thresholds=THRESHOLDS):
    """{"threshold", "precision", "recall", "f1"} where the curve's F1 peaks (the lowest
    such threshold on ties)."""
    precision, recall, f1 = curve
    i = int(np.argmax(f1))
    return {"threshold": float(thresholds[i]), "precision": float(precision[i]),
            "recall": float(recall[i]), "f1": float(f1[i])}
