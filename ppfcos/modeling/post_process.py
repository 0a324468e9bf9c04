"""Turn head outputs into detections: decode boxes, rescale to the original image, NMS.

Everything here is tensor ops plus Paddle's ``multiclass_nms3`` kernel, so the
same code runs in dygraph and in an exported static graph.
"""
import paddle
import paddle.nn.functional as F
from ppfcos_runtime.host_postprocess import PRESELECT_PER_KEPT

from ..compat import multiclass_nms3
from ..core.registry import register


@register
class FCOSBox:
    """Decode per-level FCOS outputs into boxes and scores for the whole image.

    Args:
        num_classes: accepted for PaddleDetection's config layout; when given, the
            class-logit channels are checked against it.
        sqrt_score: score = sqrt(class prob * quality prob).
    """
    __shared__ = ["num_classes"]

    def __init__(self, num_classes=None, sqrt_score=False):
        self.num_classes = num_classes
        self.sqrt_score = sqrt_score

    def __call__(self, points, cls_logits, distances, quality, scale_factor):
        """
        Args:
            points: per level [H_l*W_l, 2] (x, y) in input pixels.
            cls_logits: per level [N, C, H_l, W_l].
            distances: per level [N, 4, H_l, W_l] (l, t, r, b) in input pixels.
            quality: per level [N, 1, H_l, W_l] logits.
            scale_factor: [N, 2] (scale_y, scale_x) from original to input image.
        Returns:
            boxes [N, M, 4] (x1, y1, x2, y2) in original-image pixels and scores
            [N, C, M], M = sum of H_l*W_l, in the dtype of the inputs.
        """
        if self.num_classes is not None and cls_logits[0].shape[1] not in (-1, self.num_classes):
            raise ValueError(f"FCOSBox expects {self.num_classes} classes, the head gives "
                             f"{cls_logits[0].shape[1]}")
        boxes, scores = [], []
        sign = paddle.to_tensor([-1.0, -1.0, 1.0, 1.0], dtype=distances[0].dtype).reshape(
            [1, 4, 1])
        for pts, cls, dist, qual in zip(points, cls_logits, distances, quality):
            score = F.sigmoid(cls.flatten(2)) * F.sigmoid(qual.flatten(2))    # [N, C, HW]
            scores.append(paddle.sqrt(score) if self.sqrt_score else score)
            corners = pts.transpose([1, 0]).tile([2, 1]).unsqueeze(0)          # [1, 4, HW]
            boxes.append(corners + sign * dist.flatten(2))                     # [N, 4, HW]
        boxes = paddle.concat(boxes, axis=2).transpose([0, 2, 1])              # [N, M, 4]
        scale_y, scale_x = paddle.split(scale_factor, 2, axis=-1)
        scale = paddle.concat([scale_x, scale_y, scale_x, scale_y], axis=-1).unsqueeze(1)
        return boxes / scale, paddle.concat(scores, axis=2)


# PRESELECT_PER_KEPT: candidates per kept detection that MultiClassNMS first runs NMS on
# (see __call__); the host's NMS for exports without NMS in the graph uses the same number.


@register
class MultiClassNMS:
    """Per-class greedy NMS, then the ``keep_top_k`` best over all classes.

    Args:
        score_threshold: drop scores at or below this before NMS.
        nms_top_k: candidates per class entering NMS (-1: all).
        keep_top_k: detections kept per image (-1: all).
        nms_threshold: IoU above which a lower-scored box is suppressed.
        normalized: IoU without the +1 pixel convention (PaddleDetection's default).
        nms_eta: adaptive NMS threshold decay (1.0: off).
        background_label: class index to skip (-1: none).
    """

    def __init__(self, score_threshold=0.05, nms_top_k=-1, keep_top_k=100, nms_threshold=0.5,
                 normalized=True, nms_eta=1.0, background_label=-1):
        self.score_threshold = score_threshold
        self.nms_top_k = nms_top_k
        self.keep_top_k = keep_top_k
        self.nms_threshold = nms_threshold
        self.normalized = normalized
        self.nms_eta = nms_eta
        self.background_label = background_label

    def __call__(self, boxes, scores):
        """boxes [N, M, 4], scores [N, C, M] -> (bbox [K, 6] as (class, score, x1, y1, x2, y2),
        bbox_num [N] int32). Within an image, rows are grouped by class, best score first."""
        if self.keep_top_k < 0 or self.background_label >= 0:
            return self._nms(boxes, scores)
        # Exact shortcut: a candidate's fate depends only on the higher-scored candidates
        # of its class, so NMS over the best ``PRESELECT_PER_KEPT * keep_top_k`` candidates
        # (ties included) keeps the same boxes whenever it yields keep_top_k of them.
        # Images where it yields fewer, with candidates left out, run over all of them.
        # NMS's cost grows with the candidates it compares, and an image has classes x
        # points of them (80 x ~20k for COCO), nearly all far below the kept scores.
        flat = scores.flatten(1)                                                # [N, C*M]
        size = paddle.shape(flat)[1]                  # int32 on Paddle 2.6, int64 on 3.x
        count = paddle.minimum(size, paddle.full([], self.keep_top_k * PRESELECT_PER_KEPT,
                                                 size.dtype))
        kth_best = paddle.topk(flat, count, axis=1)[0][:, -1]                  # [N]
        above = (flat > self.score_threshold).astype("int64").sum(axis=1)      # [N]
        _, kept = self._nms(boxes, self._only_above(scores, kth_best))
        incomplete = paddle.logical_and(kept < self.keep_top_k, above > count)
        floor = paddle.where(incomplete, paddle.full_like(kth_best, self.score_threshold),
                             kth_best)
        return self._nms(boxes, self._only_above(scores, floor))

    def _only_above(self, scores, floor):
        """scores [N, C, M] with those below ``floor`` [N] set to score_threshold (dropped)."""
        floor = floor.reshape([-1, 1, 1])
        return paddle.where(scores >= floor, scores,
                            paddle.full_like(scores, self.score_threshold))

    def _nms(self, boxes, scores):
        return multiclass_nms3(boxes, scores, self.score_threshold, self.nms_top_k,
                               self.keep_top_k, self.nms_threshold, self.normalized,
                               self.nms_eta, self.background_label)


@register
class FCOSPostProcess:
    """Decoding followed by NMS (PaddleDetection's 2021 config layout names it)."""
    __inject__ = ["decode", "nms"]

    def __init__(self, decode="FCOSBox", nms="MultiClassNMS"):
        self.decode = decode
        self.nms = nms

    def __call__(self, points, outputs, distances, im_shape, scale_factor):
        """points/distances per level (see FCOSBox), outputs: FCOSOutputs -> (bbox, bbox_num).

        ``im_shape`` [N, 2] is part of the post-process interface (mmdetection's order clips
        to it, see level_topk_post_process.py); PaddleDetection's decoding does not clip."""
        return self.nms(*self.candidates(points, outputs, distances, scale_factor))

    def candidates(self, points, outputs, distances, scale_factor):
        """What enters the NMS: every location's box [N, M, 4] in original-image pixels and
        class scores [N, C, M], float32 (test-time augmentation merges views' candidates)."""
        boxes, scores = self.decode(points, outputs.cls_logits, distances, outputs.quality,
                                    scale_factor)
        if boxes.dtype != paddle.float32:      # decoded in float64 (exported programs)
            boxes, scores = boxes.astype("float32"), scores.astype("float32")
        return boxes, scores
