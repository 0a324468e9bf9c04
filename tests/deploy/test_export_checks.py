"""Exports check themselves when loaded: infer_cfg.yml's class lists against each other and
the class count the export recorded, its Preprocess sizes, and each model file against
the size and sha256 the export recorded. A mismatch or damage is one line naming the
file, through every entry point (deploy/python/infer.py, ppfcos-deploy, ppfcos-serve
start-up, ppfcos.Detector.from_export), and the export's files stay as they were."""
import hashlib
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import paddle
import pytest
import yaml

import ppfcos
from conftest import PROGRAM_FILE, REPO, export_onnx_or_skip, fixture_tmp
from ppfcos.export.exporter import save_program
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos_runtime.errors import DeployError
from tiny_model import TINY_PLAIN, export_tiny, write_tiny_config

PARAMS = "model.pdiparams"
INFER_CFG = "infer_cfg.yml"


@pytest.fixture(scope="module")
def export_dir(request):
    """The tiny 4-class model's export (model.json or .pdmodel, params, infer_cfg.yml)."""
    root = fixture_tmp(request, "export")
    return export_tiny(root, True, [], TINY_PLAIN)[0]


@pytest.fixture(scope="module")
def other_params(request):
    """model.pdiparams of another model: the tiny model with 6 classes."""
    root = fixture_tmp(request, "other")
    config = write_tiny_config(root, True, TINY_PLAIN.replace("num_classes: 4",
                                                              "num_classes: 6"))
    model = seed_weights(ppfcos.build_model(ppfcos.load_config(config)))
    save_program(model, str(root / "model"))
    return str(root / "model" / PARAMS)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "photo.jpg"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (60, 90, 3), np.uint8))
    return str(path)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def checksums(model_dir):
    """{file name: sha256} of every file in ``model_dir``."""
    return {name: sha256(os.path.join(model_dir, name)) for name in sorted(os.listdir(model_dir))}


def edit_infer_cfg(model_dir, change):
    """Apply ``change`` (a function of the infer_cfg dict) to model_dir/infer_cfg.yml."""
    path = os.path.join(model_dir, INFER_CFG)
    with open(path) as f:
        cfg = yaml.safe_load(f)
    change(cfg)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def damage(path, how):
    """Truncate ``path`` to half, zero it (same size) or empty it."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write({"truncated": data[:len(data) // 2], "zeroed": bytes(len(data)),
                 "empty": b""}[how])


def copy_export(export_dir, tmp_path):
    """A copy of the export at ``export_dir`` in tmp_path/model -> its path."""
    model_dir = str(tmp_path / "model")
    shutil.copytree(export_dir, model_dir)
    return model_dir


def set_resize(target_size):
    def change(cfg):
        resize, = (step for step in cfg["Preprocess"] if step["type"] == "Resize")
        resize["target_size"] = target_size
    return change


def set_step_arg(kind, key, value):
    def change(cfg):
        step, = (step for step in cfg["Preprocess"] if step["type"] == kind)
        step[key] = value
    return change


# case -> (how the export is spoiled (a function of its directory), the file the error
# names, a fragment of the error after the file's path)
CASES = {
    "fewer category_ids": (
        lambda d: edit_infer_cfg(d, lambda cfg: cfg["category_ids"].pop()), INFER_CFG,
        ": the class counts disagree (label_list 4, category_ids 3, num_classes 4)"),
    "more label_list names than classes": (
        lambda d: edit_infer_cfg(d, lambda cfg: cfg["label_list"].append("bus")), INFER_CFG,
        ": the class counts disagree (label_list 5, category_ids 4, num_classes 4)"),
    "params truncated": (lambda d: damage(os.path.join(d, PARAMS), "truncated"), PARAMS,
                         " has "),
    "params zeroed": (lambda d: damage(os.path.join(d, PARAMS), "zeroed"), PARAMS,
                      " differs from the sha256 "),
    "params empty": (lambda d: damage(os.path.join(d, PARAMS), "empty"), PARAMS,
                     " is empty: export the model again with tools/export_model.py"),
    "program truncated": (lambda d: damage(os.path.join(d, PROGRAM_FILE), "truncated"),
                          PROGRAM_FILE, " has "),
    "program zeroed": (lambda d: damage(os.path.join(d, PROGRAM_FILE), "zeroed"),
                       PROGRAM_FILE, " differs from the sha256 "),
    "program empty": (lambda d: damage(os.path.join(d, PROGRAM_FILE), "empty"),
                      PROGRAM_FILE, " is empty"),
    "Resize [-5, -5]": (
        lambda d: edit_infer_cfg(d, set_resize([-5, -5])), INFER_CFG,
        ": Preprocess Resize: target_size must be an integer or [h, w] of integers from 1 "
        "to 16384, got [-5, -5]"),
    "Resize [100000, 100000]": (
        lambda d: edit_infer_cfg(d, set_resize([100000, 100000])), INFER_CFG,
        ": Preprocess Resize: target_size must be an integer or [h, w] of integers from 1 "
        "to 16384, got [100000, 100000]"),
    "Resize interp 9": (lambda d: edit_infer_cfg(d, set_step_arg("Resize", "interp", 9)),
                        INFER_CFG, ": Preprocess Resize: interp must be one of OpenCV's"),
    "PadStride 100000": (
        lambda d: edit_infer_cfg(d, set_step_arg("PadStride", "stride", 100000)), INFER_CFG,
        ": Preprocess PadStride: stride must be an integer from 0 (no padding) to 16384"),
    "num_classes 0": (lambda d: edit_infer_cfg(d, lambda cfg: cfg.update(num_classes=0)),
                      INFER_CFG, ": num_classes must be a positive integer, got 0"),
}


@pytest.fixture
def spoiled(export_dir, tmp_path):
    """spoil(case) -> (a copy of the export spoiled as CASES[case] says, the error's
    expected start, the copy's checksums)."""
    def spoil(case):
        how, name, fragment = CASES[case]
        model_dir = copy_export(export_dir, tmp_path)
        how(model_dir)
        return model_dir, os.path.join(model_dir, name) + fragment, checksums(model_dir)
    return spoil


def test_the_export_records_its_class_count_and_files(export_dir):
    with open(os.path.join(export_dir, INFER_CFG)) as f:
        cfg = yaml.safe_load(f)
    assert cfg["num_classes"] == len(cfg["label_list"]) == len(cfg["category_ids"]) == 4
    assert cfg["files"] == {name: {"bytes": os.path.getsize(os.path.join(export_dir, name)),
                                   "sha256": sha256(os.path.join(export_dir, name))}
                            for name in (PROGRAM_FILE, PARAMS)}


@pytest.mark.parametrize("case", CASES)
def test_detector_from_export_refuses_a_spoiled_export_in_one_line(spoiled, case):
    model_dir, expected, before = spoiled(case)
    with pytest.raises(DeployError) as refusal:
        ppfcos.Detector.from_export(model_dir, device="cpu", threads=1)
    message = str(refusal.value)
    assert message.startswith(expected) and "\n" not in message, message
    assert checksums(model_dir) == before


def test_params_of_another_model_are_refused_in_one_line(export_dir, other_params, tmp_path):
    model_dir = copy_export(export_dir, tmp_path)
    shutil.copy(other_params, os.path.join(model_dir, PARAMS))
    before = checksums(model_dir)
    with pytest.raises(DeployError) as refusal:
        ppfcos.Detector.from_export(model_dir, device="cpu", threads=1)
    message = str(refusal.value)
    assert message.startswith(f"{model_dir}/{PARAMS} has ") and "\n" not in message, message
    assert "comes from another export" in message
    assert checksums(model_dir) == before


def command(entry, model_dir, image, output_dir):
    """The command line of ``entry`` run on ``model_dir`` as a user types it."""
    if entry == "ppfcos-serve":
        return [sys.executable, "-m", "ppfcos_runtime.serving.cli", "--model_dir", model_dir,
                "--port", "0", "--cpu_threads", "1"]
    detect = ["--model_dir", model_dir, "--image_file", image, "--output_dir", output_dir,
              "--cpu_threads", "1"]
    if entry == "ppfcos-deploy":
        return [os.path.join(os.path.dirname(sys.executable), "ppfcos-deploy"), *detect]
    return [sys.executable, "deploy/python/infer.py", *detect]


# Each row of the issue through infer.py; ppfcos-deploy (infer.py's main installed as a
# command) and ppfcos-serve's start-up (the same load) once each, to keep the suite fast.
@pytest.mark.parametrize("entry, case", [
    ("deploy/python/infer.py", "fewer category_ids"),
    ("deploy/python/infer.py", "params truncated"),
    ("deploy/python/infer.py", "Resize [100000, 100000]"),
    ("ppfcos-deploy", "program zeroed"),
    ("ppfcos-serve", "Resize [-5, -5]"),
    ("ppfcos-serve", "fewer category_ids"),
])
def test_each_command_refuses_a_spoiled_export_in_one_line(spoiled, image, tmp_path, entry,
                                                          case):
    model_dir, expected, before = spoiled(case)
    error = refusal_line(command(entry, model_dir, image, str(tmp_path / "out")))
    assert error.startswith(f"error: {expected}"), error
    assert checksums(model_dir) == before and not (tmp_path / "out").exists()


def refusal_line(args, timeout=120):
    """Run ``args`` (without ppfcos's source tree on PYTHONPATH, from the repository) ->
    its one ``error:`` line, asserting it exited with status 1 without a traceback."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return errors[0]


def without_record(model_dir):
    """Make ``model_dir`` an export from before the record (no files, no num_classes)."""
    edit_infer_cfg(model_dir, lambda cfg: [cfg.pop("files"), cfg.pop("num_classes")])


def test_a_damaged_export_without_a_record_is_paddles_refusal_in_one_line(export_dir,
                                                                         tmp_path):
    model_dir = copy_export(export_dir, tmp_path)
    without_record(model_dir)
    ppfcos.Detector.from_export(model_dir, device="cpu", threads=1)      # loads unchecked
    damage(os.path.join(model_dir, PARAMS), "truncated")
    before = checksums(model_dir)
    with pytest.raises(DeployError) as refusal:
        ppfcos.Detector.from_export(model_dir, device="cpu", threads=1)
    message = str(refusal.value)
    assert message.startswith(f"Paddle Inference {paddle.__version__} cannot load "
                              f"{model_dir}/{PROGRAM_FILE} with {model_dir}/{PARAMS}: ")
    assert message.endswith("export the model again with tools/export_model.py")
    assert "\n" not in message and checksums(model_dir) == before


def test_serve_with_predictor_processes_refuses_a_damaged_export_in_one_line(export_dir,
                                                                            tmp_path):
    """The predictors load in child processes there: a child's refusal is the server's line."""
    pytest.importorskip("fastapi", reason="needs pip install -e .[serve]")
    model_dir = copy_export(export_dir, tmp_path)
    without_record(model_dir)
    damage(os.path.join(model_dir, PROGRAM_FILE), "zeroed")
    before = checksums(model_dir)
    error = refusal_line(command("ppfcos-serve", model_dir, None, None)
                         + ["--predictor_processes", "2"], timeout=180)
    assert error.startswith(f"error: Paddle Inference {paddle.__version__} cannot load "
                            f"{model_dir}/{PROGRAM_FILE} with {model_dir}/{PARAMS}: "), error
    assert checksums(model_dir) == before


def test_model_onnx_is_recorded_when_written_and_checked_at_load(export_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    model_dir = copy_export(export_dir, tmp_path)
    onnx_file = export_onnx_or_skip(model_dir)
    with open(os.path.join(model_dir, INFER_CFG)) as f:
        files = yaml.safe_load(f)["files"]
    assert files["model.onnx"] == {"bytes": os.path.getsize(onnx_file),
                                   "sha256": sha256(onnx_file)}
    assert sorted(files) == sorted([PROGRAM_FILE, PARAMS, "model.onnx"])
    ppfcos.Detector.from_export(model_dir, backend="onnxruntime", threads=1)
    damage(onnx_file, "zeroed")
    before = checksums(model_dir)
    with pytest.raises(DeployError) as refusal:
        ppfcos.Detector.from_export(model_dir, backend="onnxruntime", threads=1)
    assert checksums(model_dir) == before
    message = str(refusal.value)
    assert message.startswith(f"{onnx_file} differs from the sha256 {model_dir}/{INFER_CFG} "
                              f"records") and "\n" not in message, message
    assert message.endswith("write it with tools/export_onnx.py --model_dir DIR, or "
                            "tools/export_model.py --export_onnx")
    edit_infer_cfg(model_dir, lambda cfg: cfg["files"].pop("model.onnx"))
    with pytest.raises(DeployError, match=rf"^{onnx_file} is not one of the files .* records "
                                          rf"\({PROGRAM_FILE}, {PARAMS}\)"):
        ppfcos.Detector.from_export(model_dir, backend="onnxruntime", threads=1)


def test_export_onnx_refuses_to_convert_damaged_files_in_one_line(spoiled):
    """tools/export_onnx.py would otherwise record a model.onnx made of them as the export's."""
    pytest.importorskip("paddle2onnx")
    model_dir, expected, before = spoiled("params zeroed")
    error = refusal_line([sys.executable, "tools/export_onnx.py", "--model_dir", model_dir])
    assert error.startswith(f"error: {expected}"), error
    assert checksums(model_dir) == before      # no model.onnx, infer_cfg.yml as it was
