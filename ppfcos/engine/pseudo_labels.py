"""How good the teacher's pseudo-labels are, when the unlabelled images happen to have boxes
(an unlabelled set split from a labelled one, kept with ``data_fields`` asking for
``gt_bbox``, ``gt_class``). Logged, never trained on.

A pseudo-positive (a row DenseTeacher's loss selected) is *correct* when its point lies
inside a ground-truth box of the class the teacher scores highest there.

- precision: correct pseudo-positives / pseudo-positives;
- recall: ground-truth boxes holding at least one correct pseudo-positive / boxes.
"""
import numpy as np


def row_points(level_shapes, strides, num_shift):
    """(image index [R], x [R], y [R]) of every row in the loss's order: level-major, then
    (image, y, x); ``level_shapes``: [(N, H_l, W_l)] per level, input pixels."""
    images, xs, ys = [], [], []
    for (n, h, w), stride in zip(level_shapes, strides):
        b, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
        images.append(b.ravel())
        xs.append((x.ravel() + num_shift) * stride)
        ys.append((y.ravel() + num_shift) * stride)
    return np.concatenate(images), np.concatenate(xs), np.concatenate(ys)


def pseudo_label_quality(selected, classes, points, gt_boxes, gt_classes):
    """(precision, recall) of the pseudo-positives, or None without any ground-truth box.

    Args:
        selected: [R] bool, the pseudo-positive rows.
        classes: [R] int, the teacher's top class per row.
        points: (image [R], x [R], y [R]) from `row_points`.
        gt_boxes, gt_classes: per image, [K_i, 4] (x1, y1, x2, y2 in input pixels) and
            [K_i] or [K_i, 1] class indices.
    """
    if sum(len(boxes) for boxes in gt_boxes) == 0:
        return None
    image, xs, ys = points
    correct = covered = total = 0
    for b, (boxes, labels) in enumerate(zip(gt_boxes, gt_classes)):
        rows = np.flatnonzero(selected & (image == b))
        boxes, labels = np.asarray(boxes).reshape(-1, 4), np.asarray(labels).reshape(-1)
        inside = ((xs[rows, None] >= boxes[None, :, 0]) & (xs[rows, None] <= boxes[None, :, 2])
                  & (ys[rows, None] >= boxes[None, :, 1]) & (ys[rows, None] <= boxes[None, :, 3])
                  & (classes[rows, None] == labels[None, :]))          # [rows, K_i]
        correct += int(inside.any(axis=1).sum())
        covered += int(inside.any(axis=0).sum())
        total += len(boxes)
    return correct / max(int(selected.sum()), 1), covered / total
