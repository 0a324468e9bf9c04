"""ResNet / ResNeXt backbone with PaddleDetection's parameter names.

Variants (how a bottleneck downsamples and what the stem looks like):

- a: stride on the first 1x1 conv (caffe style, as in mmdetection's caffe R-50)
- b: stride on the 3x3 conv (pytorch style; PaddleDetection's default)
- c: b with a deep stem of three 3x3 convs
- d: c with an avg-pool before the strided shortcut conv (ResNet-vd)

Parameter names: ``conv1.conv1.*`` (stem),
``res{2..5}.res{stage}{a,b,...}.branch2{a,b,c}`` and ``short``; blocks past the tenth
of res4 (R-101/152) are named ``res4b1, res4b2, ...`` as in PaddleDetection's released
weights.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.vision.ops import DeformConv2D

from ...core.messages import excerpt
from ...core.registry import register
from ..layers import ShapeSpec, build_norm, check_norm_type, offset_conv, split_offset_mask

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3],
                    101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


class ConvNorm(nn.Layer):
    """Bias-free conv (optionally DCNv2) + norm + optional ReLU: the backbone's unit.

    With ``dcn``, ``conv_offset`` predicts offsets/masks and ``conv`` is the
    deformable conv (PaddleDetection's backbone names).
    """

    def __init__(self, ch_in, ch_out, kernel_size, stride, groups=1, act=None, dcn=False,
                 lr=1.0, norm_type="bn", norm_decay=0.0, freeze_norm=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.act = act
        padding = (kernel_size - 1) // 2
        if dcn:
            self.conv_offset = offset_conv(ch_in, kernel_size, stride)
            self.conv = DeformConv2D(ch_in, ch_out, kernel_size, stride=stride, padding=padding,
                                     groups=groups, weight_attr=ParamAttr(learning_rate=lr),
                                     bias_attr=False)
        else:
            self.conv_offset = None
            self.conv = nn.Conv2D(ch_in, ch_out, kernel_size, stride=stride, padding=padding,
                                  groups=groups, weight_attr=ParamAttr(learning_rate=lr),
                                  bias_attr=False)
        self.norm = build_norm(norm_type, ch_out, lr=lr, decay=norm_decay, frozen=freeze_norm)

    def forward(self, x):
        if self.conv_offset is None:
            x = self.conv(x)
        else:
            offset, mask = split_offset_mask(self.conv_offset(x), self.kernel_size)
            x = self.conv(x, offset, mask=mask)
        x = self.norm(x)
        return F.relu(x) if self.act == "relu" else x


def _shortcut(ch_in, ch_out, stride, variant, norm_args):
    """Projection shortcut; ResNet-vd average-pools before a stride-1 conv."""
    if variant == "d" and stride == 2:
        short = nn.Sequential()
        short.add_sublayer("pool", nn.AvgPool2D(2, 2, 0, ceil_mode=True))
        short.add_sublayer("conv", ConvNorm(ch_in, ch_out, 1, 1, **norm_args))
        return short
    return ConvNorm(ch_in, ch_out, 1, stride, **norm_args)


class BasicBlock(nn.Layer):
    """Two 3x3 convs (ResNet-18/34). [N, ch_in, H, W] -> [N, ch_out, H/s, W/s]."""
    expansion = 1

    def __init__(self, ch_in, ch_out, stride, shortcut, variant, groups, base_width, dcn,
                 norm_args):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("ResNet-18/34 (BasicBlock) support only groups=1 and base_width=64")
        self.branch2a = ConvNorm(ch_in, ch_out, 3, stride, act="relu", **norm_args)
        self.branch2b = ConvNorm(ch_out, ch_out, 3, 1, dcn=dcn, **norm_args)
        self.short = None if shortcut else _shortcut(ch_in, ch_out, stride, variant, norm_args)

    def forward(self, x):
        out = self.branch2b(self.branch2a(x))
        return F.relu(out + (x if self.short is None else self.short(x)))


class BottleNeck(nn.Layer):
    """1x1 -> 3x3 (grouped, optionally DCNv2) -> 1x1 with 4x expansion (ResNet-50+/ResNeXt)."""
    expansion = 4

    def __init__(self, ch_in, ch_out, stride, shortcut, variant, groups, base_width, dcn,
                 norm_args):
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if variant == "a" else (1, stride)
        width = int(ch_out * (base_width / 64.0)) * groups
        self.branch2a = ConvNorm(ch_in, width, 1, stride_1x1, act="relu", **norm_args)
        self.branch2b = ConvNorm(width, width, 3, stride_3x3, groups=groups, act="relu", dcn=dcn,
                                 **norm_args)
        self.branch2c = ConvNorm(width, ch_out * 4, 1, 1, **norm_args)
        self.short = None if shortcut else _shortcut(ch_in, ch_out * 4, stride, variant,
                                                     norm_args)

    def forward(self, x):
        out = self.branch2c(self.branch2b(self.branch2a(x)))
        return F.relu(out + (x if self.short is None else self.short(x)))


def _block_name(stage, count, i):
    if count > 10 and stage == 4:
        return "res4a" if i == 0 else f"res4b{i}"
    return f"res{stage}{chr(ord('a') + i)}"


@register
class ResNet(nn.Layer):
    """ResNet backbone: image [N, 3, H, W] -> features of the stages in ``return_idx``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        variant: 'a' (caffe), 'b', 'c' or 'd' (see the module docstring).
        ch_in: stem output channels.
        base_channels: width of res2; each later stage doubles it (64 is the standard
            ResNet; smaller values give the light backbones used on CPU, e.g. the demo).
        groups: ResNeXt cardinality (X-101-64x4d: 64).
        base_width: ResNeXt width per group (X-101-64x4d: 4).
        norm_type: 'bn', 'sync_bn' (BN converted by the trainer) or 'gn'.
        freeze_norm: freeze norm parameters and, for BN, use running statistics.
        freeze_at: freeze the stem and stages 0..freeze_at (0 = res2); -1 trains all.
        freeze_stem_only: with freeze_at >= 0, freeze only the stem.
        return_idx: stages to return (0 = res2, stride 4 ... 3 = res5, stride 32).
        dcn_v2_stages: stages whose 3x3 convs are deformable (DCNv2).
        lr_mult_list: learning-rate multiplier per stage.
        num_stages: number of residual stages built (1-4).
    """

    def __init__(self, depth=50, ch_in=64, variant="b", lr_mult_list=(1.0, 1.0, 1.0, 1.0),
                 groups=1, base_width=64, norm_type="bn", norm_decay=0.0, freeze_norm=True,
                 freeze_at=0, return_idx=(0, 1, 2, 3), dcn_v2_stages=(-1,), num_stages=4,
                 freeze_stem_only=False, base_channels=64):
        super().__init__()
        if depth not in BLOCKS_PER_STAGE:
            raise ValueError(f"depth must be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
        if variant not in ("a", "b", "c", "d"):
            raise ValueError(f"variant must be 'a', 'b', 'c' or 'd', got {excerpt(variant)}")
        check_norm_type(norm_type)
        if norm_type is None:
            raise ValueError("ResNet needs a norm_type (bn, sync_bn or gn)")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1-4, got {num_stages}")
        if len(lr_mult_list) != 4:
            raise ValueError(f"lr_mult_list needs 4 values (res2-res5), got {list(lr_mult_list)}")
        if any(i >= num_stages or i < 0 for i in return_idx):
            raise ValueError(f"return_idx {list(return_idx)} must be stages below num_stages "
                             f"({num_stages})")
        if base_channels < 1:
            raise ValueError(f"base_channels must be positive, got {base_channels}")
        block = BasicBlock if depth < 50 else BottleNeck
        self.return_idx = list(return_idx)
        norm_args = dict(norm_type=norm_type, norm_decay=norm_decay, freeze_norm=freeze_norm)

        if variant in ("c", "d"):
            stem = [(3, ch_in // 2, 3, 2, "conv1_1"), (ch_in // 2, ch_in // 2, 3, 1, "conv1_2"),
                    (ch_in // 2, ch_in, 3, 1, "conv1_3")]
        else:
            stem = [(3, ch_in, 7, 2, "conv1")]
        self.conv1 = nn.Sequential()
        for c_in, c_out, k, s, name in stem:
            self.conv1.add_sublayer(name, ConvNorm(c_in, c_out, k, s, act="relu", **norm_args))

        self.res_layers = []
        self._out_channels = []
        channels = ch_in
        for stage in range(num_stages):
            count = BLOCKS_PER_STAGE[depth][stage]
            stage_layer = nn.Sequential()
            for i in range(count):
                stage_layer.add_sublayer(_block_name(stage + 2, count, i), block(
                    channels, base_channels * 2 ** stage, stride=2 if i == 0 and stage > 0 else 1,
                    shortcut=i > 0, variant=variant, groups=groups, base_width=base_width,
                    dcn=stage in dcn_v2_stages,
                    norm_args=dict(norm_args, lr=lr_mult_list[stage])))
                channels = base_channels * 2 ** stage * block.expansion
            self.res_layers.append(self.add_sublayer(f"res{stage + 2}", stage_layer))
            self._out_channels.append(channels)

        if freeze_at >= 0:
            frozen = [self.conv1]
            if not freeze_stem_only:
                frozen += self.res_layers[:freeze_at + 1]
            for layer in frozen:
                for p in layer.parameters():
                    p.stop_gradient = True

    @property
    def out_shape(self):
        return [ShapeSpec(channels=self._out_channels[i], stride=4 * 2 ** i)
                for i in self.return_idx]

    def forward(self, image):
        x = F.max_pool2d(self.conv1(image), kernel_size=3, stride=2, padding=1)
        outs = []
        for i, stage in enumerate(self.res_layers):
            x = stage(x)
            if i in self.return_idx:
                outs.append(x)
        return outs
