"""Paddle's ``multiclass_nms3`` written in ONNX operators, batched, for ONNX runtimes.

paddle2onnx maps ``multiclass_nms3`` to a graph that handles one image only (it
flattens the scores as if the batch were 1), lets ``nms_top_k`` cap the boxes
each class *keeps* instead of the candidates that *enter* NMS, and orders rows by
score instead of by class. `append_nms` builds the operation instead, for
any batch size, with Paddle's results:

1. candidates: per image and class, the ``nms_top_k`` best scores above
   ``score_threshold`` (ties: lower box index first, as Paddle's stable sort), and
   each candidate's rank in that order;
2. the exact preselection of ``ppfcos.modeling.post_process.MultiClassNMS``: NMS
   over the ``PRESELECT_PER_KEPT * keep_top_k`` best candidates of each image,
   and again over all of them where that gave fewer than ``keep_top_k``
   detections while leaving candidates out;
3. greedy NMS (`PaddleNMS`): ONNX ``NonMaxSuppression`` fed each
   candidate's rank instead of its score, so equal scores are taken in Paddle's
   order whatever order an ONNX runtime gives them (the ONNX spec sets none; ONNX
   Runtime's CPU kernel uses a heap), plus Paddle's handling of zero-area boxes;
4. per image the ``keep_top_k`` best detections (ties: lower class, then box,
   first), rows grouped by image, then class ascending, score descending.

No result depends on how a runtime orders equal values. The ONNX spec has ``TopK``
put the lower index first among equal values, but OpenVINO's CPU plugin does not
(2026.4: any order), so ``TopK`` here either serves only for its values (which
ties cannot change) or sorts keys that are all distinct: a candidate's rank
within its image and class, combined with the image and class. OpenVINO's CPU
plugin also computes int64 tensors in int32: the integers here stay far below 2^31
(the largest, nms_top_k x points, is 2 x 10^7 at 800x1216 with nms_top_k 1000).
"""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..modeling.post_process import PRESELECT_PER_KEPT

# The graph needs opset 13 or later: the operators keep the signatures used here from
# 13 on (ReduceSum takes its axes as an input from 13, Min takes integers from 12).


class GraphBuilder:
    """Appends nodes with unique names to an ONNX graph; ``op`` returns output names."""

    def __init__(self, graph, prefix):
        self.graph = graph
        self.prefix = prefix
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{self.prefix}.{hint}.{self.count}"

    def op(self, op_type, inputs, outputs=1, **attrs):
        names = [self.name(op_type) for _ in range(outputs)]
        self.graph.node.append(helper.make_node(op_type, list(inputs), names,
                                                name=self.name(op_type + "_node"), **attrs))
        return names[0] if outputs == 1 else names

    def const(self, value, dtype):
        name = self.name("const")
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def int64(self, *values):
        """An int64 [len(values)] tensor (a shape, axes, indices)."""
        return self.const(list(values), np.int64)

    def scalar(self, value):
        """An int64 0-d tensor (Range and CumSum take those)."""
        return self.const(value, np.int64)

    def float(self, value):
        return self.const([value], np.float32)

    def dim(self, tensor, axis):
        """The size of ``tensor`` along ``axis`` as an int64 [1] tensor."""
        shape = self.op("Shape", [tensor])
        return self.op("Slice", [shape, self.int64(axis), self.int64(axis + 1)])

    def arange(self, size):
        """0, 1, ..., size - 1 (int64) for an int64 [1] ``size``."""
        return self.op("Range", [self.scalar(0), self.op("Reshape", [size, self.int64()]),
                                 self.scalar(1)])

    def gather(self, data, indices, axis=0):
        return self.op("Gather", [data, indices], axis=axis)

    def column(self, matrix, index):
        """Column ``index`` of a [S, K] tensor as [S]."""
        return self.op("Reshape", [self.gather(matrix, self.int64(index), axis=1),
                                   self.int64(-1)])

    def order_of_distinct(self, key, axis=0, largest=False):
        """Indices sorting the int64 ``key`` along ``axis``, whose values along that axis
        are all distinct: no tie, so every runtime gives the same order."""
        return self.op("TopK", [key, self.dim(key, axis)], outputs=2, axis=axis,
                       largest=int(largest), sorted=1)[1]

    def mask(self, condition, value, fill):
        """``value`` where ``condition``, else the float constant ``fill``."""
        return self.op("Where", [condition, value, self.float(fill)])

    def kth_largest(self, values, k, axis):
        """The ``k``-th largest of ``values`` along ``axis`` (k an int64 [1] tensor), that
        axis kept with size 1. The slice ends at int32's maximum, which every runtime
        reads as "to the end"."""
        largest = self.op("TopK", [values, k], outputs=2, axis=axis, largest=1, sorted=1)[0]
        return self.op("Slice", [largest, self.int64(-1), self.int64(np.iinfo(np.int32).max),
                                 self.int64(axis)])

    def count_true(self, condition, axes, keepdims=0):
        """How many of the bool ``condition`` are true over ``axes`` (int64)."""
        return self.op("ReduceSum", [self.op("Cast", [condition], to=TensorProto.INT64),
                                     self.int64(*axes)], keepdims=keepdims)


def append_nms(model, boxes, scores, params, outputs=("bbox", "bbox_num")):
    """Add multiclass_nms3 over ``boxes`` [N, M, 4] and ``scores`` [N, C, M] (names of
    float tensors in ``model``'s graph) as the graph's outputs ``bbox`` [K, 6] float32
    (class, score, x1, y1, x2, y2) and ``bbox_num`` [N] int32.

    ``params``: multiclass_nms3's attributes (score_threshold, nms_top_k, keep_top_k,
    nms_threshold, normalized, nms_eta, background_label); nms_eta must be 1.
    """
    if params["nms_eta"] < 1.0:
        raise ValueError(f"adaptive NMS (nms_eta={params['nms_eta']}) has no ONNX equivalent")
    g = GraphBuilder(model.graph, "nms")
    keep_top_k = int(params["keep_top_k"])
    candidates, rank = _candidates(g, scores, params)
    nms = PaddleNMS(g, boxes, rank, params["nms_threshold"], params["normalized"])
    if keep_top_k > 0:
        selected = _preselected_nms(g, nms, scores, candidates, keep_top_k)
    else:
        selected = nms(candidates)                                  # [S, 3] (image, class, box)
    image, label, box = (g.column(selected, i) for i in range(3))
    score = g.op("GatherND", [scores, selected])                    # [S]
    order = _paddle_order(g, image, label, g.op("GatherND", [rank, selected]), scores)
    num_images = g.dim(boxes, 0)
    if keep_top_k > -1:
        rows, counts = _keep_top_k(g, order, image, score, num_images, keep_top_k)
    else:
        rows, counts = order, _count_per_image(g, image, num_images)
    column = g.int64(-1, 1)
    image_box = g.op("Concat", [g.op("Reshape", [g.gather(image, rows), column]),
                                g.op("Reshape", [g.gather(box, rows), column])], axis=1)
    label = g.op("Cast", [g.op("Reshape", [g.gather(label, rows), column])], to=TensorProto.FLOAT)
    score = g.op("Reshape", [g.gather(score, rows), column])
    model.graph.node.extend([
        helper.make_node("Concat", [label, score, g.op("GatherND", [boxes, image_box])],
                         [outputs[0]], axis=1, name="nms.bbox"),
        helper.make_node("Cast", [counts], [outputs[1]], to=TensorProto.INT32,
                         name="nms.bbox_num")])
    model.graph.output.extend([
        helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, ["num_boxes", 6]),
        helper.make_tensor_value_info(outputs[1], TensorProto.INT32, ["batch"])])
    return model


def _candidates(g, scores, params):
    """-> (candidates [N, C, M] bool: above the threshold, not the background class and
    among the class's ``nms_top_k`` best; rank [N, C, M] float: k for the class's best
    score, k - 1 for the next, ..., 1 for the k-th, 0 beyond; ties by box index)."""
    valid = g.op("Greater", [scores, g.float(params["score_threshold"])])
    if params["background_label"] >= 0:
        labels = g.arange(g.dim(scores, 1))
        other = g.op("Not", [g.op("Equal", [labels, g.int64(params["background_label"])])])
        valid = g.op("And", [valid, g.op("Reshape", [other, g.int64(1, -1, 1)])])
    points = g.dim(scores, 2)
    k = points
    if params["nms_top_k"] > -1:
        k = g.op("Min", [g.int64(int(params["nms_top_k"])), k])
    best = _top_k_lowest_index_first(g, scores, k, points)                          # [N, C, k]
    descending = g.op("Cast", [g.op("Sub", [k, g.arange(k)])], to=TensorProto.FLOAT)
    updates = g.op("Expand", [g.op("Reshape", [descending, g.int64(1, 1, -1)]),
                              g.op("Shape", [best])])
    zeros = g.op("ConstantOfShape", [g.op("Shape", [scores])],
                 value=numpy_helper.from_array(np.zeros(1, np.float32)))
    rank = g.op("ScatterElements", [zeros, best, updates], axis=2)
    return g.op("And", [valid, g.op("Greater", [rank, g.float(0.0)])]), rank


def _top_k_lowest_index_first(g, scores, k, points):
    """The indices of the ``k`` best of ``scores`` [N, C, M] along the last axis, best
    first, equal scores by lower index (Paddle's stable sort) -> [N, C, k] int64.

    TopK's values do not depend on how it orders ties, its indices do: the k-th best
    value picks the set (all above it, and the lowest-indexed of those equal to it),
    and the set is ordered by the distinct key (rank of its value, index).
    """
    kth_best = g.kth_largest(scores, k, axis=2)
    above = g.op("Greater", [scores, kth_best])
    tied = g.op("Equal", [scores, kth_best])
    room = g.op("Sub", [k, g.count_true(above, [2], keepdims=1)])                       # [N, C, 1]
    tied_before = g.op("CumSum", [g.op("Cast", [tied], to=TensorProto.INT64), g.scalar(2)])
    chosen = g.op("Or", [above, g.op("And", [tied, g.op("LessOrEqual", [tied_before, room])])])
    values, index = g.op("TopK", [g.mask(chosen, scores, -np.inf), k], outputs=2, axis=2,
                         largest=1, sorted=1)                                      # [N, C, k]
    previous = g.op("Concat", [g.op("Slice", [values, g.int64(0), g.int64(1), g.int64(2)]),
                               g.op("Slice", [values, g.int64(0), g.int64(-1), g.int64(2)])],
                    axis=2)
    value_rank = g.op("CumSum", [g.op("Cast", [g.op("Not", [g.op("Equal", [values, previous])])],
                                      to=TensorProto.INT64), g.scalar(2)])
    key = g.op("Add", [g.op("Mul", [value_rank, points]), index])
    return g.op("GatherElements", [index, g.order_of_distinct(key, axis=2)], axis=2)


class PaddleNMS:
    """Greedy per-class NMS as Paddle's kernel does it: ``nms(candidates)`` with a bool
    [N, C, M] mask -> selected (image, class, box) rows [S, 3] int64, in no set order.

    Candidates are taken by ``rank`` (distinct per class, Paddle's order). ONNX
    NonMaxSuppression computes Paddle's IoU. Paddle and ONNX Runtime suppress at
    IoU > threshold, OpenVINO at IoU >= threshold: the graph's threshold is the next
    float32 above Paddle's (`just_above`), where both give Paddle's result (ONNX
    Runtime differs only at an IoU of exactly that float). Boxes of zero area differ
    too: Paddle's IoU of two zero-area boxes that touch is 0 / 0 = NaN, and NaN
    suppresses (its test to keep is IoU <= threshold), while ONNX Runtime never
    suppresses a zero-area box. A zero-area box's IoU with a box of positive area is
    0 in both, so zero-area boxes run as a separate NMS where touching suppresses:
    IoU > 0 over the boxes grown by 2^-20 of their coordinates (boxes closer than
    that count as touching). With ``normalized=False`` Paddle adds one pixel to the
    sides, so no box has zero area.
    """

    def __init__(self, g, boxes, rank, iou_threshold, normalized=True):
        self.g = g
        self.rank = rank
        self.iou_threshold = g.float(just_above(iou_threshold))
        self.max_per_class = g.dim(boxes, 1)     # no cap: nms_top_k caps the candidates
        self.normalized = normalized
        if not normalized:
            self.boxes = g.op("Add", [boxes, g.const([0, 0, 1, 1], np.float32)])
            return
        self.boxes = boxes
        x1, y1, x2, y2 = (g.gather(boxes, g.int64(i), axis=2) for i in range(4))     # [N, M, 1]
        width, height = g.op("Sub", [x2, x1]), g.op("Sub", [y2, y1])
        zero = g.float(0.0)
        zero_area = g.op("Or", [g.op("Or", [g.op("Less", [width, zero]),
                                            g.op("Less", [height, zero])]),
                                g.op("Equal", [g.op("Mul", [width, height]), zero])])
        self.zero_area = g.op("Reshape", [zero_area, g.int64(0, 1, -1)])              # [N, 1, M]
        grow = g.op("Mul", [g.op("Add", [g.op("Abs", [boxes]), g.float(1.0)]),
                            g.const([-2.0 ** -20, -2.0 ** -20, 2.0 ** -20, 2.0 ** -20],
                                    np.float32)])
        self.grown = g.op("Add", [boxes, grow])

    def _nms(self, boxes, candidates, iou_threshold):
        g = self.g
        scores = g.mask(candidates, self.rank, 0.0)
        # ranks are whole numbers >= 1: a score threshold of 0.5 leaves out the rest,
        # whether a runtime keeps scores above the threshold or at it too
        return g.op("NonMaxSuppression", [boxes, scores, self.max_per_class, iou_threshold,
                                          g.float(0.5)], center_point_box=0)

    def __call__(self, candidates):
        if not self.normalized:
            return self._nms(self.boxes, candidates, self.iou_threshold)
        g = self.g
        positive = self._nms(self.boxes, g.op("And", [candidates, g.op("Not", [self.zero_area])]),
                             self.iou_threshold)
        touching = self._nms(self.grown, g.op("And", [candidates, self.zero_area]),
                             g.float(just_above(0.0)))
        return g.op("Concat", [positive, touching], axis=0)


def just_above(threshold):
    """The smallest normal float32 above ``threshold`` (OpenVINO's CPU plugin may flush
    denormals to zero)."""
    above = np.nextafter(np.float32(threshold), np.float32(np.inf))
    return float(max(above, np.finfo(np.float32).tiny))


def _count_per_image(g, image, num_images):
    """[S] image index of each row -> [N] rows per image (int64)."""
    same = g.op("Equal", [g.op("Reshape", [image, g.int64(-1, 1)]),
                          g.op("Reshape", [g.arange(num_images), g.int64(1, -1)])])   # [S, N]
    return g.count_true(same, [0])


def _preselected_nms(g, nms, scores, candidates, keep_top_k):
    """MultiClassNMS's exact shortcut (see post_process.py): NMS over each image's best
    candidates, then over all of them where that left the image short of keep_top_k."""
    lowest = g.float(-np.inf)
    flat = g.op("Reshape", [g.mask(candidates, scores, -np.inf), g.int64(0, -1)])
    count = g.op("Min", [g.dim(flat, 1), g.int64(keep_top_k * PRESELECT_PER_KEPT)])
    kth_best = g.kth_largest(flat, count, axis=1)                                      # [N, 1]
    above = g.count_true(candidates, [1, 2])                                           # [N]

    def at_least(floor):   # floor [N, 1]
        floor = g.op("Reshape", [floor, g.int64(-1, 1, 1)])
        return g.op("And", [candidates, g.op("GreaterOrEqual", [scores, floor])])

    first = nms(at_least(kth_best))
    kept = _count_per_image(g, g.column(first, 0), g.dim(scores, 0))
    incomplete = g.op("And", [g.op("Less", [kept, g.int64(keep_top_k)]),
                              g.op("Greater", [above, count])])
    floor = g.op("Where", [g.op("Reshape", [incomplete, g.int64(-1, 1)]), lowest, kth_best])
    return nms(at_least(floor))


def _paddle_order(g, image, label, rank, scores):
    """Row indices ordering detections by image, class, score (descending), box index:
    ``rank`` [S] (float, distinct within an image and class, k for the best) gives the
    last two, so the key (image, class, k - rank) is distinct."""
    points = g.dim(scores, 2)
    image_class = g.op("Add", [g.op("Mul", [image, g.dim(scores, 1)]), label])
    key = g.op("Add", [g.op("Mul", [image_class, points]),
                       g.op("Sub", [points, g.op("Cast", [rank], to=TensorProto.INT64)])])
    return g.order_of_distinct(key)


def _keep_top_k(g, order, image, score, num_images, keep_top_k):
    """Of the rows in Paddle's ``order``, the ``keep_top_k`` best of each image (ties:
    lower class, then box, first), in the same order -> (rows [K], rows per image [N]).

    Per image: the rows above its keep_top_k-th best score, and as many of the rows
    equal to it as there is room for, first in Paddle's order (class, then box).
    """
    image, score = g.gather(image, order), g.gather(score, order)                     # [S]
    mine = g.op("Equal", [g.op("Reshape", [g.arange(num_images), g.int64(-1, 1)]),
                          g.op("Reshape", [image, g.int64(1, -1)])])                 # [N, S]
    per_image = g.op("Concat", [g.mask(mine, g.op("Reshape", [score, g.int64(1, -1)]), -np.inf),
                                g.op("Expand", [g.float(-np.inf),
                                                g.op("Concat", [num_images, g.int64(1)],
                                                     axis=0)])], axis=1)      # [N, S + 1]
    k = g.op("Min", [g.dim(per_image, 1), g.int64(keep_top_k)])
    kth_best = g.gather(g.op("Reshape", [g.kth_largest(per_image, k, axis=1), g.int64(-1)]),
                        image)                                                       # [S]
    above, tied = g.op("Greater", [score, kth_best]), g.op("Equal", [score, kth_best])
    room = g.op("Sub", [g.int64(keep_top_k),
                        g.count_true(g.op("And", [mine, above]), [1])])                  # [N]
    tied_earlier_images = g.count_true(g.op("And", [g.op("Less", [
        g.op("Reshape", [image, g.int64(1, -1)]),
        g.op("Reshape", [g.arange(num_images), g.int64(-1, 1)])]), tied]), [1])     # [N]
    tied_rank = g.op("Sub", [g.op("CumSum", [g.op("Cast", [tied], to=TensorProto.INT64),
                                             g.scalar(0)]),
                             g.gather(tied_earlier_images, image)])                 # 1, 2, ...
    keep = g.op("Or", [above, g.op("And", [tied, g.op("LessOrEqual", [
        tied_rank, g.gather(room, image)])])])
    return g.op("Compress", [order, keep], axis=0), _count_per_image(
        g, g.op("Compress", [image, keep], axis=0), num_images)
