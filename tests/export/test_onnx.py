"""ONNX export: ONNX Runtime and OpenVINO give the Paddle predictor's detections, oneDNN on
and off (zoo configs, any batch and image size), the ONNX NMS equals Paddle's
multiclass_nms3 with MultiClassNMS's preselection case by case in both runtimes, and a
missing optional extra is a clear error."""
import importlib.util
import json
import os
import sys

import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.export import export_model
from ppfcos.export.onnx import INSTALL_HINT, MAX_OPSET, MIN_OPSET, OnnxExportError, export_onnx
from ppfcos.export.runtime_eval import RuntimeEvalModel
from ppfcos.modeling.post_process import MultiClassNMS
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.exported_model import ExportedModel
from ppfcos_runtime.paddle_compat import paddle_bf16_unsupported
from ppfcos_runtime.predictor import OnnxRuntimePredictor, RunOptions

from conftest import (CONFIGS, PROGRAM_FILE, export_listing, export_onnx_or_skip, fixture_tmp,
                      load_tool, runtime)

import test_export
import test_export_mmdet
from mmdet_fixtures import as_reference, eval_batch
from mmdet_fixtures import assert_same_detections as assert_mmdet_detections
from test_export import IM_SHAPE, SCALE, assert_same_detections, raw_batch
from test_export_mmdet import fixture_batches

tiny_config = test_export.tiny_config   # a fixture
exported = test_export_mmdet.exported   # a fixture: an mmdetection zoo row exported


@pytest.fixture(scope="module")
def onnx_extra():
    """Skip where the onnx extra is not installed (CI installs it with .[test])."""
    for module in ("paddle2onnx", "onnx", "onnxruntime"):
        pytest.importorskip(module, reason=f"the onnx extra is not installed ({module}): "
                            f"pip install -e .[onnx]")


@pytest.fixture(scope="module")
def openvino_extra():
    """Skip where the openvino extra is not installed (CI installs it with .[test])."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed: "
                        "pip install -e .[openvino]")


def session(onnx_file):
    """The ONNX Runtime session ppfcos_runtime's backend opens on ``onnx_file``."""
    return OnnxRuntimePredictor(ExportedModel(onnx=onnx_file), RunOptions(cpu_threads=2)).session


def assert_same_runtime_detections(actual, expected):
    """What every fp32 runtime must agree on: the same rows and classes, scores within
    1e-3, boxes within 1e-2 px."""
    np.testing.assert_array_equal(actual[1], expected[1])
    np.testing.assert_array_equal(actual[0][:, 0], expected[0][:, 0])
    np.testing.assert_allclose(actual[0][:, 1], expected[0][:, 1], rtol=0, atol=1e-3)
    np.testing.assert_allclose(actual[0][:, 2:], expected[0][:, 2:], rtol=0, atol=1e-2)


# --- the NMS graph against Paddle's kernel ------------------------------------------------

def nms_model(params):
    """An ONNX model: boxes [N, M, 4], scores [N, C, M] -> bbox, bbox_num."""
    import onnx
    from onnx import TensorProto, helper

    from ppfcos.export.onnx_nms import append_nms
    graph = helper.make_graph([], "nms", [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", "M", 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", "C", "M"])], [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", MIN_OPSET)])
    append_nms(model, "boxes", "scores", params)
    onnx.checker.check_model(model, full_check=True)
    return model


def random_detections(rng, images=2, classes=6, points=600, spread=200.0):
    centres = rng.uniform(0, spread, size=(images, points, 2))
    sizes = rng.uniform(4, 40, size=(images, points, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=-1)
    return boxes.astype(np.float32), rng.uniform(0, 1, (images, classes, points)).astype(
        np.float32)


def nms_case(case, rng):
    """-> (MultiClassNMS arguments, boxes, scores) of a named case."""
    params = dict(score_threshold=0.05, nms_top_k=1000, keep_top_k=20, nms_threshold=0.5)
    boxes, scores = random_detections(rng)
    if case == "heavy_suppression":   # the preselection must fall back to all candidates
        copies = np.tile([[[10, 10, 50, 50]]], (2, 500, 1)) + rng.uniform(0, 1, (2, 500, 4))
        boxes[:, :500] = copies
        scores[..., :500] = 0.5 + scores[..., :500] / 2
        scores[..., 500:] = 0.1 + scores[..., 500:] / 4
    elif case == "few_candidates":
        scores *= rng.uniform(0, 1, scores.shape) < 0.01
    elif case == "tied_scores":       # equal scores: Paddle takes the lower box index first
        scores = np.round(scores * 8) / 8
        left = 3.0 * np.arange(100)       # a chain of equal boxes, each overlapping the next
        boxes[:, :100] = np.stack([left, 0 * left, left + 20, 0 * left + 20], axis=-1)
        scores[..., :100] = 1.0
        params.update(keep_top_k=100)
    elif case == "zero_area_boxes":   # on grid lines, touching: Paddle's 0/0 IoU suppresses
        params.update(keep_top_k=300)
        boxes = np.round(boxes / 16) * 16
        boxes[:, ::2, 3] = boxes[:, ::2, 1]
        boxes[:, 1::4, 2] = boxes[:, 1::4, 0]
    elif case == "small_nms_top_k":
        params.update(nms_top_k=7, keep_top_k=30)
    elif case == "no_keep_top_k":
        params.update(keep_top_k=-1, nms_top_k=50)
    elif case == "background_label":
        params.update(background_label=0)
    elif case == "pixel_iou":
        params.update(normalized=False)
        boxes = np.round(boxes)
    elif case == "one_image_empty":
        boxes, scores = random_detections(rng, images=3)
        scores[1] = 0.01
    elif case == "nothing_above_threshold":
        scores[:] = 0.05
    return params, boxes.astype(np.float32), scores.astype(np.float32)


NMS_CASES = ["many_survivors", "heavy_suppression", "few_candidates", "tied_scores",
             "zero_area_boxes", "small_nms_top_k", "no_keep_top_k", "background_label",
             "pixel_iou", "one_image_empty", "nothing_above_threshold"]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("case", NMS_CASES)
def test_onnx_nms_equals_paddle_nms(case, backend, onnx_extra, request, tmp_path):
    import onnx
    if backend == "openvino":
        request.getfixturevalue("openvino_extra")
    params, boxes, scores = nms_case(case, np.random.default_rng(11))
    nms = MultiClassNMS(**params)
    expected = [t.numpy() for t in nms(paddle.to_tensor(boxes), paddle.to_tensor(scores))]
    attrs = dict(score_threshold=nms.score_threshold, nms_top_k=nms.nms_top_k,
                 keep_top_k=nms.keep_top_k, nms_threshold=nms.nms_threshold,
                 normalized=nms.normalized, nms_eta=nms.nms_eta,
                 background_label=nms.background_label)
    onnx.save(nms_model(attrs), str(tmp_path / "nms.onnx"))
    bbox, bbox_num = runtime(backend, str(tmp_path / "nms.onnx"))({"boxes": boxes,
                                                                   "scores": scores})
    assert bbox_num.dtype == np.int32 and bbox.dtype == np.float32
    np.testing.assert_array_equal(bbox_num, expected[1])
    np.testing.assert_array_equal(bbox, expected[0])
    if case == "nothing_above_threshold":
        assert bbox.shape == (0, 6)
    elif case == "heavy_suppression":
        assert bbox_num.tolist() == [20, 20]
    elif case == "one_image_empty":
        assert bbox_num[1] == 0 and bbox_num[0] > 0 and bbox_num[2] > 0


# --- exported zoo models ------------------------------------------------------------------

@pytest.fixture(scope="module", params=["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco"])
def onnx_zoo_model(request, onnx_extra):
    """(Paddle model dir, model.onnx) of a zoo config with the reference weights."""
    cfg = ppfcos.load_config(os.path.join(CONFIGS, request.param + ".yml"))
    model = seed_weights(ppfcos.build_model(cfg))
    model_dir = export_model(model, cfg, str(fixture_tmp(request, "onnx") / request.param))
    return model_dir, export_onnx_or_skip(model_dir)


def test_onnx_runtimes_give_the_paddle_predictors_detections(onnx_zoo_model):
    """ONNX Runtime and OpenVINO (which reads no DeformConv: R50 only) against Paddle
    Inference with oneDNN on and off."""
    model_dir, onnx_file = onnx_zoo_model
    assert onnx_file == os.path.join(model_dir, "model.onnx")
    runtime_session = session(onnx_file)
    assert [i.name for i in runtime_session.get_inputs()] == ["image", "im_shape",
                                                              "scale_factor"]
    assert [o.name for o in runtime_session.get_outputs()] == ["bbox", "bbox_num"]
    runtimes = ["onnxruntime"]
    if "dcn" not in model_dir and importlib.util.find_spec("openvino") is not None:
        runtimes.append("openvino")
    runs = [runtime(backend, onnx_file) for backend in runtimes]
    inputs = {"image": raw_batch(), "im_shape": IM_SHAPE, "scale_factor": SCALE}
    # another batch size and image size through the same model
    one = {"image": raw_batch()[1:, :, :128, :256], "im_shape": np.array([[128, 256]], "float32"),
           "scale_factor": np.array([[0.4, 0.5]], "float32")}
    for onednn in (True, False):
        predictor = runtime("paddle", model_dir, enable_mkldnn=onednn)
        for batch in (inputs, one):
            expected = predictor(batch)
            assert expected[1].sum() == 100 * len(expected[1])
            for run in runs:
                assert_same_runtime_detections(run(batch), expected)


def test_onnx_runtimes_give_mmdets_detections(exported, onnx_extra):
    """mmdetection's zoo rows (LevelTopKPostProcess): ONNX Runtime and OpenVINO (not the
    DCN row: it reads no DeformConv) give mmdetection's detections and the dygraph
    model's, for the fixtures' batches (test_export_mmdet.fixture_batches)."""
    config, cfg, model, model_dir = exported
    onnx_file = export_onnx_or_skip(model_dir)
    runtimes = ["onnxruntime"]
    if "dcn" not in config and importlib.util.find_spec("openvino") is not None:
        runtimes.append("openvino")
    runs = [runtime(backend, onnx_file) for backend in runtimes]
    for indices, size, expected in fixture_batches(config):
        batch = eval_batch(cfg, indices, size)
        with paddle.no_grad():
            dygraph = as_reference(model(batch))
        for run in runs:
            bbox, bbox_num = run({k: v.numpy() for k, v in batch.items()})
            found = {"bbox": bbox, "bbox_num": bbox_num}
            assert_mmdet_detections(found, expected)
            assert_mmdet_detections(found, dygraph)


# --- errors and the command line ----------------------------------------------------------

@pytest.mark.parametrize("module", ["paddle2onnx", "onnx"])
def test_missing_extra_names_the_install_command(module, monkeypatch, tmp_path):
    (tmp_path / "model.json").write_text("{}")
    monkeypatch.setitem(sys.modules, module, None)     # import fails as if not installed
    with pytest.raises(OnnxExportError, match=rf"{module} is not installed.*"
                       rf"pip install -e \.\[onnx\]"):
        export_onnx(str(tmp_path))
    assert INSTALL_HINT.startswith("pip install -e .[onnx]")
    assert isinstance(OnnxExportError("x"), ppfcos.ConfigError)   # the tools' user errors


@pytest.mark.parametrize("opset", [MIN_OPSET - 1, MAX_OPSET + 1])
def test_opsets_paddle2onnx_cannot_write_are_refused(opset, tmp_path):
    (tmp_path / "model.json").write_text("{}")   # paddle2onnx aborts the process on these
    with pytest.raises(OnnxExportError, match=rf"writes opsets 13 to 21, got --opset {opset}"):
        export_onnx(str(tmp_path), opset)


def test_export_onnx_tool_reports_errors_in_one_line(monkeypatch, tmp_path, capsys):
    tool = load_tool("export_onnx")
    assert tool.main(["--model_dir", str(tmp_path / "nope")]) == 1
    assert "error: no model.json or model.pdmodel in" in capsys.readouterr().err
    (tmp_path / "model.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)
    assert tool.main(["--model_dir", str(tmp_path)]) == 1
    assert "pip install -e .[onnx]" in capsys.readouterr().err


@pytest.fixture
def tiny_weights(tiny_config, tmp_path):
    """(config path, weights path) of the tiny model of test_export."""
    path = str(tmp_path / "tiny.pdparams")
    paddle.save(seed_weights(ppfcos.build_model(tiny_config)).state_dict(), path)
    return str(tmp_path / "tiny.yml"), path


def test_export_model_tool_writes_model_onnx(tiny_weights, tmp_path, onnx_extra):
    config, weights = tiny_weights
    out = tmp_path / "inference"
    assert load_tool("export_model").main(["-c", config, "-o", f"weights={weights}",
                                     "--output_dir", str(out), "--export_onnx"]) == 0
    model_dir = out / "tiny"
    assert export_listing(model_dir) == sorted(["infer_cfg.yml", PROGRAM_FILE, "model.onnx",
                                             "model.pdiparams"])
    image = np.random.default_rng(0).uniform(0, 255, (2, 3, 96, 128)).astype(np.float32)
    inputs = {"image": image, "im_shape": np.array([[96, 128], [80, 100]], np.float32),
              "scale_factor": np.ones([2, 2], np.float32)}
    expected = runtime("paddle", str(model_dir))(inputs)
    assert expected[1].sum() > 0
    assert_same_detections(session(str(model_dir / "model.onnx")).run(None, inputs), expected)


def test_export_model_tool_checks_the_extra_before_exporting(tiny_weights, tmp_path,
                                                             monkeypatch, capsys):
    config, weights = tiny_weights
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)
    assert load_tool("export_model").main(["-c", config, "-o", f"weights={weights}", "--output_dir",
                                     str(tmp_path / "inference"), "--export_onnx"]) == 1
    assert "pip install -e .[onnx]" in capsys.readouterr().err
    assert not (tmp_path / "inference").exists()


def test_benchmark_times_onnxruntime(tmp_path, capsys, onnx_extra):
    code = load_tool("benchmark", folder="benchmarks").main([
        "-c", os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml"), "--parts",
        "onnxruntime", "--eval_size", "64", "96", "--iters", "1", "--warmup", "0",
        "--output", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "fcos_r18_lite_synthetic.json") as f:
        rows = json.load(f)["onnxruntime"]["rows"]
    assert [r["threads"] for r in rows] == sorted({1, os.cpu_count()})
    assert all(r["latency_s"] > 0 for r in rows)
    assert "| ONNX Runtime, 64x96, 1 threads |" in capsys.readouterr().out


# --- fast evaluation through the ONNX runtimes ------------------------------------------

def test_runtime_eval_model_runs_every_backend_and_precision(tiny_config, onnx_extra,
                                                             openvino_extra):
    """tools/eval.py --predictor's detector: ONNX Runtime and OpenVINO fp32 give Paddle
    Inference's detections; bf16 (Paddle Inference, OpenVINO) and int8 (calibrated here)
    run and find detections."""
    model = seed_weights(ppfcos.build_model(tiny_config))
    rng = np.random.default_rng(0)
    batch = {"image": rng.standard_normal((1, 3, 96, 128)).astype(np.float32),
             "im_shape": np.array([[96, 128]], np.float32),
             "scale_factor": np.ones([1, 2], np.float32)}
    expected = RuntimeEvalModel(model, 2)(batch)
    assert expected["bbox_num"][0] > 0
    reduced = [("openvino", "bf16"), ("openvino", "int8")]
    if paddle_bf16_unsupported():      # Paddle 2.6
        with pytest.raises(DeployError, match="needs Paddle 3.0 or newer"):
            RuntimeEvalModel(model, 2, "paddle", "bf16")(batch)
    else:
        reduced.append(("paddle", "bf16"))
    found = {(backend, precision): RuntimeEvalModel(model, 2, backend, precision,
                                                     calibration=[batch])(batch)
             for backend, precision in [("onnxruntime", "fp32"), ("openvino", "fp32"),
                                        *reduced]}
    for key in [("onnxruntime", "fp32"), ("openvino", "fp32")]:
        assert_same_runtime_detections((found[key]["bbox"], found[key]["bbox_num"]),
                                       (expected["bbox"], expected["bbox_num"]))
    for key in reduced:
        assert found[key]["bbox_num"][0] > 0
        assert not np.array_equal(found[key]["bbox"], expected["bbox"])


@pytest.mark.parametrize("args, message", [
    (["--predictor", "--precision", "int8"],
     "error: the paddle backend (Paddle Inference) runs fp32 and bf16, not int8; "
     "onnxruntime and openvino run int8"),
    (["--predictor", "--predictor_backend", "openvino", "--precision", "int8"],
     "error: --precision int8 calibrates on the images of --calib_dir DIR"),
])
def test_eval_precision_errors_are_one_line(args, message, tiny_weights, capsys):
    config, weights = tiny_weights
    assert load_tool("eval").main(["-c", config, "-o", f"weights={weights}", *args]) == 1
    assert message in capsys.readouterr().err


def test_eval_precision_needs_the_predictor(tiny_weights, capsys):
    config, weights = tiny_weights
    with pytest.raises(SystemExit):
        load_tool("eval").main(["-c", config, "-o", f"weights={weights}", "--precision",
                                "bf16"])
    assert "--predictor_backend and --precision apply with --predictor" in (
        capsys.readouterr().err)


def test_benchmark_times_every_runtime_and_names_the_cpu(tmp_path, capsys, onnx_extra,
                                                        openvino_extra):
    code = load_tool("benchmark", folder="benchmarks").main([
        "-c", os.path.join(CONFIGS, "demo", "fcos_r18_lite_synthetic.yml"), "--parts",
        "runtimes", "--eval_size", "64", "96", "--batch_sizes", "1", "2", "--iters", "1",
        "--warmup", "0", "--output", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "fcos_r18_lite_synthetic.json") as f:
        results = json.load(f)
    rows = results["runtimes"]["rows"]
    paddle_bf16 = paddle_bf16_unsupported() is None
    assert [(r["runtime"], r["precision"], r["batch"]) for r in rows] == [
        (title, precision, batch) for batch in (1, 2) for title, precision in [
            ("Paddle Inference", "fp32"), ("Paddle Inference", "bf16"), ("ONNX Runtime", "fp32"),
            ("ONNX Runtime", "int8"), ("OpenVINO", "fp32"), ("OpenVINO", "bf16"),
            ("OpenVINO", "int8")]
        if (title, precision) != ("Paddle Inference", "bf16") or paddle_bf16]
    assert results["runtimes"]["skipped"] == ([] if paddle_bf16 else [
        {"runtime": "Paddle Inference", "precision": "bf16",
         "reason": paddle_bf16_unsupported()}])
    assert all(r["latency_s"] > 0 for r in rows)
    assert set(results["machine"]) == {"cpu", "cores", "flags", "onednn_isa"}
    out = capsys.readouterr().out
    assert out.startswith("CPU: ") and "oneDNN ISA" in out.splitlines()[0]
    assert f"| OpenVINO bf16, 64x96, batch 2, {os.cpu_count()} threads |" in out
