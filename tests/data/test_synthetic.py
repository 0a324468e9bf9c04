"""Tests of the synthetic COCO shapes dataset and its CLI."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from ppfcos.data import synthetic
from ppfcos.data.synthetic import CATEGORIES, make_synthetic_coco, render_image

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = {"image_size": (128, 192)}  # smaller images keep the tests fast


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_images(split_dir):
    return {p.name: cv2.imread(str(p)) for p in sorted(Path(split_dir).glob("*.jpg"))}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "coco"
    return make_synthetic_coco(out, num_train=24, num_val=6, seed=3, **SMALL)


def test_writes_documented_layout_and_summary(dataset):
    out = Path(dataset["out_dir"])
    assert (out / synthetic.MARKER_NAME).is_file()
    assert dataset["categories"] == list(CATEGORIES)
    for split, num_images in (("train", 24), ("val", 6)):
        info = dataset["splits"][split]
        assert Path(info["image_dir"]) == out / split
        assert Path(info["ann_file"]) == out / "annotations" / f"instances_{split}.json"
        assert sorted(os.listdir(info["image_dir"])) == [
            f"{i:06d}.jpg" for i in range(1, num_images + 1)]
        data = load_json(info["ann_file"])
        assert info["num_images"] == len(data["images"]) == num_images
        assert info["num_annotations"] == len(data["annotations"])


@pytest.mark.parametrize("split", ["train", "val"])
def test_json_loads_in_pycocotools_and_images_match_it(dataset, split):
    info = dataset["splits"][split]
    coco = COCO(info["ann_file"])
    assert sorted(coco.getCatIds()) == list(range(1, len(CATEGORIES) + 1))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CATEGORIES)
    assert len(coco.getImgIds()) == info["num_images"]
    for img in coco.loadImgs(coco.getImgIds()):
        pixels = cv2.imread(os.path.join(info["image_dir"], img["file_name"]))
        assert pixels is not None, img["file_name"]
        assert pixels.shape == (img["height"], img["width"], 3)
        assert 128 <= img["width"] <= 192 and 128 <= img["height"] <= 192


@pytest.mark.parametrize("split", ["train", "val"])
def test_boxes_lie_inside_their_image_with_positive_area(dataset, split):
    data = load_json(dataset["splits"][split]["ann_file"])
    images = {img["id"]: img for img in data["images"]}
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(data["annotations"]) + 1))
    for ann in data["annotations"]:
        img = images[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0
        assert x >= 0 and y >= 0 and x + w <= img["width"] and y + h <= img["height"]
        assert 0 < ann["area"] <= w * h
        assert ann["iscrowd"] == 0
        assert 1 <= ann["category_id"] <= len(CATEGORIES)


def test_every_category_appears_in_a_small_sample(dataset):
    seen = set()
    for info in dataset["splits"].values():
        seen |= {a["category_id"] for a in load_json(info["ann_file"])["annotations"]}
    assert seen == set(range(1, len(CATEGORIES) + 1))


def test_about_five_percent_of_images_are_empty_and_others_are_not():
    counts = [len(render_image(7, "train", i, **SMALL)[1]) for i in range(40)]
    assert counts.count(0) == 2
    assert max(counts) <= 6


def test_empty_images_are_counted_in_the_summary(dataset):
    info = dataset["splits"]["train"]
    annotated = {a["image_id"] for a in load_json(info["ann_file"])["annotations"]}
    assert info["num_empty"] == info["num_images"] - len(annotated) == math.floor(24 * 0.05)


def test_fixed_image_size_and_object_limit_are_obeyed():
    for index in range(6):
        image, objects = render_image(0, "val", index, image_size=(160, 160),
                                      empty_ratio=0.0, max_objects=2)
        assert image.shape == (160, 160, 3) and image.dtype == np.uint8
        assert 1 <= len(objects) <= 2


def test_boxes_are_tight_around_the_drawn_shape(monkeypatch):
    # On a black background every lit pixel belongs to the single object.
    monkeypatch.setattr(synthetic, "_cluttered_background",
                        lambda rng, hw: np.zeros((*hw, 3), np.float32))
    for index in range(8):
        image, (obj,) = render_image(index, "train", 0, empty_ratio=0.0, max_objects=1,
                                     **SMALL)
        ys, xs = np.nonzero(image.max(axis=2) > 40)
        x, y, w, h = obj["bbox"]
        assert abs(xs.min() - x) <= 1 and abs(ys.min() - y) <= 1
        assert abs(xs.max() + 1 - (x + w)) <= 1 and abs(ys.max() + 1 - (y + h)) <= 1


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    runs = {name: make_synthetic_coco(tmp_path / name, num_train=4, num_val=2, seed=seed,
                                      **SMALL)
            for name, seed in (("a", 5), ("b", 5), ("c", 6))}
    for split in ("train", "val"):
        ann = {n: Path(r["splits"][split]["ann_file"]).read_bytes() for n, r in runs.items()}
        pixels = {n: read_images(r["splits"][split]["image_dir"]) for n, r in runs.items()}
        assert ann["a"] == ann["b"]
        assert ann["a"] != ann["c"]
        assert pixels["a"].keys() == pixels["b"].keys() == pixels["c"].keys()
        for name in pixels["a"]:
            assert np.array_equal(pixels["a"][name], pixels["b"][name])
            assert not np.array_equal(pixels["a"][name], pixels["c"][name])


def test_an_image_does_not_depend_on_how_many_are_generated(tmp_path):
    few = make_synthetic_coco(tmp_path / "few", num_train=2, num_val=0, seed=1, **SMALL)
    many = make_synthetic_coco(tmp_path / "many", num_train=4, num_val=0, seed=1, **SMALL)
    few_data = load_json(few["splits"]["train"]["ann_file"])
    many_data = load_json(many["splits"]["train"]["ann_file"])
    assert few_data["images"] == many_data["images"][:2]
    strip = [{k: v for k, v in a.items() if k != "id"} for a in many_data["annotations"]]
    assert [{k: v for k, v in a.items() if k != "id"}
            for a in few_data["annotations"]] == [a for a in strip if a["image_id"] <= 2]
    for name, pixels in read_images(few["splits"]["train"]["image_dir"]).items():
        assert np.array_equal(pixels, cv2.imread(str(Path(many["out_dir"]) / "train" / name)))


def test_refuses_a_directory_with_foreign_files_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        make_synthetic_coco(tmp_path, num_train=1, num_val=1, **SMALL)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_refuses_a_real_looking_coco_directory_without_the_marker(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text("{}")
    with pytest.raises(FileExistsError, match="marker"):
        make_synthetic_coco(tmp_path, num_train=1, num_val=1, **SMALL)
    assert (tmp_path / "annotations" / "instances_train.json").read_text() == "{}"


def test_refuses_a_previous_output_holding_a_foreign_file(tmp_path):
    make_synthetic_coco(tmp_path, num_train=1, num_val=1, **SMALL)
    (tmp_path / "train" / "holiday.png").write_bytes(b"")
    with pytest.raises(FileExistsError, match="holiday.png"):
        make_synthetic_coco(tmp_path, num_train=1, num_val=1, **SMALL)


def test_regenerating_into_a_previous_output_overwrites_it(tmp_path):
    make_synthetic_coco(tmp_path, num_train=5, num_val=2, seed=0, **SMALL)
    summary = make_synthetic_coco(tmp_path, num_train=3, num_val=1, seed=1, **SMALL)
    assert sorted(os.listdir(tmp_path / "train")) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert sorted(os.listdir(tmp_path / "val")) == ["000001.jpg"]
    assert sorted(os.listdir(tmp_path / "annotations")) == [
        "instances_train.json", "instances_val.json"]
    assert len(load_json(summary["splits"]["train"]["ann_file"])["images"]) == 3
    assert load_json(tmp_path / synthetic.MARKER_NAME)["seed"] == 1


@pytest.mark.parametrize("kwargs", [
    {"num_train": -1}, {"seed": 1.5}, {"image_size": (300, 200)},
    {"image_size": (32, 64)}, {"empty_ratio": 1.5}, {"max_objects": 0},
])
def test_rejects_bad_arguments_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError):
        make_synthetic_coco(tmp_path / "out", **{"num_train": 1, "num_val": 1, **kwargs})
    assert not (tmp_path / "out").exists()


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "tools/make_synthetic_coco.py", *map(str, args)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_the_dataset_from_the_repo_root(tmp_path):
    out = tmp_path / "cli"
    result = run_cli("--out", out, "--num-train", 4, "--num-val", 2, "--seed", 2,
                     "--image-size", 128, 160)
    assert result.returncode == 0, result.stderr
    assert "wrote 6 images" in result.stdout
    train = load_json(out / "annotations" / "instances_train.json")
    assert len(train["images"]) == 4
    assert all(128 <= img["width"] <= 160 for img in train["images"])
    assert len(load_json(out / "annotations" / "instances_val.json")["images"]) == 2


def test_cli_reports_a_refusal_with_a_nonzero_exit(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run_cli("--out", tmp_path, "--num-train", 1, "--num-val", 1)
    assert result.returncode == 1
    assert "refusing" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]
