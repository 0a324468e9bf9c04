"""Malformed annotation files through tools/train.py, as a careless user makes them: each
damage is a one-line error naming the record and field at start, or a counted skip, and
never a traceback or a hang (every run has a timeout)."""
import copy
import json
import os

import pytest

from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY, data_overrides, run_tool
from voc_files import voc_xml

ANNO = os.path.join("annotations", "instances_train.json")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """(dataset root, its train annotations as a dict) of a tiny synthetic COCO set."""
    root = str(tmp_path_factory.mktemp("malformed") / "data")
    make_synthetic_coco(root, num_train=8, num_val=2, image_size=(64, 64))
    with open(os.path.join(root, ANNO)) as f:
        return root, json.load(f)


def train_on(root, anno_file, cwd, *extra):
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(root), f"TrainDataset.anno_path={anno_file}",
            f"save_dir={cwd}/output", "epoch=1", *extra]
    return run_tool("train", args, str(cwd), timeout=240)


def damaged(synthetic, tmp_path, damage):
    """Write the train annotations after ``damage(data)`` (in place) -> the file's path."""
    data = copy.deepcopy(synthetic[1])
    damage(data)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data))
    return str(path)


def set_first(key, value):
    def damage(data):
        data["annotations" if key == "bbox" else "images"][0][key] = value
    return damage


def drop_file_name(data):
    del data["images"][0]["file_name"]


def duplicate_image_id(data):
    data["images"][1]["id"] = data["images"][0]["id"]


def duplicate_annotation_id(data):
    data["annotations"][1]["id"] = data["annotations"][0]["id"]


def image_listed_twice(data):
    data["images"].append(dict(data["images"][0], id=100))


def unlisted_image(data):
    data["annotations"].append(dict(data["annotations"][0], id=1000, image_id=999))


def assert_one_line_error(result, *fragments):
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Epoch: [" not in result.stdout


@pytest.mark.parametrize("damage, fragments", [
    (set_first("bbox", [1, 2, 3, 4, 5, 6, 7, 8]),
     ["annotation id 1 of image id 1: bbox [1, 2, 3, 4, 5, 6, 7, 8] is not 4 numbers"]),
    (set_first("bbox", [1, 2, 3]), ["annotation id 1 ", "bbox [1, 2, 3] is not 4 numbers"]),
    (set_first("bbox", None), ["annotation id 1 ", "bbox None is not 4 numbers"]),
    (set_first("bbox", [1, 2, "3", 4]), ["annotation id 1 ", "bbox [1, 2, '3', 4] is not"]),
    (set_first("bbox", [True, 1, 2, 3]), ["annotation id 1 ", "bbox [True, 1, 2, 3] is not"]),
    (set_first("bbox", "wide"), ["annotation id 1 ", "bbox 'wide' is not 4 numbers"]),
    (set_first("width", "wide"), ["image id 1: width 'wide'", "must be numbers"]),
    (drop_file_name, ["image id 1: file_name is None"]),
    (set_first("file_name", ""), ["image id 1: file_name is ''"]),
    (duplicate_image_id, ["image id 1 is listed twice", "give each image its own id"]),
    (duplicate_annotation_id, ["annotation id 1 is used twice"]),
    (image_listed_twice, ["image id 100: file_name '000001.jpg' is listed under another id"]),
    (unlisted_image, ["annotation id 1000: image_id 999 is not in 'images'"]),
], ids=["bbox8", "bbox3", "bbox_null", "bbox_string_element", "bbox_bool", "bbox_string",
        "width_string", "no_file_name", "empty_file_name", "duplicate_image_id",
        "duplicate_annotation_id", "image_listed_twice", "unlisted_image"])
def test_a_malformed_record_is_one_line_naming_it(synthetic, tmp_path, damage, fragments):
    result = train_on(synthetic[0], damaged(synthetic, tmp_path, damage), tmp_path)
    assert_one_line_error(result, "TrainDataset.anno_path", "damaged.json", *fragments,
                          "allow_bad_records: true")


def test_allow_bad_records_skips_and_counts_them(synthetic, tmp_path):
    def damage(data):
        data["annotations"][0]["bbox"] = [1, 2, 3, 4, 5, 6, 7, 8]
        data["annotations"][1]["bbox"] = None
        data["annotations"][2]["bbox"] = [float("nan"), 1, 2, 3]
    result = train_on(synthetic[0], damaged(synthetic, tmp_path, damage), tmp_path,
                      "TrainDataset.allow_bad_records=true")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "skipped 2 annotations with a malformed bbox (first: annotation id 1 " in log
    assert "skipped 1 boxes with NaN or infinite numbers (first: annotation id 3 " in log
    assert os.path.isfile(tmp_path / "output" / "fcos_r18_lite_synthetic" / "model_final.pdparams")


def test_an_image_unlike_its_declared_size_is_skipped_and_named(synthetic, tmp_path):
    def damage(data):
        data["images"][0].update(width=80, height=50)
    result = train_on(synthetic[0], damaged(synthetic, tmp_path, damage), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    line, = [l for l in log.splitlines() if "skipped image; " in l]
    assert "the annotation file gives width 80 height 50, the image is 64 x 64" in line
    assert line.endswith("000001.jpg")
    assert "1 image(s) skipped (unreadable, or not the size" in log


def write_voc(root, coco, out, damage=None):
    """The synthetic COCO train split as a VOC set under ``out`` (images linked);
    ``damage(xml_text) -> xml_text`` changes the first image's XML. Returns the -o list."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    os.makedirs(out / "Annotations")
    lines = []
    for k, image in enumerate(coco["images"]):
        xml = voc_xml(image, coco["annotations"], names)
        stem = os.path.splitext(image["file_name"])[0]
        (out / "Annotations" / f"{stem}.xml").write_text(
            damage(xml) if damage and k == 0 else xml)
        os.symlink(os.path.join(root, "train", image["file_name"]), out / image["file_name"])
        lines.append(f"{image['file_name']} Annotations/{stem}.xml")
    (out / "trainval.txt").write_text("\n".join(lines) + "\n")
    (out / "label_list.txt").write_text("\n".join(names[i] for i in sorted(names)) + "\n")
    # a new dataset name starts the section afresh, so data_fields is given again
    return ["TrainDataset.name=VOCDataSet", f"TrainDataset.dataset_dir={out}",
            "TrainDataset.data_fields=[image, gt_bbox, gt_class]",
            "TrainDataset.anno_path=trainval.txt", "TrainDataset.label_list=label_list.txt"]


def train_voc(synthetic, tmp_path, damage):
    voc = write_voc(synthetic[0], synthetic[1], tmp_path / "voc", damage)
    return train_on(synthetic[0], "trainval.txt", tmp_path, *voc)


def difficult(text):
    """A damage giving the first object's <difficult> tag ``text``."""
    return lambda xml: xml.replace("<difficult>0</difficult>", f"<difficult>{text}</difficult>",
                                   1)


@pytest.mark.parametrize("damage, fragments", [
    (lambda xml: xml.replace("<name>", "<name>x", 1),
     ["TrainDataset.label_list", "000001.xml: object class 'x", "is not in the label list"]),
    (lambda xml: xml.replace("<xmin>", "<xmin>left", 1),
     ["TrainDataset.anno_path", "000001.xml: object #0", "not 4 numbers"]),
    (difficult("yes"), ["TrainDataset.anno_path", "000001.xml: object #0 (",
                        "<difficult> is 'yes', not 0 or 1"]),
    (difficult("nan"), ["000001.xml: object #0 (", "<difficult> is 'nan', not 0 or 1"]),
    (difficult("inf"), ["000001.xml: object #0 (", "<difficult> is 'inf', not 0 or 1"]),
    (lambda xml: xml.replace("<annotation>", "<annotation><id>abc</id>", 1),
     ["TrainDataset.anno_path", "000001.xml: <id> 'abc' is not an integer image id"]),
], ids=["voc_unknown_class", "voc_non_numeric_coordinate", "voc_difficult_yes",
        "voc_difficult_nan", "voc_difficult_inf", "voc_id_text"])
def test_a_malformed_voc_object_is_one_line_naming_it(synthetic, tmp_path, damage, fragments):
    assert_one_line_error(train_voc(synthetic, tmp_path, damage), *fragments,
                          "allow_bad_records: true")


def test_a_voc_image_without_size_is_skipped_and_counted(synthetic, tmp_path):
    def drop_size(xml):
        return xml[:xml.index("<size>")] + xml[xml.index("</size>") + len("</size>"):]
    result = train_voc(synthetic, tmp_path, drop_size)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "skipped 1 images without a positive width/height in their XML (first: " in log
    assert "000001.xml (no <size>, or zero)" in log
