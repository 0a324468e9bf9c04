"""Per-image errors at a score and IoU threshold, and the worst and best images.

An image's detections scored >= the score threshold are matched class-aware
(matching.match_image): TP matched, FP unmatched (crowd-region ones left out), FN the
boxes nobody took. Its F1 is 2TP / (2TP + FP + FN), 1 for an image with nothing to find
and nothing found.
"""
from dataclasses import dataclass

from .matching import UNMATCHED, match_image, missed_boxes


@dataclass
class ImageScore:
    """Counts of one image at the analysis thresholds."""
    image_id: int
    file_name: str
    tp: int
    fp: int
    fn: int

    @property
    def f1(self):
        found = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / found if found else 1.0


def image_scores(records, iou_threshold=0.5, score_threshold=0.25):
    """``ImageScore`` of each ImageRecord of ``records``, in their order."""
    scores = []
    for record in records:
        record = record.detections_above(score_threshold)
        matched = match_image(record, iou_threshold, class_aware=True)
        scores.append(ImageScore(record.image_id, record.file_name,
                                 int((matched >= 0).sum()), int((matched == UNMATCHED).sum()),
                                 int(missed_boxes(record, matched).sum())))
    return scores


def worst_and_best(scores, n):
    """(worst, best): up to ``n`` ImageScores each. Worst: lowest F1, then most errors
    (FP + FN); best: highest F1 among images with a true positive, then most TPs; ties by
    image id. An image is in at most one list."""
    worst = sorted((s for s in scores if s.fp + s.fn),
                   key=lambda s: (s.f1, -(s.fp + s.fn), s.image_id))[:n]
    taken = {s.image_id for s in worst}
    best = sorted((s for s in scores if s.tp and s.image_id not in taken),
                  key=lambda s: (-s.f1, -s.tp, s.image_id))[:n]
    return worst, best
