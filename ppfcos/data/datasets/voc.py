"""Pascal VOC-format detection dataset in PaddleDetection's layout.

``dataset_dir/anno_path`` lists one image per line as ``image_path xml_path``
(both relative to ``dataset_dir``, or to ``dataset_dir/image_dir`` when that is
set); ``dataset_dir/label_list`` names the classes, one per line, in label order.
"""
import math
import os
import xml.etree.ElementTree as ET

import numpy as np

from ppfcos.core.registry import register

from .base import DatasetError, DetDataset, path_inside, resolve_path
from .validation import RecordProblems

# The 20 Pascal VOC classes, used when no label_list is given.
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def _number(text):
    """The float in an XML tag's text, or None if it is missing or not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _integer(text):
    """The int in an XML tag's text, or None if it is not an integer."""
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _difficult_flag(text):
    """0 or 1 from a ``<difficult>`` tag's text (0 when the tag is missing or empty), or
    None for anything else ("yes", "nan", "2")."""
    if text is None or not text.strip():
        return 0
    value = _number(text)
    return int(value) if value in (0, 1) else None


def read_label_list(path):
    """Class names from a text file, one per line (blank lines ignored)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@register
class VOCDataSet(DetDataset):
    """Images and boxes from VOC XML files.

    Args (PaddleDetection's names): ``dataset_dir``, ``image_dir``, ``anno_path``
    (the image-set list), ``label_list`` (class names file; the 20 VOC classes
    if unset), ``data_fields``, ``sample_num``, ``allow_empty``, ``empty_ratio``,
    ``allow_outside_paths``, ``allow_bad_records`` as in
    `COCODataSet`. ``difficult`` comes
    from each object's ``<difficult>`` tag. Boxes are clipped to
    ``[0, width-1] x [0, height-1]`` as PaddleDetection does for VOC.

    Only ``metric: VOC`` scores it: its ``clsid2catid`` is the identity, and there is
    no COCO json for ``metric: COCO`` to read the ground truth from.
    """

    metrics = ("VOC",)

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, label_list=None,
                 data_fields=["image"], sample_num=-1, allow_empty=False, empty_ratio=1.,
                 allow_outside_paths=False, allow_bad_records=False):
        super().__init__(dataset_dir, image_dir, anno_path, data_fields, sample_num,
                         allow_outside_paths, allow_bad_records)
        self.label_list = label_list
        self.allow_empty = allow_empty
        self.empty_ratio = empty_ratio
        self.class_names = self.cname2cid = self.catid2clsid = self.clsid2catid = None

    def _parse(self):
        list_file = resolve_path(self.dataset_dir, self.anno_path, "anno_path", "image list file")
        if self.label_list is None:
            self.class_names = list(VOC_CLASSES)
        else:
            self.class_names = read_label_list(resolve_path(
                self.dataset_dir, self.label_list, "label_list", "label list file"))
        self.cname2cid = {name: i for i, name in enumerate(self.class_names)}
        self.catid2clsid = self.clsid2catid = {i: i for i in range(len(self.class_names))}
        root = os.path.join(self.dataset_dir or "", self.image_dir or "")

        records, empty_records, seen = [], [], {}
        problems = self.problems = RecordProblems(list_file, self.allow_bad_records,
                                                  self.collect_problems)
        with open(list_file, encoding="utf-8") as f:
            lines = [(n, line.split()) for n, line in enumerate(f, 1) if line.strip()]
        for line_no, fields in lines:
            if len(fields) < 2:
                raise DatasetError("anno_path", f"{list_file} line {line_no}: expected "
                                   f"'image_path xml_path', got {' '.join(fields)!r}")
            im_file, xml_file = (path_inside(root, p, "anno_path", f"{list_file} line {line_no}",
                                             self.allow_outside_paths) for p in fields[:2])
            if im_file in seen:
                problems.error("images listed twice", f"line {line_no}: {fields[0]} is "
                               f"already listed on line {seen[im_file]}: list each image once")
                continue
            seen[im_file] = line_no
            record, num_boxes = self._read_xml(xml_file, f"{list_file} line {line_no}",
                                               len(records) + len(empty_records), problems)
            if record is None:
                continue
            record["im_file"] = im_file
            if self._file_record(record, num_boxes > 0, records, empty_records):
                break
        problems.log(type(self).__name__)
        self._warn_dropped(list_file)
        return self._select(records, empty_records, self.empty_ratio, list_file)

    def _read_xml(self, xml_file, where, index, problems):
        """(record, number of boxes) of one XML file; (None, 0) if it has no usable size.

        A size that is missing or not positive skips the image (counted); a size or
        box coordinate that is not a number, an ``<id>`` that is not an integer, a
        ``<difficult>`` other than 0 or 1 and an unknown class are strict errors of
        ``problems``; a box with infinite numbers is skipped (counted).
        """
        if not os.path.isfile(xml_file):
            raise DatasetError("anno_path", f"{where}: annotation XML not found: {xml_file}")
        try:
            tree = ET.parse(xml_file).getroot()
        except ET.ParseError as e:
            raise DatasetError("anno_path", f"{where}: not valid XML: {xml_file} ({e})") from e
        size = [tree.findtext(f"size/{k}") for k in ("width", "height")]
        w, h = (_number(text or 0) for text in size)
        if w is None or h is None:
            problems.error("XML files with a non-numeric size", f"{xml_file}: <size> width "
                           f"{size[0]!r} height {size[1]!r} must be numbers of pixels: fix them")
            return None, 0
        if not (w > 0 and h > 0):
            problems.skip("images without a positive width/height in their XML",
                          f"{xml_file} (no <size>, or zero)")
            return None, 0
        id_text = tree.findtext("id")
        im_id = _integer(id_text) if id_text and id_text.strip() else index
        if im_id is None:
            problems.error("XML files with a non-integer <id>",
                           f"{xml_file}: <id> {id_text!r} is not an integer image id: fix it, "
                           f"or remove the tag to number the images in list order")
            return None, 0
        names, boxes, difficult = [], [], []
        for k, obj in enumerate(tree.iter("object")):
            name = (obj.findtext("name") or "").strip()
            if name not in self.cname2cid:
                problems.error("objects of classes not in the label list",
                               f"{xml_file}: object class {name!r} is not in the label list "
                               f"({', '.join(self.class_names)}): add it or fix the name",
                               key="label_list")
                continue
            texts = [obj.findtext(f"bndbox/{c}") for c in ("xmin", "ymin", "xmax", "ymax")]
            box = [_number(t) for t in texts]
            if None in box:
                problems.error("objects with a non-numeric box",
                               f"{xml_file}: object #{k} ({name}): bndbox xmin, ymin, xmax, "
                               f"ymax are {texts}, not 4 numbers: fix them")
                continue
            if not all(map(math.isfinite, box)):
                problems.skip("boxes with NaN or infinite numbers", f"{xml_file} object #{k}")
                continue
            flag = _difficult_flag(obj.findtext("difficult"))
            if flag is None:
                problems.error("objects with a <difficult> other than 0 or 1",
                               f"{xml_file}: object #{k} ({name}): <difficult> is "
                               f"{obj.findtext('difficult')!r}, not 0 or 1: fix it")
                continue
            names.append(name)
            boxes.append(box)
            difficult.append(flag)
        boxes, keep = self._clean(boxes, w - 1, h - 1)
        n = len(boxes)
        gt = {
            "gt_bbox": boxes,
            "gt_class": np.array([self.cname2cid[c] for c, k in zip(names, keep) if k],
                                 dtype=np.int32).reshape(n, 1),
            "is_crowd": np.zeros((n, 1), dtype=np.int32),
            "difficult": np.array([d for d, k in zip(difficult, keep) if k],
                                  dtype=np.int32).reshape(n, 1),
        }
        record = {"im_id": np.array([im_id]), "h": h, "w": w}
        return self._gt_record(record, gt), n
