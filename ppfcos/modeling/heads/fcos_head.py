"""FCOS head: a shared conv tower per branch, then per-location class logits,
box distances (left, top, right, bottom) and a quality (centerness or IoU) logit.

The head only predicts. Targets and losses live in ``losses/fcos_loss.py``,
decoding and NMS in ``post_process.py``; ``architectures/fcos.py`` wires them.
"""
import math
from typing import List, NamedTuple

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, Normal

from ...core.registry import register
from ..layers import ConvNormLayer, ScaleReg, check_norm_type, tensor_shape

class FCOSOutputs(NamedTuple):
    """Per-level head outputs, finest level first (one list entry per level ``l``).

    Attributes:
        cls_logits: [N, num_classes, H_l, W_l] class logits.
        bbox_reg: [N, 4, H_l, W_l] distances (l, t, r, b) from each cell to the box
            edges, in the units of the regression targets: strides of the level when
            ``norm_reg_targets`` and not ``multiply_strides_reg_targets``, else pixels.
        quality: [N, 1, H_l, W_l] centerness (or IoU) logits.
    """

    cls_logits: List[paddle.Tensor]
    bbox_reg: List[paddle.Tensor]
    quality: List[paddle.Tensor]


@register
class FCOSFeat(nn.Layer):
    """Two parallel towers of ``num_convs`` conv+norm+ReLU units (classification and
    regression), shared by all pyramid levels.

    [N, feat_in, H, W] -> ([N, feat_out, H, W], [N, feat_out, H, W]).
    ``feat_in`` defaults to the neck's channels.

    Args:
        use_dcn: the tower convs are DCNv2 (all of them, as in PaddleDetection).
        dcn_on_last_conv: with use_dcn, only the last conv of each tower is DCNv2
            (mmdetection's ``dcn_on_last_conv``).
        conv_bias: the tower convs have a bias (PaddleDetection: always; mmdetection:
            ``conv_bias``, off by default when a norm follows).
    """

    def __init__(self, feat_in=256, feat_out=256, num_convs=4, norm_type="bn", use_dcn=False,
                 dcn_on_last_conv=False, conv_bias=True):
        super().__init__()
        check_norm_type(norm_type)
        self.out_channels = feat_out if num_convs > 0 else feat_in
        self.cls_subnet_convs, self.reg_subnet_convs = [], []
        for i in range(num_convs):
            ch_in = feat_in if i == 0 else feat_out
            dcn = use_dcn and (i == num_convs - 1 or not dcn_on_last_conv)
            for branch, convs in (("cls", self.cls_subnet_convs), ("reg", self.reg_subnet_convs)):
                convs.append(self.add_sublayer(
                    f"fcos_head_{branch}_tower_conv_{i}",
                    ConvNormLayer(ch_in, feat_out, 3, norm_type=norm_type, use_dcn=dcn,
                                  bias=conv_bias)))

    @classmethod
    def from_config(cls, values, build, input_shape):
        return {"feat_in": input_shape[0].channels}

    def forward(self, fpn_feat):
        cls_feat = reg_feat = fpn_feat
        for cls_conv, reg_conv in zip(self.cls_subnet_convs, self.reg_subnet_convs):
            cls_feat = F.relu(cls_conv(cls_feat))
            reg_feat = F.relu(reg_conv(reg_feat))
        return cls_feat, reg_feat


@register
class FCOSHead(nn.Layer):
    """FCOS prediction head over FPN levels.

    Args:
        num_classes: object classes (shared key).
        fcos_feat: the tower (FCOSFeat).
        fpn_stride: stride of each input level (taken from the neck).
        prior_prob: initial foreground probability (sets the class-logit bias).
        norm_reg_targets: predict ReLU(distance / stride) instead of exp(distance).
        multiply_strides_reg_targets: with norm_reg_targets, multiply the prediction by the
            stride in training too (targets then stay in pixels).
        centerness_on_reg: quality branch on the regression tower (else classification).
        num_shift: location of a cell's point, in cells (0.5 = cell centre).
        sqrt_score: score = sqrt(cls * quality) instead of cls * quality.
        fcos_loss: the loss (FCOSLoss), used by the architecture in training.
        nms: the NMS (MultiClassNMS) used when the architecture has no post-process.
    """
    __shared__ = ["num_classes"]
    __inject__ = ["fcos_feat", "fcos_loss", "nms"]

    def __init__(self, num_classes=80, fcos_feat="FCOSFeat", fpn_stride=(8, 16, 32, 64, 128),
                 prior_prob=0.01, multiply_strides_reg_targets=False, norm_reg_targets=True,
                 centerness_on_reg=True, num_shift=0.5, sqrt_score=False, fcos_loss="FCOSLoss",
                 nms="MultiClassNMS"):
        super().__init__()
        self.num_classes = num_classes
        self.fcos_feat = fcos_feat
        self.fpn_stride = [int(s) for s in fpn_stride]
        self.norm_reg_targets = norm_reg_targets
        self.multiply_strides_reg_targets = multiply_strides_reg_targets
        self.centerness_on_reg = centerness_on_reg
        self.num_shift = num_shift
        self.sqrt_score = sqrt_score
        self.fcos_loss = fcos_loss
        self.nms = nms

        channels = fcos_feat.out_channels
        bias_init = -math.log((1 - prior_prob) / prior_prob)
        self.fcos_head_cls = self._predictor(channels, num_classes, bias_init)
        self.fcos_head_reg = self._predictor(channels, 4, 0.0)
        self.fcos_head_centerness = self._predictor(channels, 1, 0.0)
        self.scales_regs = [self.add_sublayer(f"p{int(math.log2(s))}_feat", ScaleReg())
                            for s in self.fpn_stride]

    @staticmethod
    def _predictor(ch_in, ch_out, bias_init):
        return nn.Conv2D(ch_in, ch_out, 3, padding=1,
                         weight_attr=ParamAttr(initializer=Normal(0.0, 0.01)),
                         bias_attr=ParamAttr(initializer=Constant(bias_init)))

    @classmethod
    def from_config(cls, values, build, input_shape):
        channels = {s.channels for s in input_shape}
        if len(channels) != 1:
            raise ValueError(f"FCOSHead shares one tower across levels, so every neck level "
                             f"needs the same channels; got {sorted(channels)}")
        return {"fpn_stride": [int(round(s.stride)) for s in input_shape],
                "fcos_feat": build("fcos_feat", input_shape=input_shape)}

    def class_parameter_names(self):
        """Names (in this head's state dict) of the parameters shaped by ``num_classes``: the
        class-logit conv, which fine-tuning on other classes starts from its init."""
        return [f"fcos_head_cls.{name}" for name, _ in self.fcos_head_cls.named_parameters()]

    @property
    def distances_in_strides(self):
        """True when ``bbox_reg`` is in units of the level's stride (targets divided by it)."""
        return self.norm_reg_targets and not self.multiply_strides_reg_targets

    def forward(self, fpn_feats):
        """fpn_feats: list of [N, C, H_l, W_l], one per ``fpn_stride`` -> FCOSOutputs."""
        if len(fpn_feats) != len(self.fpn_stride):
            raise ValueError(f"FCOSHead got {len(fpn_feats)} feature levels but has "
                             f"{len(self.fpn_stride)} strides {self.fpn_stride}")
        cls_logits, bbox_reg, quality = [], [], []
        for scale_reg, stride, feat in zip(self.scales_regs, self.fpn_stride, fpn_feats):
            cls_feat, reg_feat = self.fcos_feat(feat)
            reg = scale_reg(self.fcos_head_reg(reg_feat))
            if self.norm_reg_targets:
                reg = F.relu(reg)
                if self.multiply_strides_reg_targets:
                    reg = reg * stride
            else:
                reg = paddle.exp(reg)
            cls_logits.append(self.fcos_head_cls(cls_feat))
            bbox_reg.append(reg)
            quality.append(self.fcos_head_centerness(
                reg_feat if self.centerness_on_reg else cls_feat))
        return FCOSOutputs(cls_logits, bbox_reg, quality)

    def points(self, fpn_feats, dtype="float32"):
        """Per level, the image-pixel (x, y) of each cell's point: [H_l*W_l, 2] of
        ``dtype``, row-major."""
        points = []
        for stride, feat in zip(self.fpn_stride, fpn_feats):
            height, width = tensor_shape(feat)[2:]
            xs = (paddle.arange(width, dtype=dtype) + self.num_shift) * stride
            ys = (paddle.arange(height, dtype=dtype) + self.num_shift) * stride
            grid_y, grid_x = paddle.meshgrid(ys, xs)
            points.append(paddle.stack([grid_x.flatten(), grid_y.flatten()], axis=-1))
        return points

    def distances_in_pixels(self, bbox_reg):
        """``bbox_reg`` of FCOSOutputs -> distances in input-image pixels, per level."""
        if not self.distances_in_strides:
            return list(bbox_reg)
        return [reg * stride for reg, stride in zip(bbox_reg, self.fpn_stride)]
