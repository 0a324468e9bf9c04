"""Measure the training data loader's throughput (images/s).

Writes ``--num-images`` random 640x480 JPEGs and a COCO json to a temporary
directory, builds the TrainReader of fcos_r50_fpn_1x_coco (Decode, Resize to
800x1333, NormalizeImage, RandomFlip, Permute, PadBatch, Gt2FCOSTarget; batch 2)
with ``--workers`` worker processes, and times full epochs after one warm-up
epoch. Run from the repository root::

    python tools/benchmark_reader.py --workers 2
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from ppfcos.core.config import Config  # noqa: E402
from ppfcos.data.reader import create_reader  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READER_CONFIGS = [
    os.path.join(ROOT, "configs", "fcos", "_base_", "fcos_reader.yml"),
    "/work/shared/reference/ppdet_configs/develop/fcos/_base_/fcos_reader.yml",
]


def write_dataset(out_dir, num_images, width=640, height=480, seed=0):
    """Random JPEGs (smooth noise) with 1-8 random boxes each, as a COCO dataset."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, "images"))
    images, annotations = [], []
    for i in range(1, num_images + 1):
        small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
        image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        name = f"{i:06d}.jpg"
        cv2.imwrite(os.path.join(out_dir, "images", name), image)
        images.append({"id": i, "file_name": name, "width": width, "height": height})
        for _ in range(rng.integers(1, 9)):
            w, h = rng.uniform(16, width / 2), rng.uniform(16, height / 2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            annotations.append({"id": len(annotations) + 1, "image_id": i, "iscrowd": 0,
                                "category_id": int(rng.integers(1, 81)), "area": w * h,
                                "bbox": [x, y, w, h]})
    categories = [{"id": c, "name": f"class{c}"} for c in range(1, 81)]
    with open(os.path.join(out_dir, "annotations.json"), "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)


def reader_config():
    path = next(p for p in READER_CONFIGS if os.path.isfile(p))
    with open(path) as f:
        return yaml.safe_load(f), path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after warm-up")
    args = parser.parse_args()

    reader, path = reader_config()
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(tmp, args.num_images)
        data = {"worker_num": args.workers, "TrainReader": reader["TrainReader"],
                "TrainDataset": {"name": "COCODataSet", "dataset_dir": tmp, "image_dir": "images",
                                 "anno_path": "annotations.json",
                                 "data_fields": ["image", "gt_bbox", "gt_class", "is_crowd"]}}
        loader = create_reader(Config(data, {}, path), "train", num_replicas=1, rank=0)
        for _ in loader:  # warm-up: worker start, page cache
            pass
        images, start = 0, time.perf_counter()
        for epoch in range(1, args.epochs + 1):
            loader.set_epoch(epoch)
            for batch in loader:
                images += int(batch["image"].shape[0])
        elapsed = time.perf_counter() - start
    print(f"TrainReader of {path}: {images} images (640x480 JPEG -> 800x1067, batch "
          f"{reader['TrainReader']['batch_size']}, {args.workers} workers) in {elapsed:.2f} s: "
          f"{images / elapsed:.1f} images/s")


if __name__ == "__main__":
    main()
