"""Time the record checks of a COCO json the size of COCO train2017 (json only, no images).

    python benchmarks/benchmark_annotations.py [--images 118287] [--boxes 860001] [--out DIR]

Writes DIR/instances.json (random boxes on 640x480 images, 80 categories), then prints
the seconds of json.load, of the checks alone (validation.coco_tables) and of the whole
COCODataSet parse (load + checks + records), as docs/benchmarks.md (Data) quotes them.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppfcos.data.datasets import COCODataSet  # noqa: E402
from ppfcos.data.datasets.validation import RecordProblems, coco_tables  # noqa: E402


def write_annotations(path, num_images, num_boxes, seed=0):
    """A COCO json of ``num_images`` 640x480 images and ``num_boxes`` random boxes."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 400, (num_boxes, 2)).round(2)
    wh = rng.uniform(2, 240, (num_boxes, 2)).round(2)
    owners = rng.integers(1, num_images + 1, num_boxes)
    cats = rng.integers(1, 81, num_boxes)
    data = {"images": [{"id": i, "file_name": f"{i:012d}.jpg", "width": 640, "height": 480}
                       for i in range(1, num_images + 1)],
            "annotations": [{"id": k + 1, "image_id": int(owners[k]),
                             "category_id": int(cats[k]), "iscrowd": 0,
                             "bbox": [*xy[k].tolist(), *wh[k].tolist()],
                             "area": float(wh[k, 0] * wh[k, 1])} for k in range(num_boxes)],
            "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 81)]}
    with open(path, "w") as f:
        json.dump(data, f)


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=118287)
    parser.add_argument("--boxes", type=int, default=860001)
    parser.add_argument("--out", default=None, help="folder for the json (default: a temp dir)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="ppfcos_annotations_")
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    path = os.path.join(out, "instances.json")
    if not os.path.isfile(path):
        write_annotations(path, args.images, args.boxes)
    print(f"{path}: {os.path.getsize(path) / 2 ** 20:.0f} MiB, {args.images} images, "
          f"{args.boxes} boxes")
    with open(path) as f:
        data, load_s = timed(lambda: json.load(f))
    print(f"json.load:                 {load_s:6.2f} s")
    _, check_s = timed(lambda: coco_tables(data, RecordProblems(path)))
    print(f"record checks (coco_tables): {check_s:6.2f} s")
    dataset = COCODataSet(out, "images", "instances.json",
                          data_fields=["image", "gt_bbox", "gt_class", "is_crowd"])
    _, parse_s = timed(dataset.parse_dataset)
    print(f"COCODataSet parse (load + checks + records): {parse_s:6.2f} s, "
          f"{len(dataset)} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
