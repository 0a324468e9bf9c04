"""Batch-norm folding (ppfcos.export.folding) on ResNet and on a backbone of plain nn layers:
the same outputs after folding, and only the foldable pairs folded."""
import numpy as np
import paddle
import paddle.nn as nn
import pytest

from ppfcos.export.folding import fold_batch_norms
from ppfcos.modeling.backbones.resnet import ResNet


def randomize_norms(network):
    """Give every batch norm of ``network`` statistics and affine terms far from the
    identity, so a wrong fold shows in the outputs; returns ``network`` in eval mode."""
    for layer in network.sublayers():
        if isinstance(layer, nn.BatchNorm2D):
            for value in (layer.weight, layer.bias, layer._mean):
                value.set_value(paddle.rand(value.shape) - 0.5)
            layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)
    network.eval()
    return network


def batch_norms(network):
    return [layer for layer in network.sublayers() if isinstance(layer, nn.BatchNorm2D)]


def outputs_of(network, image):
    result = network(image)
    return [t.numpy() for t in (result if isinstance(result, (list, tuple)) else [result])]


@pytest.mark.parametrize("dcn", [False, True])
def test_resnet_folds_every_batch_norm_and_keeps_its_outputs(dcn):
    paddle.seed(0)
    backbone = randomize_norms(ResNet(depth=18, base_channels=8, ch_in=8, freeze_norm=False,
                                      dcn_v2_stages=(3,) if dcn else (-1,)))
    image = paddle.rand([1, 3, 96, 64])
    expected = outputs_of(backbone, image)
    norms = len(batch_norms(backbone))
    assert fold_batch_norms(backbone, paddle.zeros([1, 3, 64, 64])) == norms > 0
    assert batch_norms(backbone) == []
    for found, wanted in zip(outputs_of(backbone, image), expected):
        np.testing.assert_allclose(found, wanted, rtol=1e-4, atol=1e-4)


class NormFirst(nn.Layer):
    """A conv-norm block that registers its norm before its conv, under other names."""

    def __init__(self, channels):
        super().__init__()
        self.after = nn.BatchNorm2D(channels)
        self.before = nn.Conv2D(channels, channels, 3, padding=1, bias_attr=True)

    def forward(self, x):
        return nn.functional.relu(self.after(self.before(x)))


class SharedConv(nn.Layer):
    """One conv feeding two batch norms: folding it into either would change the other."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2D(channels, channels, 1)
        self.left, self.right = nn.BatchNorm2D(channels), nn.BatchNorm2D(channels)

    def forward(self, x):
        y = self.conv(x)
        return self.left(y) + self.right(y)


class ToyBackbone(nn.Layer):
    """Plain nn layers: a Sequential stem, NormFirst, SharedConv and a norm after a pool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2D(3, 8, 3, stride=2, padding=1, bias_attr=False),
                                  nn.BatchNorm2D(8), nn.ReLU())
        self.block = NormFirst(8)
        self.shared = SharedConv(8)
        self.pool = nn.MaxPool2D(2)
        self.pooled_norm = nn.BatchNorm2D(8)

    def forward(self, image):
        x = self.shared(self.block(self.stem(image)))
        return [x, self.pooled_norm(self.pool(x))]


def test_a_backbone_of_plain_layers_folds_only_conv_norm_pairs():
    paddle.seed(1)
    backbone = randomize_norms(ToyBackbone())
    image = paddle.rand([2, 3, 40, 56])
    expected = outputs_of(backbone, image)
    assert fold_batch_norms(backbone, paddle.zeros([1, 3, 32, 32])) == 2   # stem, block
    assert isinstance(backbone.stem[1], nn.Identity)
    assert isinstance(backbone.block.after, nn.Identity)
    assert batch_norms(backbone) == [backbone.shared.left, backbone.shared.right,
                                     backbone.pooled_norm]
    for found, wanted in zip(outputs_of(backbone, image), expected):
        np.testing.assert_allclose(found, wanted, rtol=1e-4, atol=1e-4)
