"""Pascal VOC-format detection dataset in PaddleDetection's layout.

``dataset_dir/anno_path`` lists one image per line as ``image_path xml_path``
(both relative to ``dataset_dir``, or to ``dataset_dir/image_dir`` when that is
set); ``dataset_dir/label_list`` names the classes, one per line, in label order.
"""
import logging
import os
import xml.etree.ElementTree as ET

import numpy as np

from ppfcos.core.registry import register

from .base import DatasetError, DetDataset, path_inside, resolve_path

logger = logging.getLogger(__name__)

# The 20 Pascal VOC classes, used when no label_list is given.
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


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
    ``allow_outside_paths`` as in :class:`~ppfcos.data.datasets.coco.COCODataSet`. ``difficult`` comes
    from each object's ``<difficult>`` tag. Boxes are clipped to
    ``[0, width-1] x [0, height-1]`` as PaddleDetection does for VOC.
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, label_list=None,
                 data_fields=["image"], sample_num=-1, allow_empty=False, empty_ratio=1.,
                 allow_outside_paths=False):
        super().__init__(dataset_dir, image_dir, anno_path, data_fields, sample_num,
                         allow_outside_paths)
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

        records, empty_records, bad_size = [], [], 0
        with open(list_file, encoding="utf-8") as f:
            lines = [(n, line.split()) for n, line in enumerate(f, 1) if line.strip()]
        for line_no, fields in lines:
            if len(fields) < 2:
                raise DatasetError("anno_path", f"{list_file} line {line_no}: expected "
                                   f"'image_path xml_path', got {' '.join(fields)!r}")
            im_file, xml_file = (path_inside(root, p, "anno_path", f"{list_file} line {line_no}",
                                             self.allow_outside_paths) for p in fields[:2])
            record, num_boxes = self._read_xml(xml_file, f"{list_file} line {line_no}",
                                               len(records) + len(empty_records))
            if record is None:
                bad_size += 1
                continue
            record["im_file"] = im_file
            if self._file_record(record, num_boxes > 0, records, empty_records):
                break
        if bad_size:
            logger.warning("VOCDataSet %s: skipped %d images without a positive width/height "
                           "in their XML", list_file, bad_size)
        self._warn_dropped(list_file)
        return self._select(records, empty_records, self.empty_ratio, list_file)

    def _read_xml(self, xml_file, where, index):
        """(record, number of boxes) of one XML file; (None, 0) if it has no usable size."""
        if not os.path.isfile(xml_file):
            raise DatasetError("anno_path", f"{where}: annotation XML not found: {xml_file}")
        try:
            tree = ET.parse(xml_file).getroot()
        except ET.ParseError as e:
            raise DatasetError("anno_path", f"{where}: not valid XML: {xml_file} ({e})") from e
        w = float(tree.findtext("size/width", "0") or 0)
        h = float(tree.findtext("size/height", "0") or 0)
        if w <= 0 or h <= 0:
            return None, 0
        im_id = int(tree.findtext("id")) if tree.findtext("id") else index
        names, boxes, difficult = [], [], []
        for obj in tree.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if name not in self.cname2cid:
                raise DatasetError("label_list", f"{xml_file}: object class {name!r} is not in "
                                   f"the label list ({', '.join(self.class_names)})")
            names.append(name)
            boxes.append([float(obj.findtext(f"bndbox/{k}")) for k in
                          ("xmin", "ymin", "xmax", "ymax")])
            difficult.append(int(obj.findtext("difficult") or 0))
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
