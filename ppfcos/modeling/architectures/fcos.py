"""FCOS: backbone -> FPN -> FCOS head, with the loss in training and decoding + NMS in eval."""
import paddle
import paddle.nn as nn

from ...core.registry import register
from ..heads.fcos_head import FCOSOutputs
from ..post_process import FCOSBox, FCOSPostProcess


def _check_image(image):
    """Dygraph tensors and static-graph values alike must be [N, 3, H, W]."""
    shape = getattr(image, "shape", None)
    if shape is None or len(shape) != 4 or shape[1] not in (3, -1):
        got = list(shape) if shape is not None else type(image).__name__
        raise ValueError(f"inputs['image'] must be a float tensor [N, 3, H, W], got {got}")


@register
class FCOS(nn.Layer):
    """The FCOS detector.

    ``forward(inputs)``:

    - training (``model.train()``): ``inputs`` holds ``image`` [N, 3, H, W] and the
      per-level targets ``labels{l}``, ``reg_target{l}``, ``centerness{l}``;
      returns ``loss_cls``, ``loss_box``, ``loss_quality`` and their sum ``loss``.
    - eval (``model.eval()``): ``inputs`` holds ``image``, ``im_shape`` [N, 2]
      (resized h, w before padding; the padded H, W if absent) and ``scale_factor``
      [N, 2] (resized / original, y then x; ones if absent); returns ``bbox`` [K, 6]
      (class, score, x1, y1, x2, y2 in original-image pixels) and ``bbox_num`` [N].
    - either mode, with ``inputs["dense_outputs"]`` true (semi-supervised training): only
      ``image`` is read; returns the head's per-level maps ``cls_logits`` [N, C, H_l, W_l],
      ``distances`` [N, 4, H_l, W_l] (l, t, r, b in input pixels) and ``quality``
      [N, 1, H_l, W_l] (logits), finest level first.

    Args:
        backbone: the feature extractor; its ``out_shape`` (ShapeSpecs) builds the neck.
        neck: the feature pyramid; its ``out_shape`` builds the head.
        fcos_head: the FCOSHead, returning FCOSOutputs.
        fcos_post_process: decoding + NMS; by default built from the head's
            ``nms`` and ``sqrt_score`` (PaddleDetection's current layout), or given as
            ``FCOSPostProcess`` (its 2021 layout) or ``LevelTopKPostProcess``
            (mmdetection's order). Called with (points, outputs, distances in pixels,
            im_shape, scale_factor).

    ``decode_dtype`` (attribute, "float32"): the dtype eval decodes boxes and scores in,
    from the head's outputs to the NMS (which takes float32). Exported programs set
    "float64" (see ppfcos/export/graph.py).
    """
    decode_dtype = "float32"
    __inject__ = ["backbone", "neck", "fcos_head", "fcos_post_process"]

    def __init__(self, backbone="ResNet", neck="FPN", fcos_head="FCOSHead",
                 fcos_post_process=None):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.fcos_head = fcos_head
        self.post_process = fcos_post_process or FCOSPostProcess(
            FCOSBox(num_classes=fcos_head.num_classes, sqrt_score=fcos_head.sqrt_score),
            fcos_head.nms)

    @classmethod
    def from_config(cls, values, build):
        backbone = build("backbone")
        neck = build("neck", input_shape=backbone.out_shape)
        fcos_head = build("fcos_head", input_shape=neck.out_shape)
        return {"backbone": backbone, "neck": neck, "fcos_head": fcos_head}

    def class_parameter_names(self):
        """State-dict names of the parameters whose shape depends on the class count (see
        ppfcos.checkpoint.loading: weights of another class count)."""
        return [f"fcos_head.{name}" for name in self.fcos_head.class_parameter_names()]

    def forward(self, inputs):
        _check_image(inputs["image"])
        feats = self.neck(self.backbone(inputs["image"]))
        outputs = self.fcos_head(feats)
        if inputs.get("dense_outputs"):
            return {"cls_logits": outputs.cls_logits,
                    "distances": self.fcos_head.distances_in_pixels(outputs.bbox_reg),
                    "quality": outputs.quality}
        if self.training:
            losses = self.fcos_head.fcos_loss(outputs, inputs)
            losses["loss"] = paddle.add_n(list(losses.values()))
            return losses
        bbox, bbox_num = self.post_process(*self._decoding_inputs(inputs, feats, outputs))
        return {"bbox": bbox, "bbox_num": bbox_num}

    def _decoding_inputs(self, inputs, feats, outputs):
        """The post-process's (points, outputs, distances, im_shape, scale_factor) of an eval
        forward, in ``decode_dtype``; missing ``im_shape``/``scale_factor`` get defaults."""
        image_shape = paddle.shape(inputs["image"])
        scale_factor = inputs.get("scale_factor")
        if scale_factor is None:
            scale_factor = paddle.ones([image_shape[0], 2], dtype="float32")
        im_shape = inputs.get("im_shape")
        if im_shape is None:
            im_shape = image_shape[2:].astype("float32").unsqueeze(0).tile([image_shape[0], 1])
        dtype = self.decode_dtype
        if dtype != "float32":
            outputs = FCOSOutputs(*([x.astype(dtype) for x in part] for part in outputs))
            scale_factor = scale_factor.astype(dtype)
        return (self.fcos_head.points(feats, dtype), outputs,
                self.fcos_head.distances_in_pixels(outputs.bbox_reg), im_shape, scale_factor)

    def candidates(self, inputs):
        """Eval mode, ``inputs`` as for forward -> the candidates the post-process's NMS
        takes: boxes [N, M, 4] in original-image pixels and scores [N, C, M] (float32).
        Needs a post-process that decodes before one NMS (FCOSPostProcess, the default)."""
        feats = self.neck(self.backbone(inputs["image"]))
        points, outputs, distances, _, scale_factor = self._decoding_inputs(
            inputs, feats, self.fcos_head(feats))
        return self.post_process.candidates(points, outputs, distances, scale_factor)
