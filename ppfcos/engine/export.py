"""Export a trained model to a static inference model for Paddle Inference.

The exported directory holds the program (``model.json``, or ``model.pdmodel``
where Paddle writes that), ``model.pdiparams`` and ``infer_cfg.yml`` in
PaddleDetection's layout, so both ``deploy/python/infer.py`` and
PaddleDetection's own deploy tools run it.
"""
import os

import numpy as np
import paddle
import paddle.nn as nn
import yaml
from paddle.static import InputSpec

from ..core.config import ConfigError
from ..data.coco_classes import COCO_CLASSES
from ..data.reader import build_dataset
from ..modeling.backbones.resnet import ConvNorm
from .env import logger
from .files import atomic_dir

# Paddle Inference's smallest TensorRT subgraph for FCOS (PaddleDetection's value).
MIN_SUBGRAPH_SIZE = 16
INPUT_SPEC = [InputSpec([-1, 3, -1, -1], "float32", "image"),
              InputSpec([-1, 2], "float32", "im_shape"),
              InputSpec([-1, 2], "float32", "scale_factor")]


def fold_batch_norms(model):
    """Fold every backbone batch norm into its conv (eval only); returns how many."""
    folded = 0
    for layer in model.sublayers():
        if isinstance(layer, ConvNorm) and isinstance(layer.norm, nn.BatchNorm2D):
            layer.fold_norm()
            folded += 1
    return folded


class InferenceGraph(nn.Layer):
    """The exported computation: (optional) normalization, network, decoding and NMS.

    forward(image, im_shape, scale_factor):
        image [N, 3, H, W] float32 after resizing and stride padding; raw 0-255 RGB
            when ``normalize`` is set (the config's ``fuse_normalize``), else
            normalized by the preprocessing;
        im_shape [N, 2] (h, w) of each image before padding;
        scale_factor [N, 2] (scale_y, scale_x) from the original image.
    Returns bbox [K, 6] (class, score, x1, y1, x2, y2 in original pixels) and
    bbox_num [N] int32.

    Pixels outside ``im_shape`` are zeroed after normalization, so the network
    always sees the zero padding it sees in dygraph, whatever the preprocessing
    padded with.
    """

    def __init__(self, model, normalize=None):
        super().__init__()
        self.model = model
        self.normalize = normalize is not None
        if self.normalize:
            scale, shift = normalize
            self.register_buffer("scale", paddle.to_tensor(scale.reshape([1, 3, 1, 1])))
            self.register_buffer("shift", paddle.to_tensor(shift.reshape([1, 3, 1, 1])))

    def forward(self, image, im_shape, scale_factor):
        if self.normalize:
            image = image * self.scale + self.shift
        image = image * valid_pixels(image, im_shape)
        out = self.model({"image": image, "scale_factor": scale_factor})
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


def preprocess_spec(reader):
    """TestReader -> (infer_cfg ``Preprocess`` list, NormalizeImage spec fused into the
    graph or None). Decode is implied; PadBatch becomes PadStride."""
    steps, fused = [], None
    for op in reader.get("sample_transforms", [])[1:]:
        (kind, args), = op.items()
        args = dict(args or {})
        if kind == "NormalizeImage" and reader.get("fuse_normalize", False):
            fused = args
            continue
        if kind == "Resize":
            args.setdefault("interp", 1)
        steps.append({"type": kind, **args})
    for op in reader.get("batch_transforms", []):
        (kind, args), = op.items()
        if kind == "PadBatch":
            steps.append({"type": "PadStride", "stride": (args or {}).get("pad_to_stride", 0)})
    return steps, fused


def label_list(cfg):
    """Class names from the TestDataset's anno_path; without it, COCO's names for an
    80-class COCO model (PaddleDetection does the same), else the class indices."""
    dataset = build_dataset(cfg, "TestDataset")
    dataset.load_categories()
    if dataset.class_names:
        return [str(name) for name in dataset.class_names]
    if cfg.get("metric") == "COCO" and cfg["num_classes"] == len(COCO_CLASSES):
        logger.info("label_list: the 80 COCO class names")
        return list(COCO_CLASSES)
    logger.warning("no class names found (TestDataset.anno_path): label_list holds class "
                   "indices")
    return [str(i) for i in range(cfg["num_classes"])]


def inference_config(cfg, preprocess):
    """The ``infer_cfg.yml`` contents (PaddleDetection's fields and order)."""
    return {"mode": "paddle", "draw_threshold": 0.5, "metric": cfg.get("metric", "COCO"),
            "use_dynamic_shape": False, "arch": cfg["architecture"],
            "min_subgraph_size": MIN_SUBGRAPH_SIZE, "Preprocess": preprocess,
            "label_list": label_list(cfg)}


def export_model(model, cfg, output_dir):
    """Write ``model`` (weights loaded) as a static inference model to ``output_dir``.

    The directory is replaced only once everything is written, so an existing
    export survives a failed one. Returns ``output_dir``.
    """
    if cfg.get("architecture") != "FCOS":
        raise ConfigError(f"export supports architecture FCOS, got {cfg.get('architecture')!r}")
    preprocess, fused = preprocess_spec(cfg.get("TestReader") or {})
    infer_cfg = inference_config(cfg, preprocess)
    model.eval()
    logger.info("folded %d batch norms into convolutions", fold_batch_norms(model))
    graph = InferenceGraph(model, normalize_as_affine(fused) if fused is not None else None)
    graph.eval()
    static = paddle.jit.to_static(graph, input_spec=INPUT_SPEC, full_graph=True)
    with atomic_dir(output_dir) as tmp:
        paddle.jit.save(static, os.path.join(tmp, "model"))
        with open(os.path.join(tmp, "infer_cfg.yml"), "w") as f:
            yaml.safe_dump(infer_cfg, f, sort_keys=False)
    logger.info("exported to %s", output_dir)
    return output_dir


def program_file(model_dir):
    """The program file of an exported model: model.json (PIR) or model.pdmodel."""
    for name in ("model.json", "model.pdmodel"):
        if os.path.isfile(os.path.join(model_dir, name)):
            return os.path.join(model_dir, name)
    raise FileNotFoundError(f"no model.json or model.pdmodel in {model_dir}")

