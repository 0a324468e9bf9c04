"""FPN and FCOS head: levels, shapes, channels from the neck, head options."""
import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

import ppfcos
from ppfcos.modeling.heads.fcos_head import FCOSFeat, FCOSHead
from ppfcos.modeling.layers import ShapeSpec, upsample_nearest_2x
from ppfcos.modeling.losses.fcos_loss import FCOSLoss
from ppfcos.modeling.necks.fpn import FPN
from ppfcos.modeling.post_process import MultiClassNMS

FEATS = [paddle.rand([1, 8, 16, 16]), paddle.rand([1, 16, 8, 8]), paddle.rand([1, 32, 4, 4])]


def test_upsample_matches_interpolate_and_crops():
    x = paddle.rand([2, 3, 4, 5])
    expected = F.interpolate(x, scale_factor=2.0, mode="nearest")
    np.testing.assert_array_equal(upsample_nearest_2x(x, expected).numpy(), expected.numpy())
    assert list(upsample_nearest_2x(x, paddle.zeros([2, 3, 7, 9])).shape) == [2, 3, 7, 9]


@pytest.mark.parametrize("use_c5", [False, True])
def test_fpn_extra_levels(use_c5):
    fpn = FPN([8, 16, 32], 12, spatial_scales=[1 / 8, 1 / 16, 1 / 32], extra_stage=2,
              has_extra_convs=True, use_c5=use_c5)
    outs = fpn(FEATS)
    assert [list(o.shape) for o in outs] == [[1, 12, s, s] for s in (16, 8, 4, 2, 1)]
    assert [s.stride for s in fpn.out_shape] == [8, 16, 32, 64, 128]
    assert list(fpn.fpn_convs[3].weight.shape)[1] == (32 if use_c5 else 12)
    assert "fpn_6.weight" in fpn.state_dict() and "fpn_7.weight" in fpn.state_dict()


def test_fpn_relu_before_extra_convs():
    fpn_relu = FPN([8, 16, 32], 4, [1 / 8, 1 / 16, 1 / 32], has_extra_convs=True, extra_stage=2,
                   use_c5=False, relu_before_extra_convs=True)
    fpn_plain = FPN([8, 16, 32], 4, [1 / 8, 1 / 16, 1 / 32], has_extra_convs=True,
                    extra_stage=2, use_c5=False, relu_before_extra_convs=False)
    fpn_plain.set_state_dict(fpn_relu.state_dict())
    a, b = fpn_relu(FEATS), fpn_plain(FEATS)
    np.testing.assert_allclose(a[3].numpy(), b[3].numpy())
    p7 = fpn_relu.fpn_convs[4]
    np.testing.assert_allclose(a[4].numpy(), p7(F.relu(a[3])).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[4].numpy(), b[4].numpy())


def test_fpn_max_pool_extra_level_and_errors():
    fpn = FPN([8, 16, 32], 4, [1 / 8, 1 / 16, 1 / 32], extra_stage=1, has_extra_convs=False)
    assert [o.shape[-1] for o in fpn(FEATS)] == [16, 8, 4, 2]
    with pytest.raises(ValueError, match="has_extra_convs"):
        FPN([8], 4, [1 / 8], extra_stage=2, has_extra_convs=False)


def _head(**kwargs):
    feat = FCOSFeat(feat_in=12, feat_out=16, num_convs=2, norm_type=None)
    args = dict(num_classes=3, fcos_feat=feat, fpn_stride=[8, 16], fcos_loss=FCOSLoss(),
                nms=MultiClassNMS())
    args.update(kwargs)
    return FCOSHead(**args)


def test_head_output_shapes_and_names():
    head = _head()
    outs = head([paddle.rand([2, 12, 8, 8]), paddle.rand([2, 12, 4, 4])])
    assert [list(t.shape) for t in outs.cls_logits] == [[2, 3, 8, 8], [2, 3, 4, 4]]
    assert [list(t.shape) for t in outs.bbox_reg] == [[2, 4, 8, 8], [2, 4, 4, 4]]
    assert [list(t.shape) for t in outs.quality] == [[2, 1, 8, 8], [2, 1, 4, 4]]
    names = list(head.state_dict())
    assert "p3_feat.scale_reg" in names and "p4_feat.scale_reg" in names
    assert "fcos_feat.fcos_head_reg_tower_conv_1.conv.weight" in names
    np.testing.assert_allclose(head.fcos_head_cls.bias.numpy(), -np.log(99), rtol=1e-5)


def test_head_regression_modes():
    feats = [paddle.rand([1, 12, 4, 4]), paddle.rand([1, 12, 2, 2])]
    normed = _head(norm_reg_targets=True)
    assert normed.distances_in_strides
    reg = normed(feats).bbox_reg
    assert all((r.numpy() >= 0).all() for r in reg)
    pixels = normed.distances_in_pixels(reg)
    np.testing.assert_allclose(pixels[1].numpy(), 16 * reg[1].numpy(), rtol=1e-6)
    multiplied = _head(norm_reg_targets=True, multiply_strides_reg_targets=True)
    multiplied.set_state_dict(normed.state_dict())
    np.testing.assert_allclose(multiplied(feats).bbox_reg[1].numpy(), 16 * reg[1].numpy(),
                               rtol=1e-6)
    assert not multiplied.distances_in_strides
    exp = _head(norm_reg_targets=False)
    assert all((r.numpy() > 0).all() for r in exp(feats).bbox_reg)


def test_centerness_branch_choice():
    feats = [paddle.rand([1, 12, 4, 4]), paddle.rand([1, 12, 2, 2])]
    on_reg, on_cls = _head(centerness_on_reg=True), _head(centerness_on_reg=False)
    on_cls.set_state_dict(on_reg.state_dict())
    cls_feat, reg_feat = on_reg.fcos_feat(feats[0])
    np.testing.assert_allclose(on_reg(feats).quality[0].numpy(),
                               on_reg.fcos_head_centerness(reg_feat).numpy(), rtol=1e-6)
    np.testing.assert_allclose(on_cls(feats).quality[0].numpy(),
                               on_cls.fcos_head_centerness(cls_feat).numpy(), rtol=1e-6)


def test_points_follow_num_shift():
    feats = [paddle.rand([1, 12, 2, 3]), paddle.rand([1, 12, 1, 2])]
    points = _head(num_shift=0.5).points(feats)
    np.testing.assert_array_equal(points[0].numpy(), [[4, 4], [12, 4], [20, 4],
                                                      [4, 12], [12, 12], [20, 12]])
    np.testing.assert_array_equal(_head(num_shift=0.0).points(feats)[1].numpy(),
                                  [[0, 0], [16, 0]])


def test_head_checks_level_count():
    with pytest.raises(ValueError, match="2 strides"):
        _head()([paddle.rand([1, 12, 4, 4])])


def test_narrow_neck_and_head_take_channels_from_the_neck(write_yaml):
    path = write_yaml("narrow.yml", """
architecture: FCOS
num_classes: 4
FCOS: {backbone: ResNet, neck: FPN, fcos_head: FCOSHead}
ResNet: {depth: 18, return_idx: [1, 2, 3], freeze_at: -1}
FPN: {out_channel: 32, extra_stage: 2, has_extra_convs: true, use_c5: false}
FCOSHead:
  fcos_feat: {name: FCOSFeat, feat_out: 48, num_convs: 2, norm_type: gn}
  fcos_loss: {name: FCOSLoss}
  nms: {name: MultiClassNMS, keep_top_k: 10}
""")
    model = ppfcos.build_model(ppfcos.load_config(path))
    state = model.state_dict()
    assert list(state["neck.fpn_inner_res3_sum_lateral.weight"].shape) == [32, 128, 1, 1]
    assert list(state["fcos_head.fcos_feat.fcos_head_cls_tower_conv_0.conv.weight"].shape) == [
        48, 32, 3, 3]
    assert list(state["fcos_head.fcos_head_cls.weight"].shape) == [4, 48, 3, 3]
    assert model.fcos_head.fpn_stride == [8, 16, 32, 64, 128]
    model.eval()
    out = model({"image": paddle.rand([2, 3, 128, 128]),
                 "scale_factor": paddle.ones([2, 2])})
    assert out["bbox"].shape[1] == 6 and out["bbox_num"].shape == [2]


def test_model_rejects_bad_image(write_yaml):
    cfg = ppfcos.load_config(write_yaml("m.yml", """
architecture: FCOS
FCOS: {backbone: ResNet, neck: FPN, fcos_head: FCOSHead}
ResNet: {depth: 18, return_idx: [1, 2, 3]}
FPN: {out_channel: 16, extra_stage: 2, has_extra_convs: true, use_c5: false}
FCOSHead: {fcos_feat: {name: FCOSFeat, num_convs: 1, norm_type: gn, feat_out: 16}}
"""))
    model = ppfcos.build_model(cfg)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        model({"image": paddle.rand([3, 64, 64])})


def test_head_levels_must_share_channels():
    with pytest.raises(ValueError, match="same channels"):
        FCOSHead.from_config({}, None, input_shape=[ShapeSpec(8, 8), ShapeSpec(16, 16)])


def test_head_parameter_attributes_follow_paddledetection():
    feat = FCOSFeat(feat_in=32, feat_out=32, num_convs=1, norm_type="gn", use_dcn=True)
    params = dict(FCOSHead(num_classes=3, fcos_feat=feat, fpn_stride=[8],
                           fcos_loss=FCOSLoss(), nms=MultiClassNMS()).named_parameters())
    tower = "fcos_feat.fcos_head_cls_tower_conv_0"
    assert params[f"{tower}.conv.conv_dcn.bias"].optimize_attr["learning_rate"] == 2.0
    assert params[f"{tower}.conv.conv_dcn.bias"].regularizer._coeff == 0.0
    assert params[f"{tower}.conv.conv_offset.bias"].optimize_attr["learning_rate"] == 2.0
    assert not params[f"{tower}.conv.conv_offset.weight"].numpy().any()
    assert params[f"{tower}.norm.weight"].regularizer._coeff == 0.0
    assert params["fcos_head_cls.weight"].regularizer is None     # global L2 applies
    assert abs(float(params["fcos_head_cls.weight"].numpy().std()) - 0.01) < 0.002
    plain = FCOSFeat(feat_in=32, feat_out=32, num_convs=1, norm_type="gn")
    bias = dict(plain.named_parameters())["fcos_head_reg_tower_conv_0.conv.bias"]
    assert bias.optimize_attr["learning_rate"] == 2.0 and bias.regularizer is None
