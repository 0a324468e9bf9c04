"""Ground truth and detections of each image, in the model's class-index space.

The analysis reads what evaluation has: a pycocotools ``COCO`` ground truth and a COCO
results list (``bbox.json``: ``image_id``, ``category_id``, ``bbox`` [x, y, w, h],
``score``). Boxes become (x1, y1, x2, y2) in image pixels, category ids become the
0-based class indices of ``catid2clsid``.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class ImageRecord:
    """One image. ``gt_boxes`` [M, 4] and ``det_boxes`` [K, 4] are (x1, y1, x2, y2);
    ``gt_classes`` [M] and ``det_classes`` [K] int class indices; ``gt_crowd`` [M] bool
    (crowd regions: detections on them are neither right nor wrong); ``det_scores`` [K]."""
    image_id: int
    file_name: str
    gt_boxes: np.ndarray
    gt_classes: np.ndarray
    gt_crowd: np.ndarray
    det_boxes: np.ndarray
    det_classes: np.ndarray
    det_scores: np.ndarray

    def detections_above(self, score_threshold):
        """This image with only the detections scored >= ``score_threshold``."""
        keep = self.det_scores >= score_threshold
        return ImageRecord(self.image_id, self.file_name, self.gt_boxes, self.gt_classes,
                           self.gt_crowd, self.det_boxes[keep], self.det_classes[keep],
                           self.det_scores[keep])


def xyxy(xywh):
    """[N, 4] (x, y, w, h) -> [N, 4] (x1, y1, x2, y2), float64."""
    boxes = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def collect_records(coco_gt, results, catid2clsid):
    """``ImageRecord`` of every image of ``coco_gt`` (by image id) with its ``results``.

    A result or annotation whose category is not in ``catid2clsid`` is a ValueError
    naming it, as is a result for an image the ground truth does not have.
    """
    def class_of(category_id, what):
        if category_id not in catid2clsid:
            raise ValueError(f"{what} has category_id {category_id}, which is not one of the "
                             f"dataset's categories {sorted(catid2clsid)}")
        return catid2clsid[category_id]

    by_image = {}
    for r in results:
        if r["image_id"] not in coco_gt.imgs:
            raise ValueError(f"a detection is for image id {r['image_id']}, which is not in "
                             f"the ground truth")
        by_image.setdefault(r["image_id"], []).append(r)
    records = []
    for image_id in sorted(coco_gt.imgs):
        anns = coco_gt.imgToAnns.get(image_id, [])
        dets = by_image.get(image_id, [])
        records.append(ImageRecord(
            image_id=int(image_id), file_name=coco_gt.imgs[image_id].get("file_name", ""),
            gt_boxes=xyxy([a["bbox"] for a in anns]),
            gt_classes=np.array([class_of(a["category_id"], f"annotation {a.get('id')}")
                                 for a in anns], dtype=np.int64),
            gt_crowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
            det_boxes=xyxy([d["bbox"] for d in dets]),
            det_classes=np.array([class_of(d["category_id"], f"a detection of image "
                                           f"{image_id}") for d in dets], dtype=np.int64),
            det_scores=np.array([d["score"] for d in dets], dtype=np.float64)))
    return records
