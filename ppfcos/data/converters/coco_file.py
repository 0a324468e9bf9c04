"""Samples to COCO json: ids, categories, the seeded train/val split and the files."""
import os

import numpy as np

from ...core.files import write_json


def to_coco(samples, class_names):
    """COCO dict of ``samples``: images by id 1..N in order, categories 1..C in the order of
    ``class_names``, boxes as [x, y, w, h] with area w * h."""
    category = {name: k + 1 for k, name in enumerate(class_names)}
    images, annotations = [], []
    for image_id, s in enumerate(samples, 1):
        images.append({"id": image_id, "file_name": s.file_name, "width": s.width,
                       "height": s.height})
        for (x1, y1, x2, y2), label, crowd in zip(s.boxes, s.labels, s.crowd):
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": category[label], "bbox": [x1, y1, w, h],
                                "area": w * h, "iscrowd": int(crowd)})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": k, "name": name, "supercategory": "none"}
                           for name, k in category.items()]}


def split_samples(samples, val_ratio, seed=0):
    """(train, val): ``round(val_ratio * N)`` samples drawn for val with a generator seeded
    with ``seed``; both keep the input order."""
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"--val_ratio must be in [0, 1), got {val_ratio}")
    num_val = int(round(val_ratio * len(samples)))
    val = set(np.random.default_rng(seed).choice(len(samples), num_val, replace=False).tolist())
    return ([s for k, s in enumerate(samples) if k not in val],
            [s for k, s in enumerate(samples) if k in val])


def write_coco_splits(samples, class_names, output_dir, val_ratio=0.0, seed=0):
    """Write ``instances_train.json`` (and ``instances_val.json`` when ``val_ratio`` > 0)
    into ``output_dir``; returns {split: (path, number of images)}."""
    os.makedirs(output_dir, exist_ok=True)
    train, val = split_samples(samples, val_ratio, seed)
    written = {}
    for split, part in (("train", train), ("val", val)):
        if split == "val" and not val_ratio:
            continue
        path = os.path.join(output_dir, f"instances_{split}.json")
        write_json(to_coco(part, class_names), path)
        written[split] = (path, len(part))
    return written
