"""Pascal VOC XML annotations (one file per image) to Samples.

Each XML's ``filename`` names its image in the image folder; ``size`` gives its width
and height; each ``object`` has a ``name`` and a ``bndbox`` (xmin, ymin, xmax, ymax),
kept as (x1, y1, x2, y2), as ppfcos' VOCDataSet reads them. ``difficult`` objects
become crowd boxes, which COCO's evaluation ignores as VOC's does.
"""
import os
import xml.etree.ElementTree as ET

from ..datasets.base import DatasetError
from .samples import Sample, annotation_files, relative_image


def read_voc(anno_dir, image_dir):
    """Samples of the ``*.xml`` files of ``anno_dir``, images in ``image_dir``."""
    return [voc_sample(path, image_dir) for path in annotation_files(anno_dir, ".xml")]


def voc_sample(path, image_dir):
    """The Sample of one VOC XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetError("--anno_dir", f"{path}: not valid XML ({e})") from None
    name = (root.findtext("filename") or "").strip()
    if not name:
        raise DatasetError("--anno_dir", f"{path}: no <filename>")
    width, height = (int(float(root.findtext(f"size/{k}") or 0)) for k in ("width", "height"))
    if width <= 0 or height <= 0:
        raise DatasetError("--anno_dir", f"{path}: <size> needs a positive width and height")
    sample = Sample(relative_image(image_dir, os.path.join(image_dir, name), path),
                    width, height)
    for obj in root.iter("object"):
        try:
            box = [float(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError):
            raise DatasetError("--anno_dir", f"{path}: an object without a numeric "
                               f"<bndbox> xmin, ymin, xmax, ymax") from None
        sample.boxes.append(box)
        sample.labels.append((obj.findtext("name") or "").strip())
        sample.crowd.append(int(obj.findtext("difficult") or 0) == 1)
    return sample
