"""The exported computation: input normalization and padding mask around the detector,
whose backbone's batch norms are folded into their convolutions (``export.folding``,
unless ``export.fuse_conv_bn`` is false), which decodes boxes and scores in float64 and
ends where the export's form says (``export.forms``: full, decoded or raw).

Why float64: Paddle Inference's bf16 (``enable_mkldnn_bfloat16``, deploy's
``--precision bf16``) converts every float32 op it has a oneDNN bf16 kernel for,
whatever its place in the graph, and ignores ``set_bfloat16_op`` under PIR. Decoded
in bf16, a box edge near x = 1169 moves by up to 8 px. It leaves float64 ops alone, so
decoding in float64 keeps boxes, scores and NMS exact while the network runs in bf16.
At fp32 the detections are those of a float32 decoding (every runtime agrees within
1e-3 in score, 1e-2 px); the float64 ops run Paddle's own kernels, not oneDNN's, at a
cost of 1-2% of a ResNet-50 run (docs/benchmarks.md, "Deploy latency vs d1848f7").
"""
import copy
import logging

import numpy as np
import paddle
import paddle.nn as nn

from .folding import fold_batch_norms

logger = logging.getLogger("ppfcos")


# The dtype exported programs decode boxes and scores in (see the module docstring).
DECODE_DTYPE = "float64"


def inference_model(model, fuse_conv_bn=True):
    """An eval-mode copy of ``model`` that decodes in DECODE_DTYPE, with its backbone's batch
    norms folded into convolutions (the same outputs) when ``fuse_conv_bn``; ``model`` is
    unchanged."""
    model = copy.deepcopy(model)
    model.eval()
    model.decode_dtype = DECODE_DTYPE
    if fuse_conv_bn:
        logger.info("folded %d batch norms into convolutions",
                    fold_batch_norms(model.backbone, paddle.zeros([1, 3, 64, 64])))
    return model


class InferenceGraph(nn.Layer):
    """The exported computation: (optional) normalization, network, then decoding and NMS
    as far as ``form`` says.

    forward(image, im_shape, scale_factor):
        image [N, 3, H, W] float32 after resizing and stride padding; raw 0-255 RGB
            when ``normalize`` is set (the config's ``fuse_normalize``), else
            normalized by the preprocessing;
        im_shape [N, 2] (h, w) of each image before padding;
        scale_factor [N, 2] (scale_y, scale_x) from the original image (not an input of
            the raw form).
    Returns, by ``form`` (ppfcos_runtime.host_postprocess describes the outputs):
        "full": bbox [K, 6] (class, score, x1, y1, x2, y2 in original pixels) and
            bbox_num [N] int32;
        "decoded": boxes [N, M, 4] in original pixels and scores [N, C, M], float32;
        "raw": per FPN level, finest first, cls_logits [N, C, H_l, W_l], distances
            [N, 4, H_l, W_l] in input pixels and quality [N, 1, H_l, W_l] (the graph then
            does not read scale_factor).

    Pixels outside ``im_shape`` are zeroed after normalization, so the network
    always sees the zero padding it sees in dygraph, whatever the preprocessing
    padded with.
    """

    def __init__(self, model, normalize=None, form="full"):
        super().__init__()
        self.model = model
        self.form = form
        self.normalize = normalize is not None
        if self.normalize:
            scale, shift = normalize
            self.register_buffer("scale", paddle.to_tensor(scale.reshape([1, 3, 1, 1])))
            self.register_buffer("shift", paddle.to_tensor(shift.reshape([1, 3, 1, 1])))

    def forward(self, image, im_shape, scale_factor=None):
        if self.normalize:
            image = image * self.scale + self.shift
        image = image * valid_pixels(image, im_shape)
        inputs = {"image": image, "im_shape": im_shape, "scale_factor": scale_factor}
        if self.form == "decoded":
            return self.model.candidates(inputs)
        if self.form == "raw":
            out = self.model({"image": image, "dense_outputs": True})
            return tuple(x for level in zip(out["cls_logits"], out["distances"], out["quality"])
                         for x in level)
        out = self.model(inputs)
        return out["bbox"], out["bbox_num"]


def valid_pixels(image, im_shape):
    """[N, 1, H, W] float mask: 1 where (y, x) lies inside each image's ``im_shape``."""
    rows = paddle.arange(paddle.shape(image)[2], dtype="float32").reshape([1, 1, -1, 1])
    cols = paddle.arange(paddle.shape(image)[3], dtype="float32").reshape([1, 1, 1, -1])
    height = im_shape[:, 0].reshape([-1, 1, 1, 1])
    width = im_shape[:, 1].reshape([-1, 1, 1, 1])
    return paddle.logical_and(rows < height, cols < width).astype("float32")


def normalize_as_affine(op):
    """A NormalizeImage spec -> per-channel (scale, shift) with x * scale + shift == op(x)."""
    mean = np.asarray(op.get("mean", [0.485, 0.456, 0.406]), dtype=np.float32)
    std = np.asarray(op.get("std", [0.229, 0.224, 0.225]), dtype=np.float32)
    pixel = np.float32(1 / 255.0) if op.get("is_scale", True) else np.float32(1.0)
    if op.get("norm_type", "mean_std") == "none":
        return np.full(3, pixel, np.float32), np.zeros(3, np.float32)
    return pixel / std, -mean / std
