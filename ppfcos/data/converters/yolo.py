"""YOLO txt labels to Samples, and Samples back to YOLO txt labels.

Every image of the image folder (``.jpg .jpeg .png .bmp``) may have a label file of the
same stem in the label folder, one object a line: ``class cx cy w h``, the class an
index into the class list and the box normalized by the image width and height. An
image without a label file has no objects. Images are read for their size.
"""
import os

import cv2
from ppfcos_runtime.media import IMAGE_EXTENSIONS

from ..datasets.base import DatasetError
from .samples import Sample


def read_yolo(anno_dir, image_dir, class_names):
    """Samples of the images of ``image_dir`` with the labels in ``anno_dir``."""
    if not os.path.isdir(image_dir):
        raise DatasetError("--image_dir", f"not a directory: {image_dir}")
    images = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise DatasetError("--image_dir", f"no images ({', '.join(IMAGE_EXTENSIONS)}) in "
                           f"{image_dir}")
    return [yolo_sample(name, anno_dir, image_dir, class_names) for name in images]


def yolo_sample(name, anno_dir, image_dir, class_names):
    """The Sample of image ``name`` of ``image_dir``."""
    image = cv2.imread(os.path.join(image_dir, name))
    if image is None:
        raise DatasetError("--image_dir", f"cannot read image {os.path.join(image_dir, name)}")
    height, width = image.shape[:2]
    sample = Sample(name, width, height)
    label_file = os.path.join(anno_dir, os.path.splitext(name)[0] + ".txt")
    if not os.path.isfile(label_file):
        return sample
    with open(label_file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                cls, cx, cy, w, h = line.split()[:5]
                cls, cx, cy, w, h = int(cls), float(cx), float(cy), float(w), float(h)
            except ValueError:
                raise DatasetError("--anno_dir", f"{label_file} line {line_no}: expected "
                                   f"'class cx cy w h', got {line.strip()!r}") from None
            if not 0 <= cls < len(class_names):
                raise DatasetError("--classes", f"{label_file} line {line_no}: class {cls} "
                                   f"is not in the {len(class_names)} classes")
            sample.boxes.append([(cx - w / 2) * width, (cy - h / 2) * height,
                                 (cx + w / 2) * width, (cy + h / 2) * height])
            sample.labels.append(class_names[cls])
            sample.crowd.append(False)
    return sample


def write_yolo(samples, class_names, label_dir):
    """Write one ``<image stem>.txt`` per sample into ``label_dir`` (in the image's
    subfolder) (``class cx cy w h``,
    normalized; an image without objects gets an empty file, so a reader sees it was
    looked at) and ``classes.txt``; returns the paths written."""
    os.makedirs(label_dir, exist_ok=True)
    index = {name: k for k, name in enumerate(class_names)}
    written = []
    for s in samples:
        lines = [f"{index[label]} {(x1 + x2) / 2 / s.width:.6f} {(y1 + y2) / 2 / s.height:.6f} "
                 f"{(x2 - x1) / s.width:.6f} {(y2 - y1) / s.height:.6f}"
                 for (x1, y1, x2, y2), label in zip(s.boxes, s.labels)]
        path = os.path.join(label_dir, os.path.splitext(s.file_name)[0] + ".txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        written.append(path)
    with open(os.path.join(label_dir, "classes.txt"), "w", encoding="utf-8") as f:
        f.write("".join(name + "\n" for name in class_names))
    return written
