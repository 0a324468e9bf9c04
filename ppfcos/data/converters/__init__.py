"""Other annotation formats to COCO json (tools/x2coco.py).

    samples.py    what every reader returns: one Sample per image, and the class list
    voc.py        Pascal VOC XML files
    labelme.py    LabelMe JSON files (rectangles, polygons, circles)
    yolo.py       YOLO txt label files (normalized class cx cy w h)
    coco_file.py  Samples -> COCO dict, the train/val split, writing the files
"""
from ..datasets.base import DatasetError
from .coco_file import split_samples, to_coco, write_coco_splits
from .labelme import read_labelme
from .samples import class_list, read_class_list
from .voc import read_voc
from .yolo import read_yolo

FORMATS = ("voc", "labelme", "yolo")


def read_annotations(fmt, anno_dir, image_dir, classes_file=None):
    """(Samples, class names) of the ``fmt`` annotations in ``anno_dir`` for the images of
    ``image_dir``. ``classes_file`` (one name a line, or a YAML ``names``) fixes the
    classes and their order; without it (VOC, LabelMe only) the labels found, sorted."""
    if fmt == "yolo":
        if classes_file is None:
            raise DatasetError("--classes", "YOLO labels are class indices: give the class "
                               "names with --classes FILE (one a line, or data.yaml)")
        names = read_class_list(classes_file)
        return read_yolo(anno_dir, image_dir, names), names
    if fmt not in FORMATS:
        raise DatasetError("--from", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    samples = (read_voc if fmt == "voc" else read_labelme)(anno_dir, image_dir)
    return samples, class_list(samples, classes_file)


__all__ = ["FORMATS", "read_annotations", "split_samples", "to_coco", "write_coco_splits"]
