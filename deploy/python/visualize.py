"""Detections drawn on an image: a box and a "name score" label per row, colour per class."""
import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
GOLDEN_RATIO = 0.618033988749895


def class_color(class_index):
    """A fixed BGR colour per class; hues step by the golden ratio so neighbours differ."""
    hue = int(180 * ((class_index * GOLDEN_RATIO) % 1.0))
    hsv = np.array([[[hue, 220, 240]]], dtype=np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_detections(image_bgr, rows, names):
    """A copy of ``image_bgr`` uint8 [H, W, 3] with every row of ``rows`` [k, 6] drawn.

    rows: (class_index, score, x1, y1, x2, y2) in image pixels; names: label text
    of each row, e.g. "person 0.87".
    """
    canvas = np.ascontiguousarray(image_bgr, dtype=np.uint8).copy()
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 300))
    for row, name in zip(rows, names):
        color = class_color(int(row[0]))
        x1, y1, x2, y2 = (int(round(v)) for v in np.clip(row[2:], 0, [width - 1, height - 1,
                                                                      width - 1, height - 1]))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        draw_label(canvas, name, x1, y1, color, thickness)
    return canvas


def draw_label(canvas, text, x, y, color, thickness):
    """``text`` on a filled ``color`` box whose bottom-left is (x, y), or below y if no room."""
    scale, stroke = 0.4 * thickness, max(1, thickness - 1)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, stroke)
    box_h = text_h + baseline + 2
    top = y - box_h if y >= box_h else y
    x = max(0, min(x, canvas.shape[1] - text_w - 2))
    cv2.rectangle(canvas, (x, top), (x + text_w + 2, top + box_h), color, cv2.FILLED)
    b, g, r = color
    ink = (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 1, top + text_h + 1), FONT, scale, ink, stroke,
                cv2.LINE_AA)
