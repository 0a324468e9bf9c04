"""tools/x2coco.py and ppfcos.data.converters: VOC, LabelMe and YOLO to COCO json, checked
against hand-written annotations; a VOC dataset round trip through COCO into training."""
import json
import os

import cv2
import numpy as np
import pytest

from conftest import load_tool
from ppfcos.data.converters import read_annotations, split_samples, to_coco
from ppfcos.data.converters.samples import Sample
from ppfcos.data.datasets import COCODataSet, DatasetError, VOCDataSet
from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import train

x2coco = load_tool("x2coco")


def write_image(path, h, w):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, dtype=np.uint8))


def voc_xml(file_name, width, height, objects):
    """VOC XML text; objects: (name, [xmin, ymin, xmax, ymax], difficult)."""
    body = "".join(f"<object><name>{n}</name><difficult>{d}</difficult><bndbox>"
                   f"<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b, d in objects)
    return (f"<annotation><filename>{file_name}</filename><size><width>{width}</width>"
            f"<height>{height}</height><depth>3</depth></size>{body}</annotation>")


@pytest.fixture(scope="module")
def voc_from_synthetic(tmp_path_factory):
    """A VOC dataset (JPEGImages, Annotations, a list file, label_list.txt) holding the
    synthetic set's 6 train images and their boxes; -> (root, the synthetic COCO dict)."""
    root = tmp_path_factory.mktemp("voc")
    synthetic = root / "synthetic"
    make_synthetic_coco(str(synthetic), num_train=6, num_val=1, image_size=(64, 64))
    coco = json.loads((synthetic / "annotations" / "instances_train.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    os.makedirs(root / "VOC" / "JPEGImages")
    os.makedirs(root / "VOC" / "Annotations")
    lines = []
    for img in coco["images"]:
        stem = os.path.splitext(img["file_name"])[0]
        os.replace(synthetic / "train" / img["file_name"],
                   root / "VOC" / "JPEGImages" / img["file_name"])
        objects = [(names[a["category_id"]], [a["bbox"][0], a["bbox"][1],
                                              a["bbox"][0] + a["bbox"][2],
                                              a["bbox"][1] + a["bbox"][3]], 0)
                   for a in coco["annotations"] if a["image_id"] == img["id"]]
        (root / "VOC" / "Annotations" / f"{stem}.xml").write_text(
            voc_xml(img["file_name"], img["width"], img["height"], objects))
        lines.append(f"JPEGImages/{img['file_name']} Annotations/{stem}.xml")
    (root / "VOC" / "trainval.txt").write_text("\n".join(lines) + "\n")
    (root / "VOC" / "label_list.txt").write_text(
        "\n".join(c["name"] for c in coco["categories"]) + "\n")
    return root, coco


def test_voc_to_coco_reads_as_the_voc_dataset_does(voc_from_synthetic, tmp_path):
    root, _ = voc_from_synthetic
    voc = root / "VOC"
    assert x2coco.main(["--from", "voc", "--anno_dir", str(voc / "Annotations"), "--image_dir",
                        str(voc / "JPEGImages"), "--classes", str(voc / "label_list.txt"),
                        "--output_dir", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["instances_train.json"]      # no --val_ratio
    as_coco = COCODataSet(str(voc / "JPEGImages"), ".", str(tmp_path / "instances_train.json"),
                          data_fields=["image", "gt_bbox", "gt_class"], allow_empty=True)
    as_voc = VOCDataSet(str(voc), ".", "trainval.txt", "label_list.txt",
                        data_fields=["image", "gt_bbox", "gt_class"], allow_empty=True)
    assert as_coco.class_names == as_voc.class_names
    assert len(as_coco.records) == len(as_voc.records) == 6
    for c, v in zip(as_coco.records, as_voc.records):
        assert os.path.samefile(c["im_file"], v["im_file"])
        np.testing.assert_allclose(c["gt_bbox"], v["gt_bbox"])
        np.testing.assert_array_equal(c["gt_class"], v["gt_class"])


def test_voc_to_coco_with_a_split_then_trains(voc_from_synthetic, tmp_path):
    root, original = voc_from_synthetic
    voc = root / "VOC"
    out = tmp_path / "coco"
    assert x2coco.main(["--from", "voc", "--anno_dir", str(voc / "Annotations"), "--image_dir",
                        str(voc / "JPEGImages"), "--output_dir", str(out),
                        "--val_ratio", "0.34", "--seed", "3"]) == 0
    train_json = json.loads((out / "instances_train.json").read_text())
    val_json = json.loads((out / "instances_val.json").read_text())
    assert len(train_json["images"]) == 4 and len(val_json["images"]) == 2
    assert ({i["file_name"] for i in train_json["images"]} | {i["file_name"] for i in
            val_json["images"]}) == {i["file_name"] for i in original["images"]}
    assert (len(train_json["annotations"]) + len(val_json["annotations"])
            == len(original["annotations"]))
    # the sorted labels found (no --classes) are the synthetic set's names, sorted
    assert [c["name"] for c in train_json["categories"]] == sorted(
        c["name"] for c in original["categories"])
    done = train(str(voc / "JPEGImages"), tmp_path / "run", "TrainDataset.image_dir=.",
                 "EvalDataset.image_dir=.",
                 f"TrainDataset.anno_path={out / 'instances_train.json'}",
                 f"EvalDataset.anno_path={out / 'instances_val.json'}", "epoch=1",
                 "snapshot_epoch=1")
    assert "loss" in done.stdout
    assert os.path.isfile(tmp_path / "run" / "output" / "fcos_r18_lite_synthetic" /
                          "model_final.pdparams")


def test_labelme_shapes_become_boxes(tmp_path):
    write_image(tmp_path / "img" / "a.jpg", 50, 100)
    shapes = [{"label": "dog", "shape_type": "rectangle", "points": [[30, 20], [10, 5]]},
              {"label": "cat", "shape_type": "polygon", "points": [[1, 2], [9, 4], [5, 12]]},
              {"label": "cat", "shape_type": "circle", "points": [[50, 25], [53, 29]]},
              {"label": "cat", "shape_type": "point", "points": [[7, 7]]}]
    os.makedirs(tmp_path / "json")
    (tmp_path / "json" / "a.json").write_text(json.dumps(
        {"imagePath": "../img/a.jpg", "imageWidth": 100, "imageHeight": 50, "shapes": shapes}))
    samples, names = read_annotations("labelme", str(tmp_path / "json"), str(tmp_path / "img"))
    assert names == ["cat", "dog"]
    assert samples[0].file_name == "a.jpg" and (samples[0].width, samples[0].height) == (100, 50)
    assert samples[0].boxes == [[10, 5, 30, 20], [1, 2, 9, 12], [45.0, 20.0, 55.0, 30.0]]
    coco = to_coco(samples, names)
    assert [a["bbox"] for a in coco["annotations"]][0] == [10, 5, 20, 15]
    assert [a["category_id"] for a in coco["annotations"]] == [2, 1, 1]
    with pytest.raises(DatasetError, match="is not inside"):
        read_annotations("labelme", str(tmp_path / "json"), str(tmp_path / "json"))


def test_yolo_labels_become_pixel_boxes(tmp_path):
    write_image(tmp_path / "images" / "a.png", 50, 100)
    write_image(tmp_path / "images" / "b.jpg", 20, 20)            # no label file: no boxes
    os.makedirs(tmp_path / "labels")
    (tmp_path / "labels" / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.1 0.1 0.2 0.2\n")
    (tmp_path / "data.yaml").write_text("names: {0: person, 1: car}\n")
    samples, names = read_annotations("yolo", str(tmp_path / "labels"),
                                      str(tmp_path / "images"), str(tmp_path / "data.yaml"))
    assert names == ["person", "car"]
    assert [s.file_name for s in samples] == ["a.png", "b.jpg"]
    np.testing.assert_allclose(samples[0].boxes, [[40, 15, 60, 35], [0, 0, 20, 10]])
    assert samples[0].labels == ["car", "person"] and samples[1].boxes == []
    (tmp_path / "labels" / "a.txt").write_text("2 0.5 0.5 0.2 0.4\n")
    with pytest.raises(DatasetError, match="class 2 is not in the 2 classes"):
        read_annotations("yolo", str(tmp_path / "labels"), str(tmp_path / "images"),
                         str(tmp_path / "data.yaml"))


def test_split_is_seeded_disjoint_and_sized():
    samples = [Sample(f"{k}.jpg", 10, 10) for k in range(10)]
    train, val = split_samples(samples, 0.3, seed=1)
    assert len(val) == 3 and len(train) == 7
    assert {s.file_name for s in train}.isdisjoint(s.file_name for s in val)
    assert split_samples(samples, 0.3, seed=1)[1] == val
    assert split_samples(samples, 0.3, seed=2)[1] != val
    assert split_samples(samples, 0.0)[0] == samples


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    os.makedirs(tmp_path / "ann")
    (tmp_path / "ann" / "a.xml").write_text(voc_xml("a.jpg", 10, 10, [("cow", [1, 1, 5, 5], 1)]))
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    assert x2coco.main(["--from", "voc", "--anno_dir", str(tmp_path / "ann"), "--classes",
                        str(tmp_path / "classes.txt"), "--output_dir", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: --classes: a.jpg has labels ['cow'] that are not in {tmp_path / 'classes.txt'}")
    assert x2coco.main(["--from", "yolo", "--anno_dir", str(tmp_path / "ann"),
                        "--output_dir", str(tmp_path / "o")]) == 1
    assert "give the class names with --classes" in capsys.readouterr().err
    samples, _ = read_annotations("voc", str(tmp_path / "ann"), str(tmp_path / "ann"))
    assert samples[0].crowd == [True]                     # difficult -> iscrowd 1
