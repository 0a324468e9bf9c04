"""FCOS loss, mmdetection-style: no ground truth vs one box, with each option toggled."""
import numpy as np
import paddle
import pytest

from ppfcos.modeling.heads.fcos_head import FCOSOutputs
from ppfcos.modeling.losses.fcos_loss import FCOSLoss, iou_terms

SIZES = [(8, 8), (4, 4)]
NUM_CLASSES = 3


def _outputs(seed=0):
    rng = np.random.default_rng(seed)

    def param(*shape, positive=False):
        value = rng.standard_normal(shape).astype("float32")
        t = paddle.to_tensor(np.abs(value) + 0.5 if positive else value)
        t.stop_gradient = False
        return t
    return FCOSOutputs([param(2, NUM_CLASSES, h, w) for h, w in SIZES],
                       [param(2, 4, h, w, positive=True) for h, w in SIZES],
                       [param(2, 1, h, w) for h, w in SIZES])


def _targets(positive_cells=()):
    """Targets with the given (level, image, y, x, class) cells positive."""
    targets = {}
    for level, (h, w) in enumerate(SIZES):
        targets[f"labels{level}"] = np.zeros([2, h, w, 1], "int32")
        targets[f"reg_target{level}"] = np.ones([2, h, w, 4], "float32")
        targets[f"centerness{level}"] = np.zeros([2, h, w, 1], "float32")
    for level, image, y, x, cls in positive_cells:
        targets[f"labels{level}"][image, y, x, 0] = cls + 1
        targets[f"reg_target{level}"][image, y, x] = [1.0, 2.0, 1.5, 0.5]
        targets[f"centerness{level}"][image, y, x, 0] = 0.6
    return targets


LOSS_OPTIONS = [dict(), dict(iou_loss_type="iou"), dict(iou_loss_type="linear_iou"),
                dict(quality="iou"), dict(loss_gamma=0.0, loss_alpha=0.5)]


@pytest.mark.parametrize("options", LOSS_OPTIONS, ids=str)
def test_no_ground_truth_gives_cls_loss_only_and_finite_gradients(options):
    outputs = _outputs()
    losses = FCOSLoss(**options)(outputs, _targets())
    assert float(losses["loss_cls"]) > 0
    assert float(losses["loss_box"]) == 0 and float(losses["loss_quality"]) == 0
    total = losses["loss_cls"] + losses["loss_box"] + losses["loss_quality"]
    total.backward()
    for grad in [t.grad for group in outputs for t in group if t.grad is not None]:
        assert np.isfinite(grad.numpy()).all()
    assert np.abs(outputs.cls_logits[0].grad.numpy()).max() > 0   # the cls loss trains


@pytest.mark.parametrize("options", LOSS_OPTIONS, ids=str)
def test_one_box_gives_every_loss_positive(options):
    losses = FCOSLoss(**options)(_outputs(), _targets([(0, 1, 3, 4, 2), (0, 1, 3, 5, 2)]))
    assert all(float(losses[k]) > 0 for k in ("loss_cls", "loss_box", "loss_quality"))


def test_losses_are_normalized_by_positives():
    one = FCOSLoss()(_outputs(), _targets([(1, 0, 1, 1, 0)]))
    two = FCOSLoss()(_outputs(), _targets([(1, 0, 1, 1, 0), (1, 0, 1, 1, 0)]))
    np.testing.assert_allclose(float(one["loss_box"]), float(two["loss_box"]), rtol=1e-6)
    # a duplicated positive in another image doubles the sum and the count alike
    outputs = _outputs()
    for group in outputs:
        for t in group:
            t.set_value(paddle.concat([t[:1], t[:1]]))
    single = FCOSLoss()(outputs, _targets([(1, 0, 1, 1, 0)]))
    double = FCOSLoss()(outputs, _targets([(1, 0, 1, 1, 0), (1, 1, 1, 1, 0)]))
    for key in ("loss_box", "loss_quality"):
        np.testing.assert_allclose(float(single[key]), float(double[key]), rtol=1e-5)


def test_reg_weights_scales_box_loss():
    targets = _targets([(0, 0, 2, 2, 1)])
    base = FCOSLoss()(_outputs(), targets)
    double = FCOSLoss(reg_weights=2.0)(_outputs(), targets)
    np.testing.assert_allclose(float(double["loss_box"]), 2 * float(base["loss_box"]), rtol=1e-6)


def test_iou_terms_perfect_and_disjoint_boxes():
    box = paddle.to_tensor([[1.0, 2.0, 3.0, 4.0]])
    iou, union, enclosing = iou_terms(box, box)
    np.testing.assert_allclose(iou.numpy(), [1.0])
    np.testing.assert_allclose(union.numpy(), enclosing.numpy())
    small = paddle.to_tensor([[0.5, 0.5, 0.5, 0.5]])
    assert iou_terms(small, box)[0].numpy()[0] < 0.2


def test_missing_targets_error_names_the_transform():
    targets = _targets()
    del targets["centerness1"]
    with pytest.raises(KeyError, match="Gt2FCOSTarget"):
        FCOSLoss()(_outputs(), targets)


def test_bad_options():
    with pytest.raises(ValueError, match="iou_loss_type"):
        FCOSLoss(iou_loss_type="diou")
    with pytest.raises(ValueError, match="quality"):
        FCOSLoss(quality="ctr")


def test_normalizer_is_averaged_across_ranks_when_asked(monkeypatch):
    """The averaging path: all_reduce sums two ranks' counts, then divides by 2."""
    import ppfcos.modeling.losses.fcos_loss as module

    def fake_all_reduce(value):
        value.set_value(value * 3.0)     # as if the other rank had twice as many
    monkeypatch.setattr(module.dist, "all_reduce", fake_all_reduce)
    monkeypatch.setattr(module.dist, "get_world_size", lambda: 2)
    targets = _targets([(0, 0, 2, 2, 1)])
    local = FCOSLoss(average_normalizer_across_ranks=False)(_outputs(), targets)
    averaged = FCOSLoss(average_normalizer_across_ranks=True)(_outputs(), targets)
    for key in ("loss_cls", "loss_box", "loss_quality"):
        np.testing.assert_allclose(float(averaged[key]), float(local[key]) / 1.5, rtol=1e-5)


def test_unsmoothed_iou_is_mmdetections():
    """iou_smooth 0: overlap / union (mmdetection), not (overlap + 1) / (union + 1)."""
    pred = paddle.to_tensor([[1.0, 1.0, 1.0, 1.0]])       # a 2x2 box around the point
    target = paddle.to_tensor([[1.0, 1.0, 3.0, 3.0]])     # 4x4, containing it
    np.testing.assert_allclose(iou_terms(pred, target, smooth=0.0)[0].numpy(), [0.25])
    np.testing.assert_allclose(iou_terms(pred, target)[0].numpy(), [5 / 17], rtol=1e-6)
