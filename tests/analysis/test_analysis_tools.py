"""tools/analyze_results.py and tools/eval.py --analyze as subprocesses: the files they
write and the numbers in them (the three crafted images of crafted.py as a COCO dataset)."""
import csv
import json
import os

import cv2
import numpy as np
import pytest

from conftest import load_tool
from crafted import THREE_IMAGES
from tool_runs import DEMO, TINY, data_overrides, run_tool

pytest.importorskip("matplotlib")
pytest.importorskip("tidecv")

PNGS = ["confusion_matrix.png", "confusion_matrix_normalized.png", "pr_curve_iou50.png",
        "pr_curve_iou50-95.png", "score_curves.png", "errors.png"]


def xywh(box):
    return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]


@pytest.fixture(scope="module")
def crafted_eval(tmp_path_factory):
    """(dataset root, folder with bbox.json) of THREE_IMAGES; category ids 10, 20, 30."""
    root = tmp_path_factory.mktemp("crafted")
    os.makedirs(root / "val")
    os.makedirs(root / "annotations")
    images, annotations, results = [], [], []
    for r in THREE_IMAGES:
        name = f"{r.image_id:06d}.jpg"
        cv2.imwrite(str(root / "val" / name), np.full((64, 64, 3), 100, dtype=np.uint8))
        images.append({"id": r.image_id, "file_name": name, "width": 64, "height": 64})
        for box, cls in zip(r.gt_boxes, r.gt_classes):
            annotations.append({"id": len(annotations) + 1, "image_id": r.image_id,
                                "category_id": 10 * (int(cls) + 1), "bbox": xywh(box),
                                "area": 100.0, "iscrowd": 0})
        for box, cls, score in zip(r.det_boxes, r.det_classes, r.det_scores):
            results.append({"image_id": r.image_id, "category_id": 10 * (int(cls) + 1),
                            "bbox": xywh(box), "score": float(score)})
    categories = [{"id": 10 * (k + 1), "name": name} for k, name in enumerate("abc")]
    (root / "annotations" / "instances_val.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))
    saved = root / "eval"
    os.makedirs(saved)
    (saved / "bbox.json").write_text(json.dumps(results))
    return root, saved


def test_json_eval_writes_every_file_with_the_hand_counted_numbers(crafted_eval, tmp_path):
    root, saved = crafted_eval
    out = tmp_path / "analysis"
    done = run_tool("analyze_results", ["-c", DEMO, "--json_eval", "--output_eval", str(saved),
                                        "--output_dir", str(out), "--num_images", "2",
                                        "-o", *data_overrides(root)], str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in PNGS:
        assert cv2.imread(str(out / name)) is not None, name
    with open(out / "confusion_matrix.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", "a", "b", "c", "background"]
    assert [row[1:] for row in rows[1:]] == [["2", "0", "0", "1"], ["0", "0", "1", "0"],
                                            ["0", "0", "1", "0"], ["2", "0", "0", "0"]]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_f1"]["all"]["threshold"] == 0.61
    assert summary["detections"] == 7 and summary["images"] == 3
    # worst: images 1 and 3 (F1 0.5; same errors, by id); best: image 2 (F1 2/3)
    assert [i["image_id"] for i in summary["worst_images"]] == [1, 3]
    assert [i["image_id"] for i in summary["best_images"]] == [2]
    drawn = sorted(os.listdir(out / "images"))
    assert drawn == ["best_01_000002.jpg", "worst_01_000001.jpg", "worst_02_000003.jpg"]
    assert cv2.imread(str(out / "images" / drawn[0])).shape == (22 + 320, 2 * 320 + 4, 3)
    errors = json.loads((out / "errors.json").read_text())
    assert errors["counts"]["Dupe"] == 1 and errors["counts"]["Cls"] >= 1
    assert "best F1 0.667 at score threshold 0.61" in done.stdout


def test_eval_analyze_runs_the_analysis_after_evaluating(tmp_path):
    from ppfcos.data.synthetic import make_synthetic_coco
    import paddle
    import ppfcos
    from ppfcos.modeling.seeded_weights import seed_weights

    data = tmp_path / "data"
    make_synthetic_coco(str(data), num_train=1, num_val=3, image_size=(64, 64))
    overrides = TINY + data_overrides(data)
    weights = str(tmp_path / "tiny.pdparams")
    paddle.save(seed_weights(ppfcos.build_model(ppfcos.load_config(DEMO, overrides)))
                .state_dict(), weights)
    done = run_tool("eval", ["-c", DEMO, "--analyze", "--output_eval", str(tmp_path / "ev"),
                             "--score_threshold", "0.01", "-o", *overrides, f"weights={weights}"],
                    str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Average Precision" in done.stdout and "best F1" in done.stdout
    analysis = tmp_path / "ev" / "analysis"                # the default: next to bbox.json
    detections = json.loads((tmp_path / "ev" / "bbox.json").read_text())
    summary = json.loads((analysis / "summary.json").read_text())
    assert summary["detections"] == len(detections) and summary["images"] == 3
    assert summary["options"]["score_threshold"] == 0.01
    assert all((analysis / name).is_file() for name in PNGS)


@pytest.mark.parametrize("args, message", [
    (["--score_threshold", "1.5"], "error: score_threshold must be within [0, 1], got 1.5"),
    (["-o", "metric=VOC"], "error: the analysis reads COCO's bbox.json: it needs metric COCO "
     "(convert a VOC dataset with tools/x2coco.py --from voc)"),
])
def test_bad_options_are_one_line_errors(crafted_eval, capsys, args, message):
    root, saved = crafted_eval
    tool = load_tool("analyze_results")
    assert tool.main(["-c", DEMO, "--json_eval", "--output_eval", str(saved), *args,
                      "-o", *data_overrides(root)]) == 1
    assert capsys.readouterr().err.strip() == message
