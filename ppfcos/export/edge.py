"""The edge profile: a graph that NPU and edge compilers (nncase, RKNN-Toolkit2, TensorRT
without plugins) accept: one input, fixed shapes everywhere, no NMS.

    tools/export_model.py -c CONFIG -o weights=W --edge 640x640

The graph (`EdgeGraph`) takes ``image`` [1, 3, H, W] only and returns every location's
decoded ``boxes`` [1, M, 4] (x1, y1, x2, y2 in network-input pixels) and ``scores``
[1, C, M], M = sum of H_l * W_l over the FPN levels. What ``im_shape`` and
``scale_factor`` did in the full export moves to the host:

- before: `Letterbox` (ppfcos_runtime.preprocess) resizes keeping the aspect ratio so the
  image fits H x W and pads the bottom and right with the pixel the normalization maps to
  0, which is what the network sees around an image in dygraph;
- after: boxes clipped to the resized image, divided by the letterbox's scale, then the
  config's multiclass NMS (ppfcos_runtime.host_postprocess, the ``edge`` ExportForm; its
  settings are in infer_cfg.yml's ``nms``).

Boxes and scores are decoded in float32 (NPUs have no float64; the full export's float64
decoding is for Paddle Inference's bf16, see graph.py).
"""
import re

import numpy as np
import paddle
import paddle.nn as nn
from paddle.static import InputSpec

from ..core.config import ConfigError
from ..core.messages import excerpt
from .graph import inference_model, normalize_as_affine
from .infer_cfg import static_image_shape

# The dtype the edge graph decodes in: NPU toolchains take float32, not float64.
EDGE_DECODE_DTYPE = "float32"


def parse_edge_size(text):
    """'640x640' (HxW) -> (640, 640); ConfigError naming the flag otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match or not all(0 < int(side) <= 16384 for side in match.groups()):
        raise ConfigError(f"--edge takes the fixed input size as HxW (e.g. 640x640), sides "
                          f"from 1 to 16384, got {excerpt(text)}")
    return int(match.group(1)), int(match.group(2))


def edge_stride(reader, model):
    """The stride the edge input's sides must be multiples of: the TestReader's PadBatch
    ``pad_to_stride`` (what the full export pads to), else the backbone's coarsest stride
    (the FPN's upsampling needs each level exactly twice the next)."""
    for op in reader.get("batch_transforms", []):
        (kind, args), = op.items()
        if kind == "PadBatch" and (args or {}).get("pad_to_stride", 0) > 0:
            return int(args["pad_to_stride"])
    return max(int(spec.stride) for spec in model.backbone.out_shape)


def check_edge_size(size, reader, model):
    """ConfigError unless (H, W) ``size`` suits the config: multiples of `edge_stride`, and
    the TestReader's own fixed ``inputs_def.image_shape`` (where set) the same size."""
    stride = edge_stride(reader, model)
    if size[0] % stride or size[1] % stride:
        raise ConfigError(f"--edge {size[0]}x{size[1]}: the sides must be multiples of "
                          f"{stride} (the config's pad_to_stride), e.g. "
                          f"{-(-size[0] // stride) * stride}x{-(-size[1] // stride) * stride}")
    fixed = static_image_shape(reader)
    if fixed is not None and fixed != tuple(size):
        raise ConfigError(f"--edge {size[0]}x{size[1]} differs from the config's "
                          f"TestReader.inputs_def.image_shape {[3, *fixed]}: give one size")


def check_edge(size, reader, model, options):
    """ConfigError unless the config can export the edge profile at (H, W) ``size``:
    `check_edge_size`, a post-process that decodes before one NMS (FCOSPostProcess, the
    default, whose decoding the edge graph keeps), and ``export:`` keys (ExportOptions
    ``options``) that do not ask for the raw head outputs."""
    check_edge_size(size, reader, model)
    if not hasattr(model.post_process, "candidates"):
        raise ConfigError(f"--edge needs a post-process that decodes before one NMS "
                          f"(FCOSPostProcess); this model's is "
                          f"{type(model.post_process).__name__}")
    if options.form == "raw":
        raise ConfigError("--edge exports decoded boxes and scores, and the config's export: "
                          "keys ask for the raw head outputs (post_process: false or "
                          "benchmark: true): drop --edge or those keys")


def edge_input_spec(size):
    """The edge graph's one input: ``image`` [1, 3, H, W] float32."""
    return [InputSpec([1, 3, size[0], size[1]], "float32", "image")]


class EdgeGraph(nn.Layer):
    """The edge export's computation: (optional) normalization, network, decoding.

    forward(image):
        image [1, 3, H, W] float32, letterboxed to the fixed H x W; raw 0-255 pixels
            when ``normalize`` (scale, shift) is set (``fuse_normalize``), else normalized.
    Returns boxes [1, M, 4] (x1, y1, x2, y2 in network-input pixels) and scores
    [1, C, M], float32.
    """

    def __init__(self, model, normalize=None, fuse_conv_bn=True):
        super().__init__()
        self.model = inference_model(model, fuse_conv_bn)
        self.model.decode_dtype = EDGE_DECODE_DTYPE
        self.normalize = normalize is not None
        if self.normalize:
            scale, shift = normalize
            self.register_buffer("scale", paddle.to_tensor(scale.reshape([1, 3, 1, 1])))
            self.register_buffer("shift", paddle.to_tensor(shift.reshape([1, 3, 1, 1])))
        # The decoding's scale_factor as a constant: boxes stay in input pixels.
        self.register_buffer("unit_scale", paddle.ones([1, 2], dtype="float32"))

    def forward(self, image):
        if self.normalize:
            image = image * self.scale + self.shift
        height, width = image.shape[2:]          # fixed by the input spec: Python ints
        im_shape = paddle.to_tensor([[float(height), float(width)]], dtype="float32")
        return self.model.candidates({"image": image, "im_shape": im_shape,
                                      "scale_factor": self.unit_scale})


def padding_pixel(normalize_spec):
    """The raw pixel [3] (0-255 scale) the NormalizeImage spec maps to 0 (mean * 255 for
    the usual one; 0 without a NormalizeImage): what the letterbox pads with, so the network
    sees the zeros it sees around an image in dygraph, normalized on the host or in the
    graph alike."""
    if normalize_spec is None:
        return [0.0, 0.0, 0.0]
    scale, shift = normalize_as_affine(normalize_spec)
    return [round(float(v), 6) for v in -shift.astype(np.float64) / scale.astype(np.float64)]


def edge_preprocess(steps, normalize_spec, size):
    """infer_cfg's Preprocess list of the full export (``steps``) -> the edge one: its
    Resize, Pad and PadStride replaced by one Letterbox to ``size`` (H, W), padded with
    `padding_pixel` of ``normalize_spec`` (the TestReader's NormalizeImage), first after a
    ToBGR."""
    resize = next((step for step in steps if step["type"] == "Resize"), {})
    letterbox = {"type": "Letterbox", "size": list(size),
                 "fill_value": padding_pixel(normalize_spec),
                 "interp": resize.get("interp", 1)}
    kept = [step for step in steps if step["type"] not in ("Resize", "Pad", "PadStride")]
    at = 1 if kept and kept[0]["type"] == "ToBGR" else 0
    return kept[:at] + [letterbox] + kept[at:]
