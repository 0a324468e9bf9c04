"""COCOMetric against pycocotools on a tiny hand-written annotation file."""
import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import ppfcos.evaluation.metrics
from ppfcos.evaluation.metrics import COCOMetric

# non-contiguous category ids: class index 0 -> id 1, class index 1 -> id 3
CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}]
CLSID2CATID = {0: 1, 1: 3}
CLASS_NAMES = ["cat", "dog"]
METRICS_INIT = ppfcos.evaluation.metrics.__file__
# image id -> [(category id, [x, y, w, h])]
GT_BOXES = {1: [(1, [10, 10, 30, 20]), (3, [50, 30, 40, 40])],
            2: [(3, [5, 5, 60, 50])],
            4: [(1, [20, 20, 20, 20]), (1, [60, 40, 30, 30])]}


@pytest.fixture
def anno_path(tmp_path):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 80} for i in GT_BOXES]
    annotations = [{"id": n, "image_id": im_id, "category_id": cat, "bbox": box,
                    "area": box[2] * box[3], "iscrowd": 0}
                   for n, (im_id, cat, box) in enumerate(
                       ((i, c, b) for i, boxes in GT_BOXES.items() for c, b in boxes), 1)]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": CATEGORIES}))
    return str(path)


def perfect_detections():
    catid2clsid = {v: k for k, v in CLSID2CATID.items()}
    return [{"im_id": im_id,
             "bbox": np.array([[catid2clsid[c], 0.9, x, y, x + w, y + h]
                               for c, (x, y, w, h) in boxes], dtype=np.float32)}
            for im_id, boxes in GT_BOXES.items()]


def jittered_detections(seed=0):
    """Perfect boxes moved by whole pixels, random scores and one false positive per image
    (integers and multiples of 1/8 are exact in float32, so both paths see equal numbers)."""
    rng = np.random.default_rng(seed)
    dets = []
    for det in perfect_detections():
        rows = det["bbox"].copy()
        rows[:, 1] = rng.integers(1, 8, len(rows)) / 8
        rows[:, 2:] += rng.integers(-6, 7, rows[:, 2:].shape)
        false_positive = [[rng.integers(2), rng.integers(1, 8) / 8, 0, 0, 15, 15]]
        dets.append({"im_id": det["im_id"],
                     "bbox": np.concatenate([rows, false_positive]).astype(np.float32)})
    return dets


def pycocotools_stats(anno_path, detections):
    """The 12 stats and the summary lines of pycocotools run directly on the detections."""
    results = [{"image_id": det["im_id"], "category_id": CLSID2CATID[int(c)],
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                "score": float(s)}
               for det in detections for c, s, x1, y1, x2, y2 in det["bbox"]]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gt = COCO(anno_path)
        coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.summarize()
    return [float(s) for s in coco_eval.stats], summary.getvalue().splitlines()


def evaluate(anno_path, *batches, **kwargs):
    metric = COCOMetric(anno_path, CLSID2CATID, CLASS_NAMES, **kwargs)
    for batch in batches:
        metric.update(batch)
    return metric, metric.accumulate()


def test_perfect_detections_give_map_one(anno_path):
    _, result = evaluate(anno_path, perfect_detections())
    assert result["mAP"] == 1.0
    assert result["stats"][1] == result["stats"][2] == 1.0     # AP50, AP75
    assert result["classwise"] is None


def test_stats_and_summary_equal_pycocotools_on_the_same_results(anno_path, capsys):
    dets = jittered_detections()
    metric, result = evaluate(anno_path, dets[:2], dets[2:])
    stats, summary = pycocotools_stats(anno_path, dets)
    assert 0.0 < result["mAP"] < 1.0          # the jitter really costs something
    assert result["stats"] == stats and result["mAP"] == stats[0]
    assert len(result["stats"]) == 12
    assert metric.log_lines() == summary and len(summary) == 12
    capsys.readouterr()
    metric.log_lines()
    assert capsys.readouterr().out == ""      # pycocotools' printing is captured


def test_nothing_printed_to_stdout(anno_path, capsys):
    evaluate(anno_path, jittered_detections())
    assert capsys.readouterr().out == ""


def test_classwise_table_one_row_per_class(anno_path):
    metric, result = evaluate(anno_path, perfect_detections(), classwise=True)
    assert result["classwise"] == [("cat", 1.0), ("dog", 1.0)]
    table = metric.log_lines()[12:]
    assert len(table) == 3                               # header + one row per class
    assert table[0].split() == ["class", "AP@[.5:.95]", "AP50"]
    assert [line.split() for line in table[1:]] == [["cat", "1.000", "1.000"],
                                                     ["dog", "1.000", "1.000"]]
    assert len({len(line) for line in table}) == 1       # aligned columns


def test_classwise_ap_matches_precision_array(anno_path):
    dets = jittered_detections(seed=1)
    _, result = evaluate(anno_path, dets, classwise=True)
    # the mean of the per-class APs is the overall AP when every class has ground truth
    assert np.mean([ap for _, ap in result["classwise"]]) == pytest.approx(result["mAP"])


def test_bbox_json_written_and_loadable(anno_path, tmp_path):
    out_dir = tmp_path / "out"
    dets = perfect_detections()
    evaluate(anno_path, dets, output_dir=str(out_dir))
    assert sorted(os.listdir(out_dir)) == ["bbox.json"]   # no temporary file left behind
    results = json.loads((out_dir / "bbox.json").read_text())
    assert len(results) == sum(len(d["bbox"]) for d in dets)
    assert results[0] == {"image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 30.0, 20.0],
                          "score": pytest.approx(0.9)}
    with contextlib.redirect_stdout(io.StringIO()):
        loaded = COCO(anno_path).loadRes(str(out_dir / "bbox.json"))
    assert len(loaded.anns) == len(results)


def test_no_detections_give_zeros(anno_path, tmp_path):
    empty = [{"im_id": 1, "bbox": np.zeros((0, 6), dtype=np.float32)}]
    for batches in [(), (empty,)]:
        metric, result = evaluate(anno_path, *batches, classwise=True,
                                  output_dir=str(tmp_path / "out"))
        assert result["mAP"] == 0.0 and result["stats"] == [0.0] * 12
        assert result["classwise"] == [("cat", 0.0), ("dog", 0.0)]
        assert "no detections" in metric.log_lines()[0]
        assert json.loads((tmp_path / "out" / "bbox.json").read_text()) == []


def test_padding_rows_with_negative_class_are_skipped(anno_path):
    dets = perfect_detections()
    dets[1]["bbox"] = np.concatenate([dets[1]["bbox"], [[-1, 0, 0, 0, 0, 0]]]).astype(np.float32)
    assert evaluate(anno_path, dets)[1]["mAP"] == 1.0


def test_unknown_image_id_raises(anno_path):
    metric = COCOMetric(anno_path, CLSID2CATID, CLASS_NAMES)
    with pytest.raises(ValueError, match="image id 99") as err:
        metric.update([{"im_id": 99, "bbox": np.zeros((0, 6), dtype=np.float32)}])
    assert anno_path in str(err.value)


def test_duplicate_image_counts_once_keeping_the_first(anno_path):
    dets = jittered_detections()
    _, once = evaluate(anno_path, dets)
    # a padded last batch repeats image 1, here with different (perfect) boxes
    repeat = [perfect_detections()[0]]
    _, twice = evaluate(anno_path, dets, repeat)
    assert twice["stats"] == once["stats"]
    _, within_batch = evaluate(anno_path, dets + repeat)
    assert within_batch["stats"] == once["stats"]


def test_reset_and_array_image_ids(anno_path):
    metric = COCOMetric(anno_path, CLSID2CATID, CLASS_NAMES)
    metric.update(jittered_detections())
    metric.reset()
    with pytest.raises(RuntimeError, match="accumulate"):
        metric.log_lines()
    # im_id as the readers give it: a one-element array
    metric.update([dict(det, im_id=np.array([det["im_id"]])) for det in perfect_detections()])
    assert metric.accumulate()["mAP"] == 1.0


def test_metrics_do_not_need_paddle():
    # ppfcos/__init__ imports the models, so load the metrics folder as a package of its
    # own, in a process where importing paddle fails
    code = ("import importlib.util, sys\n"
            "sys.modules['paddle'] = None\n"
            f"spec = importlib.util.spec_from_file_location('metrics', {METRICS_INIT!r},\n"
            f"    submodule_search_locations=[{os.path.dirname(METRICS_INIT)!r}])\n"
            "module = importlib.util.module_from_spec(spec)\n"
            "sys.modules['metrics'] = module\n"
            "spec.loader.exec_module(module)\n"
            "print(module.COCOMetric.__name__, module.VOCMetric.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["COCOMetric", "VOCMetric"]


def test_no_ground_truth_says_so(anno_path):
    data = json.loads(open(anno_path).read())
    data["annotations"] = []
    with open(anno_path, "w") as f:
        json.dump(data, f)
    metric, result = evaluate(anno_path, perfect_detections())
    assert result["stats"] == [-1.0] * 12
    assert metric.log_lines() == [f"no ground-truth boxes in {anno_path}: nothing to evaluate "
                                  f"against, so every COCO stat is -1 (check "
                                  f"EvalDataset.anno_path)"]


def test_save_prediction_only_writes_bbox_json_and_scores_nothing(anno_path, tmp_path):
    metric, result = evaluate(anno_path, jittered_detections(), output_dir=str(tmp_path),
                              save_prediction_only=True)
    assert result == {"mAP": None, "stats": None, "classwise": None}
    assert "not evaluated" in metric.log_lines()[0]
    written = json.loads((tmp_path / "bbox.json").read_text())
    assert len(written) == sum(len(d["bbox"]) for d in jittered_detections())
    other_rank, result = evaluate(anno_path, jittered_detections(), save_prediction_only=True)
    assert result["mAP"] is None and "saved to no file" in other_rank.log_lines()[0]


def test_a_loaded_bbox_json_scores_as_the_detections_it_holds(anno_path, tmp_path):
    """--json_eval: the 12 stats and summary of a saved bbox.json equal the live ones."""
    live, expected = evaluate(anno_path, jittered_detections(), output_dir=str(tmp_path),
                              classwise=True)
    assert 0 < expected["mAP"] < 1
    metric = COCOMetric(anno_path, CLSID2CATID, CLASS_NAMES, classwise=True)
    metric.load_results(str(tmp_path / "bbox.json"))
    assert metric.accumulate() == expected
    assert metric.log_lines() == live.log_lines()
    (tmp_path / "bad.json").write_text(json.dumps([{"image_id": 99, "category_id": 1,
                                                    "bbox": [0, 0, 1, 1], "score": 0.5}]))
    with pytest.raises(ValueError, match=r"image ids \[99\] are not in the annotation file"):
        metric.load_results(str(tmp_path / "bad.json"))
    (tmp_path / "bad.json").write_text(json.dumps({"image_id": 1}))
    with pytest.raises(ValueError, match="expected a COCO results list"):
        metric.load_results(str(tmp_path / "bad.json"))
