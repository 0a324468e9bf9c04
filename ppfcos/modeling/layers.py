"""Building blocks shared by the backbone, neck and head.

Parameter attributes (initializers, learning-rate multipliers, regularizers)
follow PaddleDetection so that its released weights load by name and its
training recipes behave the same.
"""
import math
from typing import NamedTuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal
from paddle.regularizer import L2Decay
from paddle.vision.ops import DeformConv2D

from ..core.messages import excerpt

class ShapeSpec(NamedTuple):
    """What a feature map [N, channels, H / stride, W / stride] of an [N, 3, H, W] image is.

    Attributes:
        channels: its number of channels.
        stride: input pixels per feature cell.
    """

    channels: int
    stride: float

NORM_TYPES = ("bn", "sync_bn", "gn", None)


def check_norm_type(norm_type):
    if norm_type not in NORM_TYPES:
        raise ValueError(f"norm_type must be one of bn, sync_bn, gn or None, "
                         f"got {excerpt(norm_type)}")


def build_norm(norm_type, channels, lr=1.0, decay=0.0, frozen=False, groups=32):
    """A norm layer for ``channels`` features (None for ``norm_type=None``).

    ``sync_bn`` builds plain BatchNorm2D marked ``sync_bn=True``: the trainer
    converts it to SyncBatchNorm for multi-GPU runs. ``frozen`` freezes the affine parameters
    and, for batch norm, uses the running statistics in training too. Group
    norm uses ``groups`` groups, or gcd(channels, groups) for narrow layers
    whose channels it does not divide (e.g. 16 groups for 48 channels).
    """
    check_norm_type(norm_type)
    if norm_type is None:
        return None
    attr = dict(learning_rate=0.0 if frozen else lr,
                regularizer=L2Decay(decay) if decay is not None else None,
                trainable=not frozen)
    if norm_type == "gn":
        norm = nn.GroupNorm(math.gcd(channels, groups), channels, weight_attr=ParamAttr(**attr),
                            bias_attr=ParamAttr(**attr))
    else:
        norm = nn.BatchNorm2D(channels, weight_attr=ParamAttr(**attr), bias_attr=ParamAttr(**attr),
                              use_global_stats=True if frozen else None)
        norm.sync_bn = norm_type == "sync_bn"
    if frozen:
        for p in norm.parameters():
            p.stop_gradient = True
    return norm


def split_offset_mask(offset_mask, kernel_size):
    """[N, 3*k*k, H, W] conv output -> (offset [N, 2*k*k, H, W], sigmoid mask [N, k*k, H, W])."""
    points = kernel_size * kernel_size
    offset, mask = paddle.split(offset_mask, [2 * points, points], axis=1)
    return offset, F.sigmoid(mask)


def offset_conv(ch_in, kernel_size, stride, bias_lr=1.0, bias_decay=None):
    """The zero-initialised conv that predicts DCNv2 offsets and masks (3*k*k channels)."""
    bias_attr = dict(initializer=Constant(0.0))
    if bias_lr != 1.0 or bias_decay is not None:
        bias_attr.update(learning_rate=bias_lr,
                         regularizer=L2Decay(bias_decay) if bias_decay is not None else None)
    return nn.Conv2D(ch_in, 3 * kernel_size * kernel_size, kernel_size, stride=stride,
                     padding=(kernel_size - 1) // 2,
                     weight_attr=ParamAttr(initializer=Constant(0.0)),
                     bias_attr=ParamAttr(**bias_attr))


class DeformableConvV2(nn.Layer):
    """Modulated deformable conv (DCNv2): ``conv_offset`` predicts offsets and masks,
    ``conv_dcn`` samples with them. Used by the head tower (PaddleDetection's names)."""

    def __init__(self, ch_in, ch_out, kernel_size, stride=1, groups=1, weight_attr=None,
                 bias=True, lr_scale=2.0, decay=0.0):
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_offset = offset_conv(ch_in, kernel_size, stride, bias_lr=lr_scale,
                                       bias_decay=decay)
        bias_attr = ParamAttr(initializer=Constant(0.0), learning_rate=lr_scale,
                              regularizer=L2Decay(decay)) if bias else False
        self.conv_dcn = DeformConv2D(ch_in, ch_out, kernel_size, stride=stride,
                                     padding=(kernel_size - 1) // 2, groups=groups,
                                     weight_attr=weight_attr, bias_attr=bias_attr)

    def forward(self, x):
        offset, mask = split_offset_mask(self.conv_offset(x), self.kernel_size)
        return self.conv_dcn(x, offset, mask=mask)


class ConvNormLayer(nn.Layer):
    """3x3 (or kxk) conv (with a bias unless ``bias=False``), optional DCNv2, then an
    optional norm (head tower unit).

    Input [N, ch_in, H, W] -> output [N, ch_out, H/stride, W/stride]; no activation.
    """

    def __init__(self, ch_in, ch_out, filter_size, stride=1, norm_type="gn", norm_groups=32,
                 use_dcn=False, bias_lr=2.0, init_std=0.01, bias=True):
        super().__init__()
        weight_attr = ParamAttr(initializer=Normal(0.0, init_std))
        if use_dcn:
            self.conv = DeformableConvV2(ch_in, ch_out, filter_size, stride,
                                         weight_attr=weight_attr, bias=bias, lr_scale=bias_lr)
        else:
            bias_attr = ParamAttr(initializer=Constant(0.0), learning_rate=bias_lr)
            self.conv = nn.Conv2D(ch_in, ch_out, filter_size, stride,
                                  padding=(filter_size - 1) // 2, weight_attr=weight_attr,
                                  bias_attr=bias_attr if bias else False)
        self.norm = build_norm(norm_type, ch_out, groups=norm_groups)

    def forward(self, x):
        x = self.conv(x)
        return x if self.norm is None else self.norm(x)


class ScaleReg(nn.Layer):
    """A learnable scalar multiplying a level's box regression (``scale_reg``, starts at 1)."""

    def __init__(self):
        super().__init__()
        self.scale_reg = self.create_parameter(
            shape=[1], attr=ParamAttr(initializer=Constant(1.0)), dtype="float32")

    def forward(self, x):
        return x * self.scale_reg


@paddle.jit.not_to_static    # reads the declared shape (dy2static would turn -1 into tensors)
def tensor_shape(x):
    """The sizes of ``x``'s dimensions: Python ints where all are known when the graph is
    built (dygraph, a fixed-shape export), so an exported graph holds constants there;
    else the values of ``paddle.shape(x)`` (a dynamic-shape export)."""
    if all(size >= 0 for size in x.shape):
        return list(x.shape)
    shape = paddle.shape(x)
    return [shape[axis] for axis in range(len(x.shape))]


def upsample_nearest_2x(x, like):
    """Nearest-neighbour 2x upsampling of ``x`` [N, C, h, w], cropped to ``like``'s H, W.

    Equals ``F.interpolate(x, scale_factor=2, mode='nearest')`` where 2h == H,
    but is written as unsqueeze/expand/reshape so exported graphs run under
    oneDNN, which rejects Paddle 3.3's ``interpolate``.
    """
    n, c, h, w = tensor_shape(x)
    target_h, target_w = tensor_shape(like)[2:]
    x = x.unsqueeze([3, 5]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
    return x[:, :, :target_h, :target_w]
