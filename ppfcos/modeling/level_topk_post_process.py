"""mmdetection's dense-head post-processing: per-level top-k, clip, rescale, class-aware NMS.

It differs from PaddleDetection's (``post_process.FCOSPostProcess``) in where the
thresholds apply, so the same network gives other detections:

| step | PaddleDetection | mmdetection (this module) |
| --- | --- | --- |
| score threshold | on sigmoid(cls) x sigmoid(quality) | on sigmoid(cls) alone |
| candidates | ``nms_top_k`` per class over all levels | ``nms_pre`` (location, class) pairs per level |
| boxes | not clipped | clipped to the resized image, then divided by scale_factor |
| tiny boxes | kept | width or height <= ``min_bbox_size`` dropped (after rescaling) |
| NMS | per class, then ``keep_top_k`` over classes | the same (mmcv's batched_nms offsets boxes by class, which is per-class NMS) |

Batched tensor ops with shapes fixed by ``nms_pre``, so the same code runs in dygraph
and in an exported static graph (and converts to ONNX): each level gives exactly
``nms_pre`` candidates per image, those that mmdetection would not take (at or below
the threshold, beyond the level's pairs, too small) with score 0, which the NMS
(``MultiClassNMS`` at score threshold 0) drops. Rows come out in multiclass_nms3's order
(by class, best first within a class) where mmdetection's are best first: the same
detections. Pairs tied at a level's ``nms_pre``-th probability may be taken in another
order by another runtime (OpenVINO's TopK orders ties arbitrarily), as by mmdetection's.
"""
import paddle
import paddle.nn.functional as F

from ..core.registry import register
from .post_process import MultiClassNMS


def level_candidates(cls_logits, score_threshold, nms_pre):
    """One level: cls_logits [N, C, H, W] -> (point index [N, K] int64, class [N, K] int64,
    probability [N, K]) of each image's ``nms_pre`` best (location, class) pairs, best
    first (K = nms_pre; nms_pre <= 0: all H*W*C pairs, K = H*W*C). Pairs whose
    probability is not above ``score_threshold``, and the zeros filling a level of fewer
    than ``nms_pre`` pairs, have probability 0 and point index 0."""
    num_classes = cls_logits.shape[1]
    probs = F.sigmoid(cls_logits.flatten(2).transpose([0, 2, 1]).flatten(1))   # [N, HW*C]
    if nms_pre > 0:
        filler = paddle.zeros_like(probs[:, :1]).tile([1, nms_pre])
        probs, index = paddle.topk(paddle.concat([probs, filler], axis=1), nms_pre, axis=1)
    else:
        index = paddle.cumsum(paddle.ones_like(probs, dtype="int64"), axis=1) - 1
    valid = probs > score_threshold
    probs = paddle.where(valid, probs, paddle.zeros_like(probs))
    index = paddle.where(valid, index, paddle.zeros_like(index))
    return index // num_classes, index % num_classes, probs


def gather_points(values, index):
    """values [N, M, D], index [N, K] int64 -> [N, K, D]: values[i, index[i, k]]."""
    depth = values.shape[2]
    return paddle.take_along_axis(values, index.unsqueeze(2).tile([1, 1, depth]), axis=1)


@register
class LevelTopKPostProcess:
    """Decoding and NMS in mmdetection's order (its ``BaseDenseHead`` with FCOS's
    ``test_cfg``), for any batch size.

    Per image: on each level, the class probabilities sigmoid(cls) above
    ``score_threshold``, at most ``nms_pre`` (location, class) pairs (-1: all); their
    boxes decoded at the points, clipped to the resized image (``im_shape``), divided
    by ``scale_factor``; score = probability x sigmoid(quality); boxes no wider or
    taller than ``min_bbox_size`` dropped (-1: none dropped); class-aware NMS at
    ``nms_threshold``; the ``keep_top_k`` best (-1: all).

    Args:
        score_threshold, nms_pre, nms_threshold, keep_top_k, min_bbox_size: as above
            (mmdetection: score_thr, nms_pre, nms.iou_threshold, max_per_img, min_bbox_size).
    """

    def __init__(self, score_threshold=0.05, nms_pre=1000, nms_threshold=0.5, keep_top_k=100,
                 min_bbox_size=0):
        if score_threshold < 0:
            raise ValueError(f"LevelTopKPostProcess: score_threshold must be >= 0 (a "
                             f"probability), got {score_threshold}")
        self.score_threshold = score_threshold
        self.nms_pre = nms_pre
        self.min_bbox_size = min_bbox_size
        self.nms = MultiClassNMS(score_threshold=0.0, nms_top_k=-1, keep_top_k=keep_top_k,
                                 nms_threshold=nms_threshold)

    def __call__(self, points, outputs, distances, im_shape, scale_factor):
        """
        Args:
            points: per level [H_l*W_l, 2] (x, y) in input pixels.
            outputs: FCOSOutputs (cls_logits [N, C, H_l, W_l], quality [N, 1, H_l, W_l]).
            distances: per level [N, 4, H_l, W_l] (l, t, r, b) in input pixels.
            im_shape: [N, 2] resized (h, w) of each image before padding.
            scale_factor: [N, 2] (scale_y, scale_x) from the original to the resized image.
        Returns:
            bbox [K, 6] (class, score, x1, y1, x2, y2 in original pixels), per image
            grouped by class ascending, best first within a class (multiclass_nms3's
            order), and bbox_num [N] int32.
        """
        boxes, scores, labels = [], [], []
        for pts, cls, dist, qual in zip(points, outputs.cls_logits, distances, outputs.quality):
            loc, label, prob = level_candidates(cls, self.score_threshold, self.nms_pre)
            dist = dist.flatten(2).transpose([0, 2, 1])                        # [N, HW, 4]
            corners = paddle.concat([pts.unsqueeze(0) - dist[:, :, :2],
                                     pts.unsqueeze(0) + dist[:, :, 2:]], axis=2)
            boxes.append(gather_points(corners, loc))                          # [N, K, 4]
            centerness = F.sigmoid(paddle.take_along_axis(qual.flatten(1), loc, axis=1))
            scores.append(prob * centerness)                                   # [N, K]
            labels.append(label)
        boxes, scores, labels = (paddle.concat(x, axis=1) for x in (boxes, scores, labels))
        size = im_shape.astype(boxes.dtype)
        upper = paddle.concat([size[:, 1:], size[:, :1]] * 2, axis=1).unsqueeze(1)   # [N, 1, 4]
        boxes = paddle.minimum(paddle.maximum(boxes, paddle.zeros_like(boxes)), upper)
        scale = scale_factor.astype(boxes.dtype)
        boxes = boxes / paddle.concat([scale[:, 1:], scale[:, :1]] * 2, axis=1).unsqueeze(1)
        if self.min_bbox_size >= 0:
            side = paddle.minimum(boxes[:, :, 2] - boxes[:, :, 0], boxes[:, :, 3] - boxes[:, :, 1])
            scores = paddle.where(side > self.min_bbox_size, scores, paddle.zeros_like(scores))
        num_classes = outputs.cls_logits[0].shape[1]
        classes = paddle.arange(num_classes, dtype=labels.dtype).reshape([1, -1, 1])
        dense = (labels.unsqueeze(1) == classes).astype(scores.dtype) * scores.unsqueeze(1)
        return self.nms(boxes.astype("float32"), dense.astype("float32"))        # [N, C, K]
