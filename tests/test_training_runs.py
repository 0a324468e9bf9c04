"""Short real runs of the tools on synthetic data: train -> checkpoint -> resume -> eval -> infer,
batched evaluation, and two-process distributed training (paddle.distributed.launch, gloo)."""
import json
import os

import numpy as np
import paddle
import pytest

from conftest import REPO, fixture_tmp
from ppfcos.data.synthetic import make_synthetic_coco
from ppfcos_runtime.output_dir import RECORD
from tool_runs import DEMO, TINY, data_overrides, run_tool, train
from voc_files import voc_eval_dataset, write_voc_copy

DUMP_SCRIPT = os.path.join(REPO, "tests", "helpers", "train_and_dump.py")


@pytest.fixture(scope="module")
def data(request):
    """16 train / 6 val images of mixed sizes."""
    root = fixture_tmp(request, "synthetic")
    make_synthetic_coco(str(root), num_train=16, num_val=6, image_size=(64, 96))
    return str(root)


def load(path):
    return {k: v.numpy() for k, v in paddle.load(path).items()}


def detection_rows(path):
    """A COCO results file as (image_id, category_id, score, bbox) rows, best first per image
    and class."""
    return sorted(((r["image_id"], r["category_id"], r["score"], r["bbox"])
                   for r in json.loads(path.read_text())), key=lambda r: (r[0], r[1], -r[2]))


def test_train_eval_infer_round_trip(data, tmp_path):
    result = train(data, tmp_path, "--eval", "--use_vdl")
    out = tmp_path / "output" / "fcos_r18_lite_synthetic"
    for name in ("epoch_1", "model_final", "best_model"):
        assert (out / f"{name}.pdparams").is_file() and (out / f"{name}.pdopt").is_file()
    assert not (out / "epoch_2.pdparams").exists()
    log = result.stdout
    for field in ("Epoch: [1] [4/4]", "eta:", "lr:", "loss_cls:", "loss_box:", "loss_quality:",
                  "batch_cost:", "data_cost:", "ips:", "Average Precision  (AP) @[ IoU=0.50:0.95"):
        assert field in log, field
    assert "running on CPU" in log and "threads" in log
    assert any(name.startswith("vdlrecords") for name in os.listdir(out / "vdl"))
    trained = detection_rows(out / "bbox.json")
    val = json.load(open(os.path.join(data, "annotations", "instances_val.json")))
    assert {r[0] for r in trained} <= {image["id"] for image in val["images"]}
    assert {r[1] for r in trained} <= {c["id"] for c in val["categories"]}

    weights = str(out / "model_final")
    evaluation = run_tool("eval", ["-c", DEMO, "-o", *TINY, *data_overrides(data),
                                   f"weights={weights}", "--classwise", "--output_eval",
                                   str(tmp_path / "eval")], str(tmp_path))
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    assert evaluation.stdout.count("Average Recall") == 6
    for name in ("circle", "rectangle", "triangle", "star", "ring", "cross"):
        assert name in evaluation.stdout
    evaluated = detection_rows(tmp_path / "eval" / "bbox.json")
    assert [r[:2] for r in evaluated] == [r[:2] for r in trained]   # the final epoch's eval
    np.testing.assert_allclose([r[2] for r in evaluated], [r[2] for r in trained], atol=1e-4)
    np.testing.assert_allclose([r[3] for r in evaluated], [r[3] for r in trained], atol=1e-2)

    voc_root = str(tmp_path / "voc")
    write_voc_copy(data, voc_root)
    voc_eval = run_tool("eval", ["-c", DEMO, "-o", *TINY, f"weights={weights}", "metric=VOC",
                                 "map_type=area", voc_eval_dataset(voc_root), "--classwise"],
                        str(tmp_path))
    assert voc_eval.returncode == 0, voc_eval.stderr[-3000:]
    assert "mAP(0.50, area)" in voc_eval.stdout and "triangle" in voc_eval.stdout

    val_dir = os.path.join(data, "val")
    inference = run_tool("infer", ["-c", DEMO, "-o", *TINY, *data_overrides(data),
                                   f"weights={weights}", "--infer_dir", val_dir,
                                   "--draw_threshold", "0.0", "--save_threshold", "0.0",
                                   "--output_dir", str(tmp_path / "drawn"), "--save_results"],
                        str(tmp_path))
    assert inference.returncode == 0, inference.stderr[-3000:]
    drawn = sorted(os.listdir(tmp_path / "drawn"))
    assert drawn == sorted(os.listdir(val_dir) + ["bbox.json", RECORD])
    detections = json.loads((tmp_path / "drawn" / "bbox.json").read_text())
    assert detections and set(detections[0]) >= {"image", "category", "score", "bbox"}


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(data, tmp_path):
    workers = "worker_num=2"  # augmentation drawn in worker processes must replay too
    train(data, tmp_path / "straight", workers)
    train(data, tmp_path / "stopped", workers, "epoch=1")
    stopped = tmp_path / "stopped" / "output" / "fcos_r18_lite_synthetic"
    os.replace(stopped / "model_final.pdparams", stopped / "epoch_1.pdparams")
    os.replace(stopped / "model_final.pdopt", stopped / "epoch_1.pdopt")
    result = train(data, tmp_path / "stopped", workers, "-r", str(stopped / "epoch_1"))
    assert "resumed from" in result.stdout and "1 epochs, 4 iterations done" in result.stdout
    straight = load(str(tmp_path / "straight/output/fcos_r18_lite_synthetic/model_final.pdparams"))
    resumed = load(str(stopped / "model_final.pdparams"))
    for name, value in straight.items():
        np.testing.assert_array_equal(resumed[name], value, err_msg=name)


def evaluate_tool(data, cwd, weights, out, *extra):
    """tools/eval.py with COCO output to ``out``; returns (detections sorted per image by
    score, the 12 printed stats)."""
    run = run_tool("eval", ["-c", DEMO, "-o", *TINY, *data_overrides(data), f"weights={weights}",
                            "FCOSHead.nms.score_threshold=0.0",  # an untrained model
                            *extra, "--output_eval", str(out)], str(cwd))
    assert run.returncode == 0, run.stderr[-3000:]
    detections = sorted(json.loads((out / "bbox.json").read_text()),
                        key=lambda d: (d["image_id"], -d["score"]))
    return detections, [line.split("INFO:")[1] for line in run.stdout.splitlines()
                        if "Average" in line]


# mmdetection's post-processing (its zoo rows' LevelTopKPostProcess) on the demo network
LEVEL_TOPK = "FCOS.fcos_post_process={name: LevelTopKPostProcess, score_threshold: 0.0}"


@pytest.fixture(scope="module")
def one_epoch_weights(request, data):
    """Weights of a one-epoch run on ``data``, shared by the evaluation variants."""
    root = fixture_tmp(request, "one_epoch")
    train(data, root, "epoch=1")
    return str(root / "output" / "fcos_r18_lite_synthetic" / "model_final")


@pytest.fixture(scope="module")
def single_image_evaluation(request, data, one_epoch_weights):
    """evaluate(*post) -> evaluate_tool's result for one_epoch_weights at
    EvalReader.batch_size=1 with the overrides ``post``, run once per ``post``."""
    root, done = fixture_tmp(request, "single"), {}

    def evaluate(*post):
        if post not in done:
            done[post] = evaluate_tool(data, root, one_epoch_weights, root / f"run{len(done)}",
                                       "EvalReader.batch_size=1", *post)
        return done[post]
    return evaluate


@pytest.mark.parametrize("variant", ["batch_size_4", "predictor_batch_size_4",
                                     "level_topk_predictor_batch_size_4"])
def test_batched_and_predictor_evaluation_give_the_detections_of_single_images(
        data, one_epoch_weights, single_image_evaluation, tmp_path, variant):
    post = [LEVEL_TOPK] if "level_topk" in variant else []
    single = single_image_evaluation(*post)
    extra = ["EvalReader.batch_size=4"] + (["--predictor"] if "predictor" in variant else [])
    batched = evaluate_tool(data, tmp_path, one_epoch_weights, tmp_path / variant, *post,
                            *extra)
    assert single[1] == batched[1]  # all 12 stats printed identically
    assert len(single[0]) == len(batched[0]) > 0
    for a, b in zip(*(single[0], batched[0])):
        assert a["image_id"] == b["image_id"] and a["category_id"] == b["category_id"]
        np.testing.assert_allclose(a["bbox"] + [a["score"]], b["bbox"] + [b["score"]],
                                   rtol=1e-4, atol=1e-3)


def test_predictor_evaluation_during_training_leaves_training_unchanged(data, tmp_path):
    train(data, tmp_path / "plain")
    result = train(data, tmp_path / "evaluated", "-o", "FCOSHead.nms.score_threshold=0.0",
                   "--eval", "--predictor")
    assert result.stdout.count("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all") == 2
    plain = load(str(tmp_path / "plain/output/fcos_r18_lite_synthetic/model_final.pdparams"))
    evaluated = load(str(tmp_path / "evaluated/output/fcos_r18_lite_synthetic/"
                         "model_final.pdparams"))
    # the same training up to float rounding: after Paddle Inference has run in the
    # process, a few weights differ in their last bits
    for name, value in plain.items():
        np.testing.assert_allclose(evaluated[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_two_processes_train_like_one_process_on_the_total_batch(tmp_path):
    """Frozen BN + GN head and same-size images: the two runs see the same math, so
    they end equal once the loss normalizers are averaged across ranks."""
    data = str(tmp_path / "data")
    make_synthetic_coco(data, num_train=16, num_val=3, image_size=(64, 64))
    frozen_bn = "ResNet.freeze_norm=true"
    two = train(data, tmp_path / "two", frozen_bn, "TrainReader.batch_size=4",
                "FCOSHead.nms.score_threshold=0.0", "--eval", launch=True, script=DUMP_SCRIPT)
    train(data, tmp_path / "one", frozen_bn, "TrainReader.batch_size=8",
          script=DUMP_SCRIPT)
    assert "Pod completed" in two.stdout + two.stderr
    logs = sorted(os.listdir(tmp_path / "two" / "launch_logs"))
    worker_logs = [open(tmp_path / "two" / "launch_logs" / name).read() for name in logs
                   if name.startswith("workerlog")]
    assert len(worker_logs) == 2
    assert "saved checkpoint" in worker_logs[0] and "saved checkpoint" not in worker_logs[1]
    assert "Average Precision" in worker_logs[0] and "Average Precision" not in worker_logs[1]
    detections = json.loads((tmp_path / "two" / "output" / "fcos_r18_lite_synthetic" /
                             "bbox.json").read_text())
    assert {d["image_id"] for d in detections} == {1, 2, 3}  # both ranks' shards gathered
    ranks = [load(str(tmp_path / "two" / "output" / "fcos_r18_lite_synthetic" /
                      f"rank{r}.pdparams")) for r in (0, 1)]
    single = load(str(tmp_path / "one" / "output" / "fcos_r18_lite_synthetic" /
                      "rank0.pdparams"))
    for name, value in single.items():
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=name)
        np.testing.assert_allclose(ranks[0][name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_tools_report_bad_input_in_one_line(data, tmp_path):
    no_weights = run_tool("eval", ["-c", DEMO, "-o", *data_overrides(data), "weights="],
                          str(tmp_path))
    assert no_weights.returncode == 1 and "error: set the weights" in no_weights.stderr
    assert "Traceback" not in no_weights.stderr
    (tmp_path / "empty").mkdir()
    nothing = run_tool("infer", ["-c", DEMO, "-o", *data_overrides(data),
                                 f"weights={tmp_path}/missing", "--infer_dir",
                                 str(tmp_path / "empty")], str(tmp_path))
    assert nothing.returncode == 1 and "error:" in nothing.stderr
    assert "missing" in nothing.stderr and "Traceback" not in nothing.stderr
    typo = run_tool("train", ["-c", DEMO, "-o", *data_overrides(data), "LearningRate.base_lrr=0.1"],
                    str(tmp_path))
    assert typo.returncode == 1 and "Did you mean 'base_lr'" in typo.stderr
