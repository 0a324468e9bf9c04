"""Detections drawn on an image, and written as JSON records.

Both take the model's per-image output ``bbox``: a numpy array [K, 6] of rows
(class_index, score, x1, y1, x2, y2) in image pixels, and keep only the rows with
score >= threshold (and a class index >= 0).
"""
import colorsys

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_index):
    """Fixed BGR colour of a class: hues spaced by the golden ratio, so neighbours differ."""
    hue = (class_index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def kept_rows(bbox, threshold):
    """Rows of ``bbox`` [K, 6] with score >= threshold and class index >= 0 -> [M, 6]."""
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 6)
    return bbox[(bbox[:, 1] >= threshold) & (bbox[:, 0] >= 0)]


def class_name(class_names, class_index):
    """Name of a class index, or the index itself when the list has no entry for it."""
    return class_names[class_index] if class_index < len(class_names) else str(class_index)


def draw_detections(image_bgr, bbox, class_names, threshold=0.5):
    """A copy of ``image_bgr`` [H, W, 3] uint8 with the boxes of ``bbox`` [K, 6] drawn.

    Each kept row gets a rectangle in its class colour, clipped to the image, and a
    label "name 0.87" on a filled background above the box (inside it when there is
    no room above). The input image is not modified.
    """
    rows = kept_rows(bbox, threshold)
    return draw_boxes(image_bgr, rows[:, 0], rows[:, 2:],
                      [f"{class_name(class_names, int(r[0]))} {r[1]:.2f}" for r in rows])


def draw_boxes(image_bgr, classes, boxes, labels, colors=None):
    """A copy of ``image_bgr`` with ``boxes`` [K, 4] (x1, y1, x2, y2) in the colours of
    ``classes`` [K] (or the BGR ``colors`` [K] given) and the texts ``labels`` [K] (see
    :func:`draw_detections`)."""
    canvas = np.array(image_bgr, dtype=np.uint8, order="C")
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 320))
    if colors is None:
        colors = [class_color(int(index)) for index in classes]
    for box, label, color in zip(boxes, labels, colors):
        box = clip_box(box, width, height)
        if box is None:
            continue
        cv2.rectangle(canvas, box[:2], box[2:], color, thickness)
        draw_label(canvas, label, box, color, thickness)
    return canvas


def clip_box(box, width, height):
    """(x1, y1, x2, y2) clipped to the pixels of a width x height image -> int tuple,
    or None when the box lies outside the image."""
    x1, y1, x2, y2 = box
    if x2 < 0 or y2 < 0 or x1 > width - 1 or y1 > height - 1 or x2 < x1 or y2 < y1:
        return None
    return (int(round(max(x1, 0))), int(round(max(y1, 0))),
            int(round(min(x2, width - 1))), int(round(min(y2, height - 1))))


def draw_label(canvas, text, box, color, thickness):
    """Draw ``text`` on a ``color`` background at the top-left corner of ``box``:
    above it when it fits, else just inside it; shifted left to stay in the image."""
    scale, stroke = 0.4 * thickness, max(1, thickness // 2)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, stroke)
    pad = stroke + 1
    label_w, label_h = text_w + 2 * pad, text_h + baseline + 2
    height, width = canvas.shape[:2]
    x1, y1 = box[:2]
    x = max(0, min(x1, width - 1 - label_w))
    top = y1 - label_h if y1 >= label_h else max(0, min(y1, height - 1 - label_h))
    cv2.rectangle(canvas, (x, top), (x + label_w, top + label_h), color, cv2.FILLED)
    cv2.putText(canvas, text, (x + pad, top + text_h + 1), FONT, scale, text_color(color),
                stroke, cv2.LINE_AA)


def text_color(background):
    """Black on a light BGR background, white on a dark one."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)


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
