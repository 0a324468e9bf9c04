"""FCOS training targets (``Gt2FCOSTarget``), vectorized with numpy.

For every FPN level l (stride s) and every location (i, j) of the padded
image, at x = s * (j + num_shift), y = s * (i + num_shift), it assigns:

- ``labels{l}`` [H_l, W_l, 1] int32: 0 for background, else gt_class + 1 of
  the assigned box;
- ``reg_target{l}`` [H_l, W_l, 4] float32: (l, t, r, b) distances from the
  location to the assigned box's sides, divided by s when
  ``norm_reg_targets`` (and not ``multiply_strides_reg_targets``);
- ``centerness{l}`` [H_l, W_l, 1] float32:
  sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)), 0 for background.

A box is a candidate for a location when the location is strictly inside the
box shrunk around its centre to +-center_sampling_radius * s (clipped to the
box; the box itself when the radius is 0), and the largest of (l, t, r, b) is
strictly inside the level's size range (-1, b_0), (b_0, b_1), ..., (b_k, inf)
from ``object_sizes_boundary`` (inside or on its ends with ``size_ranges_closed``,
as mmdetection tests it). Among candidates the smallest area wins;
equal areas go to the box listed first. These are PaddleDetection's rules,
and background locations carry the regression target of the first box, as in
PaddleDetection (the loss ignores them).

Beyond PaddleDetection: crowd boxes (``is_crowd == 1``) never become
positives, and an image without (non-crowd) boxes gets all-background,
all-zero targets. ``gt_score`` (Mixup's per-box weight) is not read: a mixed box
is assigned as a full positive, as PaddleDetection's FCOS target does.

The computation uses that the per-box conditions factor into a column part
(x, [W_l, n]) and a row part (y, [H_l, n]): only boolean arrays are broadcast
to [H_l, W_l, n], and the distances are gathered for the winning box only.
"""
import numpy as np

from ppfcos.core.registry import register

__all__ = ["Gt2FCOSTarget"]


def _box_areas(boxes):
    """Areas [n] float32 of x1, y1, x2, y2 boxes [n, 4] (float32 arithmetic)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _axis_terms(coords, lo_edge, hi_edge, inner_lo, inner_hi, size_lo, size_hi, closed):
    """Per-axis factors of the assignment test, for locations ``coords`` [m] and n boxes.

    Args:
        coords: [m] float32 location coordinates along one axis.
        lo_edge, hi_edge: [n] box edges along the axis (x1, x2 or y1, y2).
        inner_lo, inner_hi: [n] edges of the centre-sampling region.
        size_lo, size_hi: the level's size range.
        closed: the range includes its ends (else it is open).

    Returns:
        (near [m, n] distance to lo_edge, far [m, n] distance to hi_edge,
        ok [m, n]: inside the sampling region and both distances < size_hi (<= if closed),
        big [m, n]: one of the distances > size_lo (>= if closed)).
    """
    c = coords[:, None]
    near = c - lo_edge
    far = hi_edge - c
    longest = np.maximum(near, far)
    below, above = (np.less_equal, np.greater_equal) if closed else (np.less, np.greater)
    return (near, far, (c > inner_lo) & (c < inner_hi) & below(longest, size_hi),
            above(longest, size_lo))


def _centerness(reg):
    """sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) for reg [k, 4] (l, t, r, b)."""
    lr, tb = reg[:, 0::2], reg[:, 1::2]
    ratio_x = lr.min(axis=1) / lr.max(axis=1)
    ratio_y = tb.min(axis=1) / tb.max(axis=1)
    return np.sqrt(ratio_x * ratio_y)


@register
class Gt2FCOSTarget:
    """Batch op: write FCOS targets ``labels{l}``, ``reg_target{l}``, ``centerness{l}``.

    Args:
        object_sizes_boundary (list of float): k boundaries between the k + 1
            levels' size ranges (e.g. [64, 128, 256, 512]).
        center_sampling_radius (float): half-size, in strides, of the region
            around a box centre whose locations may be positive (0: the box).
        downsample_ratios (list of int): the levels' strides (e.g. [8, ..., 128]).
        num_shift (float): location offset inside a cell, in strides.
        multiply_strides_reg_targets (bool): the head multiplies its outputs
            by the stride, so targets stay in pixels even with norm_reg_targets.
        norm_reg_targets (bool): divide the regression targets by the stride.
        size_ranges_closed (bool): a box whose largest distance equals a boundary
            belongs to both levels it separates (mmdetection); else to neither
            (PaddleDetection).

    Each sample needs a CHW ``image`` (its padded H, W set the grids),
    ``gt_bbox`` [n, 4] pixels and ``gt_class`` [n, 1] (0-based); ``is_crowd``
    [n, 1] is optional. No key is removed. For each level ``l`` of stride s_l it adds
    ``labels{l}`` [H / s_l, W / s_l, 1] int32 (0: background, else class + 1),
    ``reg_target{l}`` [H / s_l, W / s_l, 4] float32 (l, t, r, b distances; in strides
    when ``distances_in_strides``) and ``centerness{l}`` [H / s_l, W / s_l, 1] float32.
    Training refuses a config whose FCOSHead predicts other strides or units
    (``engine.preflight.check_targets_match_head``).
    """

    def __init__(self, object_sizes_boundary, center_sampling_radius, downsample_ratios,
                 num_shift=0.5, multiply_strides_reg_targets=False, norm_reg_targets=False,
                 size_ranges_closed=False):
        bounds = [-1.0] + [float(b) for b in object_sizes_boundary] + [np.inf]
        if len(bounds) - 1 != len(downsample_ratios):
            raise ValueError("Gt2FCOSTarget: object_sizes_boundary needs one boundary "
                             "fewer than downsample_ratios has levels")
        self.object_sizes_boundary = list(object_sizes_boundary)
        self.center_sampling_radius = center_sampling_radius
        self.downsample_ratios = list(downsample_ratios)
        self.num_shift = num_shift
        self.multiply_strides_reg_targets = multiply_strides_reg_targets
        self.norm_reg_targets = norm_reg_targets
        self.size_ranges_closed = size_ranges_closed
        self.size_ranges = list(zip(bounds[:-1], bounds[1:]))

    @property
    def distances_in_strides(self):
        """True when ``reg_target`` is divided by the level's stride (as FCOSHead's
        property of the same name says its ``bbox_reg`` is)."""
        return self.norm_reg_targets and not self.multiply_strides_reg_targets

    def __repr__(self):
        return (f"Gt2FCOSTarget(object_sizes_boundary={self.object_sizes_boundary}, "
                f"center_sampling_radius={self.center_sampling_radius}, "
                f"downsample_ratios={self.downsample_ratios}, num_shift={self.num_shift}, "
                f"multiply_strides_reg_targets={self.multiply_strides_reg_targets}, "
                f"norm_reg_targets={self.norm_reg_targets}, "
                f"size_ranges_closed={self.size_ranges_closed})")

    def __call__(self, samples):
        """Add the targets to each sample dict of the list ``samples``; return the list."""
        for sample in samples:
            h, w = sample["image"].shape[1:3]
            sample.update(self.targets(h, w, sample["gt_bbox"], sample["gt_class"],
                                       sample.get("is_crowd")))
        return samples

    def targets(self, h, w, gt_bbox, gt_class, is_crowd=None):
        """Targets for one image of padded size h x w.

        Args:
            gt_bbox: [n, 4] x1, y1, x2, y2 pixels.
            gt_class: [n] or [n, 1] 0-based classes.
            is_crowd: optional [n] or [n, 1]; boxes with 1 are ignored.

        Returns:
            dict with ``labels{l}`` [H_l, W_l, 1] int32, ``reg_target{l}``
            [H_l, W_l, 4] float32 and ``centerness{l}`` [H_l, W_l, 1] float32,
            where H_l = ceil(h / s_l), W_l = ceil(w / s_l).
        """
        boxes = np.asarray(gt_bbox, dtype=np.float32).reshape(-1, 4)
        classes = np.asarray(gt_class, dtype=np.int32).reshape(-1)
        if is_crowd is not None:
            keep = np.asarray(is_crowd).reshape(-1) != 1
            boxes, classes = boxes[keep], classes[keep]
        # Stable sort by area: the first candidate along the box axis is then
        # the smallest box, equal areas in their original order.
        order = np.argsort(_box_areas(boxes), kind="stable")
        first_box = int(np.flatnonzero(order == 0)[0]) if len(order) else 0
        out = {}
        for lvl, (stride, size_range) in enumerate(zip(self.downsample_ratios, self.size_ranges)):
            labels, reg, ctn = self._level(h, w, stride, size_range, boxes[order],
                                           classes[order], first_box)
            if self.distances_in_strides:
                reg = reg / stride
            out[f"labels{lvl}"] = labels
            out[f"reg_target{lvl}"] = reg
            out[f"centerness{lvl}"] = ctn
        return out

    def _level(self, h, w, stride, size_range, boxes, classes, first_box):
        """Targets of one level for boxes [n, 4] sorted by area.

        Returns labels [H, W, 1] int32, pixel reg targets [H, W, 4] float32 and
        centerness [H, W, 1] float32; background locations take box ``first_box``'s
        distances (sorted index of the first box in the caller's order).
        """
        shift = np.float32(stride * self.num_shift)
        xs = np.arange(0, w, stride, dtype=np.float32) + shift
        ys = np.arange(0, h, stride, dtype=np.float32) + shift
        grid = (len(ys), len(xs))
        if len(boxes) == 0:
            return (np.zeros(grid + (1,), np.int32), np.zeros(grid + (4,), np.float32),
                    np.zeros(grid + (1,), np.float32))
        x1, y1, x2, y2 = boxes.T
        inner = self._sampling_region(boxes, stride)
        closed = self.size_ranges_closed
        left, right, col_ok, col_big = _axis_terms(xs, x1, x2, inner[0], inner[2], *size_range,
                                                   closed)
        top, bottom, row_ok, row_big = _axis_terms(ys, y1, y2, inner[1], inner[3], *size_range,
                                                   closed)
        # [H, W, n]: inside the region, within the level's size range.
        cand = row_ok[:, None, :] & col_ok[None, :, :]
        cand &= row_big[:, None, :] | col_big[None, :, :]
        positive = cand.any(axis=2)
        best = np.where(positive, cand.argmax(axis=2), first_box)
        cols = np.arange(grid[1])[None, :]
        rows = np.arange(grid[0])[:, None]
        reg = np.stack([left[cols, best], top[rows, best], right[cols, best],
                        bottom[rows, best]], axis=-1)
        labels = np.where(positive, classes[best] + 1, 0).astype(np.int32)
        ctn = np.zeros(grid, np.float32)
        ctn[positive] = _centerness(reg[positive])
        return labels[..., None], reg, ctn[..., None]

    def _sampling_region(self, boxes, stride):
        """Edges (x1, y1, x2, y2), each [n], of the boxes' centre-sampling regions."""
        if self.center_sampling_radius <= 0:
            return boxes.T
        x1, y1, x2, y2 = boxes.T
        radius = np.float32(self.center_sampling_radius * stride)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        return (np.maximum(x1, cx - radius), np.maximum(y1, cy - radius),
                np.minimum(x2, cx + radius), np.minimum(y2, cy + radius))
