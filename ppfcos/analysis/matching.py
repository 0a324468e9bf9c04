"""Box IoU and the greedy matching of one image's detections to its ground truth.

Matching goes through the detections from the highest score down; each takes the
not-yet-taken ground-truth box it overlaps most, if that IoU reaches the threshold
(COCO's rule). Because a detection only competes with higher-scored ones, the matches of
the detections above any score threshold are those of the full run restricted to them,
so one run gives the outcome at every threshold.
"""
import numpy as np

UNMATCHED, IGNORED = -1, -2


def box_iou(boxes, other):
    """IoU [K, M] of (x1, y1, x2, y2) boxes [K, 4] and [M, 4] (continuous coordinates)."""
    lt = np.maximum(boxes[:, None, :2], other[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], other[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    area_b = np.prod(other[:, 2:] - other[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_image(record, iou_threshold, class_aware=True):
    """Match ``record``'s detections (an ImageRecord) -> [K] int per detection: the index
    of its ground-truth box, ``UNMATCHED`` (-1, a false positive) or ``IGNORED`` (-2: it
    matches no box but overlaps a crowd region by ``iou_threshold``).

    ``class_aware``: a detection may only take a box of its own class (for precision and
    recall); without it, any box (for the confusion matrix, which then reads the classes).
    """
    iou = box_iou(record.det_boxes, record.gt_boxes)                  # [K, M]
    if class_aware:
        iou = np.where(record.det_classes[:, None] == record.gt_classes[None, :], iou, 0.0)
    crowd = record.gt_crowd
    taken = np.zeros(len(record.gt_boxes), dtype=bool)
    matched = np.full(len(record.det_boxes), UNMATCHED, dtype=np.int64)
    for k in np.argsort(-record.det_scores, kind="stable"):
        free = np.where(taken | crowd, -1.0, iou[k])
        best = int(np.argmax(free)) if free.size else -1
        if best >= 0 and free[best] >= iou_threshold:
            matched[k] = best
            taken[best] = True
        elif crowd.any() and iou[k][crowd].max() >= iou_threshold:
            matched[k] = IGNORED
    return matched


def missed_boxes(record, matched):
    """[M] bool: the non-crowd ground-truth boxes no detection took (false negatives)."""
    taken = np.zeros(len(record.gt_boxes), dtype=bool)
    taken[matched[matched >= 0]] = True
    return ~taken & ~record.gt_crowd
