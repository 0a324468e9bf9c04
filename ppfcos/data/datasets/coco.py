"""COCO-format detection dataset (a json with ``images``, ``annotations``, ``categories``)."""
import contextlib
import io
import logging

import numpy as np

from ppfcos.core.registry import register

from .base import DatasetError, DetDataset, path_inside, resolve_path

logger = logging.getLogger(__name__)


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

    After parsing: ``catid2clsid`` / ``clsid2catid`` map COCO category ids to
    0-based labels and back, ``class_names`` lists names by label and
    ``cname2cid`` maps names to labels.
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, data_fields=["image"],
                 sample_num=-1, load_crowd=False, allow_empty=False, empty_ratio=1.,
                 allow_outside_paths=False):
        super().__init__(dataset_dir, image_dir, anno_path, data_fields, sample_num,
                         allow_outside_paths)
        self.load_crowd = load_crowd
        self.allow_empty = allow_empty
        self.empty_ratio = empty_ratio
        self.catid2clsid = self.clsid2catid = self.cname2cid = None
        self.class_names = None

    def _load_coco(self):
        from pycocotools.coco import COCO
        anno_file = resolve_path(self.dataset_dir, self.anno_path, "anno_path",
                                 "annotation file")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return COCO(anno_file), anno_file
        except (ValueError, KeyError, TypeError, AssertionError) as e:
            raise DatasetError("anno_path", f"not a valid COCO json: {anno_file} ({e!r})") from e

    def _parse(self):
        coco, anno_file = self._load_coco()
        image_dir = resolve_path(self.dataset_dir, self.image_dir or "", "image_dir",
                                 "image directory", isdir=True)
        cats = coco.dataset.get("categories", [])
        self.catid2clsid = {c["id"]: i for i, c in enumerate(cats)}
        self.clsid2catid = {i: c["id"] for i, c in enumerate(cats)}
        self.class_names = [c.get("name", str(c["id"])) for c in cats]
        self.cname2cid = {name: i for i, name in enumerate(self.class_names)}

        records, empty_records, bad_size = [], [], 0
        for img_id in coco.getImgIds():
            img = coco.imgs[img_id]
            w, h = float(img.get("width", 0)), float(img.get("height", 0))
            if w <= 0 or h <= 0:
                bad_size += 1
                continue
            im_file = path_inside(image_dir, img["file_name"], "anno_path",
                                  f"image id {img_id}: file_name", self.allow_outside_paths)
            record = {"im_file": im_file,
                      "im_id": np.array([img_id]), "h": h, "w": w}
            gt = self._boxes(coco.imgToAnns[img_id], img, w, h)
            record = self._gt_record(record, gt)
            if self._file_record(record, len(gt["gt_bbox"]) > 0, records, empty_records):
                break
        if bad_size:
            logger.warning("COCODataSet %s: skipped %d images without a positive width/height",
                           anno_file, bad_size)
        self._warn_dropped(anno_file)
        return self._select(records, empty_records, self.empty_ratio, anno_file)

    def _boxes(self, anns, img, w, h):
        """Ground-truth arrays of one image's annotations (crowd and degenerate boxes handled)."""
        anns = [a for a in anns if not a.get("ignore", False) and "bbox" in a
                and (self.load_crowd or not a.get("iscrowd", 0))]
        for a in anns:
            if a["category_id"] not in self.catid2clsid:
                raise DatasetError("anno_path", f"annotation {a.get('id')} of image "
                                   f"{img['file_name']!r} (id {img['id']}) has category_id "
                                   f"{a['category_id']}, which is not in 'categories' (ids: "
                                   f"{sorted(self.catid2clsid)})")
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        boxes, keep = self._clean(xyxy, w, h)
        anns = [a for a, k in zip(anns, keep) if k]
        n = len(anns)
        return {
            "gt_bbox": boxes,
            "gt_class": np.array([self.catid2clsid[a["category_id"]] for a in anns],
                                 dtype=np.int32).reshape(n, 1),
            "is_crowd": np.array([int(a.get("iscrowd", 0)) for a in anns],
                                 dtype=np.int32).reshape(n, 1),
            "difficult": np.zeros((n, 1), dtype=np.int32),
        }
