"""mmdetection's post-processing order (LevelTopKPostProcess)."""
import numpy as np
import paddle
import pytest

from ppfcos.modeling.heads.fcos_head import FCOSOutputs
from ppfcos.modeling.level_topk_post_process import LevelTopKPostProcess


def _tensor(array, dtype="float32"):
    return paddle.to_tensor(np.asarray(array, dtype=dtype))


def _logit(p):
    return np.log(p / (1 - p))


def _run(post, probs, quality, dist, points, im_shape=(100, 100), scale=(1.0, 1.0)):
    """One image, one level of len(points) cells in a row; probs [C, K], quality [K],
    dist [K, 4] (l, t, r, b)."""
    k = len(points)
    outputs = FCOSOutputs([_tensor(_logit(np.asarray(probs))).reshape([1, -1, 1, k])], None,
                          [_tensor(_logit(np.asarray(quality))).reshape([1, 1, 1, k])])
    distances = [_tensor(np.asarray(dist).T).reshape([1, 4, 1, k])]
    bbox, num = post([_tensor(points)], outputs, distances, _tensor([im_shape]),
                     _tensor([scale]))
    return bbox.numpy(), num.numpy()


def test_threshold_on_class_probability_before_centerness():
    """0.06 passes the 0.05 threshold although 0.06 x 0.1 does not: kept, as mmdetection."""
    bbox, num = _run(LevelTopKPostProcess(), [[0.06], [0.04]], [0.1], [[5, 5, 5, 5]], [[20, 20]])
    assert num.tolist() == [1]
    np.testing.assert_allclose(bbox[0], [0, 0.006, 15, 15, 25, 25], rtol=1e-5)


def test_top_k_per_level_then_class_aware_nms():
    points = [[20, 20], [21, 20], [60, 60]]
    dist = [[5, 5, 5, 5]] * 3
    probs = [[0.9, 0.8, 0.3], [0.7, 0.2, 0.2]]   # class 0 at cells 0-2, class 1 at cell 0
    bbox, num = _run(LevelTopKPostProcess(nms_pre=3), probs, [0.5] * 3, dist, points)
    # the 3 best pairs: (0, c0) .9, (1, c0) .8, (0, c1) .7; cell 1 overlaps cell 0 in
    # class 0 (IoU 0.82) and goes; class 1's box at cell 0 stays
    assert num.tolist() == [2]
    np.testing.assert_allclose(bbox[:, :2], [[0, 0.45], [1, 0.35]], rtol=1e-5)


def test_boxes_clipped_to_the_resized_image_then_rescaled_and_empty_ones_dropped():
    post = LevelTopKPostProcess()
    # cell 0 runs past the right edge (clipped); cell 1 lies wholly outside (zero width)
    bbox, num = _run(post, [[0.9, 0.8]], [0.5, 0.5], [[5, 5, 20, 5], [5, 5, 5, 5]],
                     [[90, 20], [120, 20]], im_shape=(50, 100), scale=(0.5, 2.0))
    assert num.tolist() == [1]
    np.testing.assert_allclose(bbox[0, 2:], [85 / 2, 15 / 0.5, 100 / 2, 25 / 0.5], rtol=1e-6)
    bbox, num = _run(LevelTopKPostProcess(min_bbox_size=-1), [[0.9, 0.8]], [0.5, 0.5],
                     [[5, 5, 20, 5], [5, 5, 5, 5]], [[90, 20], [120, 20]], im_shape=(50, 100))
    assert num.tolist() == [2]


def test_no_candidate_gives_no_detection():
    bbox, num = _run(LevelTopKPostProcess(), [[0.01, 0.02]], [0.9, 0.9], [[5, 5, 5, 5]] * 2,
                     [[20, 20], [40, 20]])
    assert num.tolist() == [0] and bbox.shape == (0, 6)


def test_nms_pre_minus_one_takes_every_pair_above_the_threshold():
    points = [[20, 20], [21, 20], [60, 60]]
    probs = [[0.9, 0.8, 0.3], [0.7, 0.2, 0.2]]
    bbox, num = _run(LevelTopKPostProcess(nms_pre=-1), probs, [0.5] * 3, [[5, 5, 5, 5]] * 3,
                     points)
    # all 6 pairs enter; per class, cell 1 overlaps cell 0 (IoU 0.82) and goes
    assert num.tolist() == [4]
    np.testing.assert_allclose(bbox[:, :2], [[0, 0.45], [0, 0.15], [1, 0.35], [1, 0.1]],
                               rtol=1e-5)
    np.testing.assert_allclose(bbox[[1, 3], 2:], [[55, 55, 65, 65]] * 2, rtol=1e-6)


def test_a_batch_gives_each_images_detections():
    """nms_pre per image and level: image 1's candidates do not crowd out image 0's."""
    post = LevelTopKPostProcess(nms_pre=2)
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.01, 0.99, (2, 3, 8))
    quality = rng.uniform(0.1, 0.9, (2, 8))
    dist = rng.uniform(1, 6, (2, 8, 4))
    points = [[10.0 * k + 5, 10] for k in range(8)]
    alone = [_run(post, probs[i], quality[i], dist[i], points) for i in range(2)]
    outputs = FCOSOutputs([_tensor(_logit(probs)).reshape([2, 3, 1, 8])], None,
                          [_tensor(_logit(quality)).reshape([2, 1, 1, 8])])
    bbox, num = post([_tensor(points)], outputs, [_tensor(dist.transpose(0, 2, 1)).reshape(
        [2, 4, 1, 8])], _tensor([[100, 100]] * 2), _tensor([[1.0, 1.0]] * 2))
    assert num.numpy().tolist() == [len(alone[0][0]), len(alone[1][0])] and 0 < num[0] <= 2
    np.testing.assert_allclose(bbox.numpy(), np.concatenate([a[0] for a in alone]), rtol=1e-6)


def test_a_negative_score_threshold_is_refused():
    with pytest.raises(ValueError, match="score_threshold must be >= 0"):
        LevelTopKPostProcess(score_threshold=-0.1)
