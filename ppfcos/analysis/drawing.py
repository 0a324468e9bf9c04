"""One image's ground truth and detections, drawn side by side.

Small images are enlarged first (to ``min_side`` pixels on their short side) so the
labels stay readable. Each panel has a caption bar: the left one the number of
ground-truth boxes, the right one the score threshold and the image's TP / FP / FN.
"""
import cv2
import numpy as np

from ppfcos_runtime.visualize import FONT, class_color, class_name, draw_boxes

from ..utils.visualize import draw_detections_above

CAPTION_HEIGHT = 22
GAP = 4


def draw_truth(canvas, boxes, classes, class_names, crowd):
    """Draw ground-truth ``boxes`` [M, 4] with their class names on ``canvas`` in place;
    crowd regions in grey, labelled "crowd"."""
    labels = ["crowd" if is_crowd else class_name(class_names, int(cls))
              for cls, is_crowd in zip(classes, crowd)]
    colors = [(128, 128, 128) if is_crowd else class_color(int(cls))
              for cls, is_crowd in zip(classes, crowd)]
    canvas[...] = draw_boxes(canvas, classes, boxes, labels, colors)


def caption(width, text):
    """A [CAPTION_HEIGHT, width, 3] dark bar with ``text`` in white."""
    bar = np.full((CAPTION_HEIGHT, width, 3), 40, dtype=np.uint8)
    cv2.putText(bar, text, (4, CAPTION_HEIGHT - 7), FONT, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return bar


def side_by_side(image_bgr, record, score, class_names, score_threshold, min_side=320):
    """[H', 2W' + GAP, 3] uint8: ``record``'s (an ImageRecord) ground truth on the left,
    its detections >= ``score_threshold`` on the right; ``score`` is its ImageScore."""
    scale = max(1.0, min_side / min(image_bgr.shape[:2]))
    image = cv2.resize(image_bgr, None, fx=scale, fy=scale,
                       interpolation=cv2.INTER_LINEAR) if scale > 1 else image_bgr.copy()
    truth = image.copy()
    draw_truth(truth, record.gt_boxes * scale, record.gt_classes, class_names, record.gt_crowd)
    rows = np.concatenate([record.det_classes[:, None], record.det_scores[:, None],
                           record.det_boxes * scale], axis=1)
    found = draw_detections_above(image, rows, class_names, score_threshold)
    width = image.shape[1]
    left = np.concatenate([caption(width, f"ground truth: {len(record.gt_boxes)} boxes"),
                           truth])
    right = np.concatenate([caption(width, f"score >= {score_threshold:g}: {score.tp} TP "
                                           f"{score.fp} FP {score.fn} FN"), found])
    gap = np.full((left.shape[0], GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([left, gap, right], axis=1)
