"""Detections drawn on an image: a box and a "name score" label per row, colour per class
(tracked detections: an "id N name score" label, colour per track id).

The one drawing of the project: deploy's ResultWriter, ppfcos's ``tools/infer.py``
(``ppfcos.utils.visualize``) and its analysis and dataset checks draw with these
functions, so the same detections come out as the same pixels everywhere.
"""
import colorsys

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
GOLDEN_RATIO = 0.618033988749895


def class_color(class_index):
    """Fixed BGR colour of a class (or a track id): hues spaced by the golden ratio, so
    neighbours differ."""
    r, g, b = colorsys.hsv_to_rgb((class_index * GOLDEN_RATIO) % 1.0, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def class_name(class_names, class_index):
    """The name of a class index, or the index as text when ``class_names`` has none."""
    return class_names[class_index] if 0 <= class_index < len(class_names) else str(class_index)


def detection_labels(rows, class_names):
    """The label of each row of ``rows`` [k, 6]: "name 0.87" (class name, score)."""
    return [f"{class_name(class_names, int(row[0]))} {row[1]:.2f}" for row in rows]


def draw_tracks(image_bgr, rows, track_ids, names):
    """A copy of ``image_bgr`` uint8 [H, W, 3] with each row of ``rows`` [k, 6] (class_index,
    score, x1, y1, x2, y2) drawn in the colour of its track id (``track_ids`` [k]), so an
    object keeps its colour from frame to frame, and labelled "id 3 person 0.87": the id,
    then the row's text of ``names`` (`detection_labels`)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    labels = [f"id {int(track_id)} {name}" for track_id, name in zip(track_ids, names)]
    return draw_boxes(image_bgr, rows[:, 0], rows[:, 2:], labels,
                      colors=[class_color(int(track_id)) for track_id in track_ids])


def draw_detections(image_bgr, rows, names):
    """A copy of ``image_bgr`` uint8 [H, W, 3] with every row of ``rows`` [k, 6] drawn.

    rows: (class_index, score, x1, y1, x2, y2) in image pixels; names: the label text
    of each row, e.g. "person 0.87" (`detection_labels`).
    """
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    return draw_boxes(image_bgr, rows[:, 0], rows[:, 2:], names)


def draw_boxes(image_bgr, classes, boxes, labels, colors=None):
    """A copy of ``image_bgr`` with ``boxes`` [K, 4] (x1, y1, x2, y2) in the colours of
    ``classes`` [K] (or the BGR ``colors`` [K] given) and the texts ``labels`` [K].

    Each box is clipped to the image (skipped when it lies outside), its label drawn on a
    filled background above it, or just inside it when there is no room above. The
    input image is not modified.
    """
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
