"""deploy/python: the standalone predictor feeds the exported model ppfcos's tensors, gives
the dygraph model's detections, batches without changing them, writes its outputs and
fails clearly on bad input."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

import ppfcos
from conftest import CONFIGS, PROGRAM_FILE, REPO, fixture_tmp
from tool_runs import checksums
from mmdet_fixtures import FULL, MMDET_FIXTURES, TEST_SIZE, mmdet_fixture
from ppfcos.export.infer_cfg import preprocess_spec

RUNTIME = os.path.join(REPO, "ppfcos_runtime")
from ppfcos_runtime.detector import split_rows  # noqa: E402
from ppfcos_runtime.errors import DeployError  # noqa: E402
from ppfcos_runtime.exported_model import load_exported_model  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.output_dir import RECORD  # noqa: E402
from ppfcos_runtime.predictor import RunOptions  # noqa: E402
from ppfcos_runtime.preprocess import Preprocessor, build_step  # noqa: E402
# The tiny model and its images (test_deploy_onnx and the others import them from here).
from tiny_model import (LABELS, MEAN, STD, THRESHOLD, TINY_PLAIN, cli,  # noqa: E402,F401
                        export_tiny, image_paths, read_frames, write_images, write_video)


@pytest.fixture(scope="module")
def image_dir(request):
    return write_images(fixture_tmp(request, "images"))


@pytest.fixture(scope="module")
def export(request, image_dir):
    """export(fuse) -> export_tiny's result, built once per fuse_normalize setting."""
    done = {}

    def get(fuse):
        if fuse not in done:
            root = fixture_tmp(request, "fused" if fuse else "unfused")
            done[fuse] = export_tiny(root, fuse, image_paths(image_dir))
        return done[fuse]
    return get


@pytest.fixture(params=[True, False], ids=["fused", "unfused"])
def exported(request, export):
    """(fuse_normalize, model_dir, ppfcos's tensors, dygraph detections)."""
    return (request.param, *export(request.param))


@pytest.fixture
def model_dir(export):
    """The fused export (as the zoo configs are), for the command-line tests."""
    return export(True)[0]


def test_preprocessing_equals_the_ppfcos_reader(exported, image_dir):
    fused, model_dir, batches, _ = exported
    steps = load_exported_model(model_dir).preprocess
    assert any(step["type"] == "NormalizeImage" for step in steps) != fused
    preprocess = Preprocessor(steps)
    for path, expected in zip(image_paths(image_dir), batches):
        sample = preprocess(read_image(path))
        np.testing.assert_array_equal(sample["im_shape"], expected["im_shape"])
        np.testing.assert_array_equal(sample["scale_factor"], expected["scale_factor"])
        image = sample["image"]
        assert image.shape == expected["image"].shape and image.dtype == np.float32
        if fused:  # raw 0-255 pixels in, normalized in the graph; padding stays zero
            h, w = sample["im_shape"].astype(int)
            mean, std = (np.reshape(v, (3, 1, 1)) for v in (MEAN, STD))
            assert image.max() > 1 and not image[:, h:].any() and not image[:, :, w:].any()
            image = image[:, :h, :w] / 255.0
            image = ((image - mean) / std).astype(np.float32)
            expected = expected["image"][:, :h, :w]
        else:
            expected = expected["image"]
        np.testing.assert_allclose(image, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("onednn", [True, False], ids=["onednn", "no-onednn"])
def test_detections_equal_the_dygraph_model(exported, image_dir, onednn):
    _, model_dir, _, expected = exported
    detector = load_detector(model_dir, "paddle", RunOptions(cpu_threads=2,
                                                             enable_mkldnn=onednn))
    found = detector.detect([read_image(p) for p in image_paths(image_dir)])
    for rows, reference in zip(found, expected):
        assert len(rows) > 0 and rows.shape == reference.shape
        np.testing.assert_array_equal(rows[:, 0], reference[:, 0])
        np.testing.assert_allclose(rows[:, 1:], reference[:, 1:], rtol=1e-3, atol=1e-3)


def test_batches_only_join_same_shapes_and_give_batch_size_1_detections(model_dir, image_dir,
                                                                       tmp_path):
    outputs = {}
    for batch_size in (1, 4):
        out = tmp_path / f"batch{batch_size}"
        done = cli("--model_dir", model_dir, "--image_dir", image_dir, "--batch_size", batch_size,
                   "--threshold", THRESHOLD, "--output_dir", out, "--save_results")
        assert done.returncode == 0, done.stderr
        assert re.search(r"WARNING: skipped: cannot decode image .*broken\.jpg", done.stderr)
        assert "Traceback" not in done.stderr
        with open(out / "bbox.json") as f:
            outputs[batch_size] = json.load(f)
    assert_same_records(outputs[1], outputs[4], rtol=1e-4)


def assert_same_records(records, others, rtol):
    """Two bbox.json lists hold the same detections: same images and classes, scores and
    boxes within ``rtol`` (atol 1e-3)."""
    assert len(records) > 0 and len(others) == len(records)
    for one, other in zip(records, others):
        assert {k: one[k] for k in ("image", "category_id", "category")} == \
            {k: other[k] for k in ("image", "category_id", "category")}
        np.testing.assert_allclose([one["score"], *one["bbox"]],
                                   [other["score"], *other["bbox"]], rtol=rtol, atol=1e-3)


def test_annotated_images_and_bbox_json(model_dir, image_dir, tmp_path):
    done = cli("--model_dir", model_dir, "--image_dir", image_dir, "--threshold", THRESHOLD,
               "--output_dir", tmp_path, "--save_results", "--cpu_threads", 2)
    assert done.returncode == 0, done.stderr
    written = {"a.jpg": "a.jpg", "b.png": "b.png", "c.jpg": "c.jpg", "d.jpg": "d.jpg",
               "sub/a.jpg": "a_1.jpg"}
    assert sorted(os.listdir(tmp_path)) == sorted([*written.values(), "bbox.json", RECORD])
    detector = load_detector(model_dir, "paddle", RunOptions(cpu_threads=2))
    with open(tmp_path / "bbox.json") as f:
        records = json.load(f)
    for name, out_name in written.items():
        path = str(image_dir / name)
        original = cv2.imread(path)
        drawn = cv2.imread(str(tmp_path / out_name))
        assert drawn.shape == original.shape
        if name.endswith(".png"):  # lossless: only the drawing changes pixels
            assert 0 < (drawn != original).any(axis=2).mean() < 1
        rows = detector.detect([read_image(path)])[0]
        kept = rows[rows[:, 1] >= THRESHOLD]
        assert len(kept) > 0
        assert re.search(rf"{re.escape(path)}: {len(kept)} detections >= 0\.15 -> "
                         rf"{re.escape(str(tmp_path / out_name))}", done.stderr)
        mine = [r for r in records if r["image"] == path]
        assert [r["category_id"] for r in mine] == kept[:, 0].astype(int).tolist()
        assert [r["category"] for r in mine] == [LABELS[int(c)] for c in kept[:, 0]]
        xywh = np.concatenate([kept[:, 2:4], kept[:, 4:] - kept[:, 2:4]], axis=1)
        np.testing.assert_allclose([r["bbox"] for r in mine], xywh, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose([r["score"] for r in mine], kept[:, 1], rtol=1e-4)


def test_video_gets_an_annotated_copy(model_dir, tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=5, fps=7)
    done = cli("--model_dir", model_dir, "--video_file", video, "--batch_size", 2,
               "--threshold", THRESHOLD, "--output_dir", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"clip\.avi frame \d: \d+ detections", done.stderr)) == 5
    frames, capture = read_frames(tmp_path / "out" / "clip.mp4")
    assert capture.isOpened()
    assert len(frames) == 5 and frames[0].shape == (64, 96, 3)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(7)


def test_run_benchmark_prints_the_figures(model_dir, image_dir, tmp_path):
    assert_benchmark_figures(model_dir, image_dir / "c.jpg", tmp_path / "out",
                             "--enable_mkldnn", "False")


def assert_benchmark_figures(model_dir, image, out, *flags):
    """deploy --run_benchmark on ``image`` prints the CPU, the timings, fps and memory, and
    writes only ``out``/benchmark.json (the run's settings and per-image means; and the
    record of the files the run wrote) -> that record."""
    done = cli("--model_dir", model_dir, "--image_file", image, "--run_benchmark",
               "--output_dir", out, "--cpu_threads", 2, *flags)
    assert done.returncode == 0, done.stderr
    figures = r"preprocess [\d.]+ ms, inference [\d.]+ ms, postprocess [\d.]+ ms per image"
    assert re.search(figures, done.stdout), done.stdout
    assert re.search(r"[\d.]+ fps", done.stdout) and re.search(r"memory.* [\d.]+ MB",
                                                                 done.stdout)
    assert re.search(r"^CPU: .+, \d+ cores; flags .*avx512_bf16.*; oneDNN ISA \w+$",
                     done.stdout, re.M), done.stdout
    assert sorted(os.listdir(out)) == [RECORD, "benchmark.json"]
    with open(os.path.join(out, "benchmark.json")) as f:
        record = json.load(f)
    assert list(record) == ["backend", "precision", "threads", "batch_size", "images",
                            "preprocess_ms", "inference_ms", "postprocess_ms"]
    assert (record["threads"], record["batch_size"], record["images"]) == (2, 1, 1)
    assert record["inference_ms"] > 0
    return record


@pytest.mark.parametrize("present, missing", [
    ([], "model.json or model.pdmodel, model.pdiparams, infer_cfg.yml"),
    ([PROGRAM_FILE, "infer_cfg.yml"], "model.pdiparams"),
    (["model.pdiparams"], "model.json or model.pdmodel, infer_cfg.yml"),
])
def test_incomplete_model_dir_lists_the_missing_files(model_dir, tmp_path, present, missing):
    for name in present:
        os.symlink(os.path.join(model_dir, name), tmp_path / name)
    with pytest.raises(DeployError, match=rf"missing {re.escape(missing)}$"):
        load_exported_model(str(tmp_path))


def test_an_old_style_model_pdmodel_is_accepted(model_dir, tmp_path):
    """An older export: model.pdmodel, and an infer_cfg.yml without ppfcos's files record."""
    for src, dst in [(PROGRAM_FILE, "model.pdmodel"), ("model.pdiparams", "model.pdiparams")]:
        os.symlink(os.path.join(model_dir, src), tmp_path / dst)
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        cfg = yaml.safe_load(f)
    del cfg["files"]
    with open(tmp_path / "infer_cfg.yml", "w") as f:
        yaml.safe_dump(cfg, f)
    model = load_exported_model(str(tmp_path))
    assert model.program.endswith("model.pdmodel") and model.label_list == LABELS


@pytest.mark.parametrize("config", FULL)
def test_bgr_models_get_mmdetections_preprocessed_images(config, tmp_path):
    """The infer_cfg Preprocess of mmdetection's caffe-style rows (ToBGR first) on the
    fixture images gives mmdetection's own preprocessed batch."""
    cfg = ppfcos.load_config(os.path.join(CONFIGS, f"{config}.yml"))
    steps, _ = preprocess_spec(cfg["TestReader"])
    assert steps[0] == {"type": "ToBGR"}
    steps = [dict(step, target_size=TEST_SIZE["full"]) if step["type"] == "Resize" else step
             for step in steps]
    ref, images = mmdet_fixture(config), np.load(os.path.join(MMDET_FIXTURES, "images.npz"))
    for i in range(2):
        (tmp_path / f"{i}.png").write_bytes(images[f"png{i}"].tobytes())
        sample = Preprocessor(steps)(read_image(str(tmp_path / f"{i}.png")))
        np.testing.assert_array_equal(sample["im_shape"], ref[f"img_shape{i}"])
        _, h, w = sample["image"].shape
        np.testing.assert_allclose(sample["image"], ref["inputs"][i][:, :h, :w], rtol=0,
                                   atol=1e-4)
        assert not ref["inputs"][i][:, h:].any() and not ref["inputs"][i][:, :, w:].any()


def test_preprocess_steps_reject_unknown_types_and_arguments():
    with pytest.raises(DeployError, match="unknown Preprocess type 'LetterBoxResize'"):
        build_step({"type": "LetterBoxResize", "target_size": 640})
    with pytest.raises(DeployError, match="Resize: unknown argument.*size.*target_size"):
        build_step({"type": "Resize", "size": 640})
    with pytest.raises(DeployError, match="NormalizeImage: norm_type"):
        build_step({"type": "NormalizeImage", "norm_type": "minmax"})


def test_split_rows_drops_placeholder_rows_and_checks_counts():
    bbox = np.array([[1, .9, 0, 0, 1, 1], [2, .8, 0, 0, 2, 2], [-1, 0, 0, 0, 0, 0]], "float32")
    rows = split_rows(bbox, np.array([0, 2], "int32"), 2)
    assert [len(r) for r in rows] == [0, 2]
    assert [len(r) for r in split_rows(bbox[2:], np.array([0], "int32"), 1)] == [0]
    with pytest.raises(DeployError, match="do not match a batch of 3"):
        split_rows(bbox, np.array([1, 1], "int32"), 3)


@pytest.fixture
def bad_cfg_model(model_dir, tmp_path):
    """model_dir with a Preprocess step type this predictor does not know."""
    for name in (PROGRAM_FILE, "model.pdiparams"):
        os.symlink(os.path.join(model_dir, name), tmp_path / name)
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        cfg = yaml.safe_load(f)
    cfg["Preprocess"].insert(0, {"type": "RandomDistort"})
    with open(tmp_path / "infer_cfg.yml", "w") as f:
        yaml.safe_dump(cfg, f)
    return tmp_path


@pytest.mark.parametrize("case", ["no model dir", "incomplete model dir", "unknown step",
                                  "no image file", "empty image dir", "only broken images",
                                  "tensorrt on cpu"])
def test_bad_input_is_a_one_line_error(case, model_dir, bad_cfg_model, image_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    args, message = {
        "no model dir": (["--model_dir", tmp_path / "nope", "--image_dir", image_dir],
                         "model directory not found: .*nope"),
        "incomplete model dir": (["--model_dir", tmp_path / "empty", "--image_dir", image_dir],
                                 "missing model.json or model.pdmodel, model.pdiparams, "
                                 "infer_cfg.yml"),
        "unknown step": (["--model_dir", bad_cfg_model, "--image_dir", image_dir],
                         "unknown Preprocess type 'RandomDistort'"),
        "no image file": (["--model_dir", model_dir, "--image_file", tmp_path / "x.jpg"],
                          "image file not found: .*x.jpg"),
        "empty image dir": (["--model_dir", model_dir, "--image_dir", tmp_path / "empty"],
                            "no images .* in .*empty"),
        "only broken images": (["--model_dir", model_dir, "--image_file",
                                image_dir / "broken.jpg"], "none of the 1 image"),
        "tensorrt on cpu": (["--model_dir", model_dir, "--image_dir", image_dir, "--run_mode",
                             "trt_fp16"], "trt_fp16 runs TensorRT, which needs --device GPU"),
    }[case]
    done = cli(*args, "--output_dir", tmp_path / "out")
    assert done.returncode == 1
    assert re.search(rf"^error: .*{message}", done.stderr, re.M), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("folder", [".", "sub"])
def test_output_dir_holding_the_inputs_is_refused(model_dir, image_dir, tmp_path, folder):
    photos = tmp_path / "photos"
    shutil.copytree(image_dir, photos)
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    done = cli("--model_dir", model_dir, "--image_dir", photos, "--output_dir", photos / folder)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(rf"^error: --output_dir .*photos.* holds the input .*{folder}/?a.jpg, which "
                     rf"its annotated copy would replace", done.stderr, re.M), done.stderr
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before


def test_output_dir_holding_the_users_files_is_refused_and_reruns_replace_its_own(
        model_dir, image_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "bbox.json").write_text('{"mine": true}')   # the user's, named like the outputs
    shutil.copy(image_dir / "b.png", out / "c.jpg")
    (out / "notes.txt").write_text("the user's")
    users = checksums(out)
    run = ["--model_dir", model_dir, "--image_dir", image_dir, "--threshold", THRESHOLD,
           "--output_dir", out, "--save_results", "--cpu_threads", 2]
    refused = cli(*run)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --output_dir {out} holds c.jpg, bbox.json, which this run "
                      f"would replace and no earlier run wrote: move them, or choose another "
                      f"--output_dir"], refused.stderr
    assert checksums(out) == users   # nothing written, nothing replaced

    os.remove(out / "bbox.json")
    os.remove(out / "c.jpg")
    for _ in range(2):   # a rerun replaces the files the first run wrote
        done = cli(*run)
        assert done.returncode == 0, done.stderr
    assert (out / "notes.txt").read_text() == "the user's"
    assert sorted(os.listdir(out)) == sorted(["a.jpg", "b.png", "c.jpg", "d.jpg", "a_1.jpg",
                                              "bbox.json", "notes.txt", RECORD])
    (out / "bbox.json").write_text("[]")   # edited by the user: now theirs
    edited = cli(*run)
    assert edited.returncode == 1 and "holds bbox.json, which this run" in edited.stderr
    assert (out / "bbox.json").read_text() == "[]"


def test_the_runtime_imports_only_paddle_numpy_cv2_yaml_and_itself():
    """...and onnxruntime, openvino, sahi, and trackers and supervision, each imported only
    inside the functions that its backend (or --slice_infer, or --track) calls."""
    own = {name[:-3] for name in os.listdir(RUNTIME) if name.endswith(".py")}
    allowed = set(sys.stdlib_module_names) | {"paddle", "numpy", "cv2", "yaml", "ppfcos_runtime"}
    lazy = {}
    for name in sorted(own):
        with open(os.path.join(RUNTIME, name + ".py")) as f:
            tree = ast.parse(f.read())
        functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""] if node.level == 0 else [f"ppfcos_runtime.{node.module}"]
            else:
                continue
            roots = {m.split(".")[0] for m in modules}
            if roots & {"onnxruntime", "openvino", "sahi", "supervision", "trackers"}:
                lazy.setdefault(name, set()).update(f.name for f in functions
                                                    if node in ast.walk(f))
                continue
            assert roots <= allowed, (name, modules)
    assert lazy == {"predictor": {"import_onnxruntime", "import_openvino"},
                    "slicing": {"import_sahi"}, "tracking": {"import_trackers"}}


def test_deploy_command_runs_a_copied_runtime_without_ppfcos(tmp_path):
    """``python deploy/python/infer.py`` in a copy of ppfcos_runtime/ and deploy/ alone (as
    on a server) runs the copy's runtime, loads no ppfcos module, and refuses a missing
    model folder in one line (exit status 1)."""
    server = tmp_path / "server"
    for folder in ("ppfcos_runtime", "deploy"):
        shutil.copytree(os.path.join(REPO, folder), server / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-v", "deploy/python/infer.py", "--model_dir",
                           "missing", "--image_file", "a.jpg"], cwd=server, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [
        "error: model directory not found: missing (export a model with "
        "tools/export_model.py)"]
    loaded = [line.split("code object from ", 1)[1] for line in done.stderr.splitlines()
              if line.startswith("# code object from ")]
    runtime = [path for path in loaded if f"{os.sep}ppfcos_runtime{os.sep}" in path]
    assert runtime and all(path.startswith(str(server)) for path in runtime)
    assert not [path for path in loaded if f"{os.sep}ppfcos{os.sep}" in path]
