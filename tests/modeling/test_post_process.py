"""Decoding and NMS."""
import numpy as np
import paddle
import pytest

from ppfcos.modeling.heads.fcos_head import FCOSOutputs
from ppfcos.modeling.post_process import FCOSBox, FCOSPostProcess, MultiClassNMS


def _tensor(array):
    return paddle.to_tensor(np.asarray(array, dtype="float32"))


def test_decode_boxes_scores_and_rescale():
    points = [_tensor([[4, 4], [12, 4]])]                     # one level, 1x2 cells
    cls = _tensor(np.zeros([1, 2, 1, 2]))                     # sigmoid -> 0.5
    quality = _tensor(np.full([1, 1, 1, 2], np.log(3.0)))     # sigmoid -> 0.75
    dist = _tensor([[[[1, 2]], [[1, 2]], [[3, 4]], [[3, 4]]]])  # l,t,r,b per cell
    boxes, scores = FCOSBox()(points, [cls], [dist], [quality], _tensor([[2.0, 4.0]]))
    # cell 0: (4-1, 4-1, 4+3, 4+3) / (sx=4, sy=2, 4, 2)
    np.testing.assert_allclose(boxes.numpy()[0], [[3 / 4, 3 / 2, 7 / 4, 7 / 2],
                                                  [10 / 4, 2 / 2, 16 / 4, 8 / 2]], rtol=1e-6)
    np.testing.assert_allclose(scores.numpy(), np.full([1, 2, 2], 0.375), rtol=1e-6)
    sqrt_scores = FCOSBox(sqrt_score=True)(points, [cls], [dist], [quality],
                                           _tensor([[1.0, 1.0]]))[1]
    np.testing.assert_allclose(sqrt_scores.numpy(), np.sqrt(0.375), rtol=1e-6)


def test_nms_suppresses_overlaps_per_class_and_keeps_top_k():
    boxes = _tensor([[[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]]])
    scores = _tensor([[[0.9, 0.8, 0.7], [0.1, 0.95, 0.02]]])
    bbox, num = MultiClassNMS(score_threshold=0.05, nms_threshold=0.5, keep_top_k=100)(
        boxes, scores)
    rows = bbox.numpy()
    # boxes 0 and 1 overlap (IoU 0.81): class 0 keeps box 0, class 1 keeps box 1, and
    # class 1's box 2 (0.02) is under the score threshold
    assert num.numpy().tolist() == [3]
    assert rows[:, 0].tolist() == [0, 0, 1]
    np.testing.assert_allclose(rows[:, 1], [0.9, 0.7, 0.95], rtol=1e-6)
    bbox, num = MultiClassNMS(score_threshold=0.05, nms_threshold=0.5, keep_top_k=2)(
        boxes, scores)
    assert num.numpy().tolist() == [2]
    np.testing.assert_allclose(sorted(bbox.numpy()[:, 1]), [0.9, 0.95], rtol=1e-6)


def test_nms_with_nothing_above_threshold():
    bbox, num = MultiClassNMS(score_threshold=0.5)(_tensor(np.ones([2, 3, 4])),
                                                   _tensor(np.zeros([2, 2, 3])))
    assert list(bbox.shape) == [0, 6] and num.numpy().tolist() == [0, 0]


def test_post_process_chains_decode_and_nms():
    post = FCOSPostProcess(FCOSBox(num_classes=2), MultiClassNMS(score_threshold=0.3))
    outputs = FCOSOutputs([_tensor(np.zeros([1, 2, 1, 2]))], None,
                          [_tensor(np.full([1, 1, 1, 2], np.log(3.0)))])
    bbox, num = post([_tensor([[4, 4], [40, 4]])], outputs,
                     [_tensor(np.ones([1, 4, 1, 2]))], _tensor([[8.0, 48.0]]),
                     _tensor([[1.0, 1.0]]))
    assert num.numpy().tolist() == [4]          # 2 classes x 2 disjoint boxes
    np.testing.assert_allclose(sorted(bbox.numpy()[:, 2]), [3, 3, 39, 39])


def _random_detections(rng, images=2, classes=6, points=600, spread=200.0):
    """boxes [N, M, 4] of random sizes around random centres, scores [N, C, M] in [0, 1)."""
    centres = rng.uniform(0, spread, size=(images, points, 2))
    sizes = rng.uniform(4, 40, size=(images, points, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=-1)
    return _tensor(boxes), _tensor(rng.uniform(0, 1, size=(images, classes, points)))


def _plain_nms(nms, boxes, scores):
    """The Paddle kernel over every candidate, without the preselection shortcut."""
    return nms._nms(boxes, scores)


@pytest.mark.parametrize("case", ["many_survivors", "heavy_suppression", "few_candidates"])
def test_nms_preselection_keeps_exactly_what_full_nms_keeps(case):
    rng = np.random.default_rng(7)
    nms = MultiClassNMS(score_threshold=0.05, nms_top_k=1000, keep_top_k=20, nms_threshold=0.5)
    boxes, scores = _random_detections(rng)
    if case == "heavy_suppression":
        # the 500 best-scored boxes are near copies of one box, so the best candidates
        # leave one survivor per class, fewer than keep_top_k: the shortcut must fall
        # back to all candidates to find the lower-scored disjoint boxes
        copies = np.tile([[[10, 10, 50, 50]]], (2, 500, 1)) + rng.uniform(0, 1, (2, 500, 4))
        boxes = _tensor(np.concatenate([copies, boxes.numpy()[:, 500:]], axis=1))
        scores = _tensor(np.concatenate([0.5 + scores.numpy()[..., :500] / 2,
                                         0.1 + scores.numpy()[..., 500:] / 4], axis=-1))
    if case == "few_candidates":
        scores = scores * _tensor(rng.uniform(0, 1, size=scores.shape) < 0.01)
    bbox, num = nms(boxes, scores)
    expected_bbox, expected_num = _plain_nms(nms, boxes, scores)
    np.testing.assert_array_equal(num.numpy(), expected_num.numpy())
    np.testing.assert_array_equal(bbox.numpy(), expected_bbox.numpy())
    if case == "heavy_suppression":
        assert num.numpy().tolist() == [20, 20]
