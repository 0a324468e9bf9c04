"""``infer_cfg.yml``: what a deploy tool needs besides the program (PaddleDetection's layout)."""
import logging

from ..data.coco_classes import COCO_CLASSES
from ..data.reader import build_dataset

logger = logging.getLogger("ppfcos")

# Paddle Inference's smallest TensorRT subgraph for FCOS (PaddleDetection's value).
MIN_SUBGRAPH_SIZE = 16


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
