"""The edge profile (tools/export_model.py --edge HxW): one fixed-shape input, no NMS, every
shape static in the Paddle program and model.onnx, and the host's post-processing giving the
full export's detections."""
import json
import shutil

import cv2
import numpy as np
import onnx
import paddle
import pytest
import yaml
from onnx import helper, shape_inference

import ppfcos
import tiny_model
from conftest import PROGRAM_FILE, assert_same_detections, export_listing
from ppfcos.export import export_model
from ppfcos.export.onnx_edge import make_static
from ppfcos.export.program import load_program, op_counts, static_mode
from ppfcos.export.static_shapes import StaticShapeError
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.paddle_compat import paddle_bf16_unsupported
from serving.server_process import Server, json_line, post_image
from tool_runs import checksums, one_error_line, run_tool

EDGE_SIZE = (128, 192)
# Points per image of the tiny model at 128x192: FPN strides 8 to 128 (sizes rounded up).
POINTS = sum(-(-EDGE_SIZE[0] // s) * -(-EDGE_SIZE[1] // s) for s in (8, 16, 32, 64, 128))
# Images the tiny config's Resize (target [128, 192], keep_ratio) brings to exactly 128x192,
# as Letterbox does: the full and edge exports then see the same input tensor.
SAME_INPUT_SIZES = [(60, 90), (100, 150)]
# Operators an NPU compiler rejects or that make shapes depend on the data.
DYNAMIC_OPS = {"NonMaxSuppression", "NonZero", "Shape", "Size", "Unique", "If", "Loop", "Scan"}
# The edge export in each runtime against the full export in Paddle Inference, on the same
# input tensor (SAME_INPUT_SIZES; 37 and 39 detections above THRESHOLD), once the full
# export's boxes are clipped to the image (the edge host clips; PaddleDetection's graph
# does not). Measured on an AMD EPYC: scores within 4.5e-8 (Paddle Inference; the edge graph
# decodes in float32, the full one in float64) and 1.2e-6 (ONNX Runtime, OpenVINO: their own
# convolutions), boxes within 4.6e-5 px. The budgets are about ten times those, rounded up,
# as other CPUs (AMX) sum in other orders; without the clip boxes were 0.15 px off here, a
# wrong scale moves them by pixels, a padding unlike the full export's changes scores by 0.1.
EDGE_SCORE_ATOL = 1e-5
EDGE_BOX_ATOL = 1e-3
THRESHOLD = tiny_model.THRESHOLD   # keeps part of the rows, far fewer than keep_top_k


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(root, config path, weights path) of the seeded tiny model (normalization fused)."""
    root = tmp_path_factory.mktemp("edge")
    cfg, model = tiny_model.seeded_tiny_model(root, True, tiny_model.TINY_PLAIN)
    weights = str(root / "tiny.pdparams")
    paddle.save(model.state_dict(), weights)
    return root, str(root / "tiny.yml"), weights


@pytest.fixture(scope="module")
def edge_export(tiny):
    """The tiny model exported by tools/export_model.py --edge 128x192, as a user runs it."""
    root, config, weights = tiny
    run = run_tool("export_model", ["-c", config, "-o", f"weights={weights}", "--output_dir",
                                    str(root / "inference"), "--edge", "x".join(
                                        map(str, EDGE_SIZE))], str(root), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return root / "inference" / "tiny"


@pytest.fixture(scope="module")
def full_export(tiny):
    """The same model's full export (dynamic shape, NMS in the graph)."""
    root, _, _ = tiny
    cfg, model = tiny_model.seeded_tiny_model(root, True, tiny_model.TINY_PLAIN)
    return export_model(model, cfg, str(root / "full"))


def test_the_edge_export_takes_one_fixed_image_and_has_no_nms_or_dynamic_shape(edge_export):
    assert export_listing(edge_export) == sorted(["infer_cfg.yml", PROGRAM_FILE, "model.onnx",
                                                  "model.pdiparams"])
    model = shape_inference.infer_shapes(onnx.load(str(edge_export / "model.onnx")),
                                         strict_mode=True)
    graph = model.graph

    def dims(value):
        return [d.dim_value if d.HasField("dim_value") else None
                for d in value.type.tensor_type.shape.dim]

    assert [(v.name, dims(v)) for v in graph.input] == [("image", [1, 3, *EDGE_SIZE])]
    assert [(v.name, dims(v)) for v in graph.output] == [("boxes", [1, POINTS, 4]),
                                                         ("scores", [1, 4, POINTS])]
    assert model.opset_import[0].version == 13
    assert not {node.op_type for node in graph.node} & DYNAMIC_OPS
    shapes = {v.name: dims(v) for v in list(graph.value_info) + list(graph.output)}
    computed = [name for node in graph.node for name in node.output]
    assert all(shapes[name] and None not in shapes[name] and 0 not in shapes[name]
               for name in computed)

    assert not {"multiclass_nms3", "shape", "shape64"} & set(op_counts(str(edge_export)))
    with static_mode():
        view, _ = load_program(str(edge_export))
        assert view.input_shapes() == {"image": [1, 3, *EDGE_SIZE]}

    infer_cfg = yaml.safe_load((edge_export / "infer_cfg.yml").read_text())
    assert infer_cfg["export_form"] == "edge"
    assert infer_cfg["outputs"] == ["boxes", "scores"]
    assert infer_cfg["use_dynamic_shape"] is False
    assert infer_cfg["Preprocess"][0] == {
        "type": "Letterbox", "size": list(EDGE_SIZE), "interp": 1,
        "fill_value": pytest.approx([255 * m for m in tiny_model.MEAN], abs=1e-3)}


def images(root):
    """SAME_INPUT_SIZES smooth random images (BGR, as cv2 reads them) written under
    ``root`` -> their paths."""
    rng = np.random.default_rng(0)
    paths = []
    for h, w in SAME_INPUT_SIZES:
        path = root / f"{h}x{w}.png"
        cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8),
                                                (7, 7), 3))
        paths.append(str(path))
    return paths


def rows(result):
    """A DetectionResult -> rows [k, 6] (class, score, x1, y1, x2, y2)."""
    return np.concatenate([result.class_ids[:, None], result.scores[:, None], result.boxes],
                          axis=1)


def clipped(result):
    """The rows of ``result`` with boxes clipped to its image."""
    found = rows(result)
    h, w = result.image.shape[:2]
    found[:, [2, 4]] = found[:, [2, 4]].clip(0, w)
    found[:, [3, 5]] = found[:, [3, 5]].clip(0, h)
    return found


@pytest.mark.parametrize("backend", ["paddle", "onnxruntime", "openvino"])
def test_edge_detections_are_the_full_exports_on_the_same_input(edge_export, full_export,
                                                                 backend, tmp_path):
    if backend == "openvino":
        pytest.importorskip("openvino")
    paths = images(tmp_path)
    full = ppfcos.Detector.from_export(full_export, threshold=THRESHOLD, threads=1).predict(paths)
    edge = ppfcos.Detector.from_export(edge_export, backend=backend, threshold=THRESHOLD,
                                       threads=1, batch_size=2).predict(paths)
    assert sum(len(r.scores) for r in full) > 10
    for expected, found in zip(full, edge):
        assert_same_detections(rows(found), clipped(expected), EDGE_SCORE_ATOL, EDGE_BOX_ATOL,
                               what=f"{backend} {expected.path}", threshold=THRESHOLD)


@pytest.mark.skipif(paddle_bf16_unsupported() is not None, reason="no bf16 in this Paddle/CPU")
def test_paddle_bf16_refuses_an_edge_export_in_one_line(edge_export):
    """The edge graph decodes in float32, which Paddle Inference's bf16 would run in bf16."""
    with pytest.raises(DeployError) as refused:
        ppfcos.Detector.from_export(edge_export, backend="paddle", precision="bf16", threads=1)
    message = str(refused.value)
    assert "\n" not in message and "is an edge export" in message, message
    assert message.endswith("use --backend openvino --precision bf16, or Paddle at fp32")


def test_deploy_infer_runs_an_edge_export_in_batches(edge_export, tmp_path):
    paths = images(tmp_path)
    out = tmp_path / "out"
    run = tiny_model.cli("--model_dir", edge_export, "--image_dir", tmp_path, "--backend",
                         "onnxruntime", "--batch_size", 2, "--threshold", THRESHOLD,
                         "--output_dir", out, "--save_results", "True")
    assert run.returncode == 0, run.stderr[-3000:]
    records = json.loads((out / "bbox.json").read_text())
    expected = ppfcos.Detector.from_export(edge_export, backend="onnxruntime",
                                           threshold=THRESHOLD, threads=1).predict(paths)
    assert len(records) == sum(len(r.scores) for r in expected) > 0


def test_ppfcos_serve_answers_with_the_edge_exports_detections(edge_export, tmp_path):
    path, = images(tmp_path)[:1]
    expected, = ppfcos.Detector.from_export(edge_export, threshold=THRESHOLD,
                                            threads=1).predict([path])
    server = Server(edge_export)
    try:
        with open(path, "rb") as f:
            status, body = post_image(server.port, f.read(), f"/predict?threshold={THRESHOLD}",
                                      "image/png")
    finally:
        server.stop()
    assert status == 200, body
    records = json_line(body)
    assert len(expected.scores) > 0
    assert sorted(r["score"] for r in records) == pytest.approx(sorted(expected.scores),
                                                                abs=EDGE_SCORE_ATOL)


class ShapeDependentNeck(paddle.nn.Layer):
    """The tiny model's FPN, then a crop of its finest level whose height the data decides
    (a layer a user might write): the shape is known only at run time."""

    def __init__(self, neck):
        super().__init__()
        self.neck = neck
        self.out_shape = neck.out_shape

    def forward(self, feats):
        feats = self.neck(feats)
        rows = (feats[0].abs().sum() >= 0).astype("int64") * feats[0].shape[2]
        return [feats[0][:, :, :rows], *feats[1:]]


def test_a_graph_with_a_runtime_shape_is_refused_at_export_in_one_line(tiny, edge_export,
                                                                        tmp_path):
    root, _, _ = tiny
    cfg, model = tiny_model.seeded_tiny_model(root, True, tiny_model.TINY_PLAIN)
    out = tmp_path / "edge"
    shutil.copytree(edge_export, out)      # an earlier export, kept when the new one fails
    before = checksums(out)
    model.neck = ShapeDependentNeck(model.neck)
    with pytest.raises(StaticShapeError) as refused:
        export_model(model, cfg, str(out), edge_size=EDGE_SIZE)
    message = str(refused.value)
    assert "\n" not in message and "-1" in message and "is not static: op " in message
    assert checksums(out) == before


def test_an_onnx_graph_with_nms_is_refused_naming_the_node():
    boxes = helper.make_tensor_value_info("boxes", onnx.TensorProto.FLOAT, [1, 8, 4])
    scores = helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, [1, 2, 8])
    kept = helper.make_tensor_value_info("kept", onnx.TensorProto.INT64, None)
    graph = helper.make_graph([helper.make_node("NonMaxSuppression", ["boxes", "scores"],
                                                ["kept"], name="nms")],
                              "g", [boxes, scores], [kept])
    with pytest.raises(StaticShapeError, match=r"node nms \(NonMaxSuppression\)"):
        make_static(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


@pytest.mark.parametrize("args, overrides, says", [
    (["--edge", "100x100"], [],
     ["--edge 100x100: the sides must be multiples of 32", "128x128"]),
    (["--edge", "128x128", "--quantize", "int8", "--calib_dir", "."], [],
     ["--edge and --quantize int8", "drop --quantize"]),
    (["--edge", "128x128"], ["export.post_process=false"],
     ["ask for the raw head outputs", "drop --edge or those keys"]),
    (["--edge", "128x128"], ["TestReader.inputs_def.image_shape=[3,160,160]"],
     ["--edge 128x128 differs from the config's TestReader.inputs_def.image_shape "
      "[3, 160, 160]"])])
def test_an_edge_export_the_config_cannot_honour_is_one_line_and_writes_nothing(
        tiny, tmp_path, args, overrides, says):
    root, config, weights = tiny
    run = run_tool("export_model", ["-c", config, "-o", f"weights={weights}", *overrides,
                                    "--output_dir", str(tmp_path / "inference"), *args],
                   str(tmp_path), timeout=300)
    line = one_error_line(1, run.returncode, run.stdout, run.stderr)
    assert all(part in line for part in says), line
    assert not (tmp_path / "inference").exists()
