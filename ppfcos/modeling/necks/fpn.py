"""Feature Pyramid Network with optional extra levels (P6/P7 for FCOS/RetinaNet)."""
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import XavierUniform

from ...core.registry import register
from ..layers import ShapeSpec, upsample_nearest_2x


def _conv(ch_in, ch_out, kernel_size, stride=1, fan_out=None):
    return nn.Conv2D(ch_in, ch_out, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                     weight_attr=ParamAttr(initializer=XavierUniform(fan_out=fan_out)))


@register
class FPN(nn.Layer):
    """Top-down FPN. Backbone features [C_i] (finest first) -> ``out_channel`` maps [P_i, ...].

    Args:
        in_channels: channels of each input level (from the backbone's out_shape).
        out_channel: channels of every output level.
        spatial_scales: 1/stride of each input level (from the backbone's out_shape).
        extra_stage: number of extra coarser levels (2 gives P6, P7 on top of P3-P5).
        has_extra_convs: make the extra levels with stride-2 3x3 convs (else max-pool,
            which allows only one extra level).
        use_c5: the first extra conv reads the last backbone feature (C5) instead of the
            last FPN output (P5); FCOS uses P5 (False).
        relu_before_extra_convs: ReLU before every extra conv after the first.

    Parameter names: ``fpn_inner_res{k}_sum_lateral`` (``fpn_inner_res5_sum`` for
    C5), ``fpn_res{k}_sum``, ``fpn_{6,7}``, where k is the backbone stage.
    """

    def __init__(self, in_channels, out_channel, spatial_scales=(0.25, 0.125, 0.0625, 0.03125),
                 has_extra_convs=False, extra_stage=1, use_c5=True, relu_before_extra_convs=True):
        super().__init__()
        if len(in_channels) != len(spatial_scales):
            raise ValueError(f"in_channels {list(in_channels)} and spatial_scales "
                             f"{list(spatial_scales)} must have one entry per input level")
        if extra_stage > 1 and not has_extra_convs:
            raise ValueError("extra_stage above 1 needs has_extra_convs: true")
        self.out_channel = out_channel
        self.extra_stage = extra_stage
        self.has_extra_convs = has_extra_convs
        self.use_c5 = use_c5
        self.relu_before_extra_convs = relu_before_extra_convs
        self.spatial_scales = list(spatial_scales) + [
            spatial_scales[-1] / 2 ** (i + 1) for i in range(extra_stage)]

        first_stage = 2 + 4 - len(in_channels)  # backbone stage of the first input (res2..res5)
        self.lateral_convs, self.fpn_convs = [], []
        for i, ch in enumerate(in_channels):
            stage = first_stage + i
            lateral_name = ("fpn_inner_res5_sum" if stage == 5
                            else f"fpn_inner_res{stage}_sum_lateral")
            self.lateral_convs.append(self.add_sublayer(
                lateral_name, _conv(ch, out_channel, 1, fan_out=ch)))
            self.fpn_convs.append(self.add_sublayer(
                f"fpn_res{stage}_sum", _conv(out_channel, out_channel, 3,
                                             fan_out=out_channel * 9)))
        if has_extra_convs:
            for i in range(extra_stage):
                ch = in_channels[-1] if i == 0 and use_c5 else out_channel
                self.fpn_convs.append(self.add_sublayer(
                    f"fpn_{first_stage + len(in_channels) + i}",
                    _conv(ch, out_channel, 3, stride=2, fan_out=out_channel * 9)))

    @classmethod
    def from_config(cls, values, build, input_shape):
        return {"in_channels": [s.channels for s in input_shape],
                "spatial_scales": [1.0 / s.stride for s in input_shape]}

    @property
    def out_shape(self):
        return [ShapeSpec(channels=self.out_channel, stride=1.0 / s) for s in self.spatial_scales]

    def forward(self, body_feats):
        """body_feats: [N, C_i, H_i, W_i] finest first -> list of [N, out_channel, H_j, W_j]."""
        num_levels = len(body_feats)
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, body_feats)]
        for lvl in range(num_levels - 1, 0, -1):
            laterals[lvl - 1] = laterals[lvl - 1] + upsample_nearest_2x(laterals[lvl],
                                                                        laterals[lvl - 1])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        if self.extra_stage == 0:
            return outs
        if not self.has_extra_convs:
            return outs + [F.max_pool2d(outs[-1], 1, stride=2)]
        source = body_feats[-1] if self.use_c5 else outs[-1]
        outs.append(self.fpn_convs[num_levels](source))
        for i in range(1, self.extra_stage):
            x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
            outs.append(self.fpn_convs[num_levels + i](x))
        return outs
