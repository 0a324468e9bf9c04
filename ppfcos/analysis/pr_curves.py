"""Precision-recall curves per class and overall, from pycocotools' COCOeval.

COCOeval's ``eval["precision"]`` [iou, recall, category, area, max_dets] holds the
interpolated precision at 101 recall points (0 where the recall is never reached, -1 for
a category without ground truth). The curves here are at area "all" and 100 detections
per image: at IoU 0.5, and averaged over IoU 0.5:0.95; the mean of a curve is that AP.
"Overall" averages the classes that have ground truth, as COCO's mAP does.
"""
import numpy as np

from ..evaluation.metrics.coco import run_cocoeval

IOU_SETS = {"0.5": slice(0, 1), "0.5:0.95": slice(None)}


def pr_curves(coco_gt, results, clsid2catid, class_names):
    """-> (recall [101], {iou name: {class name or "all": precision [101], NaN for a
    class without ground truth}}). With no result every curve with ground truth is 0."""
    if not results:
        has_gt = {cat for cat in coco_gt.getCatIds() if coco_gt.getAnnIds(catIds=[cat])}
        flat = {name: (np.zeros(101) if clsid2catid[cls] in has_gt else np.full(101, np.nan))
                for cls, name in enumerate(class_names)}
        flat["all"] = np.zeros(101)
        return np.linspace(0.0, 1.0, 101), {iou: dict(flat) for iou in IOU_SETS}
    coco_eval = run_cocoeval(coco_gt, results)
    precision = coco_eval.eval["precision"][:, :, :, 0, -1]             # [T, R, K]
    cat_index = {cat_id: k for k, cat_id in enumerate(coco_eval.params.catIds)}
    curves = {}
    for iou_name, ious in IOU_SETS.items():
        per_class = {}
        for cls, name in enumerate(class_names):
            k = cat_index.get(clsid2catid[cls])
            values = precision[ious, :, k] if k is not None else np.full((1, 101), -1.0)
            per_class[name] = (values.mean(axis=0) if (values > -1).all()
                               else np.full(values.shape[1], np.nan))
        valid = [c for c in per_class.values() if not np.isnan(c).any()]
        per_class["all"] = (np.mean(valid, axis=0) if valid
                            else np.full(precision.shape[1], np.nan))
        curves[iou_name] = per_class
    return np.asarray(coco_eval.params.recThrs, dtype=np.float64), curves
