"""Drawing detections on an image and writing them as JSON records; tools/infer.py's
drawing and deploy's give the same pixels."""
import json

import cv2
import numpy as np
from ppfcos_runtime.media import read_image
from ppfcos_runtime.results import ResultWriter
from ppfcos_runtime.visualize import class_color

from ppfcos.engine.infer import infer_images
from ppfcos.utils.visualize import detections_to_json, draw_detections_above

NAMES = ["a", "b"]


def gray(height=200, width=200):
    return np.full((height, width, 3), 50, dtype=np.uint8)


def changed(before, after):
    """[H, W] bool: pixels that differ in any channel."""
    return np.any(before != after, axis=2)


def test_box_edges_change_and_far_pixels_do_not():
    image = gray()
    out = draw_detections_above(image, np.array([[1, 0.9, 40, 60, 120, 150]]), NAMES)
    assert out.dtype == np.uint8 and out.shape == image.shape
    for y, x in [(100, 40), (100, 120), (150, 80), (60, 80)]:
        assert tuple(out[y, x]) == class_color(1)
    ys, xs = np.nonzero(changed(image, out))
    assert ys.min() >= 35 and ys.max() <= 152 and xs.min() >= 38 and xs.max() <= 122
    assert not changed(image, out)[100, 80] and not changed(image, out)[190, 190]


def test_row_under_threshold_draws_nothing():
    image = gray()
    out = draw_detections_above(image, np.array([[0, 0.3, 40, 60, 120, 150]]), NAMES, threshold=0.5)
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_input_is_not_modified():
    image = gray()
    before = image.copy()
    draw_detections_above(image, np.array([[0, 0.9, 40, 60, 120, 150]]), NAMES)
    np.testing.assert_array_equal(image, before)


def label_pixels(out, rows, color):
    """How many pixels of ``rows`` (columns 21..60) have the label colour."""
    return int(np.all(out[rows, 21:60] == color, axis=-1).sum())


def test_label_goes_above_the_box_or_inside_it_at_the_top_edge():
    color = class_color(0)
    above = draw_detections_above(gray(), np.array([[0, 0.87, 20, 60, 150, 100]]), NAMES)
    assert label_pixels(above, slice(44, 60), color) > 200
    assert label_pixels(above, slice(62, 78), color) == 0
    top = draw_detections_above(gray(), np.array([[0, 0.87, 20, 0, 150, 100]]), NAMES)
    assert label_pixels(top, slice(1, 16), color) > 200


def test_boxes_outside_the_image_are_clipped_or_skipped():
    image = gray()
    out = draw_detections_above(image, np.array([[0, 0.9, -50, -50, 100, 100]]), NAMES)
    assert tuple(out[80, 0]) == class_color(0) and tuple(out[100, 50]) == class_color(0)
    outside = draw_detections_above(image, np.array([[0, 0.9, 300, 300, 400, 400]]), NAMES)
    np.testing.assert_array_equal(outside, image)


def test_palette_is_fixed_and_distinct():
    colors = [class_color(i) for i in range(80)]
    assert colors == [class_color(i) for i in range(80)]
    assert len(set(colors)) == 80


def test_detections_to_json():
    bbox = np.array([[0, 0.9, 10, 20, 50, 80], [1, 0.2, 0, 0, 5, 5]], dtype=np.float32)
    records = detections_to_json("img/1.jpg", np.array([7]), bbox, NAMES, 0.5)
    assert records == [{"image": "img/1.jpg", "im_id": 7, "category_id": 0, "category": "a",
                        "score": float(np.float32(0.9)), "bbox": [10.0, 20.0, 40.0, 60.0]}]
    record = records[0]
    assert type(record["im_id"]) is int and type(record["category_id"]) is int
    assert type(record["score"]) is float and all(type(v) is float for v in record["bbox"])
    assert json.loads(json.dumps(records)) == records
    assert detections_to_json("x.jpg", 1, np.zeros((0, 6)), NAMES, 0.5) == []


def test_tools_infer_and_deploy_write_the_same_pixels(tmp_path):
    """The same detections drawn by tools/infer.py's writer and deploy's ResultWriter:
    the same file, pixel for pixel (a class beyond the names, a row under the threshold,
    a box partly outside the image, a label at the top edge)."""
    path = str(tmp_path / "photo.png")
    cv2.imwrite(path, np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8))
    rows = np.array([[0, 0.9, 10, 30, 80, 100], [1, 0.55, 60, 0, 150, 60],
                     [5, 0.7, -20, 50, 40, 140], [0, 0.3, 20, 20, 60, 60]], np.float32)
    tools = infer_images([({"im_file": [path]}, [{"im_id": 0, "bbox": rows}])], NAMES,
                         str(tmp_path / "tools"), {path: "photo.png"}, draw_threshold=0.5)
    _, deployed = ResultWriter(str(tmp_path / "deploy"), NAMES, 0.5).add_image(
        path, read_image(path), rows)
    drawn, original = cv2.imread(tools[0]), cv2.imread(path)
    np.testing.assert_array_equal(cv2.imread(deployed), drawn)
    assert changed(original, drawn).sum() > 500
    np.testing.assert_array_equal(drawn, draw_detections_above(original, rows, NAMES, 0.5))
