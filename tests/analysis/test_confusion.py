"""Confusion matrix and matching against hand-counted cases."""
import numpy as np
import pytest

from crafted import A, B, THREE_IMAGES, record
from ppfcos.analysis.confusion import confusion_matrix, normalize_rows
from ppfcos.analysis.matching import IGNORED, UNMATCHED, box_iou, match_image


def test_box_iou_of_hand_computed_overlaps():
    iou = box_iou(np.array([[0, 0, 10, 10.0]]),
                  np.array([[0, 0, 10, 10.0], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]]))
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0, 0.0]])


def test_three_images_give_the_hand_counted_matrix():
    counts = confusion_matrix(THREE_IMAGES, num_classes=3, iou_threshold=0.5,
                              score_threshold=0.25)
    #                     a  b  c  background (missed)
    expected = np.array([[2, 0, 0, 1],     # a: found twice, missed once (image 3)
                         [0, 0, 1, 0],     # b: taken for a c
                         [0, 0, 1, 0],     # c
                         [2, 0, 0, 0]])    # background: image 2's stray a, image 3's duplicate
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_allclose(normalize_rows(counts)[0], [2 / 3, 0, 0, 1 / 3])
    np.testing.assert_allclose(normalize_rows(counts)[3], [1, 0, 0, 0])


def test_score_threshold_decides_which_detections_count():
    # at 0.05 image 2's b (0.1) on the c box competes: the c detection (0.9) took it first
    low = confusion_matrix(THREE_IMAGES, 3, 0.5, score_threshold=0.05)
    assert low[3, 1] == 1 and low[2, 2] == 1
    high = confusion_matrix(THREE_IMAGES, 3, 0.5, score_threshold=0.95)
    np.testing.assert_array_equal(high[:, 3], [3, 1, 1, 0])     # everything missed
    assert high[:, :3].sum() == 0


def test_higher_score_takes_the_box_and_a_crowd_region_swallows_its_detections():
    image = record([(A, 0), (B, 1)], [(A, 0, 0.6), (A, 1, 0.9), (B, 1, 0.8)], crowd=[1])
    assert match_image(image, 0.5, class_aware=False).tolist() == [UNMATCHED, 0, IGNORED]
    assert match_image(image, 0.5, class_aware=True).tolist() == [0, UNMATCHED, IGNORED]
    counts = confusion_matrix([image], 2, 0.5, 0.25)
    # the b detection (0.9) took the a box; the a detection is a false positive; the
    # crowd box and the detection on it are not counted
    np.testing.assert_array_equal(counts, [[0, 1, 0], [0, 0, 0], [1, 0, 0]])


@pytest.mark.parametrize("threshold, expected", [(0.5, 0), (0.5 + 1e-9, UNMATCHED)])
def test_iou_threshold_is_inclusive(threshold, expected):
    image = record([(A, 0)], [([0, 0, 10, 5], 0, 0.9)])          # IoU exactly 0.5
    assert match_image(image, threshold).tolist() == [expected]
