"""FCOS losses: sigmoid focal loss for classes, IoU-family loss for boxes, and BCE for
the quality branch (centerness, or the IoU of the predicted box).

Numbers match PaddleDetection's FCOSLoss (including its +1 smoothing of the IoU), or
with ``iou_smooth: 0`` mmdetection's FCOS losses (IoU = overlap / union), with two
differences from PaddleDetection that only matter where it breaks:
- normalizers are clamped, so a batch with no positive location gives finite
  losses and gradients (PaddleDetection divides by zero there);
- in distributed training the normalizers (positive count, centerness sum) can be
  averaged across ranks, so every rank's gradient equals the single-process one.
"""
import paddle
import paddle.distributed as dist
import paddle.nn as nn
import paddle.nn.functional as F

from ...compat import sum_all
from ...core.messages import excerpt
from ...core.registry import register

IOU_LOSS_TYPES = ("iou", "linear_iou", "giou")
QUALITY_TYPES = ("centerness", "iou")


def _flatten_levels(maps, channels_first):
    """Per-level maps -> one [sum_l N*H_l*W_l, C] tensor in (level, image, y, x) order."""
    rows = []
    for m in maps:
        if channels_first:
            m = m.transpose([0, 2, 3, 1])
        rows.append(m.reshape([-1, m.shape[-1]]))
    return paddle.concat(rows, axis=0)


def _flat_targets(targets, name, num_levels):
    """``targets['{name}0']``, ... (numpy or tensors, [N, H_l, W_l, C]) -> [M, C] tensor."""
    levels = [targets[f"{name}{l}"] for l in range(num_levels)]
    return _flatten_levels([t if isinstance(t, paddle.Tensor) else paddle.to_tensor(t)
                            for t in levels], False)


# mmdetection's floor of the union (and of the IoU for -log IoU) when not smoothing.
IOU_EPS = 1e-6


def iou_terms(pred, target, smooth=1.0):
    """Overlap terms of (l, t, r, b) distance boxes [P, 4] sharing their points.

    Returns (IoU, union area, enclosing area), each [P]; the IoU is
    (inter + smooth) / (union + smooth) (PaddleDetection: smooth = 1), or with
    ``smooth`` 0, inter / max(union, IOU_EPS) (mmdetection).
    """
    pl, pt, pr, pb = pred.unbind(axis=1)
    tl, tt, tr, tb = target.unbind(axis=1)
    area_pred = (pl + pr) * (pt + pb)
    area_target = (tl + tr) * (tt + tb)
    inter = ((paddle.minimum(pl, tl) + paddle.minimum(pr, tr))
             * (paddle.minimum(pt, tt) + paddle.minimum(pb, tb)))
    union = area_pred + area_target - inter
    enclosing = ((paddle.maximum(pl, tl) + paddle.maximum(pr, tr))
                 * (paddle.maximum(pt, tt) + paddle.maximum(pb, tb)))
    if smooth > 0:
        return (inter + smooth) / (union + smooth), union, enclosing
    union = paddle.clip(union, min=IOU_EPS)
    return inter / union, union, enclosing


def _mean_across_ranks(value):
    value = value.clone()
    dist.all_reduce(value)
    return value / dist.get_world_size()


@register
class FCOSLoss(nn.Layer):
    """The three FCOS losses of a batch: FCOSOutputs of the head against Gt2FCOSTarget's
    per-level targets (see `FCOSLoss.forward` for the shapes).

    Args:
        loss_alpha: focal loss weight of the positives.
        loss_gamma: focal loss focusing exponent.
        iou_loss_type: 'iou' (-log IoU), 'linear_iou' (1 - IoU) or 'giou' (1 - GIoU).
        reg_weights: weight of the box loss.
        quality: 'centerness' (target: centerness; box loss weighted by it) or 'iou'
            (target: IoU of the predicted box; unweighted box loss).
        average_normalizer_across_ranks: average the normalizers over all ranks;
            None means on whenever the world size is above 1.
        iou_smooth: IoU = (inter + iou_smooth) / (union + iou_smooth); 0 gives
            mmdetection's unsmoothed IoU (see iou_terms).
    """

    def __init__(self, loss_alpha=0.25, loss_gamma=2.0, iou_loss_type="giou", reg_weights=1.0,
                 quality="centerness", average_normalizer_across_ranks=None, iou_smooth=1.0):
        super().__init__()
        if iou_loss_type.lower() not in IOU_LOSS_TYPES:
            raise ValueError(f"iou_loss_type must be one of {IOU_LOSS_TYPES}, "
                             f"got {excerpt(iou_loss_type)}")
        if quality not in QUALITY_TYPES:
            raise ValueError(f"quality must be one of {QUALITY_TYPES}, got {excerpt(quality)}")
        self.loss_alpha = loss_alpha
        self.loss_gamma = loss_gamma
        self.iou_loss_type = iou_loss_type.lower()
        self.reg_weights = reg_weights
        self.quality = quality
        self.average_normalizer_across_ranks = average_normalizer_across_ranks
        self.iou_smooth = iou_smooth

    def _normalizer(self, value, floor):
        average = self.average_normalizer_across_ranks
        if average is None:
            average = dist.is_initialized() and dist.get_world_size() > 1
        if average:
            value = _mean_across_ranks(value)
        return paddle.clip(value, min=floor)

    def _box_loss(self, iou, union, enclosing):
        if self.iou_loss_type == "linear_iou":
            return 1.0 - iou
        if self.iou_loss_type == "iou":
            return -paddle.log(iou if self.iou_smooth > 0 else paddle.clip(iou, min=IOU_EPS))
        enclosing = enclosing + 1e-7
        return 1.0 - (iou - (enclosing - union) / enclosing)

    def forward(self, outputs, targets):
        """Losses of one batch.

        Args:
            outputs: FCOSOutputs of the head (cls_logits, bbox_reg, quality per level).
            targets: dict with, per level l, ``labels{l}`` [N, H_l, W_l, 1] int (0 =
                background, class + 1 otherwise), ``reg_target{l}`` [N, H_l, W_l, 4] and
                ``centerness{l}`` [N, H_l, W_l, 1] (Gt2FCOSTarget's outputs).
        Returns:
            dict of scalars ``loss_cls``, ``loss_box``, ``loss_quality``.
        """
        num_levels = len(outputs.cls_logits)
        keys = [f"{name}{l}" for l in range(num_levels)
                for name in ("labels", "reg_target", "centerness")]
        missing = [k for k in keys if k not in targets]
        if missing:
            raise KeyError(f"training inputs lack {', '.join(missing)}: the TrainReader's "
                           f"batch_transforms need Gt2FCOSTarget with one downsample ratio per "
                           f"head level ({num_levels})")
        cls_logits = _flatten_levels(outputs.cls_logits, True)     # [M, C]
        bbox_reg = _flatten_levels(outputs.bbox_reg, True)         # [M, 4]
        quality = _flatten_levels(outputs.quality, True)           # [M, 1]
        labels = _flat_targets(targets, "labels", num_levels).reshape([-1])          # [M]
        reg_target = _flat_targets(targets, "reg_target", num_levels)                # [M, 4]
        centerness = _flat_targets(targets, "centerness", num_levels).reshape([-1])  # [M]

        num_classes = cls_logits.shape[-1]
        one_hot = F.one_hot(labels.astype("int64"), num_classes + 1)[:, 1:]
        positive = paddle.nonzero(labels > 0).reshape([-1])       # [P]
        num_positive = self._normalizer(
            paddle.to_tensor(positive.shape[0], dtype="float32"), 1.0)
        loss_cls = F.sigmoid_focal_loss(cls_logits, one_hot, alpha=self.loss_alpha,
                                        gamma=self.loss_gamma, reduction="sum") / num_positive

        pred = paddle.gather(bbox_reg, positive)                   # [P, 4]
        target = paddle.gather(reg_target, positive)
        iou, union, enclosing = iou_terms(pred, target, self.iou_smooth)
        box_loss = self._box_loss(iou, union, enclosing)
        quality_logit = paddle.gather(quality.reshape([-1]), positive)
        if self.quality == "centerness":
            target_ctr = paddle.gather(centerness, positive)
            loss_box = sum_all(box_loss * target_ctr) / self._normalizer(sum_all(target_ctr), 1e-6)
            quality_target = target_ctr
        else:
            loss_box = sum_all(box_loss) / num_positive
            quality_target = iou.detach()
        loss_quality = sum_all(F.binary_cross_entropy_with_logits(
            quality_logit, quality_target, reduction="none")) / num_positive
        return {"loss_cls": loss_cls, "loss_box": loss_box * self.reg_weights,
                "loss_quality": loss_quality}
