"""ResNet/ResNeXt backbone: depths, variants, freezing, norms, DCN, learning-rate multipliers."""
import numpy as np
import paddle
import pytest

from ppfcos.modeling.backbones.resnet import ResNet


def _names(model):
    return list(model.state_dict())


@pytest.mark.parametrize("depth,channels", [(18, [64, 128, 256, 512]),
                                            (34, [64, 128, 256, 512]),
                                            (50, [256, 512, 1024, 2048])])
def test_depth_output_shapes(depth, channels):
    model = ResNet(depth=depth, return_idx=[0, 1, 2, 3])
    model.eval()
    feats = model(paddle.rand([1, 3, 64, 96]))
    assert [list(f.shape) for f in feats] == [
        [1, c, 64 // s, 96 // s] for c, s in zip(channels, [4, 8, 16, 32])]
    assert [s.channels for s in model.out_shape] == channels
    assert [s.stride for s in model.out_shape] == [4, 8, 16, 32]


def test_block_names_of_deep_resnets():
    names = _names(ResNet(depth=101, num_stages=3, return_idx=[2]))
    assert "res4.res4a.branch2a.conv.weight" in names
    assert "res4.res4b22.branch2c.norm._variance" in names
    assert not any("res4w" in n for n in names)
    names152 = _names(ResNet(depth=152, num_stages=2, return_idx=[1]))
    assert "res3.res3h.branch2b.conv.weight" in names152


def _first_strided_conv(variant):
    block = ResNet(depth=50, variant=variant, num_stages=2, return_idx=[1]).res_layers[1][0]
    return block.branch2a.conv._stride, block.branch2b.conv._stride


def test_caffe_style_strides_on_1x1_pytorch_style_on_3x3():
    assert _first_strided_conv("a") == ([2, 2], [1, 1])
    assert _first_strided_conv("b") == ([1, 1], [2, 2])


def test_deep_stem_and_avgpool_shortcut_of_c_and_d():
    names_c = _names(ResNet(depth=50, variant="c", num_stages=2, return_idx=[1]))
    assert "conv1.conv1_3.conv.weight" in names_c and "conv1.conv1.conv.weight" not in names_c
    d = ResNet(depth=50, variant="d", num_stages=2, return_idx=[1])
    assert "res3.res3a.short.conv.conv.weight" in _names(d)
    assert "res2.res2a.short.conv.weight" in _names(d)      # stride 1: plain projection
    d.eval()
    assert list(d(paddle.rand([1, 3, 64, 64]))[0].shape) == [1, 512, 8, 8]


def test_resnext_widths():
    model = ResNet(depth=101, groups=64, base_width=4, variant="d", num_stages=2,
                   return_idx=[1])
    weight = model.state_dict()["res2.res2a.branch2b.conv.weight"]
    assert list(weight.shape) == [256, 4, 3, 3]      # 64 groups x width 4
    assert list(model.state_dict()["res3.res3a.branch2c.conv.weight"].shape) == [512, 512, 1, 1]


def test_basic_block_rejects_resnext_settings():
    with pytest.raises(ValueError, match="BasicBlock"):
        ResNet(depth=18, groups=32)


def test_freeze_at_and_frozen_norm():
    model = ResNet(depth=18, freeze_at=1, freeze_norm=True)
    frozen = {n for n, p in model.named_parameters() if p.stop_gradient}
    assert all(n.startswith(("conv1.", "res2.", "res3.")) or ".norm." in n for n in frozen)
    assert "res3.res3a.branch2a.conv.weight" in frozen
    assert "res4.res4a.branch2a.conv.weight" not in frozen
    assert "res4.res4a.branch2a.norm.weight" in frozen        # frozen norm everywhere
    model.train()
    bn = model.res_layers[2][0].branch2a.norm
    before = bn._mean.numpy().copy()
    model(paddle.rand([2, 3, 64, 64]))
    np.testing.assert_array_equal(bn._mean.numpy(), before)   # running stats untouched

    stem_only = ResNet(depth=18, freeze_at=2, freeze_stem_only=True, freeze_norm=False)
    frozen = {n for n, p in stem_only.named_parameters()
              if p.stop_gradient and not n.endswith(("_mean", "_variance"))}
    assert frozen and all(n.startswith("conv1.") for n in frozen)
    trainable = ResNet(depth=18, freeze_at=-1, freeze_norm=False)
    assert not any(p.stop_gradient for n, p in trainable.named_parameters()
                   if not n.endswith(("_mean", "_variance")))


def test_trainable_batch_norm_updates_statistics():
    model = ResNet(depth=18, freeze_at=-1, freeze_norm=False, num_stages=1, return_idx=[0])
    model.train()
    bn = model.res_layers[0][0].branch2a.norm
    before = bn._mean.numpy().copy()
    model(paddle.rand([2, 3, 32, 32]))
    assert not np.allclose(bn._mean.numpy(), before)


def test_group_norm_backbone():
    model = ResNet(depth=18, norm_type="gn", freeze_norm=False, num_stages=2, return_idx=[1])
    assert isinstance(model.res_layers[0][0].branch2a.norm, paddle.nn.GroupNorm)
    model.eval()
    assert list(model(paddle.rand([1, 3, 32, 32]))[0].shape) == [1, 128, 4, 4]


def test_sync_bn_builds_batch_norm_for_the_trainer_to_convert():
    model = ResNet(depth=18, norm_type="sync_bn", num_stages=1, return_idx=[0])
    assert isinstance(model.res_layers[0][0].branch2a.norm, paddle.nn.BatchNorm2D)


def test_dcn_stages_use_deformable_conv_and_start_as_plain_conv():
    plain = ResNet(depth=50, num_stages=2, return_idx=[1], freeze_norm=True)
    dcn = ResNet(depth=50, num_stages=2, return_idx=[1], dcn_v2_stages=[1])
    names = _names(dcn)
    assert "res3.res3a.branch2b.conv_offset.weight" in names
    assert "res2.res2a.branch2b.conv_offset.weight" not in names
    shared = {k: v for k, v in plain.state_dict().items()}
    dcn.set_state_dict(shared)
    plain.eval()
    dcn.eval()
    x = paddle.rand([1, 3, 64, 64])
    # zero offsets and a 0.5 mask: the deformable conv equals half the plain conv's
    # pre-norm output, so outputs differ but stay finite and shaped alike.
    out_plain, out_dcn = plain(x)[0], dcn(x)[0]
    assert out_plain.shape == out_dcn.shape and np.isfinite(out_dcn.numpy()).all()
    offset_conv = dcn.res_layers[1][0].branch2b.conv_offset
    assert not offset_conv.weight.numpy().any()


def test_lr_mult_list_and_norm_regularization():
    model = ResNet(depth=18, lr_mult_list=[0.1, 0.2, 0.3, 0.4], freeze_at=-1,
                   freeze_norm=False)
    params = dict(model.named_parameters())
    assert params["res2.res2a.branch2a.conv.weight"].optimize_attr["learning_rate"] == 0.1
    assert params["res5.res5a.branch2a.conv.weight"].optimize_attr["learning_rate"] == 0.4
    assert params["conv1.conv1.conv.weight"].optimize_attr["learning_rate"] == 1.0
    norm = params["res3.res3a.branch2a.norm.weight"]
    assert norm.optimize_attr["learning_rate"] == 0.2 and norm.regularizer._coeff == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        ResNet(depth=42)
    with pytest.raises(ValueError, match="variant"):
        ResNet(variant="e")
    with pytest.raises(ValueError, match="return_idx"):
        ResNet(num_stages=3, return_idx=[3])
