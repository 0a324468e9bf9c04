"""COCO-format detection dataset (a json with ``images``, ``annotations``, ``categories``)."""
import json

import numpy as np

from ppfcos.core.registry import register

from .base import DatasetError, DetDataset, path_inside, resolve_path
from .validation import RecordProblems, coco_tables



@register
class COCODataSet(DetDataset):
    """Images and boxes from a COCO json, read with pycocotools.

    Args (PaddleDetection's names):
        dataset_dir: root folder; ``image_dir`` and ``anno_path`` are relative to it.
        image_dir: folder of the images named by ``file_name``.
        anno_path: the COCO json.
        data_fields: record fields to keep besides the image: any of
            ``gt_bbox``, ``gt_class``, ``is_crowd``, ``difficult``.
        sample_num: use only the first N images (-1: all).
        load_crowd: keep ``iscrowd`` boxes, marked ``is_crowd=1`` (never positives);
            by default they are dropped.
        allow_empty: keep images without boxes.
        empty_ratio: with ``allow_empty``, the largest fraction of empty images
            (``0 <= ratio < 1``; other values keep all of them).
        allow_outside_paths: read images whose ``file_name`` leads outside
            ``image_dir`` (``..``, absolute paths); refused by default.
        allow_bad_records: skip (and count) malformed records instead of stopping
            with an error naming the first (see `.validation`).

    After parsing: ``catid2clsid`` / ``clsid2catid`` map COCO category ids to
    0-based labels and back, ``class_names`` lists names by label and
    ``cname2cid`` maps names to labels.
    """

    metrics = ("COCO", "VOC")

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, data_fields=["image"],
                 sample_num=-1, load_crowd=False, allow_empty=False, empty_ratio=1.,
                 allow_outside_paths=False, allow_bad_records=False):
        super().__init__(dataset_dir, image_dir, anno_path, data_fields, sample_num,
                         allow_outside_paths, allow_bad_records)
        self.load_crowd = load_crowd
        self.allow_empty = allow_empty
        self.empty_ratio = empty_ratio
        self.catid2clsid = self.clsid2catid = self.cname2cid = None
        self.class_names = None

    def _load_json(self):
        """(parsed json dict, absolute path) of ``anno_path``."""
        anno_file = resolve_path(self.dataset_dir, self.anno_path, "anno_path",
                                 "annotation file")
        try:
            with open(anno_file, encoding="utf-8") as f:
                data = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise DatasetError("anno_path", f"not a valid COCO json: {anno_file} ({e})") from e
        if not isinstance(data, dict):
            raise DatasetError("anno_path", f"not a valid COCO json: {anno_file} (its top "
                               f"level is a {type(data).__name__}, not an object with 'images', "
                               f"'annotations' and 'categories')")
        return data, anno_file

    def _parse(self):
        data, anno_file = self._load_json()
        image_dir = resolve_path(self.dataset_dir, self.image_dir or "", "image_dir",
                                 "image directory", isdir=True)
        problems = self.problems = RecordProblems(anno_file, self.allow_bad_records,
                                                  self.collect_problems)
        cats, (ids, names, widths, heights), anns = coco_tables(data, problems)
        self.catid2clsid = {c["id"]: i for i, c in enumerate(cats)}
        self.clsid2catid = {i: c["id"] for i, c in enumerate(cats)}
        self.class_names = [str(c.get("name", c["id"])) for c in cats]
        self.cname2cid = {name: i for i, name in enumerate(self.class_names)}

        keep = ~anns["ignore"] & (self.load_crowd | ~anns["iscrowd"])
        anns = {key: column[keep] for key, column in anns.items()}
        order = np.argsort(anns["image_id"], kind="stable")
        anns = {key: column[order] for key, column in anns.items()}
        starts = np.searchsorted(anns["image_id"], ids, side="left")
        ends = np.searchsorted(anns["image_id"], ids, side="right")
        labels = np.array([self.catid2clsid[c] for c in anns["category_id"].tolist()],
                          dtype=np.int32)

        records, empty_records = [], []
        for img_id, name, w, h, lo, hi in zip(ids.tolist(), names, widths.tolist(),
                                              heights.tolist(), starts, ends):
            im_file = path_inside(image_dir, name, "anno_path", f"image id {img_id}: file_name",
                                  self.allow_outside_paths)
            record = {"im_file": im_file, "im_id": np.array([img_id]), "h": h, "w": w}
            xywh = anns["bbox"][lo:hi]
            boxes, valid = self._clean(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]],
                                                      axis=1), w, h)
            n = len(boxes)
            gt = {"gt_bbox": boxes,
                  "gt_class": labels[lo:hi][valid].reshape(n, 1),
                  "is_crowd": anns["iscrowd"][lo:hi][valid].astype(np.int32).reshape(n, 1),
                  "difficult": np.zeros((n, 1), dtype=np.int32)}
            record = self._gt_record(record, gt)
            if self._file_record(record, n > 0, records, empty_records):
                break
        problems.log(type(self).__name__)
        self._warn_dropped(anno_file)
        return self._select(records, empty_records, self.empty_ratio, anno_file)
