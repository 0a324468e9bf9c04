"""Box decoding and multiclass NMS on the host, in numpy, for exports whose graph stops
before them (``export: {nms: false}`` or ``{post_process: false}``).

An export has one of three forms (``export_form`` in infer_cfg.yml; ExportForm):

- ``full``: the graph decodes and runs NMS; outputs ``bbox`` [K, 6] and ``bbox_num`` [N].
- ``decoded``: the graph decodes; outputs ``boxes`` [N, M, 4] (x1, y1, x2, y2 in
  original-image pixels) and ``scores`` [N, C, M], float32, M = sum of H_l * W_l over the
  FPN levels: what the full graph's NMS takes. `multiclass_nms` does the rest.
- ``raw``: the head's outputs per FPN level, level by level: ``cls_logits_s{stride}``
  [N, C, H_l, W_l], ``distances_s{stride}`` [N, 4, H_l, W_l] (l, t, r, b from the point,
  in input pixels) and ``quality_s{stride}`` [N, 1, H_l, W_l] (logits), finest level
  first. `decode` then `multiclass_nms` do the rest.
- ``edge`` (ppfcos.export.edge): ``decoded``'s outputs for one letterboxed image
  [1, 3, H, W], boxes in the network input's pixels: `boxes_in_original_image` (clip to
  the resized image, divide by the scale) then `multiclass_nms` do the rest.

Both give the full export's detections: `decode` computes in float64 as the exported
graph does (ppfcos/export/graph.py), and `multiclass_nms` is Paddle's ``multiclass_nms3``
CPU kernel (candidates above ``score_threshold``, the ``nms_top_k`` best of each class by
a stable sort, greedy NMS with Paddle's IoU in float32, then the ``keep_top_k`` best of the
image), with the same exact preselection as ppfcos.modeling.post_process.MultiClassNMS.

    form = ExportForm.from_infer_cfg(infer_cfg, path)     # DeployError if malformed
    bbox, bbox_num = form.detections(outputs)             # outputs: the graph's, in order

Imports numpy only, so other tools (an edge-device runner) can use it alone.
"""
from dataclasses import asdict, dataclass, fields

import numpy as np

from .errors import DeployError

# The edge profile's form (ppfcos.export.edge): ``decoded``'s outputs, boxes in input pixels.
EDGE_FORM = "edge"
FORMS = ("full", "decoded", "raw", EDGE_FORM)
FULL_OUTPUTS = ("bbox", "bbox_num")
DECODED_OUTPUTS = ("boxes", "scores")
RAW_PARTS = ("cls_logits", "distances", "quality")

# Candidates per kept detection that the preselection first runs NMS on (see
# `multiclass_nms`; the exported graph's MultiClassNMS uses the same number).
PRESELECT_PER_KEPT = 10


@dataclass(frozen=True)
class NmsSettings:
    """multiclass_nms3's attributes (ppfcos.modeling.post_process.MultiClassNMS's args).
    nms_eta must be 1.0 on the host (adaptive NMS runs only in the full export's graph)."""
    score_threshold: float = 0.05
    nms_top_k: int = -1
    keep_top_k: int = 100
    nms_threshold: float = 0.5
    normalized: bool = True
    nms_eta: float = 1.0
    background_label: int = -1


@dataclass(frozen=True)
class Decoding:
    """What turns raw head outputs into boxes and scores: the FPN strides (finest first),
    the offset of a level's points in strides (FCOSHead's num_shift), and whether
    score = sqrt(cls * quality)."""
    fpn_stride: tuple
    point_offset: float = 0.5
    sqrt_score: bool = False


def raw_output_names(fpn_stride):
    """The raw form's output names, level by level: cls_logits_s8, distances_s8,
    quality_s8, cls_logits_s16, ..."""
    return tuple(f"{part}_s{stride}" for stride in fpn_stride for part in RAW_PARTS)


@dataclass(frozen=True)
class ExportForm:
    """Which outputs an export's graph has and what the host does with them.

    name: "full", "decoded", "raw" or "edge" (see the module docstring); outputs: the
    graph's output names in order; nms: the NMS settings (all but full); decoding: the
    Decoding (raw)."""
    name: str = "full"
    outputs: tuple = FULL_OUTPUTS
    nms: NmsSettings = None
    decoding: Decoding = None

    @classmethod
    def decoded(cls, nms):
        """The decoded form with NmsSettings ``nms``."""
        return cls("decoded", DECODED_OUTPUTS, nms)

    @classmethod
    def edge(cls, nms):
        return cls(EDGE_FORM, DECODED_OUTPUTS, nms)

    @property
    def images_per_run(self):
        """How many images one run of the graph takes: 1 for the edge form (its input is
        [1, 3, H, W]), None (any) for the others."""
        return 1 if self.name == EDGE_FORM else None

    @classmethod
    def raw(cls, nms, decoding):
        """The raw form with NmsSettings ``nms`` and Decoding ``decoding``."""
        return cls("raw", raw_output_names(decoding.fpn_stride), nms, decoding)

    def to_infer_cfg(self):
        """The infer_cfg.yml keys that record this form: export_form, outputs, and for the
        decoded and raw forms nms (and decoding)."""
        record = {"export_form": self.name, "outputs": list(self.outputs)}
        if self.nms is not None:
            record["nms"] = asdict(self.nms)
        if self.decoding is not None:
            record["decoding"] = {**asdict(self.decoding),
                                  "fpn_stride": list(self.decoding.fpn_stride)}
        return record

    @classmethod
    def from_infer_cfg(cls, cfg, path="infer_cfg.yml"):
        """The form an infer_cfg.yml mapping records (``full`` where it says none: older
        exports and PaddleDetection's); DeployError naming ``path`` if malformed."""
        name = cfg.get("export_form", "full")
        if name not in FORMS:
            raise DeployError(f"{path}: export_form must be one of {', '.join(FORMS)}, got "
                              f"{name!r}; export the model again with tools/export_model.py")
        if name == "full":
            return cls()
        nms = _settings(NmsSettings, cfg.get("nms"), path, "nms")
        if nms.nms_eta < 1.0:
            raise DeployError(f"{path}: nms_eta {nms.nms_eta} (adaptive NMS) runs only in a "
                              f"full export's graph; export with nms_eta: 1.0")
        if name == "raw":
            form = cls.raw(nms, _settings(Decoding, cfg.get("decoding"), path, "decoding"))
        else:
            form = cls.decoded(nms) if name == "decoded" else cls.edge(nms)
        if list(cfg.get("outputs") or []) != list(form.outputs):
            raise DeployError(f"{path}: a {name} export's outputs are {list(form.outputs)}, "
                              f"infer_cfg.yml says {cfg.get('outputs')!r}; export the model "
                              f"again with tools/export_model.py")
        return form

    def detections(self, outputs, scale_factor, im_shape=None):
        """The graph's outputs (arrays in ``self.outputs`` order) and the inputs'
        scale_factor [N, 2] (and im_shape [N, 2], which the edge form needs) -> (bbox
        [K, 6] float32 rows (class, score, x1, y1, x2, y2), bbox_num [N] int32), as the full
        graph gives."""
        outputs = list(outputs)
        if len(outputs) != len(self.outputs):
            raise DeployError(f"a {self.name} export has {len(self.outputs)} outputs "
                              f"({', '.join(self.outputs)}), the model gave {len(outputs)}")
        if self.name == "full":
            return tuple(outputs)
        if self.name == "decoded":
            boxes, scores = outputs
        elif self.name == EDGE_FORM:
            boxes, scores = outputs
            boxes = boxes_in_original_image(boxes, im_shape, scale_factor)
        else:
            levels = [outputs[i:i + len(RAW_PARTS)]
                      for i in range(0, len(outputs), len(RAW_PARTS))]
            boxes, scores = decode(*zip(*levels), scale_factor, self.decoding)
        return multiclass_nms(boxes, scores, self.nms)


def boxes_in_original_image(boxes, im_shape, scale_factor):
    """Boxes [N, M, 4] (x1, y1, x2, y2) in a letterboxed input's pixels -> in the original
    image's: clipped to the resized image (im_shape [N, 2], h then w; the padding beyond it
    is no image), then divided by scale_factor [N, 2] (scale_y, scale_x), float32."""
    boxes = np.asarray(boxes, np.float32)
    height, width = (np.asarray(im_shape, np.float32)[:, i, None] for i in (0, 1))
    scale_y, scale_x = (np.asarray(scale_factor, np.float32)[:, i, None] for i in (0, 1))
    return np.stack([np.clip(boxes[..., 0], 0, width) / scale_x,
                     np.clip(boxes[..., 1], 0, height) / scale_y,
                     np.clip(boxes[..., 2], 0, width) / scale_x,
                     np.clip(boxes[..., 3], 0, height) / scale_y], axis=-1)


def _settings(kind, values, path, key):
    """``kind`` (a dataclass) from infer_cfg's mapping ``values``; DeployError naming
    ``path`` and ``key`` when it is missing or has unknown or mistyped entries."""
    names = [f.name for f in fields(kind)]
    if not isinstance(values, dict) or set(values) - set(names):
        raise DeployError(f"{path}: {key} must be a mapping of {', '.join(names)}, got "
                          f"{values!r}; export the model again with tools/export_model.py")
    types = {f.name: f.type for f in fields(kind)}
    try:
        converted = {name: tuple(int(s) for s in value) if types[name] is tuple
                     else types[name](value) for name, value in values.items()}
        return kind(**converted)
    except (TypeError, ValueError):
        raise DeployError(f"{path}: {key} has a value of the wrong type: {values!r}; export "
                          f"the model again with tools/export_model.py") from None


def level_points(height, width, stride, offset):
    """[H*W, 2] float64 (x, y) in input pixels of a level's points, row-major (FCOSHead's
    points)."""
    xs = (np.arange(width, dtype=np.float64) + offset) * stride
    ys = (np.arange(height, dtype=np.float64) + offset) * stride
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1)


def sigmoid(x):
    """The logistic function of an array (float64 in, float64 out)."""
    return 1.0 / (1.0 + np.exp(-x))


def decode(cls_logits, distances, quality, scale_factor, decoding):
    """Per level cls_logits [N, C, H_l, W_l], distances [N, 4, H_l, W_l] (pixels), quality
    [N, 1, H_l, W_l] and scale_factor [N, 2] (scale_y, scale_x) -> boxes [N, M, 4] (x1, y1,
    x2, y2 in original-image pixels) and scores [N, C, M], float32, computed in float64
    (ppfcos.modeling.post_process.FCOSBox)."""
    boxes, scores = [], []
    sign = np.array([-1.0, -1.0, 1.0, 1.0]).reshape(1, 4, 1)
    for cls, dist, qual, stride in zip(cls_logits, distances, quality, decoding.fpn_stride):
        n, _, height, width = cls.shape
        score = (sigmoid(cls.reshape(n, -1, height * width).astype(np.float64))
                 * sigmoid(qual.reshape(n, 1, height * width).astype(np.float64)))
        scores.append(np.sqrt(score) if decoding.sqrt_score else score)
        corners = np.tile(level_points(height, width, stride, decoding.point_offset).T,
                          (2, 1))[None]                                        # [1, 4, HW]
        boxes.append(corners + sign * dist.reshape(n, 4, height * width).astype(np.float64))
    boxes = np.concatenate(boxes, axis=2).transpose(0, 2, 1)                   # [N, M, 4]
    scale_y, scale_x = np.split(np.asarray(scale_factor, np.float64), 2, axis=-1)
    scale = np.concatenate([scale_x, scale_y, scale_x, scale_y], axis=-1)[:, None]
    return (boxes / scale).astype(np.float32), np.concatenate(scores, axis=2).astype(np.float32)


def multiclass_nms(boxes, scores, nms):
    """boxes [N, M, 4] and scores [N, C, M] (float32) -> (bbox [K, 6] float32 rows (class,
    score, x1, y1, x2, y2), bbox_num [N] int32): Paddle's multiclass_nms3 with NmsSettings
    ``nms``. Within an image, rows are grouped by class, best score first."""
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    rows = [_image_nms(image_boxes, image_scores, nms)
            for image_boxes, image_scores in zip(boxes, scores)]
    bbox = np.concatenate(rows) if rows else np.zeros((0, 6), np.float32)
    return bbox, np.array([len(r) for r in rows], np.int32)


def _image_nms(boxes, scores, nms):
    """One image's boxes [M, 4] and scores [C, M] -> rows [k, 6].

    The exact preselection of MultiClassNMS: a candidate's fate depends only on the
    higher-scored candidates of its class, so NMS over the best PRESELECT_PER_KEPT *
    keep_top_k scores (ties included) keeps the same boxes whenever it yields keep_top_k
    of them; where it yields fewer while leaving candidates out, NMS runs over all."""
    flat = scores.ravel()
    count = min(flat.size, nms.keep_top_k * PRESELECT_PER_KEPT)
    if nms.keep_top_k < 1 or nms.background_label >= 0 or count == 0:
        return _select(boxes, scores, nms, floor=None)
    kth_best = np.partition(flat, flat.size - count)[flat.size - count]
    rows = _select(boxes, scores, nms, floor=kth_best)
    if len(rows) < nms.keep_top_k and np.count_nonzero(flat > nms.score_threshold) > count:
        rows = _select(boxes, scores, nms, floor=None)
    return rows


def _select(boxes, scores, nms, floor):
    """Per-class NMS over the candidates above score_threshold (and at least ``floor``),
    then the keep_top_k best -> rows [k, 6] grouped by class, best first."""
    threshold = np.float32(nms.score_threshold)
    labels, picked = [], []
    for label, class_scores in enumerate(scores):
        if label == nms.background_label:
            continue
        mask = class_scores > threshold
        if floor is not None:
            mask &= class_scores >= floor
        candidates = np.flatnonzero(mask)
        candidates = candidates[np.argsort(-class_scores[candidates], kind="stable")]
        if nms.nms_top_k > -1:
            candidates = candidates[:nms.nms_top_k]
        kept = candidates[greedy_nms(boxes[candidates], nms.nms_threshold, nms.normalized)]
        labels.append(np.full(len(kept), label))
        picked.append(kept)
    label = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    index = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    score = scores[label, index]
    if -1 < nms.keep_top_k < len(index):
        best = np.argsort(-score, kind="stable")[:nms.keep_top_k]       # ties: class, then order
        order = best[np.lexsort((np.arange(len(best)), label[best]))]    # regrouped by class
        label, index, score = label[order], index[order], score[order]
    return np.concatenate([label[:, None].astype(np.float32), score[:, None], boxes[index]],
                          axis=1)


def greedy_nms(boxes, iou_threshold, normalized=True):
    """Indices of the kept rows of ``boxes`` [n, 4] float32, sorted best first: each box
    is kept unless its IoU with a kept box is above ``iou_threshold`` (or NaN: two
    touching zero-area boxes, which Paddle's kernel suppresses too)."""
    x1, y1, x2, y2 = boxes.T
    area = box_area(boxes, normalized)
    pixel = np.float32(0 if normalized else 1)
    threshold = np.float32(iou_threshold)
    remaining = np.arange(len(boxes))
    kept = []
    with np.errstate(invalid="ignore", divide="ignore"):
        while remaining.size:
            best, remaining = remaining[0], remaining[1:]
            kept.append(best)
            # Paddle's JaccardOverlap of each remaining box with the kept one, in float32
            apart = ((x1[best] > x2[remaining]) | (x2[best] < x1[remaining])
                     | (y1[best] > y2[remaining]) | (y2[best] < y1[remaining]))
            inter = ((np.minimum(x2[remaining], x2[best]) - np.maximum(x1[remaining], x1[best])
                      + pixel)
                     * (np.minimum(y2[remaining], y2[best]) - np.maximum(y1[remaining], y1[best])
                        + pixel))
            overlap = inter / (area[remaining] + area[best] - inter)
            remaining = remaining[apart | (overlap <= threshold)]
    return np.array(kept, np.int64)


def box_area(boxes, normalized):
    """[n] float32 areas of ``boxes`` [n, 4] as Paddle's kernel computes them: 0 for an
    inverted box; one pixel added to each side when not ``normalized``."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if not normalized:
        width, height = width + np.float32(1), height + np.float32(1)
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    return np.where(inverted, np.float32(0), width * height)
