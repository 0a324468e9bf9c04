"""Semi-supervised (DenseTeacher) training through the tools, as a user runs it: the published
PaddleDetection configs load, build, train, evaluate and export (tiny overrides); checkpoints
hold the teacher in .pdparams and the student in .pdema; a run killed (SIGKILL) inside the
semi-supervised phase and resumed ends bit-identical to one left alone, and so does one resumed
from a snapshot in PaddleDetection's layout; the unlabelled-set errors and the split tool."""
import glob
import hashlib
import json
import os
import re
import signal
import sys

import numpy as np
import paddle
import pytest

import ppfcos
from conftest import CONFIGS, FIXTURES, REPO, load_tool
from ppfcos.data.semi_reader import semi_reader_options
from ppfcos.data.synthetic import make_synthetic_coco
from ppfcos.engine.optimizer import build_schedule
from ppfcos.engine.semi import DenseTeacherOptions, unsup_weight
from test_hostile_input import assert_one_line_error
from test_interrupt import start, wait_for
from tool_runs import checksums, run_tool

# baseline/ and denseteacher/, as published and as configs/semi_det/ holds them.
SEMI_CONFIGS = sorted(glob.glob(os.path.join(FIXTURES, "ppdet_configs", "develop", "semi_det",
                                             "[bd]*", "*.yml"))
                      + glob.glob(os.path.join(CONFIGS, "semi_det", "[bd]*", "*.yml")))
PUBLISHED = os.path.join(FIXTURES, "ppdet_configs", "develop", "semi_det", "denseteacher",
                         "denseteacher_fcos_r50_fpn_coco_semi010.yml")
DEMO_SEMI = os.path.join(CONFIGS, "demo", "denseteacher_fcos_r18_lite_synthetic.yml")
SEMI_NAME = "denseteacher_fcos_r18_lite_synthetic"
HELPERS = os.path.join(REPO, "tests", "helpers")
LABELLED = "annotations/instances_train.1@25.json"
UNLABELLED = "annotations/instances_train.1@25-unlabeled.json"
TINY_NET = ["ResNet.base_channels=8", "ResNet.ch_in=8", "FPN.out_channel=16",
            "FCOSHead.fcos_feat.feat_out=16", "log_iter=1", "worker_num=0",
            "LearningRate.schedulers=[{name: CosineDecay, max_epochs: 3}]"]
# The published R50 config shrunk: ResNet-18 at 1/8 width, one head conv, 64-96 px images.
TINY_PUBLISHED = TINY_NET + [
    "ResNet.depth=18", "FCOSHead.fcos_feat.feat_in=16", "FCOSHead.fcos_feat.num_convs=1",
    "num_classes=6", "pretrain_weights=",
    "SemiTrainReader.sample_transforms=[{Decode: {}}, {RandomResize: {target_size: "
    "[[64, 96], [96, 96]], keep_ratio: true, interp: 1}}, {RandomFlip: {}}]",
    "EvalReader.sample_transforms=[{Decode: {}}, {NormalizeImage: {mean: [0.485, 0.456, "
    "0.406], std: [0.229, 0.224, 0.225], is_scale: true}}, {Permute: {}}]",
    "TestReader.sample_transforms=[{Decode: {}}, {Resize: {target_size: [96, 96], "
    "keep_ratio: true}}, {NormalizeImage: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, "
    "0.225], is_scale: true}}, {Permute: {}}]",
    "TrainDataset.image_dir=train", "UnsupTrainDataset.image_dir=train",
    "EvalDataset.image_dir=val", "EvalDataset.anno_path=annotations/instances_val.json",
    "TestDataset.anno_path=annotations/instances_val.json"]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """24 synthetic 64x64 training images, 25 % labelled (split by the tool), 4 to evaluate."""
    root = tmp_path_factory.mktemp("semi") / "data"
    make_synthetic_coco(str(root), num_train=24, num_val=4, image_size=(64, 64))
    done = run_tool("split_semi_coco", ["--anno", str(root / "annotations" /
                                                     "instances_train.json"),
                                        "--percent", "25", "--seed", "1"], str(root))
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def data_overrides(root):
    return ([f"{s}.dataset_dir={root}" for s in ("TrainDataset", "UnsupTrainDataset",
                                                  "EvalDataset", "TestDataset")]
            + [f"TrainDataset.anno_path={LABELLED}", f"UnsupTrainDataset.anno_path={UNLABELLED}"])


def train_args(config, overrides, data, save_dir, *extra):
    """The arguments of tools/train.py training ``config`` on ``data`` into ``save_dir``."""
    return ["-c", config, "-o", *overrides, *data_overrides(data), f"save_dir={save_dir}",
            *extra]


def train(config, overrides, data, save_dir, *extra, launch=False):
    """tools/train.py (two gloo processes with ``launch``) -> the finished process."""
    return run_tool("train", train_args(config, overrides, data, save_dir, *extra),
                    str(save_dir.parent), launch=launch, timeout=300)


def state(path):
    return {k: v.numpy() for k, v in paddle.load(path).items()}


@pytest.mark.parametrize("path", SEMI_CONFIGS, ids=lambda p: os.path.relpath(p, CONFIGS))
def test_published_semi_configs_load_and_build(path):
    cfg = ppfcos.load_config(path)
    assert isinstance(ppfcos.build_model(cfg), paddle.nn.Layer)
    schedule = build_schedule(cfg, 100)
    if "denseteacher" in path:
        options = DenseTeacherOptions(cfg)
        assert (options.semi_start_iters, options.ema_start_iters) == (5000, 3000)
        assert options.inference_on == "teacher" and options.ema_decay == 0.9996
        assert semi_reader_options(cfg)["sup_batch_size"] == 2
        assert cfg["UnsupTrainDataset"]["supervised"] is False
        assert schedule.warmup_steps == 1000          # use_warmup: true keeps the warmup


def test_piecewise_decay_use_warmup_false_drops_the_warmup():
    """The published configs' other choice (starting from a trained supervised model)."""
    cfg = ppfcos.load_config(PUBLISHED, ["LearningRate.schedulers=[{name: PiecewiseDecay, "
                                         "milestones: [2], use_warmup: false}, {name: "
                                         "LinearWarmup, start_factor: 0.001, steps: 1000}]"])
    schedule = build_schedule(cfg, 100)
    assert schedule.warmup_steps == 0 and schedule.lr_at(0) == 0.01


def test_published_config_trains_evaluates_and_exports(data, tmp_path):
    """Trained by two processes (gloo), evaluated and exported by one. The unlabelled set
    here keeps its boxes, so the pseudo-labels' precision and recall are logged."""
    save = tmp_path / "output"
    done = train(PUBLISHED, TINY_PUBLISHED + ["epoch=2", "semi_start_iters=0",
                                              "ema_start_iters=0"], data, save,
                 "UnsupTrainDataset.anno_path=annotations/instances_train.json",
                 "UnsupTrainDataset.data_fields=[image, gt_bbox, gt_class]", launch=True)
    log = (tmp_path / "launch_logs" / "workerlog.0").read_text()
    assert done.returncode == 0, log[-3000:] + done.stderr[-3000:]
    assert re.search(r"distill_loss_cls: [0-9.]+, .* fg_sum: (?!0\.000000)", log), log[-3000:]
    assert re.search(r"pseudo_precision: [01]\.\d+, pseudo_recall: [01]\.\d+", log)
    final = save / "denseteacher_fcos_r50_fpn_coco_semi010" / "model_final"
    teacher, student = state(f"{final}.pdparams"), state(f"{final}.pdema")
    assert teacher.keys() == student.keys()
    assert any(not np.array_equal(teacher[k], student[k]) for k in teacher)
    args = ["-c", PUBLISHED, "-o", *TINY_PUBLISHED, *data_overrides(data),
            f"weights={final}.pdparams", f"save_dir={save}"]
    evaluated = run_tool("eval", args, str(tmp_path), timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "4 images predicted and scored" in evaluated.stdout + evaluated.stderr
    exported = run_tool("export_model", args + ["--output_dir", str(tmp_path / "inference")],
                        str(tmp_path), timeout=300)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert glob.glob(str(tmp_path / "inference" / "*" / "model.pdiparams"))


# 3 epochs of 3 steps; the teacher from step 2, the unlabelled loss from step 4.
SEMI_RUN = TINY_NET + ["epoch=3", "snapshot_epoch=1", "semi_start_iters=2",
                       "ema_start_iters=1"]


@pytest.fixture(scope="module")
def left_alone(data, tmp_path_factory):
    """The output folder of a SEMI_RUN trained without interruption."""
    save = tmp_path_factory.mktemp("left_alone") / "output"
    done = train(DEMO_SEMI, SEMI_RUN, data, save)
    assert done.returncode == 0, done.stderr[-3000:]
    return save / SEMI_NAME


def assert_same_final_files(out, expected):
    """model_final's teacher, student and optimizer files in ``out`` are byte for byte
    those in ``expected``."""
    for suffix in (".pdparams", ".pdema", ".pdopt"):
        assert sha256(out / f"model_final{suffix}") == sha256(
            expected / f"model_final{suffix}"), suffix


def test_a_run_killed_inside_semi_phase_and_resumed_ends_bit_identical(data, left_alone,
                                                                       tmp_path):
    """A SEMI_RUN SIGKILLed after step 8 (inside the semi-supervised phase, after epoch_2's
    snapshot) and resumed with -r from epoch_2 writes model_final's teacher (.pdparams),
    student (.pdema) and optimizer, schedule and progress (.pdopt) byte for byte as a run
    left alone."""
    killed = tmp_path / "killed"
    marker = tmp_path / "paused_at_step_8"
    pause = f"custom_hooks=[{{type: pause_hook.PauseAt, at_iter: 8, marker: {marker}}}]"
    run = start([sys.executable, os.path.join(REPO, "tools", "train.py"),
                 *train_args(DEMO_SEMI, SEMI_RUN, data, killed, pause)], str(tmp_path),
                pythonpath=[HELPERS])
    wait_for(marker, run)
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL
    out = killed / SEMI_NAME
    assert sorted(n for n in os.listdir(out) if not n.startswith(".")) == [   # .lock
        f"epoch_{n}.{ext}" for n in (1, 2) for ext in ("pdema", "pdopt", "pdparams")]

    resumed = train(DEMO_SEMI, SEMI_RUN, data, killed, "-r", str(out / "epoch_2"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 epochs, 6 iterations done" in resumed.stdout + resumed.stderr
    assert_same_final_files(out, left_alone)


def as_paddledetection_saves(snapshot, out, cfg):
    """Write the ppfcos snapshot ``snapshot`` (a prefix) as PaddleDetection's save_model
    lays out a DenseTeacher one, at the prefix ``out``: ``.pdparams`` the teacher, ``.pdema``
    the student, each saved from a model built here (so their name tables hold this
    process's tensor names, not the training run's), and ``.pdopt`` the Momentum
    accumulators keyed by the student's tensor names (``conv2d_3.w_0_velocity_0``), the
    ``LR_Scheduler`` state and ``last_epoch`` (epochs done)."""
    for _ in range(3):                    # shift this process's layer counters further
        paddle.nn.Conv2D(1, 1, 1)
    models = {}
    for suffix in (".pdparams", ".pdema"):
        models[suffix] = ppfcos.build_model(cfg)
        models[suffix].set_state_dict(paddle.load(f"{snapshot}{suffix}"))
        paddle.save(models[suffix].state_dict(), f"{out}{suffix}")
    tensor_name = {n: p.name for n, p in models[".pdema"].named_parameters()}
    saved = paddle.load(f"{snapshot}.pdopt")
    optimizer = {"LR_Scheduler": saved["LR_Scheduler"], "last_epoch": saved["epoch"]}
    for key, value in saved.items():
        if "@" in key:                    # ppfcos's "structured.name@velocity_0"
            structured, _, accumulator = key.partition("@")
            optimizer[f"{tensor_name[structured]}_{accumulator}"] = value
    paddle.save(optimizer, f"{out}.pdopt")
    return optimizer


def test_a_paddledetection_snapshot_evaluates_and_resumes_bit_identical(data, left_alone,
                                                                        tmp_path):
    """epoch_2 of a SEMI_RUN in PaddleDetection's layout: its .pdparams (the teacher)
    evaluates, and -r from it ends as the run left alone, byte for byte."""
    ppdet = tmp_path / "ppdet"
    ppdet.mkdir()
    cfg = ppfcos.load_config(DEMO_SEMI, TINY_NET + data_overrides(data))
    optimizer = as_paddledetection_saves(left_alone / "epoch_2", ppdet / "epoch_2", cfg)
    assert "conv2d_0.w_0_velocity_0" not in optimizer   # not the training run's names

    evaluated = run_tool("eval", ["-c", DEMO_SEMI, "-o", *TINY_NET, *data_overrides(data),
                                  f"weights={ppdet / 'epoch_2.pdparams'}",
                                  f"save_dir={tmp_path}"], str(tmp_path), timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "4 images predicted and scored" in evaluated.stdout + evaluated.stderr

    resumed = train(DEMO_SEMI, SEMI_RUN, data, tmp_path / "resumed", "-r",
                    str(ppdet / "epoch_2"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 epochs, 6 iterations done" in resumed.stdout + resumed.stderr
    assert_same_final_files(tmp_path / "resumed" / SEMI_NAME, left_alone)


@pytest.mark.parametrize("missing, says", [
    (".pdema", "epoch_2.pdema is missing (PaddleDetection keeps the student there"),
    (".pdparams", "epoch_2.pdparams is missing"),
    (".pdopt", "epoch_2.pdopt is missing")])
def test_a_paddledetection_snapshot_missing_a_part_is_a_one_line_error(
        data, left_alone, tmp_path, missing, says):
    ppdet = tmp_path / "ppdet"
    ppdet.mkdir()
    cfg = ppfcos.load_config(DEMO_SEMI, TINY_NET + data_overrides(data))
    as_paddledetection_saves(left_alone / "epoch_2", ppdet / "epoch_2", cfg)
    os.remove(ppdet / f"epoch_2{missing}")
    before = checksums(ppdet)
    done = train(DEMO_SEMI, SEMI_RUN, data, tmp_path / "resumed", "-r",
                 str(ppdet / "epoch_2"))
    assert_one_line_error(done, "cannot resume from", says)
    assert checksums(ppdet) == before
    assert not glob.glob(str(tmp_path / "resumed" / SEMI_NAME / "*.pd*"))


def test_an_empty_unlabelled_folder_is_a_one_line_error(data, tmp_path):
    empty = tmp_path / "no_images"
    empty.mkdir()
    before = sha256(data / LABELLED)
    done = train(DEMO_SEMI, TINY_NET + ["epoch=1"], data, tmp_path / "output",
                 "UnsupTrainDataset.anno_path=null", f"UnsupTrainDataset.image_dir={empty}")
    assert_one_line_error(done, "UnsupTrainDataset", "holds no images")
    assert sha256(data / LABELLED) == before


def test_an_unreadable_unlabelled_json_is_a_one_line_error(data, tmp_path):
    broken = tmp_path / "unlabelled.json"
    broken.write_text("{not json")
    done = train(DEMO_SEMI, TINY_NET + ["epoch=1"], data, tmp_path / "output",
                 f"UnsupTrainDataset.anno_path={broken}")
    assert_one_line_error(done, "UnsupTrainDataset", "not a valid COCO json")


def test_gradient_accumulation_is_refused_with_a_one_line_error(data, tmp_path):
    done = train(DEMO_SEMI, TINY_NET + ["epoch=1"], data, tmp_path / "output",
                 "OptimizerBuilder.accumulative_counts=2")
    assert_one_line_error(done, "accumulative_counts")
    assert not (tmp_path / "output").exists()


def test_a_plain_folder_of_images_is_an_unlabelled_set(data):
    cfg = ppfcos.load_config(DEMO_SEMI, data_overrides(data) + [
        "UnsupTrainDataset.anno_path=null", f"UnsupTrainDataset.image_dir={data / 'val'}"])
    dataset = ppfcos.data.reader.build_dataset(cfg, "UnsupTrainDataset").parse_dataset()
    assert sorted(os.path.basename(r["im_file"]) for r in dataset.records) == sorted(
        os.listdir(data / "val"))
    assert all("gt_bbox" not in r for r in dataset.records)


def test_split_tool_splits_by_percent_and_seed_and_keeps_existing_files(data, tmp_path):
    source = json.loads((data / "annotations" / "instances_train.json").read_text())
    labelled = json.loads((data / LABELLED).read_text())
    unlabelled = json.loads((data / UNLABELLED).read_text())
    ids = {im["id"] for im in labelled["images"]}
    assert len(ids) == 6 and not unlabelled["annotations"]
    assert ids | {im["id"] for im in unlabelled["images"]} == {im["id"]
                                                             for im in source["images"]}
    assert {a["image_id"] for a in labelled["annotations"]} <= ids
    assert len(labelled["annotations"]) == sum(a["image_id"] in ids
                                               for a in source["annotations"])
    args = ["--anno", str(data / "annotations" / "instances_train.json"), "--percent", "25",
            "--seed", "1"]
    assert load_tool("split_semi_coco").main(args + ["--out_dir", str(tmp_path)]) == 0
    assert (tmp_path / "instances_train.1@25.json").read_text() == (data / LABELLED).read_text()
    before = sha256(data / LABELLED), sha256(data / UNLABELLED)
    refused = run_tool("split_semi_coco", args, str(tmp_path))
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith(
        "error:") and "exists already" in refused.stderr
    assert (sha256(data / LABELLED), sha256(data / UNLABELLED)) == before


def test_unsup_weight_ramps_as_paddledetection():
    assert unsup_weight(2.0, "linear", 150, 100) == 1.0
    assert unsup_weight(2.0, "linear", 250, 100) == 2.0
    assert unsup_weight(1.0, "exp", 1100, 100) == pytest.approx(np.exp(-1.0))
    assert unsup_weight(1.0, "step", 150, 100) == 0.25
    assert unsup_weight(1.0, "step", 201, 100) == 1.0
