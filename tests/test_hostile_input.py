"""Hostile and careless input, as a user hits it: the real tools in subprocesses, on a
tiny trained demo model. Nothing runs code from a weights file, nothing the user owns is
deleted or overwritten, and each mistake is one line on stderr at start."""
import json
import os
import shutil

import cv2
import pytest

from conftest import REPO
from hostile import evil_pickle
from ppfcos.core.files import exclusive_lock
from ppfcos.data.synthetic import make_synthetic_coco
from ppfcos_runtime.output_dir import RECORD
from tool_runs import DEMO, TINY, checksums, data_overrides, run_tool, train

NAME = "fcos_r18_lite_synthetic"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(dataset root, folder with output/<config>/model_final + epoch_1) of a 2-epoch run."""
    root = tmp_path_factory.mktemp("hostile")
    data = str(root / "data")
    make_synthetic_coco(data, num_train=8, num_val=3, image_size=(64, 64))
    train(data, root / "run")
    return data, root / "run"


def base_args(data, *extra):
    return ["-c", DEMO, "-o", *TINY, *data_overrides(data), *extra]


def assert_one_line_error(result, *fragments):
    """Exit 1 with exactly one ``error:`` line containing ``fragments``, no traceback."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Epoch: [" not in result.stdout   # found before any training step


@pytest.mark.parametrize("tool, weights_arg", [
    ("eval", "weights"), ("infer", "weights"), ("export_model", "weights"),
    ("train", "pretrain_weights")])
def test_weights_that_run_code_are_refused_by_every_tool(trained, tmp_path, tool, weights_arg):
    data, run = trained
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pdparams"
    evil.write_bytes(evil_pickle(marker))
    extra = {"infer": ["--infer_img", os.path.join(data, "val", "000000.jpg"),
                       "--output_dir", str(tmp_path / "drawn")],
             "export_model": ["--output_dir", str(tmp_path / "export")],
             "train": []}.get(tool, [])
    result = run_tool(tool, base_args(data, f"{weights_arg}={evil}", f"save_dir={tmp_path}/out",
                                      "epoch=1") + extra, str(tmp_path))
    assert_one_line_error(result, f"refusing to load {evil}", "posix.system")
    assert not marker.exists()


def test_resume_refuses_an_optimizer_file_that_runs_code(trained, tmp_path):
    data, run = trained
    snapshot = tmp_path / "epoch_1"
    shutil.copy(run / "output" / NAME / "epoch_1.pdparams", f"{snapshot}.pdparams")
    marker = tmp_path / "ran"
    (tmp_path / "epoch_1.pdopt").write_bytes(evil_pickle(marker, {"epoch": 1, "iter": 2}))
    result = run_tool("train", base_args(data, f"save_dir={tmp_path}/out") + ["-r", str(snapshot)],
                      str(tmp_path))
    assert_one_line_error(result, f"refusing to load {snapshot}.pdopt")
    assert not marker.exists()


def test_export_into_the_training_folder_is_refused_and_deletes_nothing(trained, tmp_path):
    data, run = trained
    save_dir = run / "output"
    before = {p.name: p.stat().st_mtime_ns for p in (save_dir / NAME).iterdir()}
    result = run_tool("export_model", base_args(data, f"weights={save_dir / NAME}/model_final")
                      + ["--output_dir", str(save_dir)], str(tmp_path))
    assert_one_line_error(result, f"refusing to export into {save_dir / NAME}", "epoch_1.pdopt",
                          "choose another --output_dir")
    assert {p.name: p.stat().st_mtime_ns for p in (save_dir / NAME).iterdir()} == before


KILL_AT_SECOND_RENAME = """
import os, runpy, sys
real_replace, calls = os.replace, []
def replace(src, dst):
    if dst.endswith("model_final.pdparams"):
        os._exit(9)   # killed between the .pdopt and the .pdparams renames
    real_replace(src, dst)
os.replace = replace
sys.argv = ["train.py"] + sys.argv[1:]
runpy.run_path(os.path.join({repo!r}, "tools", "train.py"), run_name="__main__")
"""


def test_a_save_killed_midway_is_never_resumed_and_its_temporaries_go(trained, tmp_path):
    data, _ = trained
    out = tmp_path / "output" / NAME
    script = tmp_path / "killed_train.py"
    script.write_text(KILL_AT_SECOND_RENAME.format(repo=REPO))
    killed = run_tool(str(script), base_args(data, f"save_dir={tmp_path}/output", "epoch=1"),
                      str(tmp_path))
    assert killed.returncode == 9
    leftovers = [n for n in os.listdir(out) if ".tmp-" in n]
    assert leftovers and leftovers[0].startswith("model_final.pdparams.tmp-")
    # an earlier run's weights beside the killed run's optimizer file
    shutil.copy(trained[1] / "output" / NAME / "model_final.pdparams", out / "model_final.pdparams")
    resumed = run_tool("train", base_args(data, f"save_dir={tmp_path}/output", "epoch=2")
                       + ["-r", str(out / "model_final")], str(tmp_path))
    assert_one_line_error(resumed, f"{out}/model_final.pdparams is not the file", "saved with")
    assert not [n for n in os.listdir(out) if ".tmp-" in n]   # cleaned up by that next run


def test_a_second_run_on_a_held_save_dir_is_refused(trained, tmp_path):
    data, _ = trained
    held = tmp_path / "output" / NAME
    with exclusive_lock(str(held)):
        result = run_tool("train", base_args(data, f"save_dir={tmp_path}/output"), str(tmp_path))
    assert_one_line_error(result, f"{held} is in use by another run (pid {os.getpid()})",
                          "-o save_dir=DIR")


@pytest.mark.parametrize("override, message", [
    ("epoch=one", "command line (-o): epoch must be a positive integer, got 'one'"),
    ("epoch=-1", "command line (-o): epoch must be a positive integer, got -1"),
    ("LearningRate.base_lr=fast",
     "command line (-o): LearningRate.base_lr must be a positive number, got 'fast'"),
    ("num_classes=two", "command line (-o): num_classes must be a positive integer, got 'two'"),
    ("num_classes=2", "num_classes is 2 but the TrainDataset has 6 categories"),
    ("save_dir=/dev/null/output", "checkpoints cannot be written to /dev/null/output"),
    ("ema_decay_type=treshold", "command line (-o): ema_decay_type must be one of threshold, "
                                "exponential, normal, got 'treshold'"),
    ("ema_decay=1.5", "ema_decay must be a number between 0 and 1 (exclusive), got 1.5"),
    ("early_stop_patience=3", "command line (-o): early_stop_patience counts evaluations: "
                              "train with --eval, or remove it"),
    ("OptimizerBuilder.accumulative_counts=0",
     "OptimizerBuilder.accumulative_counts must be a positive integer, got 0"),
    ("OptimizerBuilder.clip_grad_by_value=1.0", "OptimizerBuilder sets both clip_grad_by_norm "
                                                "and clip_grad_by_value: keep one"),
])
def test_training_mistakes_are_one_line_at_start(trained, tmp_path, override, message):
    data, _ = trained
    result = run_tool("train", base_args(data, f"save_dir={tmp_path}/out", override),
                      str(tmp_path))
    assert_one_line_error(result, message)


def test_a_wrong_value_in_a_config_file_names_the_file(trained, tmp_path):
    data, _ = trained
    config = tmp_path / "mine.yml"
    config.write_text(f"_BASE_: [{DEMO}]\nLearningRate: {{base_lr: fast}}\n")
    result = run_tool("train", ["-c", str(config), "-o", *data_overrides(data)], str(tmp_path))
    assert_one_line_error(result, f"{config}: LearningRate.base_lr must be a positive number")


def test_infer_fails_when_it_reads_no_image(trained, tmp_path):
    data, run = trained
    weights = f"weights={run}/output/{NAME}/model_final"
    (tmp_path / "empty").mkdir()
    empty = run_tool("infer", base_args(data, weights) + ["--infer_dir", str(tmp_path / "empty"),
                                                          "--output_dir", str(tmp_path / "o")],
                     str(tmp_path))
    assert_one_line_error(empty, "no image files found")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    unreadable = run_tool("infer", base_args(data, weights) + ["--infer_img", str(broken),
                                                               "--output_dir", str(tmp_path / "o")],
                          str(tmp_path))
    assert_one_line_error(unreadable, "none of the input images could be read")


def test_infer_never_writes_over_its_input_images(trained, tmp_path):
    data, run = trained
    images = tmp_path / "photos"
    shutil.copytree(os.path.join(data, "val"), images)
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    result = run_tool("infer", base_args(data, f"weights={run}/output/{NAME}/model_final")
                      + ["--infer_dir", str(images), "--output_dir", str(images)], str(tmp_path))
    assert_one_line_error(result, f"{images} holds the input image", "choose another --output_dir")
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before


def test_infer_never_replaces_the_users_files_in_its_output_dir_but_replaces_its_own(
        trained, tmp_path):
    data, run = trained
    image = os.path.join(data, "val", sorted(os.listdir(os.path.join(data, "val")))[0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "bbox.json").write_text('{"mine": true}')   # the user's, named like the outputs
    shutil.copy(image, out / os.path.basename(image))
    (out / "notes.txt").write_text("the user's")
    users = checksums(out)
    args = base_args(data, f"weights={run}/output/{NAME}/model_final") + [
        "--infer_img", image, "--output_dir", str(out), "--save_results"]
    refused = run_tool("infer", args, str(tmp_path))
    assert_one_line_error(refused, f"--output_dir {out} holds {os.path.basename(image)}, "
                                   f"bbox.json, which this run would replace and no earlier "
                                   f"run wrote: move them, or choose another --output_dir")
    assert checksums(out) == users
    os.remove(out / "bbox.json")
    os.remove(out / os.path.basename(image))
    for _ in range(2):   # a rerun replaces the files the first run wrote
        done = run_tool("infer", args, str(tmp_path))
        assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "notes.txt").read_text() == "the user's"
    assert sorted(os.listdir(out)) == sorted([os.path.basename(image), "bbox.json",
                                              "notes.txt", RECORD])


def test_evaluation_without_ground_truth_says_so(trained, tmp_path):
    data, run = trained
    anno = json.load(open(os.path.join(data, "annotations", "instances_val.json")))
    anno["annotations"] = []
    empty = tmp_path / "no_gt.json"
    empty.write_text(json.dumps(anno))
    result = run_tool("eval", base_args(data, f"weights={run}/output/{NAME}/model_final",
                                        f"EvalDataset.anno_path={empty}",
                                        "EvalDataset.allow_empty=true"), str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"no ground-truth boxes in {empty}" in result.stdout


def test_an_oversized_training_image_gets_a_hint_at_start(trained, tmp_path):
    data, _ = trained
    big = tmp_path / "data"
    shutil.copytree(data, big)
    anno_path = big / "annotations" / "instances_train.json"
    anno = json.loads(anno_path.read_text())
    first = anno["images"][0]
    image = cv2.imread(str(big / "train" / first["file_name"]))
    cv2.imwrite(str(big / "train" / first["file_name"]), cv2.resize(image, (3000, 2000)))
    first["width"], first["height"] = 3000, 2000
    anno_path.write_text(json.dumps(anno))
    result = run_tool("train", base_args(str(big), f"save_dir={tmp_path}/out", "epoch=1",
                                         "TrainReader.sample_transforms=[{Decode: {}}, "
                                         "{Resize: {target_size: [64, 64], keep_ratio: true}}, "
                                         "{NormalizeImage: {mean: [0, 0, 0], std: [1, 1, 1]}}]"),
                      str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (f"1 training image(s) are over 4x the largest size the TrainReader resizes to "
            f"(64 px), up to {big}/train/{first['file_name']} at 3000x2000") in result.stdout
