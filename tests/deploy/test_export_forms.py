"""The export forms (``export: {nms: false}``: decoded boxes and scores; ``{post_process:
false}`` or ``{benchmark: true}``: raw head outputs; docs/export.md, "Export forms") and
``export.fuse_conv_bn``, written by tools/export_model.py: every runtime (deploy/python per
backend, ppfcos.Detector.from_export, ppfcos-serve) gives the full export's detections,
int8 and bf16 stay within the precision budgets, and a key that cannot be honoured is a
one-line error that leaves the previous export as it was."""
import json
import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import test_deploy_infer
from test_deploy_infer import LABELS, TINY_PLAIN, assert_same_records, cli, image_paths
from test_deploy_precision import (TINY_LEVEL_TOPK, assert_within_precision_budget,
                                   needs_paddle_bf16)

from conftest import (REPO, RUN_TO_RUN_BOX_ATOL, RUN_TO_RUN_SCORE_ATOL, assert_same_detections,
                      load_tool)
from tool_runs import one_error_line

image_dir = test_deploy_infer.image_dir   # a fixture

import paddle  # noqa: E402
import ppfcos  # noqa: E402
from ppfcos.export.program import op_counts  # noqa: E402
from ppfcos.modeling.seeded_weights import seed_weights  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.predictor import RunOptions  # noqa: E402

# The -o overrides and flags of each form's export (the new forms with int8), and of an
# export keeping its batch norms.
FORMS = {"full": ["--export_onnx"], "decoded": ["-o", "export.nms=false", "--export_onnx"],
         "raw": ["-o", "export.post_process=false", "--quantize", "int8", "--calib_num", "2"],
         "unfolded": ["-o", "export.fuse_conv_bn=false"]}
BACKENDS = ("paddle", "onnxruntime", "openvino")


def write_config(root, template=TINY_PLAIN):
    """root/tiny.yml (a TINY-like ``template``, no DCN: OpenVINO reads none) and seeded
    weights root/tiny.pdparams -> (config path, weights path)."""
    (root / "label_list.txt").write_text("\n".join(LABELS) + "\n")
    config = root / "tiny.yml"
    config.write_text(template.format(root=root, fuse="true", mean=[0.485, 0.456, 0.406],
                                      std=[0.229, 0.224, 0.225]))
    weights = str(root / "tiny.pdparams")
    paddle.save(seed_weights(ppfcos.build_model(ppfcos.load_config(str(config)))).state_dict(),
                weights)
    return str(config), weights


def export_args(config, weights, output_dir, *overrides):
    return ["-c", config, "-o", f"weights={weights}", *overrides, "--output_dir",
            str(output_dir)]


@pytest.fixture(scope="module")
def exports(tmp_path_factory, image_dir):
    """{form: model_dir} written by tools/export_model.py with each form's FORMS arguments,
    from one config and weights: model.json, model.onnx (but "unfolded"), model_int8.onnx
    (raw)."""
    root = tmp_path_factory.mktemp("forms")
    config, weights = write_config(root)
    dirs = {}
    for form, args in FORMS.items():
        status = load_tool("export_model").main(
            export_args(config, weights, root / form) + args + ["--calib_dir", str(image_dir)])
        assert status == 0
        dirs[form] = str(root / form / "tiny")
    return dirs


def detect(model_dir, backend, image_dir, precision="fp32"):
    """Per image of image_dir, the rows [K, 6] of ``backend`` at ``precision``."""
    detector = load_detector(model_dir, backend, RunOptions(cpu_threads=2, precision=precision))
    return detector.detect([read_image(p) for p in image_paths(image_dir)])


def assert_same_as_full(found, expected, what):
    """Rows of a form equal to the full export's on one backend (up to the last bits of a
    run-to-run difference)."""
    assert sum(len(rows) for rows in expected) > 0
    for rows, reference in zip(found, expected):
        assert_same_detections(rows, reference, RUN_TO_RUN_SCORE_ATOL, RUN_TO_RUN_BOX_ATOL, what)


def test_infer_cfg_records_the_form_and_the_graph_ends_where_it_says(exports):
    outputs = {}
    for form in ("full", "decoded", "raw"):
        with open(os.path.join(exports[form], "infer_cfg.yml")) as f:
            infer_cfg = yaml.safe_load(f)
        assert infer_cfg["export_form"] == form
        outputs[form] = infer_cfg["outputs"]
        ops = op_counts(exports[form])
        assert ("multiclass_nms3" in ops) == (form == "full"), form
        assert ("sigmoid" in ops) == (form != "raw"), form
    assert outputs["full"] == ["bbox", "bbox_num"]
    assert outputs["decoded"] == ["boxes", "scores"]
    assert outputs["raw"][:3] == ["cls_logits_s8", "distances_s8", "quality_s8"]
    assert len(outputs["raw"]) == 3 * 5           # five FPN levels
    import onnx
    for form, name in (("decoded", "model.onnx"), ("raw", "model.onnx"),
                       ("raw", "model_int8.onnx")):
        graph = onnx.load(os.path.join(exports[form], name)).graph
        assert [o.name for o in graph.output] == outputs[form]
        assert "NonMaxSuppression" not in {node.op_type for node in graph.node}
    raw_inputs = [i.name for i in onnx.load(os.path.join(exports["raw"], "model.onnx")).graph.input]
    assert raw_inputs == ["image", "im_shape"]    # no rescaling in the graph


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", ["decoded", "raw"])
def test_every_backend_gives_the_full_exports_detections(exports, image_dir, backend, form):
    assert_same_as_full(detect(exports[form], backend, image_dir),
                        detect(exports["full"], backend, image_dir), f"{form} on {backend}")


@pytest.mark.parametrize("form, backend, precision", [
    pytest.param("raw", "paddle", "bf16", marks=needs_paddle_bf16), ("raw", "openvino", "bf16"),
    ("raw", "openvino", "int8"), ("raw", "onnxruntime", "int8"),
    pytest.param("decoded", "paddle", "bf16", marks=needs_paddle_bf16),
    ("decoded", "openvino", "bf16"),
    pytest.param("unfolded", "paddle", "bf16", marks=needs_paddle_bf16)])
def test_reduced_precision_of_a_form_stays_within_the_budgets(exports, image_dir, form,
                                                              backend, precision):
    """test_deploy_precision's budgets against the full export at fp32 (int8 quantized
    once, for the raw form: the same code writes every form's model_int8.onnx; bf16 also
    with the batch norms left in the graph)."""
    assert_within_precision_budget(detect(exports[form], backend, image_dir, precision),
                                   detect(exports["full"], "paddle", image_dir), precision)


def test_fuse_conv_bn_false_keeps_the_batch_norms_with_the_same_detections(exports, image_dir):
    def batch_norms(model_dir):     # PIR names the op batch_norm_, Paddle 2.6 batch_norm
        ops = op_counts(model_dir)
        return ops["batch_norm"] + ops["batch_norm_"]

    assert batch_norms(exports["full"]) == 0
    assert batch_norms(exports["unfolded"]) == 21     # ResNet-18's, none folded
    for rows, expected in zip(detect(exports["unfolded"], "paddle", image_dir),
                              detect(exports["full"], "paddle", image_dir)):
        assert len(expected) > 0
        assert_same_detections(rows, expected, score_atol=1e-4, box_atol=1e-3)


@pytest.mark.parametrize("form, backend", [("raw", "paddle"), ("decoded", "openvino")])
def test_deploy_python_writes_the_full_exports_bbox_json(exports, image_dir, tmp_path, form,
                                                         backend):
    records = {}
    for name in ("full", form):
        done = cli("--model_dir", exports[name], "--image_dir", image_dir, "--backend", backend,
                   "--cpu_threads", 2, "--threshold", 0.0, "--output_dir", tmp_path / name,
                   "--save_results")
        assert done.returncode == 0, done.stderr
        with open(tmp_path / name / "bbox.json") as f:
            records[name] = json.load(f)
    assert_same_records(records[form], records["full"], rtol=1e-5)


def test_ppfcos_detector_from_export_runs_a_raw_export(exports, image_dir):
    images = [read_image(p) for p in image_paths(image_dir)]
    found, expected = (ppfcos.Detector.from_export(exports[form], threads=2, threshold=0.0)
                       .predict(images) for form in ("raw", "full"))
    assert len(found) == len(expected) == len(images)
    assert sum(len(result.scores) for result in expected) > 0
    for result, reference in zip(found, expected):
        rows, reference_rows = (np.column_stack([r.class_ids, r.scores, r.boxes])
                                for r in (result, reference))
        assert_same_detections(rows, reference_rows, RUN_TO_RUN_SCORE_ATOL,
                               RUN_TO_RUN_BOX_ATOL, "raw form through ppfcos.Detector")


def test_ppfcos_serve_answers_with_the_full_exports_detections(exports, image_dir):
    from serving.server_process import Server, request
    body = (image_dir / "c.jpg").read_bytes()
    answers = {}
    for form in ("full", "decoded"):
        server = Server(exports[form])
        try:
            status, payload, _ = request(server.port, "POST", "/predict?threshold=0", body,
                                         {"Content-Type": "image/jpeg"})
        finally:
            server.stop()
        assert status == 200, payload
        answers[form] = json.loads(payload)
    assert answers["decoded"] == answers["full"]


def run_export(args, cwd):
    """tools/export_model.py in a subprocess -> CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, os.path.join(REPO, "tools", "export_model.py"),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def checksums(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("template, override, message", [
    (TINY_PLAIN, "export.nms=maybe", "export.nms must be true or false, got 'maybe'"),
    (TINY_PLAIN, "export.fuse_bn=true",
     "section export: unknown key 'fuse_bn'. Did you mean 'fuse_conv_bn'?"),
    (TINY_LEVEL_TOPK, "export.nms=false",
     "export.nms: false and export.post_process: false leave decoding and NMS to the runtime, "
     "which runs FCOSBox then MultiClassNMS; this model's post-process is "
     "LevelTopKPostProcess: export with nms and post_process true"),
])
def test_an_export_key_that_cannot_be_honoured_is_one_line_and_keeps_the_export(
        exports, tmp_path, template, override, message):
    config, weights = write_config(tmp_path, template)
    shutil.copytree(exports["full"], tmp_path / "out" / "tiny")     # an earlier export
    before = checksums(tmp_path / "out" / "tiny")
    run = run_export(export_args(config, weights, tmp_path / "out", override), tmp_path)
    error = one_error_line(1, run.returncode, run.stdout, run.stderr)
    assert message in error, error
    assert checksums(tmp_path / "out" / "tiny") == before


@pytest.mark.parametrize("keys, form", [
    ({}, "full"), ({"nms": False}, "decoded"), ({"post_process": False}, "raw"),
    ({"post_process": False, "nms": True}, "raw"), ({"benchmark": True}, "raw"),
    ({"benchmark": True, "post_process": True, "nms": True}, "raw")])
def test_which_form_the_export_keys_ask_for(tmp_path, keys, form):
    """post_process: false wins over nms (no decoding means no NMS either), and benchmark:
    true turns both off (PaddleDetection's meaning); batch norms fold unless told not to."""
    from ppfcos.export.forms import export_options
    (tmp_path / "c.yml").write_text(yaml.safe_dump({"architecture": "FCOS", "export": keys}))
    options = export_options(ppfcos.load_config(str(tmp_path / "c.yml")))
    assert (options.form, options.fuse_conv_bn) == (form, True)


@pytest.mark.parametrize("edit, message", [
    ({"export_form": "sparse"},
     "export_form must be one of full, decoded, raw, edge, got 'sparse'"),
    ({"outputs": ["boxes", "scores"]}, "a raw export's outputs are ['cls_logits_s8',"),
    ({"nms": {"score_threshold": "low"}}, "nms has a value of the wrong type"),
])
def test_a_damaged_form_record_is_a_one_line_error_of_deploy_python(exports, image_dir,
                                                                    tmp_path, edit, message):
    model_dir = tmp_path / "raw"
    shutil.copytree(exports["raw"], model_dir)
    with open(model_dir / "infer_cfg.yml") as f:
        infer_cfg = yaml.safe_load(f)
    with open(model_dir / "infer_cfg.yml", "w") as f:
        yaml.safe_dump({**infer_cfg, **edit}, f, sort_keys=False)
    done = cli("--model_dir", model_dir, "--image_file", image_dir / "c.jpg", "--output_dir",
               tmp_path / "out")
    error = one_error_line(1, done.returncode, done.stdout, done.stderr)
    assert error.startswith(f"error: {model_dir / 'infer_cfg.yml'}: ") and message in error, error
    assert error.endswith("export the model again with tools/export_model.py"), error
