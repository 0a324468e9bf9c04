"""LabelMe JSON annotations (one file per image) to Samples, and Samples back to them
(rectangles, for review in LabelMe).

A file's ``imagePath`` is relative to the JSON file; ``imageWidth`` and
``imageHeight`` give the size. Each shape of ``shapes`` gives one box: the bounds
of a ``rectangle``'s two corners or of a ``polygon``'s points, or a ``circle``'s
(centre, point on the circle) square. Other shapes (points, lines) have no box: they
are skipped, with one warning giving their number.
"""
import json
import logging
import math
import os

from ..datasets.base import DatasetError
from .samples import Sample, annotation_files, relative_image

logger = logging.getLogger(__name__)


def read_labelme(anno_dir, image_dir):
    """Samples of the ``*.json`` files of ``anno_dir``; the images must lie inside
    ``image_dir``."""
    samples, skipped = [], 0
    for path in annotation_files(anno_dir, ".json"):
        sample, n = labelme_sample(path, image_dir)
        samples.append(sample)
        skipped += n
    if skipped:
        logger.warning("skipped %d LabelMe shapes without an area (points, lines) in %s",
                       skipped, anno_dir)
    return samples


def shape_box(shape):
    """(x1, y1, x2, y2) of a LabelMe shape, or None for one without an area."""
    points = shape.get("points") or []
    kind = shape.get("shape_type", "polygon")
    if kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        r = math.hypot(px - cx, py - cy)
        return [cx - r, cy - r, cx + r, cy + r]
    if kind in ("rectangle", "polygon") and len(points) >= 2:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return [min(xs), min(ys), max(xs), max(ys)]
    return None


def labelme_sample(path, image_dir):
    """(Sample, number of shapes skipped) of one LabelMe file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        image = os.path.join(os.path.dirname(path), data["imagePath"])
        width, height = int(data["imageWidth"]), int(data["imageHeight"])
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError("--anno_dir", f"{path}: not a LabelMe file with imagePath, "
                           f"imageWidth and imageHeight ({e})") from None
    sample = Sample(relative_image(image_dir, image, path), width, height)
    skipped = 0
    for shape in data.get("shapes", []):
        box = shape_box(shape)
        if box is None:
            skipped += 1
            continue
        sample.boxes.append(box)
        sample.labels.append(str(shape.get("label", "")).strip())
        sample.crowd.append(False)
    return sample, skipped


def write_labelme(samples, image_dir, anno_dir):
    """Write one LabelMe ``<image stem>.json`` per sample into ``anno_dir`` (in the
    image's subfolder): each box a
    ``rectangle`` labelled with its class, ``imagePath`` the image (``image_dir`` joined
    with the sample's file name) relative to the file; returns the paths written."""
    os.makedirs(anno_dir, exist_ok=True)
    written = []
    for s in samples:
        image = os.path.join(image_dir, s.file_name)
        shapes = [{"label": label, "points": [[x1, y1], [x2, y2]], "group_id": None,
                   "shape_type": "rectangle", "flags": {}}
                  for (x1, y1, x2, y2), label in zip(s.boxes, s.labels)]
        path = os.path.join(anno_dir, os.path.splitext(s.file_name)[0] + ".json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"version": "5.0.1", "flags": {}, "shapes": shapes,
                       "imagePath": os.path.relpath(image, anno_dir), "imageData": None,
                       "imageHeight": s.height, "imageWidth": s.width}, f, indent=1)
        written.append(path)
    return written
