"""A few validation images drawn with the detections of an evaluation, for the loggers."""
import os

import cv2

from ..utils.visualize import draw_detections_above


class ValidationImages:
    """Keeps the first ``count`` images an evaluation predicts, drawn with their
    detections scoring >= ``threshold``.

    ``collect`` passes an evaluation's ``(batch, detections)`` pairs through unchanged
    and draws on the way, so the images cost no second prediction; ``images`` then holds
    ``[(file name, RGB array [H, W, 3] uint8)]`` of the latest evaluation.
    """

    def __init__(self, count, threshold=0.3):
        self.count = int(count)
        self.threshold = threshold
        self.images = []

    def collect(self, predictions, class_names):
        """Yield ``predictions`` (pairs of ``evaluator.predict``), drawing the first
        ``count`` images (``batch["im_file"]``) into ``images``, labelled with
        ``class_names`` (by class index; None: the index)."""
        self.images = []
        for batch, detections in predictions:
            for im_file, det in zip(batch["im_file"], detections):
                if len(self.images) < self.count:
                    self.images.append((os.path.basename(im_file), self._drawn(im_file, det, class_names)))
            yield batch, detections

    def _drawn(self, im_file, det, class_names):
        image = cv2.imread(im_file, cv2.IMREAD_COLOR)
        drawn = draw_detections_above(image, det["bbox"], class_names, self.threshold)
        return cv2.cvtColor(drawn, cv2.COLOR_BGR2RGB)
