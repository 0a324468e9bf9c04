"""deploy/python with --backend onnxruntime: model.onnx gives the dygraph model's detections
and the Paddle backend's bbox.json, the benchmark figures, and clear errors for what ONNX
Runtime cannot do; the Paddle backend does not need onnxruntime."""
import json
import os
import re
import sys

import numpy as np
import pytest

import test_deploy_infer
from test_deploy_infer import (THRESHOLD, assert_benchmark_figures, assert_same_records, cli,
                               image_paths)

# test_deploy_infer's fixtures: the tiny exported model and the images
export, image_dir = test_deploy_infer.export, test_deploy_infer.image_dir

from ppfcos_runtime.errors import DeployError  # noqa: E402
from ppfcos_runtime.exported_model import load_exported_model  # noqa: E402
from ppfcos_runtime import infer  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.output_dir import RECORD  # noqa: E402
from ppfcos_runtime.predictor import RunOptions, check_options, create_predictor  # noqa: E402

from conftest import PROGRAM_FILE, export_onnx_or_skip  # noqa: E402


@pytest.fixture(scope="module")
def onnx_model(export):
    """(model_dir holding model.onnx too, dygraph detections per image): the fused tiny
    model of test_deploy_infer (ResNet-18 with DCN, GN head). Skips where the onnx extra
    is not installed (CI installs it with .[test])."""
    for module in ("paddle2onnx", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason=f"the onnx extra is not installed ({module}): "
                            f"pip install -e .[onnx]")
    model_dir, _, detections = export(True)
    export_onnx_or_skip(model_dir)
    return model_dir, detections


def test_onnxruntime_detections_equal_the_dygraph_model(onnx_model, image_dir):
    model_dir, expected = onnx_model
    detector = load_detector(model_dir, "onnxruntime", RunOptions(cpu_threads=2))
    found = detector.detect([read_image(p) for p in image_paths(image_dir)])
    for rows, reference in zip(found, expected):
        assert len(rows) > 0 and rows.shape == reference.shape
        np.testing.assert_array_equal(rows[:, 0], reference[:, 0])
        np.testing.assert_allclose(rows[:, 1:], reference[:, 1:], rtol=1e-3, atol=1e-3)


def test_both_backends_write_the_same_bbox_json(onnx_model, image_dir, tmp_path):
    model_dir, _ = onnx_model
    records = {}
    for backend, batch_size in (("paddle", 1), ("onnxruntime", 4)):
        out = tmp_path / backend
        done = cli("--model_dir", model_dir, "--image_dir", image_dir, "--backend", backend,
                   "--batch_size", batch_size, "--cpu_threads", 2, "--threshold", THRESHOLD,
                   "--output_dir", out, "--save_results")
        assert done.returncode == 0, done.stderr
        with open(out / "bbox.json") as f:
            records[backend] = json.load(f)
        assert sorted(os.listdir(out)) == sorted(["bbox.json", "a.jpg", "a_1.jpg", "b.png",
                                                  "c.jpg", "d.jpg", RECORD])
    assert_same_records(records["paddle"], records["onnxruntime"], rtol=1e-3)


def test_onnxruntime_benchmark_prints_the_figures(onnx_model, image_dir, tmp_path):
    model_dir, _ = onnx_model
    assert_benchmark_figures(model_dir, image_dir / "c.jpg", tmp_path / "out",
                             "--backend", "onnxruntime")


@pytest.fixture
def paddle_only_dir(onnx_model, tmp_path):
    """A model directory without model.onnx."""
    model_dir, _ = onnx_model
    for name in (PROGRAM_FILE, "model.pdiparams", "infer_cfg.yml"):
        os.symlink(os.path.join(model_dir, name), tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("case", ["no model.onnx", "tensorrt", "gpu"])
def test_what_onnxruntime_cannot_do_is_a_one_line_error(case, onnx_model, paddle_only_dir,
                                                        image_dir, tmp_path, capsys):
    model_dir, _ = onnx_model
    import onnxruntime
    if case == "gpu" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime can run on GPU")
    args, message = {
        "no model.onnx": (["--model_dir", paddle_only_dir],
                          r"for the onnxruntime backend at fp32: missing model\.onnx \(write it with "
                          r"tools/export_onnx\.py"),
        "tensorrt": (["--model_dir", model_dir, "--run_mode", "trt_fp16"],
                     r"--run_mode trt_fp16 is Paddle Inference's TensorRT; --backend "
                     r"onnxruntime runs with --run_mode paddle"),
        "gpu": (["--model_dir", model_dir, "--device", "GPU"],
                r"--device GPU with --backend onnxruntime needs ONNX Runtime's "
                r"CUDAExecutionProvider \(pip install onnxruntime-gpu\)"),
    }[case]
    status = infer.main([*map(str, args), "--backend", "onnxruntime", "--image_dir",
                         str(image_dir), "--output_dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1
    assert re.search(rf"^error: .*{message}", err, re.M), err
    assert not (tmp_path / "out").exists()


def test_without_onnxruntime_only_its_backend_fails(export, monkeypatch):
    model_dir = export(True)[0]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # as if not installed
    with pytest.raises(DeployError, match=r"--backend onnxruntime needs the onnxruntime "
                       r"package: pip install onnxruntime"):
        check_options("onnxruntime", RunOptions())
    check_options("paddle", RunOptions())
    model = load_exported_model(model_dir)
    assert create_predictor("paddle", model, RunOptions(cpu_threads=2)).output_names
