"""The experiment loggers of tools/train.py (--use_vdl, --use_tensorboard, --use_wandb,
--use_mlflow): one tiny training run with evaluation writes all four, and each test reads
its logger's own files back with that logger's reader."""
import glob
import importlib.util
import json
import os
import struct

import cv2
import pytest

from ppfcos.data.synthetic import make_synthetic_coco
from tool_runs import DEMO, TINY, data_overrides, one_error_line, run_tool, train

# The scalars every logger writes; the demo's three losses plus their total.
TRAIN_SCALARS = {"train/loss", "train/loss_cls", "train/loss_box", "train/loss_quality",
                 "train/lr", "train/step_time"}
EVAL_SCALARS = {"eval/bbox_mAP", "eval/bbox_mAP_50", "eval/bbox_mAP_75", "eval/bbox_mAP_s",
                "eval/bbox_mAP_m", "eval/bbox_mAP_l"}
LOGGERS = {"--use_vdl": "visualdl", "--use_tensorboard": "tensorboardX",
           "--use_wandb": "wandb", "--use_mlflow": "mlflow"}
# 16 training images in batches of 4, 2 epochs, log_iter=2: steps 2, 4, 6, 8; an evaluation
# after each epoch (steps 4 and 8) with 2 of its images drawn.
TRAIN_STEPS, EVAL_STEPS = [2, 4, 6, 8], [4, 8]


def installed(module):
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """save_dir/<config> of one run with every installed logger on."""
    root = tmp_path_factory.mktemp("loggers")
    make_synthetic_coco(str(root / "data"), num_train=16, num_val=4, image_size=(64, 96))
    flags = [flag for flag, module in LOGGERS.items() if installed(module)]
    train(str(root / "data"), root / "run", "log_images=2",
          "wandb={project: ppfcos-test, mode: offline}", "--eval", *flags)
    return root / "run" / "output" / "fcos_r18_lite_synthetic"


def test_tensorboard_event_files_hold_every_scalar_and_the_drawn_images(run_dir):
    pytest.importorskip("tensorboardX", reason="ppfcos[tensorboard] is not installed")
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard (its reader) is not installed")
    events = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"),
                                                size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == TRAIN_SCALARS | EVAL_SCALARS
    assert [e.step for e in events.Scalars("train/loss")] == TRAIN_STEPS
    assert [e.step for e in events.Scalars("eval/bbox_mAP")] == EVAL_STEPS
    assert all(e.value > 0 for e in events.Scalars("train/step_time"))
    assert len(tags["images"]) == 2
    for tag in tags["images"]:
        drawn = events.Images(tag)
        assert [image.step for image in drawn] == EVAL_STEPS
        val_image = cv2.imread(str(run_dir.parents[2] / "data" / "val" / tag.split("/")[1]))
        assert (drawn[-1].height, drawn[-1].width) == val_image.shape[:2]


def wandb_history(run_file):
    """The history rows ({key: JSON value}, with ``_step``) of an offline run's
    ``run-<id>.wandb``: W&B's record log (a 7-byte ``:W&B`` header, then LevelDB's log
    format: 32 KiB blocks of chunks with a crc32, length and type header, each record a
    wandb_internal_pb2.Record); wandb 0.31 ships no Python reader for it."""
    from wandb.proto import wandb_internal_pb2
    data = open(run_file, "rb").read()
    assert data[:4] == b":W&B"
    position, chunks, rows = 7, [], []
    while position + 7 <= len(data):
        left_in_block = 32768 - position % 32768
        if left_in_block < 7:     # a block's tail too short for a chunk header is padding
            position += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[position:position + 7])
        chunks.append(data[position + 7:position + 7 + length])
        position += 7 + length
        if kind in (1, 4):        # a whole record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            if record.WhichOneof("record_type") == "history":
                rows.append({"/".join(item.nested_key) or item.key: json.loads(item.value_json)
                             for item in record.history.item})
    return rows


def test_wandb_offline_run_holds_every_scalar_and_the_drawn_images(run_dir):
    pytest.importorskip("wandb", reason="ppfcos[wandb] is not installed")
    (run,) = glob.glob(str(run_dir / "wandb" / "offline-run-*"))
    (run_file,) = glob.glob(os.path.join(run, "run-*.wandb"))
    rows = wandb_history(run_file)
    assert [row["_step"] for row in rows] == TRAIN_STEPS
    assert all(TRAIN_SCALARS <= set(row) for row in rows)
    evaluated = [row for row in rows if "eval/bbox_mAP" in row]
    assert [row["_step"] for row in evaluated] == EVAL_STEPS
    assert all(EVAL_SCALARS <= set(row) for row in evaluated)
    assert all(row["train/step_time"] > 0 for row in rows)
    images = glob.glob(os.path.join(run, "files", "media", "images", "eval", "*.png"))
    assert len(images) == 2 * len(EVAL_STEPS), images


def test_mlflow_file_store_holds_every_scalar_history_and_the_drawn_images(run_dir,
                                                                           monkeypatch):
    tracking = pytest.importorskip("mlflow.tracking", reason="ppfcos[mlflow] is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = tracking.MlflowClient(f"file://{run_dir / 'mlruns'}")
    experiment = client.get_experiment_by_name("fcos_r18_lite_synthetic")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert set(run.data.metrics) == TRAIN_SCALARS | EVAL_SCALARS
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == \
        TRAIN_STEPS
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval/bbox_mAP_50")] == \
        EVAL_STEPS
    drawn = [a.path for step in EVAL_STEPS
             for a in client.list_artifacts(run.info.run_id, f"eval/{step}")]
    assert len(drawn) == 2 * len(EVAL_STEPS), drawn


def test_visualdl_records_hold_every_scalar(run_dir):
    visualdl = pytest.importorskip("visualdl", reason="visualdl is not installed")
    (records,) = glob.glob(str(run_dir / "vdl" / "vdlrecords.*"))
    reader = visualdl.LogReader(file_path=records)
    assert {tag for tag in reader.get_tags()["scalar"]} == TRAIN_SCALARS | EVAL_SCALARS
    assert [r.id for r in reader.get_data("scalar", "train/loss")] == TRAIN_STEPS


@pytest.mark.parametrize("flag", ["--use_tensorboard", "--use_wandb", "--use_mlflow"])
def test_a_logger_without_its_package_is_one_line_naming_the_extra(flag, tmp_path):
    """The package hidden by a module of the same name that fails to import."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    module = LOGGERS[flag].split(".")[0]
    (shadow / f"{module}.py").write_text("raise ImportError('hidden by the test')\n")
    make_synthetic_coco(str(tmp_path / "data"), num_train=4, num_val=2, image_size=(64, 96))
    args = ["-c", DEMO, "-o", *TINY, *data_overrides(str(tmp_path / "data")),
            f"save_dir={tmp_path}/out", flag]
    result = run_tool("train", args, str(tmp_path), timeout=300, pythonpath=[str(shadow)])
    line = one_error_line(1, result.returncode, result.stdout, result.stderr)
    extra = {"--use_tensorboard": "tensorboard", "--use_wandb": "wandb",
             "--use_mlflow": "mlflow"}[flag]
    assert line == (f"error: {flag} needs the {LOGGERS[flag]} package: pip install "
                    f"'ppfcos[{extra}]'")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.pdparams"))
