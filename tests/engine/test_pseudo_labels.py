"""Pseudo-label precision and recall on crafted rows (what the semi-supervised trainer logs)."""
import numpy as np

from ppfcos.engine.pseudo_labels import pseudo_label_quality, row_points


def test_row_points_follow_the_loss_order():
    image, xs, ys = row_points([(2, 1, 2), (2, 1, 1)], [8, 16], 0.5)
    assert image.tolist() == [0, 0, 1, 1, 0, 1]
    assert xs.tolist() == [4, 12, 4, 12, 8, 8] and ys.tolist() == [4, 4, 4, 4, 8, 8]


def test_precision_counts_rows_in_a_box_of_their_class_and_recall_boxes_found():
    points = row_points([(1, 2, 2)], [10], 0.5)           # points (5,5) (15,5) (5,15) (15,15)
    selected = np.array([True, True, True, False])
    classes = np.array([0, 1, 0, 0])
    boxes = [np.array([[0, 0, 10, 10], [10, 10, 20, 20]], dtype=np.float32)]
    labels = [np.array([[0], [0]])]
    precision, recall = pseudo_label_quality(selected, classes, points, boxes, labels)
    # (5,5) class 0 in box 0: correct; (15,5) class 1: in no box; (5,15): in no box.
    assert (precision, recall) == (1 / 3, 1 / 2)
    assert pseudo_label_quality(selected, classes, points, [np.zeros((0, 4))],
                                [np.zeros((0, 1))]) is None
