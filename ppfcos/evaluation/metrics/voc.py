"""PASCAL VOC box AP (11-point or area under the interpolated PR curve)."""
import numpy as np

from .coco import detection_rows, format_table, image_id

MAP_TYPES = ("11point", "area")


class VOCMetric:
    """PASCAL VOC detection mAP at one IoU threshold.

    Args:
        class_names: names by 0-based class index.
        map_type: ``"11point"`` (VOC2007: mean of the best precision at recall >= 0, 0.1,
            ..., 1.0) or ``"area"`` (VOC2010+: area under the precision envelope).
        overlap_thresh: a detection matches a ground truth when their IoU exceeds this.
        evaluate_difficult: count ``difficult`` ground truths like the others; by default
            they are neither required nor penalised.
        classwise: also report the AP of each class.

    Matching follows the VOC devkit: within an image, a class's detections are taken by
    descending score and each one goes to the ground truth of its class with the highest
    IoU (the pixel convention: width = x2 - x1 + 1). Above ``overlap_thresh`` it is a true
    positive if that ground truth is still free, a false positive if it is already taken
    and ignored if it is difficult; otherwise a false positive. An image seen twice (a
    distributed sampler pads its last batch with repeated images) counts once.
    """

    def __init__(self, class_names, map_type="11point", overlap_thresh=0.5,
                 evaluate_difficult=False, classwise=False):
        if map_type not in MAP_TYPES:
            # the value quoted to 80 characters at most (the package imports no ppfcos:
            # core.messages.excerpt is out of its reach)
            raise ValueError(f"map_type must be one of {MAP_TYPES}, got {map_type!r:.80}")
        self.class_names = list(class_names)
        self.map_type = map_type
        self.overlap_thresh = overlap_thresh
        self.evaluate_difficult = evaluate_difficult
        self.classwise = classwise
        self.reset()

    def reset(self):
        """Forget all images and the last result."""
        num_classes = len(self.class_names)
        self._scores = [[] for _ in range(num_classes)]    # per class: score arrays
        self._is_tp = [[] for _ in range(num_classes)]     # per class: bool arrays
        self._num_gt = np.zeros(num_classes, dtype=np.int64)
        self._seen_ids = set()
        self._result = None

    def update(self, detections, ground_truths):
        """Add a batch of images.

        Args:
            detections: ``[{"im_id", "bbox": [K, 6] (class, score, x1, y1, x2, y2)}]``.
            ground_truths: the same images in the same order, ``[{"im_id", "gt_bbox":
                [M, 4] (x1, y1, x2, y2), "gt_class": [M] int, "difficult": [M] int or None}]``.
        """
        if len(detections) != len(ground_truths):
            raise ValueError(f"{len(detections)} detections for {len(ground_truths)} "
                             f"ground truths: they must describe the same images")
        for det, gt in zip(detections, ground_truths):
            im_id = image_id(det["im_id"])
            if im_id != image_id(gt["im_id"]):
                raise ValueError(f"detections of image {im_id} paired with the ground truth "
                                 f"of image {image_id(gt['im_id'])}")
            if im_id not in self._seen_ids:
                self._seen_ids.add(im_id)
                self._add_image(detection_rows(det["bbox"]), gt)
        self._result = None

    def _add_image(self, rows, gt):
        """Match one image's detections to its ground truths, class by class."""
        gt_boxes = np.asarray(gt["gt_bbox"], dtype=np.float64).reshape(-1, 4)
        gt_class = np.asarray(gt["gt_class"], dtype=np.int64).reshape(-1)
        difficult = gt.get("difficult")
        difficult = (np.zeros(len(gt_class), dtype=bool) if difficult is None
                     else np.asarray(difficult).reshape(-1).astype(bool))
        if self.evaluate_difficult:
            difficult = np.zeros_like(difficult)
        self._check_classes(rows[:, 0].astype(np.int64), "detection")
        self._check_classes(gt_class, "ground-truth")
        for cls in np.unique(np.concatenate([rows[:, 0].astype(np.int64), gt_class])):
            in_gt = gt_class == cls
            self._num_gt[cls] += int(np.sum(~difficult[in_gt]))
            cls_rows = rows[rows[:, 0] == cls]
            scores, is_tp = match_detections(cls_rows[:, 2:], cls_rows[:, 1], gt_boxes[in_gt],
                                             difficult[in_gt], self.overlap_thresh)
            self._scores[cls].append(scores)
            self._is_tp[cls].append(is_tp)

    def _check_classes(self, classes, what):
        bad = classes[(classes < 0) | (classes >= len(self.class_names))]
        if bad.size:
            raise ValueError(f"{what} class index {int(bad[0])} is out of range for "
                             f"{len(self.class_names)} classes")

    def accumulate(self):
        """Returns ``{"mAP": mean AP over the classes with ground truth (0.0 if none),
        "classwise": [(name, AP)] by class index, nan for classes without ground truth}``."""
        aps = [self._class_ap(cls) for cls in range(len(self.class_names))]
        valid = [ap for ap in aps if not np.isnan(ap)]
        self._result = {"mAP": float(np.mean(valid)) if valid else 0.0,
                        "classwise": list(zip(self.class_names, aps))}
        return self._result

    def _class_ap(self, cls):
        """AP of one class from all its scored detections; nan without ground truth."""
        if self._num_gt[cls] == 0:
            return float("nan")
        if not self._scores[cls]:
            return 0.0
        order = np.argsort(-np.concatenate(self._scores[cls]), kind="stable")
        tp = np.cumsum(np.concatenate(self._is_tp[cls])[order])
        recall = tp / self._num_gt[cls]
        precision = tp / np.arange(1, len(tp) + 1)
        if self.map_type == "11point":
            return eleven_point_ap(recall, precision)
        return area_ap(recall, precision)

    def log_lines(self):
        """Printable lines of the last ``accumulate``: the mAP, then the classwise table
        when asked for."""
        if self._result is None:
            raise RuntimeError("VOCMetric.log_lines: call accumulate() first")
        lines = [f"mAP({self.overlap_thresh:.2f}, {self.map_type}) = "
                 f"{100 * self._result['mAP']:.2f}%"]
        if not self._num_gt.any():
            lines.append("no ground-truth boxes (other than difficult ones) in the evaluated "
                         "images: the mAP is 0 because there was nothing to find")
        if self.classwise:
            lines += format_table(["class", "AP"], self._result["classwise"])
        return lines


def voc_iou(boxes, gt_boxes):
    """IoU matrix [K, M] of (x1, y1, x2, y2) boxes in the VOC pixel convention
    (a box covers x2 - x1 + 1 pixels in width)."""
    lt = np.maximum(boxes[:, None, :2], gt_boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], gt_boxes[None, :, 2:])
    wh = np.clip(rb - lt + 1, 0, None)
    inter = wh[..., 0] * wh[..., 1]

    def area(b):
        return (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)

    return inter / (area(boxes)[:, None] + area(gt_boxes)[None, :] - inter)


def match_detections(boxes, scores, gt_boxes, difficult, overlap_thresh):
    """Greedy VOC matching of one image's detections of one class.

    Returns the scores of the detections that count and whether each one is a true
    positive (those whose best ground truth is difficult are dropped).
    """
    order = np.argsort(-scores, kind="stable")
    iou = voc_iou(boxes[order], gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    kept, is_tp = [], []
    for k, det in enumerate(order):
        best = int(np.argmax(iou[k])) if len(gt_boxes) else -1
        hit = best >= 0 and iou[k, best] > overlap_thresh
        if hit and difficult[best]:
            continue
        kept.append(scores[det])
        is_tp.append(hit and not taken[best])
        if hit:
            taken[best] = True
    return np.array(kept, dtype=np.float64), np.array(is_tp, dtype=bool)


def eleven_point_ap(recall, precision):
    """VOC2007 AP: mean over t = 0, 0.1, ..., 1.0 of the best precision at recall >= t."""
    return float(np.mean([np.max(precision[recall >= t], initial=0.0)
                          for t in np.arange(11) / 10]))


def area_ap(recall, precision):
    """VOC2010+ AP: area under the precision envelope (precision made non-increasing in
    recall), summed over the recall steps."""
    recall = np.concatenate([[0.0], recall, [1.0]])
    envelope = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * envelope[steps + 1]))
