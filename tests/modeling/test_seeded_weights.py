"""Name-seeded weights: the value follows from the name and shape, by the parameter's role."""
import numpy as np
import paddle

from ppfcos.modeling.seeded_weights import seed_weights, seeded_value


def test_the_same_name_gives_the_same_values_and_another_name_others():
    a = seeded_value("backbone.res2a.branch2a.conv.weight", (8, 4, 3, 3))
    np.testing.assert_array_equal(a, seeded_value("backbone.res2a.branch2a.conv.weight",
                                                  (8, 4, 3, 3)))
    assert a.dtype == np.float32 and a.shape == (8, 4, 3, 3)
    assert not np.allclose(a, seeded_value("backbone.res2a.branch2b.conv.weight", (8, 4, 3, 3)))


def test_each_role_gets_its_scale_and_offset():
    n = 4000
    variance = seeded_value("bn._variance", (n,))
    assert variance.min() >= 1.0 and abs(variance.mean() - (1 + 0.2 * np.sqrt(2 / np.pi))) < 0.01
    assert abs(seeded_value("bn._mean", (n,)).std() - 0.1) < 0.005
    assert abs(seeded_value("fcos_head.scales_regs.0.scale_reg", (n,)).mean() - 1.0) < 0.01
    cls_bias = seeded_value("fcos_head.fcos_head_cls.bias", (n,))
    assert abs(cls_bias.mean() + 2.0) < 0.01 and abs(cls_bias.std() - 0.1) < 0.005
    assert abs(seeded_value("neck.fpn_inner_res3_sum.bias", (n,)).mean()) < 0.01
    assert abs(seeded_value("backbone.bn.weight", (n,)).mean() - 1.0) < 0.01
    kernel = seeded_value("fcos_head.fcos_head_cls.weight", (80, 256, 3, 3))
    assert abs(kernel.std() * np.sqrt(256 * 9) - 1.0) < 0.01


def test_seed_weights_sets_every_tensor_of_the_state_dict():
    model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    seeded = seed_weights(model)
    assert seeded is model
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), seeded_value(name, tuple(tensor.shape)))
