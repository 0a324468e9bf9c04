"""SSODFCOSLoss: DenseTeacher's unlabelled loss, the student's dense outputs against the
teacher's (PaddleDetection's ``ppdet/modeling/ssod/losses.py``, reproduced to the fixture
``ssod_loss.npz``).

Rows: every location of every level, flattened level-major (level 0 of image 0, of image 1,
..., then level 1; each level in (image, y, x) order), R rows in all.

1. Region selection (no gradient): ``p = sigmoid(teacher logits)`` [R, C], its per-row max;
   the ``k = int(R * ratio)`` rows with the largest max are the pseudo-positives (``mask``).
   ``fg_sum`` is the sum of their max probabilities.
2. ``distill_loss_cls``: QFLv2 over all rows, ``BCE(s, p) * |p - s|^2`` on the selected rows
   and ``BCE(s, 0) * s^2`` elsewhere (``s = sigmoid(student logits)``), summed, divided by
   ``fg_sum``.
3. ``distill_loss_box``: mean GIoU loss of the boxes (-l, -t, r, b) on the selected rows.
4. ``distill_loss_quality``: mean BCE of sigmoid(student quality) against sigmoid(teacher
   quality) on the selected rows.

Where ppfcos differs (only where PaddleDetection's numbers are not finite or explode):
``k`` is at least 1 (with ``int(R * ratio) == 0`` PaddleDetection divides 0 by 0 and takes
the mean of nothing: NaN), and the cls sum is divided by ``max(fg_sum, 1)`` (an unconfident
teacher, max probabilities near 0.01, made PaddleDetection's cls loss reach thousands). When
``fg_sum >= 1`` and ``int(R * ratio) >= 1`` the two agree.
"""
import paddle
import paddle.nn.functional as F

from .fcos_loss import _flatten_levels

# Floors: the cls normaliser (see the module docstring) and GIoU's areas (PaddleDetection's eps).
MIN_FG_SUM = 1.0
GIOU_EPS = 1e-10


def select_pseudo_positives(teacher_probs, ratio):
    """[R, C] probabilities -> (mask [R] float32, 1 on the selected rows; fg_sum, 0-d)."""
    max_probs = teacher_probs.max(axis=1)
    count = max(int(teacher_probs.shape[0] * ratio), 1)
    top_values, top_rows = paddle.topk(max_probs, count)
    mask = paddle.scatter(paddle.zeros_like(max_probs), top_rows, paddle.ones_like(top_values))
    return mask, top_values.sum()


def quality_focal_loss_v2(student_probs, teacher_probs, mask, beta=2.0):
    """QFLv2 summed over all rows ([R, C] probabilities, ``mask`` [R]; see the module
    docstring)."""
    negative = F.binary_cross_entropy(student_probs, paddle.zeros_like(student_probs),
                                      reduction="none") * student_probs.pow(beta)
    positive = (F.binary_cross_entropy(student_probs, teacher_probs, reduction="none")
                * (teacher_probs - student_probs).abs().pow(beta))
    selected = mask.unsqueeze(1).expand_as(student_probs) > 0
    return paddle.where(selected, positive, negative).sum()


def giou_loss_of_distances(pred, target):
    """Mean ``1 - GIoU`` of [P, 4] (l, t, r, b) distance boxes sharing their points."""
    inter = ((paddle.minimum(pred[:, 0], target[:, 0]) + paddle.minimum(pred[:, 2], target[:, 2]))
             * (paddle.minimum(pred[:, 1], target[:, 1])
                + paddle.minimum(pred[:, 3], target[:, 3])))
    area_pred = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    area_target = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    union = area_pred + area_target - inter + GIOU_EPS
    enclosing = ((paddle.maximum(pred[:, 0], target[:, 0])
                  + paddle.maximum(pred[:, 2], target[:, 2]))
                 * (paddle.maximum(pred[:, 1], target[:, 1])
                    + paddle.maximum(pred[:, 3], target[:, 3]))) + GIOU_EPS
    giou = inter / union - (enclosing - union) / enclosing
    return (1.0 - giou).mean()


def ssod_fcos_loss(student, teacher, ratio=0.01):
    """DenseTeacher's unlabelled losses.

    Args:
        student, teacher: (cls_logits, distances, quality), each a list over levels of
            [N, C, H_l, W_l], [N, 4, H_l, W_l] (l, t, r, b in pixels) and [N, 1, H_l, W_l]
            quality logits; the teacher's carry no gradient.
        ratio: the fraction of rows taken as pseudo-positives.
    Returns:
        {distill_loss_cls, distill_loss_box, distill_loss_quality, fg_sum} (0-d tensors,
        unweighted) and the mask [R] (float32, 1 on the selected rows).
    """
    s_logits, s_deltas, s_quality = (_flatten_levels(part, True) for part in student)
    t_logits, t_deltas, t_quality = (_flatten_levels(part, True).detach() for part in teacher)
    teacher_probs = F.sigmoid(t_logits)
    mask, fg_sum = select_pseudo_positives(teacher_probs, ratio)
    rows = paddle.nonzero(mask).flatten()
    loss_cls = (quality_focal_loss_v2(F.sigmoid(s_logits), teacher_probs, mask)
                / paddle.clip(fg_sum, min=MIN_FG_SUM))
    loss_box = giou_loss_of_distances(s_deltas.gather(rows), t_deltas.gather(rows))
    loss_quality = F.binary_cross_entropy(F.sigmoid(s_quality.gather(rows)),
                                          F.sigmoid(t_quality.gather(rows)))
    return {"distill_loss_cls": loss_cls, "distill_loss_box": loss_box,
            "distill_loss_quality": loss_quality, "fg_sum": fg_sum}, mask
