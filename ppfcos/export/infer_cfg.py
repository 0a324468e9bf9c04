"""``infer_cfg.yml``: what a deploy tool needs besides the program (PaddleDetection's layout),
and ppfcos's record of the export's model files (ppfcos_runtime.digests), which each tool
that writes a model file into an export brings up to date (`record_model_file`)."""
import logging
import os

import yaml
from ppfcos_runtime.digests import FILES_KEY, file_record
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.model_files import INFER_CFG_FILE, model_paths

from ..core.config import ConfigError
from ..core.files import atomic_path
from ..core.messages import excerpt
from ..data.class_labels import inference_labels
from ..data.reader import build_dataset
from .graph import DECODE_DTYPE

logger = logging.getLogger("ppfcos")

# Paddle Inference's smallest TensorRT subgraph for FCOS (PaddleDetection's value).
MIN_SUBGRAPH_SIZE = 16


def static_image_shape(reader):
    """TestReader ``inputs_def.image_shape`` [3, H, W] -> (H, W), or None when absent or
    dynamic (H or W of -1 or null), as PaddleDetection reads it."""
    shape = (reader.get("inputs_def") or {}).get("image_shape")
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or shape[0] != 3:
        raise ConfigError(f"TestReader.inputs_def.image_shape must be [3, H, W], "
                          f"got {excerpt(shape)}")
    if any(side is None or side == -1 for side in shape[1:]):
        return None
    if not all(isinstance(side, int) and side > 0 for side in shape[1:]):
        raise ConfigError(f"TestReader.inputs_def.image_shape: H and W must be positive "
                          f"integers (or -1 for any size), got {excerpt(shape)}")
    return tuple(shape[1:])


def preprocess_spec(reader):
    """TestReader -> (infer_cfg ``Preprocess`` list, NormalizeImage spec fused into the
    graph or None). Decode is implied (deploy tools decode to RGB); a Decode with
    ``to_rgb: false`` (caffe-style backbones) becomes a first ``ToBGR`` step. PadBatch
    becomes PadStride.

    With a static ``inputs_def.image_shape`` [3, H, W], Resize targets [H, W] (as in
    PaddleDetection's export) and a Pad step before Permute fills the image up to
    exactly H x W instead of PadStride. With ``keep_ratio`` only a square H == W lets
    every image fit after resizing (Resize scales by the long side there).
    """
    static = static_image_shape(reader)
    transforms = [next(iter(op.items())) for op in reader.get("sample_transforms", [])]
    ops = transforms[1:]
    if static is not None:
        resize = [dict(args or {}) for kind, args in ops if kind == "Resize"]
        if not resize:
            raise ConfigError("TestReader.inputs_def.image_shape fixes the input size: the "
                              "TestReader needs a Resize step to bring images to it")
        if resize[0].get("keep_ratio", True) and static[0] != static[1]:
            raise ConfigError(f"TestReader.inputs_def.image_shape {list(static)}: with "
                              f"Resize keep_ratio, use a square H == W (or keep_ratio: "
                              f"false) so that every image fits the fixed input")
    steps, fused = [], None
    if transforms and transforms[0][0] == "Decode" and not (transforms[0][1] or {}).get(
            "to_rgb", True):
        steps.append({"type": "ToBGR"})
    for kind, args in ops:
        args = dict(args or {})
        if kind == "NormalizeImage" and reader.get("fuse_normalize", False):
            fused = args
            continue
        if kind == "Resize":
            args.setdefault("interp", 1)
            if static is not None:
                args["target_size"] = list(static)
        if kind == "Permute" and static is not None:
            steps.append({"type": "Pad", "size": list(static), "fill_value": [0.0, 0.0, 0.0]})
        steps.append({"type": kind, **args})
    for op in reader.get("batch_transforms", []):
        (kind, args), = op.items()
        if kind == "PadBatch" and static is None:
            steps.append({"type": "PadStride", "stride": (args or {}).get("pad_to_stride", 0)})
    return steps, fused


def labels(cfg):
    """(label_list, category_ids) of the config's TestDataset: see
    `ppfcos.data.class_labels.inference_labels` (COCO's names and ids, or the class
    indices, when its anno_path is not on disk)."""
    dataset = build_dataset(cfg, "TestDataset")
    dataset.load_categories()
    return inference_labels(dataset, cfg["num_classes"], cfg.get("metric", "COCO"))


def inference_config(cfg, preprocess, dynamic_shape=True):
    """The ``infer_cfg.yml`` contents (PaddleDetection's fields and order, then ppfcos's
    ``category_ids``, ``decode_dtype``, the dtype the program decodes boxes in, and
    ``num_classes``, the classes the program scores; the exporter adds the ``files``
    record, `file_records`). ``use_dynamic_shape`` is PaddleDetection's rule: True unless the
    exported image input has a fixed size."""
    names, category_ids = labels(cfg)
    return {"mode": "paddle", "draw_threshold": 0.5, "metric": cfg.get("metric", "COCO"),
            "use_dynamic_shape": dynamic_shape, "arch": cfg["architecture"],
            "min_subgraph_size": MIN_SUBGRAPH_SIZE, "Preprocess": preprocess,
            "label_list": names, "category_ids": category_ids, "decode_dtype": DECODE_DTYPE,
            "num_classes": cfg["num_classes"]}


def file_records(model_dir):
    """infer_cfg's ``files`` record of the model files now in ``model_dir``: {file name:
    {"bytes": size, "sha256": hex digest}}."""
    return {os.path.basename(path): file_record(path)
            for path in model_paths(model_dir).values() if path is not None}


def write_infer_cfg(model_dir, infer_cfg):
    """Write ``infer_cfg`` (a dict) as ``model_dir/infer_cfg.yml`` in one step (a reader
    sees the old file or the new one)."""
    with atomic_path(os.path.join(model_dir, INFER_CFG_FILE)) as tmp, open(tmp, "w") as f:
        yaml.safe_dump(infer_cfg, f, sort_keys=False)


def check_sources(model_dir, backend):
    """DeployError unless the model files ``backend`` reads (at fp32) in ``model_dir`` are
    the export's own, where it has an infer_cfg.yml (ppfcos_runtime's load checks), so a
    file written from them (model.onnx, model_int8.onnx) is never recorded as the export's
    when they are damaged or from another export."""
    if os.path.isfile(os.path.join(model_dir, INFER_CFG_FILE)):
        load_exported_model(model_dir, backend)


def record_model_file(model_dir, path):
    """Add ``path`` (model.onnx, model_int8.onnx, just written) to the ``files`` record of
    ``model_dir/infer_cfg.yml``, where ``path`` is in ``model_dir`` and its infer_cfg.yml
    keeps a record (ppfcos's exports). The other files' records stay as they are; other
    exports (PaddleDetection's, older ppfcos ones: loaded unchecked) and files written
    elsewhere are left alone."""
    cfg_path = os.path.join(model_dir, INFER_CFG_FILE)
    if not (os.path.isfile(cfg_path) and os.path.samefile(os.path.dirname(
            os.path.abspath(path)), model_dir)):
        return
    with open(cfg_path) as f:
        infer_cfg = yaml.safe_load(f)
    if isinstance(infer_cfg, dict) and isinstance(infer_cfg.get(FILES_KEY), dict):
        infer_cfg[FILES_KEY][os.path.basename(path)] = file_record(path)
        write_infer_cfg(model_dir, infer_cfg)
        logger.info("recorded %s in %s", os.path.basename(path), cfg_path)
