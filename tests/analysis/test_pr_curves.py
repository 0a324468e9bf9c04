"""Precision-recall curves through COCOeval against points worked out by hand."""
import contextlib
import io

import numpy as np
from pycocotools.coco import COCO

from ppfcos.analysis.pr_curves import pr_curves


def coco_of(annotations, num_images=1):
    """An in-memory COCO ground truth with categories 1 (a) and 2 (b, no boxes)."""
    coco = COCO()
    coco.dataset = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100}
                               for i in range(1, num_images + 1)],
                    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
                    "annotations": [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": box,
                                     "area": box[2] * box[3], "iscrowd": 0}
                                    for k, box in enumerate(annotations)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def result(box, score):
    return {"image_id": 1, "category_id": 1, "bbox": box, "score": score}


def test_curve_points_at_iou_50_and_averaged_over_50_95():
    coco = coco_of([[0, 0, 10, 10], [50, 50, 10, 10]])
    # 0.9 right, 0.8 on nothing, 0.7 on the second box at IoU 0.72 (a match up to IoU 0.7)
    results = [result([0, 0, 10, 10], 0.9), result([80, 80, 10, 10], 0.8),
               result([50, 50, 10, 7.2], 0.7)]
    recall, curves = pr_curves(coco, results, {0: 1, 1: 2}, ["a", "b"])
    np.testing.assert_allclose(recall, np.linspace(0, 1, 101))
    half = recall <= 0.5
    # IoU 0.5: precision 1 up to recall 0.5, then 2/3 (two right of three)
    np.testing.assert_allclose(curves["0.5"]["a"][half], 1.0)
    np.testing.assert_allclose(curves["0.5"]["a"][~half], 2 / 3)
    # 0.5:0.95: the 0.7 detection counts at 5 of the 10 IoUs -> (5 * 2/3 + 5 * 0) / 10
    np.testing.assert_allclose(curves["0.5:0.95"]["a"][half], 1.0)
    np.testing.assert_allclose(curves["0.5:0.95"]["a"][~half], 1 / 3)
    assert np.isnan(curves["0.5"]["b"]).all()             # no ground truth for b
    np.testing.assert_allclose(curves["0.5"]["all"], curves["0.5"]["a"])   # b left out
    assert abs(curves["0.5"]["a"].mean() - (51 + 50 * 2 / 3) / 101) < 1e-12


def test_no_detection_gives_zero_curves():
    coco = coco_of([[0, 0, 10, 10]])
    _, curves = pr_curves(coco, [], {0: 1, 1: 2}, ["a", "b"])
    assert (curves["0.5"]["a"] == 0).all() and (curves["0.5:0.95"]["all"] == 0).all()
    assert np.isnan(curves["0.5"]["b"]).all()
