"""Per-image errors, the worst and best images, and their side-by-side drawing."""
import numpy as np

from crafted import A, B, THREE_IMAGES, record
from ppfcos.analysis.drawing import CAPTION_HEIGHT, GAP, side_by_side
from ppfcos.analysis.ranking import ImageScore, image_scores, worst_and_best
from ppfcos_runtime.visualize import class_color


def test_image_scores_of_the_three_images():
    scores = image_scores(THREE_IMAGES, iou_threshold=0.5, score_threshold=0.25)
    assert [(s.tp, s.fp, s.fn) for s in scores] == [(1, 1, 1), (1, 1, 0), (1, 1, 1)]
    assert [s.f1 for s in scores] == [0.5, 2 / 3, 0.5]


def test_worst_and_best_order_and_ties():
    scores = [ImageScore(1, "1.jpg", 2, 0, 0), ImageScore(2, "2.jpg", 0, 2, 1),
              ImageScore(3, "3.jpg", 1, 1, 0), ImageScore(4, "4.jpg", 0, 0, 0),
              ImageScore(5, "5.jpg", 0, 1, 0), ImageScore(6, "6.jpg", 3, 0, 0)]
    worst, best = worst_and_best(scores, 2)
    assert [s.image_id for s in worst] == [2, 5]        # F1 0 both; 2 has more errors
    assert [s.image_id for s in best] == [6, 1]         # F1 1; more true positives first
    worst, best = worst_and_best(scores, 10)
    assert [s.image_id for s in worst] == [2, 5, 3]     # image 4 (nothing to find) is neither
    assert [s.image_id for s in best] == [6, 1]


def test_side_by_side_draws_truth_left_and_kept_detections_right():
    image = np.full((40, 40, 3), 128, dtype=np.uint8)
    truth_only = record([(A, 0)], [(B, 1, 0.9), ([0, 0, 20, 20], 1, 0.1)])
    score = image_scores([truth_only], 0.5, 0.25)[0]
    drawn = side_by_side(image, truth_only, score, ["a", "b"], 0.25, min_side=80)
    assert drawn.shape == (CAPTION_HEIGHT + 80, 2 * 80 + GAP, 3)      # enlarged twice
    left = drawn[CAPTION_HEIGHT:, :80]
    right = drawn[CAPTION_HEIGHT:, 80 + GAP:]
    # box A (0..10 -> 0..20 enlarged) in class 0's colour on the left; its right edge
    assert tuple(left[15, 20]) == class_color(0)
    # the b detection (20..30 -> 40..60) at its bottom edge on the right; the 0.1 one is not drawn
    assert tuple(right[60, 50]) == class_color(1)
    assert tuple(right[30, 0]) == (128, 128, 128) and tuple(left[55, 50]) == (128, 128, 128)
