"""Precision, recall and F1 against the score threshold, and the best-F1 threshold, on the
three crafted images (crafted.THREE_IMAGES) counted by hand."""
import numpy as np

from crafted import THREE_IMAGES
from ppfcos.analysis.score_curves import (THRESHOLDS, best_f1, detection_outcomes, prf_at,
                                          score_curves)

NAMES = ["a", "b", "c"]


def at(curve, threshold):
    """(P, R, F1) of ``curve`` at one grid threshold."""
    i = int(np.flatnonzero(np.isclose(THRESHOLDS, threshold))[0])
    return tuple(float(v[i]) for v in curve)


def test_outcomes_of_the_three_images():
    outcomes = detection_outcomes(THREE_IMAGES, 3, iou_threshold=0.5)
    order = np.argsort(-outcomes.scores, kind="stable")
    # 0.9 a TP, 0.9 c TP, 0.8 c FP (on the b box), 0.7 a TP, 0.6 a FP, 0.5 a FP (duplicate),
    # 0.1 b FP (on the c box)
    assert outcomes.scores[order].tolist() == [0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.1]
    assert outcomes.is_tp[order].tolist() == [True, True, False, True, False, False, False]
    assert outcomes.num_gt.tolist() == [3, 1, 1]


def test_precision_recall_f1_points_counted_by_hand():
    curves = score_curves(detection_outcomes(THREE_IMAGES, 3), NAMES)
    np.testing.assert_allclose(at(curves["all"], 0.5), (3 / 6, 3 / 5, 2 * 0.5 * 0.6 / 1.1))
    np.testing.assert_allclose(at(curves["all"], 0.7), (3 / 4, 3 / 5, 2 * 0.75 * 0.6 / 1.35))
    np.testing.assert_allclose(at(curves["all"], 0.8), (2 / 3, 2 / 5, 0.5))
    np.testing.assert_allclose(at(curves["a"], 0.5), (2 / 4, 2 / 3, 4 / 7))
    np.testing.assert_allclose(at(curves["b"], 0.05), (0.0, 0.0, 0.0))
    precision, recall, f1 = at(curves["all"], 0.95)      # nothing scores 0.95
    assert np.isnan(precision) and recall == 0.0 and f1 == 0.0


def test_best_f1_is_the_lowest_threshold_of_the_peak():
    curves = score_curves(detection_outcomes(THREE_IMAGES, 3), NAMES)
    best = best_f1(curves["all"])
    # F1 peaks at 2/3 for every threshold in (0.6, 0.7]: four detections, three right
    assert best == {"threshold": 0.61, "precision": 0.75, "recall": 0.6,
                    "f1": best["f1"]}
    assert abs(best["f1"] - 2 / 3) < 1e-12
    assert best_f1(curves["c"])["threshold"] == 0.81       # above the c on the b box (0.8)


def test_a_class_without_ground_truth_has_nan_recall():
    precision, recall, f1 = prf_at(np.array([0.9]), np.array([False]), 0, [0.5])
    assert precision.tolist() == [0.0] and np.isnan(recall[0]) and f1.tolist() == [0.0]
