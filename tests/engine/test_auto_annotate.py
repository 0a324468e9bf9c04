"""tools/infer.py --save_dataset: a folder of images and their detections written as a
dataset (COCO json with the dataset's categories, YOLO and LabelMe through the converters),
which a training run then reads (the pseudo-labelling round trip)."""
import json
import os

import pytest

from ppfcos.data.converters import read_annotations
from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY, checksums, data_overrides, one_error_line, run_tool, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(dataset root, final weights) of a tiny 2-epoch run."""
    root = tmp_path_factory.mktemp("annotate")
    make_synthetic_coco(str(root / "data"), num_train=16, num_val=4, image_size=(64, 96))
    train(str(root / "data"), root / "run")
    return root / "data", root / "run" / "output" / "fcos_r18_lite_synthetic" / "model_final"


def infer(data, weights, cwd, *flags):
    """tools/infer.py on the val images; the NMS keeps every candidate box (the 2-epoch
    model scores below the demo's 0.025), so the round trip has boxes to train on."""
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(str(data)), f"weights={weights}",
            "FCOSHead.nms.score_threshold=0.0",
            "--infer_dir", str(data / "val"), "--output_dir", str(cwd / "drawn"), *flags]
    return run_tool("infer", args, str(cwd), timeout=300)


def test_detections_become_a_dataset_that_trains(trained, tmp_path):
    data, weights = trained
    out = tmp_path / "pseudo"
    result = infer(data, weights, tmp_path, "--save_dataset", str(out), "--save_threshold",
                   "0.0", "--class_thresholds", "circle=0.9")
    assert result.returncode == 0, result.stderr[-3000:]
    coco = json.loads((out / "annotations.json").read_text())
    source = json.loads((data / "annotations" / "instances_val.json").read_text())
    assert {(c["id"], c["name"]) for c in coco["categories"]} == \
        {(c["id"], c["name"]) for c in source["categories"]}
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in source["images"]}
    assert {i["file_name"]: (i["width"], i["height"]) for i in coco["images"]} == sizes
    assert coco["annotations"], "no detection at all: the round trip trains on nothing"
    circle = next(c["id"] for c in coco["categories"] if c["name"] == "circle")
    # the tiny model scores nothing 0.9: circle's own threshold keeps none of its boxes
    assert [a for a in coco["annotations"] if a["category_id"] == circle] == []

    # YOLO and LabelMe hold the same boxes (read back with the converters' readers)
    names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    expected = sorted((i["file_name"], round(a["bbox"][0], 1), round(a["bbox"][1], 1))
                      for i in coco["images"] for a in coco["annotations"]
                      if a["image_id"] == i["id"])
    for fmt in ("yolo", "labelme"):
        samples, _ = read_annotations(fmt, str(out / fmt), str(data / "val"),
                                   str(out / "yolo" / "classes.txt") if fmt == "yolo" else None)
        found = sorted((s.file_name, round(box[0], 1), round(box[1], 1))
                       for s in samples for box in s.boxes)
        assert found == expected, fmt
        assert {label for s in samples for label in s.labels} <= set(names)

    # one epoch of training on the pseudo-labels
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(str(data)), "epoch=1",
            f"save_dir={tmp_path}/retrained", "TrainDataset.image_dir=val",
            f"TrainDataset.anno_path={out / 'annotations.json'}"]
    retrained = run_tool("train", args, str(tmp_path), timeout=300)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert (tmp_path / "retrained" / "fcos_r18_lite_synthetic" / "model_final.pdparams").is_file()


@pytest.mark.parametrize("flags, expected", [
    (["--class_thresholds", "unicorn=0.3"], "error: --class_thresholds: the model has no "
                                            "class 'unicorn'"),
    (["--class_thresholds", "circle=high"], "error: --class_thresholds: 'circle=high' must "
                                            "look like name=0.4"),
    ([], "error: --save_dataset"),
])
def test_a_bad_dataset_request_is_one_line_and_keeps_the_folder(trained, tmp_path, flags,
                                                                expected):
    data, weights = trained
    out = tmp_path / "pseudo"
    out.mkdir()
    (out / "annotations.json").write_text("{}")    # an earlier dataset
    before = checksums(out)
    result = infer(data, weights, tmp_path, "--save_dataset", str(out) if not flags
                   else str(tmp_path / "new"), *flags)
    line = one_error_line(1, result.returncode, result.stdout, result.stderr)
    assert line.startswith(expected), line
    assert checksums(out) == before
