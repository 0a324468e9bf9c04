"""Detections above a score threshold, drawn on an image and written as JSON records.

Both take the model's per-image output ``bbox``: a numpy array [K, 6] of rows
(class_index, score, x1, y1, x2, y2) in image pixels, and keep only the rows with
score >= threshold (and a class index >= 0). The drawing is deploy's
(``ppfcos_runtime.visualize``), so ``tools/infer.py`` and ``deploy/python/infer.py`` draw
the same detections as the same pixels.
"""
import numpy as np
from ppfcos_runtime.visualize import class_name, detection_labels, draw_detections


def kept_rows(bbox, threshold):
    """Rows of ``bbox`` [K, 6] with score >= threshold and class index >= 0 -> [M, 6]."""
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 6)
    return bbox[(bbox[:, 1] >= threshold) & (bbox[:, 0] >= 0)]


def draw_detections_above(image_bgr, bbox, class_names, threshold=0.5):
    """A copy of ``image_bgr`` [H, W, 3] uint8 with the rows of ``bbox`` [K, 6] scoring
    >= ``threshold`` drawn, labelled "name 0.87" (``ppfcos_runtime.visualize``)."""
    rows = kept_rows(bbox, threshold)
    return draw_detections(image_bgr, rows, detection_labels(rows, class_names))


def detections_to_json(im_file, im_id, bbox, class_names, threshold, clsid2catid=None):
    """JSON-ready records of the rows of ``bbox`` [K, 6] with score >= threshold:
    {"image", "im_id", "category_id", "category" (class name), "score",
    "bbox": [x1, y1, w, h]}, with plain Python ints, floats and strings.
    ``category_id`` is the dataset's category id of the class (``clsid2catid``, e.g.
    COCO's 1..90), or the class index without one. ``im_id`` is an int or a
    one-element array."""
    im_id = int(np.asarray(im_id).item())
    records = []
    for row in kept_rows(bbox, threshold):
        index = int(row[0])
        x1, y1, x2, y2 = (float(v) for v in row[2:])
        records.append({"image": str(im_file), "im_id": im_id,
                        "category_id": int((clsid2catid or {}).get(index, index)),
                        "category": class_name(class_names, index), "score": float(row[1]),
                        "bbox": [x1, y1, x2 - x1, y2 - y1]})
    return records
