"""ppfcos.Detector.save_dataset: a folder's detections written as a dataset (COCO json
with the model's categories and the images' sizes, YOLO, LabelMe), never over an earlier
one."""
import hashlib
import json
import os

import cv2
import numpy as np
import pytest

import ppfcos
import test_detector

tiny = test_detector.tiny                  # fixtures
dygraph = test_detector.dygraph
dygraph_results = test_detector.dygraph_results


def test_the_detections_a_detector_keeps_become_the_dataset(dygraph, dygraph_results, tiny,
                                                            tmp_path):
    path = dygraph.save_dataset(tiny.images, str(tmp_path / "pseudo"))
    coco = json.loads(open(path).read())
    by_name = {image["file_name"]: image for image in coco["images"]}
    assert sorted(by_name) == sorted(os.path.relpath(r.path, tiny.images)
                                     for r in dygraph_results)
    for result in dygraph_results:
        image = by_name[os.path.relpath(result.path, tiny.images)]
        height, width = cv2.imread(result.path).shape[:2]
        assert (image["width"], image["height"]) == (width, height)
        boxes = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        wide = (result.boxes[:, 2] - result.boxes[:, 0] >= 1) & \
            (result.boxes[:, 3] - result.boxes[:, 1] >= 1)
        assert sorted(a["category_id"] for a in boxes) == sorted(result.category_ids[wide])
        np.testing.assert_allclose(sorted(a["bbox"][0] for a in boxes),
                                   sorted(result.boxes[wide, 0]), atol=1e-3)
    assert {c["name"] for c in coco["categories"]} == set(dygraph.class_names)
    assert len(list((tmp_path / "pseudo" / "labelme").rglob("*.json"))) == len(dygraph_results)
    assert len(list((tmp_path / "pseudo" / "yolo").rglob("*.txt"))) == len(dygraph_results) + 1


def test_an_earlier_dataset_is_never_overwritten(dygraph, tiny, tmp_path):
    out = tmp_path / "pseudo"
    out.mkdir()
    (out / "annotations.json").write_text('{"images": []}')
    before = hashlib.sha256((out / "annotations.json").read_bytes()).hexdigest()
    with pytest.raises(ppfcos.ConfigError, match="already holds files"):
        dygraph.save_dataset(tiny.images, str(out))
    assert hashlib.sha256((out / "annotations.json").read_bytes()).hexdigest() == before
