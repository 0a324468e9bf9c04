"""tools/check_dataset.py as a user runs it, on crafted datasets: every problem reported
(not only the first), the report and plots written, samples drawn after the TrainReader's
transforms, and the exit code telling a script whether training may start."""
import copy
import json
import os

import cv2
import pytest

from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, data_overrides, run_tool

PLOTS = ["classes", "box_sizes", "aspect_ratios"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("check") / "data")
    make_synthetic_coco(root, num_train=8, num_val=3, image_size=(64, 64))
    with open(os.path.join(root, "annotations", "instances_train.json")) as f:
        return root, json.load(f)


def check(cwd, *args):
    return run_tool("check_dataset", ["--output_dir", str(cwd / "report"), *args], str(cwd),
                    timeout=240)


def test_a_clean_dataset_gets_counts_plots_and_samples(synthetic, tmp_path):
    root, train = synthetic
    result = check(tmp_path, "-c", DEMO, "-o", *data_overrides(root), "--browse", "3")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(report) == {"train", "eval"}
    counts = {}
    for a in train["annotations"]:
        name = {c["id"]: c["name"] for c in train["categories"]}[a["category_id"]]
        counts[name] = counts.get(name, 0) + 1
    assert report["train"]["class_counts"] == {**dict.fromkeys(counts, 0), **counts}
    assert report["train"]["images"] == 8 and report["train"]["boxes"] == len(train["annotations"])
    assert report["train"]["errors"] == [] and report["train"]["unreadable_images"] == []
    sizes = [(a["bbox"][2] * a["bbox"][3]) ** 0.5 for a in train["annotations"]]
    assert report["train"]["box_size_px_quantiles"]["100"] == pytest.approx(max(sizes), abs=0.01)
    for split in ("train", "eval"):
        for plot in PLOTS:
            image = cv2.imread(str(tmp_path / "report" / f"{split}_{plot}.png"))
            assert image is not None and image.shape[0] > 200
    drawn = sorted(os.listdir(tmp_path / "report" / "browse"))
    assert len(drawn) == 3 and all(cv2.imread(str(tmp_path / "report" / "browse" / n))
                                   .shape == (64, 64, 3) for n in drawn)
    assert "[train] TrainDataset" in result.stdout and "  OK" in result.stdout


def test_every_problem_is_reported_not_only_the_first(synthetic, tmp_path):
    root, train = synthetic
    data = copy.deepcopy(train)
    data["annotations"][0]["bbox"] = [1, 2, 3, 4, 5, 6, 7, 8]
    data["annotations"][1]["id"] = data["annotations"][2]["id"]
    orphan = data["images"][3]["id"]   # its boxes now belong to no listed image
    data["images"][3]["id"] = data["images"][2]["id"]
    data["images"][4]["width"] = 100                        # unlike the file's 64
    data["images"][5]["file_name"] = "missing.jpg"
    data["annotations"][3]["bbox"] = [50, 50, 30, 30]        # extends outside: clipped
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = check(tmp_path, "--coco", str(bad), "--image_dir", os.path.join(root, "train"))
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: dataset: problems found in train: see "
                      f"{tmp_path / 'report' / 'report.txt'}"]
    report = json.loads((tmp_path / "report" / "report.json").read_text())["train"]
    orphans = sum(a["image_id"] == orphan for a in data["annotations"])
    assert len(report["errors"]) == 3 + orphans, report["errors"]
    for fragment, count in (("annotation id 1 of image id 1: bbox [1, 2, 3, 4, 5, 6, 7, 8]", 1),
                            (f"annotation id {data['annotations'][2]['id']} is used twice", 1),
                            (f"image id {data['images'][2]['id']} is listed twice", 1),
                            (f"image_id {orphan} is not in 'images'", orphans)):
        assert sum(fragment in line for line in report["errors"]) == count, fragment
    unreadable = report["unreadable_images"]
    assert len(unreadable) == 2
    assert any("width 100 height 64, the image is 64 x 64" in u for u in unreadable)
    assert any("missing.jpg" in u for u in unreadable)
    assert report["boxes_clipped_to_the_image"] >= 1
    text = (tmp_path / "report" / "report.txt").read_text()
    assert f"ERRORS (training stops at the first) ({3 + orphans}):" in text
    assert "PROBLEMS FOUND" in text


def test_a_missing_annotation_file_is_reported_for_its_split(synthetic, tmp_path):
    root, _ = synthetic
    result = check(tmp_path, "-c", DEMO, "-o", *data_overrides(root),
                   "EvalDataset.anno_path=missing.json", "--no_plots")
    assert result.returncode == 1
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["train"]["fatal"] is None
    assert report["eval"]["fatal"].startswith("EvalDataset.anno_path: annotation file not found")


def test_boxes_all_of_one_size_and_shape_get_their_plots(synthetic, tmp_path):
    root, train = synthetic
    data = copy.deepcopy(train)
    for annotation in data["annotations"]:
        annotation["bbox"] = [4, 4, 20, 10]    # one size (sqrt 200 px), one aspect ratio (2)
    same = tmp_path / "same.json"
    same.write_text(json.dumps(data))
    written = same.read_bytes()
    result = check(tmp_path, "--coco", str(same), "--image_dir", os.path.join(root, "train"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    quantiles = json.loads((tmp_path / "report" / "report.json").read_text())["train"][
        "box_size_px_quantiles"]
    assert quantiles["0"] == quantiles["100"] == pytest.approx(200 ** 0.5, abs=0.01)
    for plot in PLOTS:
        image = cv2.imread(str(tmp_path / "report" / f"train_{plot}.png"))
        assert image is not None and image.shape[0] > 200
    assert same.read_bytes() == written
