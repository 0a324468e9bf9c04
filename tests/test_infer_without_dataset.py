"""A zoo config's weights tried where its dataset is not on disk (dataset/coco missing), as
anyone who downloads them does: tools/infer.py (drawn images, bbox.json), tools/export_model.py
(infer_cfg.yml) and ppfcos.Detector label an 80-class COCO model with COCO's names and ids and
any other model with its class indices, after one warning line saying so.

The zoo config runs with a smaller backbone, head and input size (the overrides below) so a
run takes seconds; the labels come from its dataset sections, which the overrides leave as
the zoo has them."""
import contextlib
import json
import logging
import os

import cv2
import numpy as np
import paddle
import pytest
import yaml

import ppfcos
from conftest import CONFIGS, fixture_tmp
from ppfcos.data.coco_classes import COCO_CATEGORY_IDS, COCO_CLASSES
from ppfcos.modeling.seeded_weights import seed_weights
from tool_runs import run_tool

ZOO = os.path.join(CONFIGS, "fcos_r50_fpn_1x_coco.yml")
SMALL = ["ResNet.depth=18", "FPN.out_channel=16", "FCOSHead.fcos_feat.feat_out=16",
         "FCOSHead.fcos_feat.num_convs=1",
         "TestReader.sample_transforms=[{Decode: {}}, {Resize: {target_size: [96, 128], "
         "keep_ratio: true}}, {NormalizeImage: {mean: [0.485, 0.456, 0.406], "
         "std: [0.229, 0.224, 0.225], is_scale: true}}, {Permute: {}}]"]
# Seeded weights score ~0.1: thresholds that keep detections to label.
THRESHOLDS = ["--draw_threshold", "0.05", "--save_threshold", "0.05"]
NOT_FOUND = "dataset/coco/annotations/instances_val2017.json was not found: detections are " \
            "labelled with "


@pytest.fixture(scope="module")
def user(request):
    """A folder without dataset/ holding photo.jpg and the seeded weights of the small zoo
    model with 80 classes (coco.pdparams) and with 4 (four.pdparams)."""
    root = fixture_tmp(request, "no_dataset")
    cv2.imwrite(str(root / "photo.jpg"),
                np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    for name, extra in (("coco", []), ("four", ["num_classes=4"])):
        model = ppfcos.build_model(ppfcos.load_config(ZOO, SMALL + extra))
        paddle.save(seed_weights(model).state_dict(), str(root / f"{name}.pdparams"))
    return root


def run_in(user, tool, weights, *args, overrides=()):
    """tools/<tool>.py on the zoo config from the ``user`` folder -> finished process."""
    return run_tool(tool, ["-c", ZOO, "-o", *SMALL, *overrides, f"weights={weights}",
                           "use_gpu=false", *args], str(user), timeout=300)


def one_warning(result, *fragments):
    """The run's single warning line about the missing class names; asserts it is one."""
    log = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in log, log[-3000:]
    lines = [line for line in log.splitlines() if "TestDataset.anno_path" in line]
    assert len(lines) == 1 and "WARNING" in lines[0], lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def saved_records(output_dir, image):
    """bbox.json of ``output_dir``, after checking the drawn copy of ``image`` is there."""
    drawn = cv2.imread(str(output_dir / "photo.jpg"))
    assert drawn is not None and drawn.shape == cv2.imread(str(image)).shape
    records = json.loads((output_dir / "bbox.json").read_text())
    assert records, "no detections to check the labels of"
    return records


def test_infer_labels_an_80_class_coco_model_with_coco_names_and_ids(user):
    out = user / "out_coco"
    result = run_in(user, "infer", "coco.pdparams", "--infer_img", "photo.jpg",
                    "--output_dir", out.name, "--save_results", *THRESHOLDS)
    one_warning(result, NOT_FOUND + "COCO's 80 class names and category ids")
    for record in saved_records(out, user / "photo.jpg"):
        assert record["category_id"] in COCO_CATEGORY_IDS, record
        assert record["category"] == COCO_CLASSES[COCO_CATEGORY_IDS.index(record["category_id"])]


def test_infer_labels_another_model_with_class_indices(user):
    out = user / "out_four"
    result = run_in(user, "infer", "four.pdparams", "--infer_img", "photo.jpg",
                    "--output_dir", out.name, "--save_results", *THRESHOLDS,
                    overrides=["num_classes=4"])
    one_warning(result, NOT_FOUND + "the class indices 0-3 as names and category ids")
    records = saved_records(out, user / "photo.jpg")
    assert {r["category_id"] for r in records} <= {0, 1, 2, 3}
    assert all(r["category"] == str(r["category_id"]) for r in records)


def test_export_writes_coco_labels_without_the_dataset(user):
    result = run_in(user, "export_model", "coco.pdparams", "--output_dir", "exported")
    one_warning(result, NOT_FOUND + "COCO's 80 class names")
    with open(user / "exported" / "fcos_r50_fpn_1x_coco" / "infer_cfg.yml") as f:
        infer_cfg = yaml.safe_load(f)
    assert infer_cfg["label_list"] == COCO_CLASSES
    assert infer_cfg["category_ids"] == COCO_CATEGORY_IDS


@contextlib.contextmanager
def messages_of(name):
    """The messages logged to logger ``name`` inside the block (caught on that logger: the
    tools' logging setup stops "ppfcos" lines from reaching pytest's root handler)."""
    messages, handler = [], logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger(name).addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger(name).removeHandler(handler)


def test_detector_names_coco_classes_without_the_dataset(user, monkeypatch):
    monkeypatch.chdir(user)
    with messages_of("ppfcos.data.class_labels") as warnings:
        detector = ppfcos.Detector(ZOO, "coco.pdparams", overrides=SMALL, device="cpu",
                                   threshold=0.05)
    assert len(warnings) == 1 and NOT_FOUND + "COCO's 80" in warnings[0], warnings
    assert detector.class_names == COCO_CLASSES
    result, = detector.predict(cv2.imread("photo.jpg"))
    assert len(result.class_ids) > 0
    assert result.class_names == [COCO_CLASSES[i] for i in result.class_ids]
    assert list(result.category_ids) == [COCO_CATEGORY_IDS[i] for i in result.class_ids]
