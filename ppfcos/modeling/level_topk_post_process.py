"""mmdetection's dense-head post-processing: per-level top-k, clip, rescale, class-aware NMS.

It differs from PaddleDetection's (``post_process.FCOSPostProcess``) in where the
thresholds apply, so the same network gives other detections:

| step | PaddleDetection | mmdetection (this module) |
| --- | --- | --- |
| score threshold | on sigmoid(cls) x sigmoid(quality) | on sigmoid(cls) alone |
| candidates | ``nms_top_k`` per class over all levels | ``nms_pre`` (location, class) pairs per level |
| boxes | not clipped | clipped to the resized image, then divided by scale_factor |
| tiny boxes | kept | width or height <= ``min_bbox_size`` dropped (after rescaling) |
| NMS | per class, then ``keep_top_k`` over classes | all classes at once, boxes offset by class (mmcv's batched_nms) |

Dygraph only: the candidate counts vary per image, so this is a Python loop over images.
"""
import paddle
import paddle.nn.functional as F

from ..core.registry import register


def _level_candidates(cls_logits, score_threshold, nms_pre):
    """One image's level: cls_logits [C, HW] -> (point index [K], class [K], probability [K])
    of the ``nms_pre`` best (location, class) pairs whose probability is above the threshold,
    best first."""
    num_classes = cls_logits.shape[0]
    probs = F.sigmoid(cls_logits).transpose([1, 0]).flatten()          # [HW*C], location-major
    count = int((probs > score_threshold).astype("int64").sum())
    k = min(nms_pre, count) if nms_pre > 0 else count
    if k == 0:
        empty = paddle.zeros([0], dtype="int64")
        return empty, empty, paddle.zeros([0], dtype=probs.dtype)
    best, index = paddle.topk(probs, k)
    return index // num_classes, index % num_classes, best


def class_offset_nms(boxes, scores, labels, iou_threshold):
    """mmcv's batched_nms: greedy NMS with each class's boxes shifted by
    class x (max coordinate + 1), so boxes of different classes never overlap.

    boxes [K, 4], scores [K], labels [K] int -> kept indices [J], best score first.
    """
    offsets = labels.astype(boxes.dtype) * (boxes.max() + 1.0)
    return paddle.vision.ops.nms(boxes + offsets.unsqueeze(1), iou_threshold, scores)


@register
class LevelTopKPostProcess:
    """Decoding and NMS in mmdetection's order (its ``BaseDenseHead`` with FCOS's
    ``test_cfg``).

    Per image: on each level, the class probabilities sigmoid(cls) above
    ``score_threshold``, at most ``nms_pre`` (location, class) pairs, best first;
    their boxes decoded at the points, clipped to the resized image (``im_shape``),
    divided by ``scale_factor``; score = probability x sigmoid(quality); boxes no
    wider or taller than ``min_bbox_size`` dropped (-1: none dropped); class-aware
    NMS at ``nms_threshold``; the ``keep_top_k`` best.

    Args:
        score_threshold, nms_pre, nms_threshold, keep_top_k, min_bbox_size: as above
            (mmdetection: score_thr, nms_pre, nms.iou_threshold, max_per_img, min_bbox_size).
    """
    static_graph = False    # a Python loop over images and data-dependent sizes

    def __init__(self, score_threshold=0.05, nms_pre=1000, nms_threshold=0.5, keep_top_k=100,
                 min_bbox_size=0):
        self.score_threshold = score_threshold
        self.nms_pre = nms_pre
        self.nms_threshold = nms_threshold
        self.keep_top_k = keep_top_k
        self.min_bbox_size = min_bbox_size

    def __call__(self, points, outputs, distances, im_shape, scale_factor):
        """
        Args:
            points: per level [H_l*W_l, 2] (x, y) in input pixels.
            outputs: FCOSOutputs (cls_logits [N, C, H_l, W_l], quality [N, 1, H_l, W_l]).
            distances: per level [N, 4, H_l, W_l] (l, t, r, b) in input pixels.
            im_shape: [N, 2] resized (h, w) of each image before padding.
            scale_factor: [N, 2] (scale_y, scale_x) from the original to the resized image.
        Returns:
            bbox [K, 6] (class, score, x1, y1, x2, y2 in original pixels), best first per
            image, and bbox_num [N] int32.
        """
        results = [self._single(i, points, outputs, distances, im_shape[i], scale_factor[i])
                   for i in range(outputs.cls_logits[0].shape[0])]
        bbox = paddle.concat(results, axis=0)
        return bbox, paddle.to_tensor([len(r) for r in results], dtype="int32")

    def _single(self, i, points, outputs, distances, im_shape, scale_factor):
        """Detections [K, 6] of image i."""
        boxes, scores, labels = [], [], []
        for pts, cls, dist, qual in zip(points, outputs.cls_logits, distances, outputs.quality):
            loc, label, prob = _level_candidates(cls[i].flatten(1), self.score_threshold,
                                                 self.nms_pre)
            d = paddle.gather(dist[i].flatten(1).transpose([1, 0]), loc)       # [K, 4]
            p = paddle.gather(pts, loc)                                       # [K, 2]
            boxes.append(paddle.concat([p - d[:, :2], p + d[:, 2:]], axis=1))
            scores.append(prob * F.sigmoid(paddle.gather(qual[i].flatten(), loc)))
            labels.append(label)
        boxes, scores, labels = (paddle.concat(x) for x in (boxes, scores, labels))
        h, w = im_shape[0], im_shape[1]
        upper = paddle.stack([w, h, w, h]).astype(boxes.dtype)
        boxes = paddle.minimum(paddle.maximum(boxes, paddle.zeros_like(boxes)), upper)
        scale = paddle.stack([scale_factor[1], scale_factor[0]] * 2).astype(boxes.dtype)
        boxes = boxes / scale
        if self.min_bbox_size >= 0:
            size = paddle.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            valid = paddle.nonzero(size > self.min_bbox_size).flatten()
            boxes, scores, labels = (paddle.gather(x, valid) for x in (boxes, scores, labels))
        if boxes.shape[0] == 0:
            return paddle.zeros([0, 6], dtype="float32")
        keep = class_offset_nms(boxes, scores, labels, self.nms_threshold)
        if self.keep_top_k > 0:
            keep = keep[:self.keep_top_k]
        return paddle.concat([paddle.gather(labels, keep).astype("float32").unsqueeze(1),
                              paddle.gather(scores, keep).unsqueeze(1),
                              paddle.gather(boxes, keep)], axis=1)
