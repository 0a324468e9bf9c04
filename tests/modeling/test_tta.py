"""Test-time augmentation (the config's TTA views, merged before NMS) through ppfcos.Detector
and tools/eval.py, tools/infer.py: one view is exactly the plain forward, flip makes a
symmetric image's detections symmetric, the flag's refusals are one line."""
import json

import cv2
import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.data.synthetic import make_synthetic_coco
from ppfcos.modeling.seeded_weights import seed_weights
from conftest import fixture_tmp
from test_hostile_input import assert_one_line_error, base_args
from tiny_model import TINY_PLAIN, write_tiny_config
from tool_runs import DEMO, TINY, run_tool

ONE_VIEW = ["TTA.scales=[1.0]", "TTA.flip=false"]


@pytest.fixture(scope="module")
def tiny(request):
    """(config, seeded weights) of the API tests' tiny model (Resize to 128 px, 4 classes)."""
    root = fixture_tmp(request, "tta")
    config = write_tiny_config(root, False, TINY_PLAIN)
    model = seed_weights(ppfcos.build_model(ppfcos.load_config(config)))
    paddle.save(model.state_dict(), str(root / "tiny.pdparams"))
    return config, str(root / "tiny.pdparams")


def rows(detector, image):
    """[K, 6] (class, score, x1, y1, x2, y2) of ``detector`` on ``image``."""
    result, = detector.predict(image)
    return np.column_stack([result.class_ids, result.scores, result.boxes])


def random_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_one_scale_without_flip_is_exactly_the_plain_detections(tiny):
    image = random_image(70, 100)
    plain = rows(ppfcos.Detector(*tiny, threshold=0.0), image)
    one_view = rows(ppfcos.Detector(*tiny, overrides=ONE_VIEW, threshold=0.0, tta=True), image)
    assert len(plain) > 10
    np.testing.assert_array_equal(one_view, plain)


def iou(box, boxes):
    """IoU of one box [4] with boxes [K, 4] (0 for boxes without area)."""
    lt, rb = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.divide(inter, union, out=np.zeros_like(union), where=union > 0)


def test_flip_gives_a_symmetric_image_symmetric_detections(tiny):
    half = random_image(96, 48, seed=1)
    image = np.concatenate([half, half[:, ::-1]], axis=1)            # 96 x 96, symmetric
    nms_threshold = 0.5   # TINY's MultiClassNMS default
    for flip in (True, False):
        found = rows(ppfcos.Detector(*tiny, threshold=0.0, tta=True, overrides=[
            "TTA.scales=[1.0]", f"TTA.flip={flip}", "FCOSHead.nms.keep_top_k=-1",
            "FCOSHead.nms.nms_top_k=-1"]), image)
        assert len(found) > 20
        # With flip, the mirror of each detection was a candidate with its score: it is
        # kept, or suppressed by a detection of its class scored as high at least.
        mirrors = found[:, 2:].copy()
        mirrors[:, [0, 2]] = 96 - found[:, [4, 2]]      # x1, x2 = W - x2, W - x1
        kept = [any((found[:, 0] == row[0]) & (found[:, 1] >= row[1] - 1e-5)
                    & ((np.abs(found[:, 2:] - mirror).max(axis=1) < 1e-3)
                       | (iou(mirror, found[:, 2:]) > nms_threshold)))
                for row, mirror in zip(found, mirrors)]
        assert all(kept) if flip else not all(kept)


def test_scales_and_flip_add_views_merged_into_one_nms(tiny):
    image = random_image(70, 100, seed=2)
    plain = rows(ppfcos.Detector(*tiny, threshold=0.1), image)
    merged = rows(ppfcos.Detector(*tiny, overrides=["TTA.scales=[0.75, 1.0, 1.5]"],
                                  threshold=0.1, tta=True), image)
    assert len(merged) > 0 and not np.array_equal(merged, plain)
    assert merged[:, 1].max() >= plain[:, 1].max() - 1e-6   # plain's candidates take part
    assert (merged[:, 2:4] > -50).all() and (merged[:, [4]] < 150).all()   # original pixels
    per_class = [merged[merged[:, 0] == c] for c in np.unique(merged[:, 0])]
    for boxes in per_class:   # one NMS over all views: no two kept boxes overlap past it
        for i, box in enumerate(boxes[:, 2:]):
            assert (iou(box, np.delete(boxes[:, 2:], i, axis=0)) <= 0.5 + 1e-5).all()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(synthetic data, seeded weights) of the tools' shrunk demo network."""
    root = tmp_path_factory.mktemp("tta_demo")
    data = str(root / "data")
    make_synthetic_coco(data, num_train=2, num_val=3, image_size=(64, 64))
    cfg = ppfcos.load_config(DEMO, TINY)
    paddle.save(seed_weights(ppfcos.build_model(cfg)).state_dict(), str(root / "demo.pdparams"))
    return data, str(root / "demo.pdparams")


def test_tta_flag_through_eval(demo, tmp_path):
    data, weights = demo
    result = run_tool("eval", base_args(data, f"weights={weights}")
                      + ["--tta", "--output_eval", str(tmp_path)], str(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "test-time augmentation: 2 views (scales [1.0], each also flipped)" in log
    assert "images predicted and scored" in log and (tmp_path / "bbox.json").exists()


def test_tta_flag_through_infer_one_view_is_plain(demo, tmp_path):
    data, weights = demo
    images = f"{data}/val"
    outputs = {}
    for name, extra in (("plain", []), ("one_view", ["--tta", "-o", *ONE_VIEW]),
                        ("flip", ["--tta"])):
        args = base_args(data, f"weights={weights}") + [
            "--infer_dir", images, "--output_dir", str(tmp_path / name), "--save_results",
            "--save_threshold", "0.0", "--visualize", "False", *extra]
        result = run_tool("infer", args, str(tmp_path), timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[name] = json.loads((tmp_path / name / "bbox.json").read_text())
    assert outputs["plain"] and outputs["one_view"] == outputs["plain"]
    assert outputs["flip"] != outputs["plain"]


@pytest.mark.parametrize("extra, fragment", [
    (["--predictor"], "--tta runs the dygraph model on several views"),
    (["-o", "TTA.scales=[]"], "scales must be a non-empty list"),
    (["-o", "TTA.flips=true"], "unknown key 'flips'. Did you mean 'flip'?"),
    (["-o", "FCOS.fcos_post_process={name: LevelTopKPostProcess}"],
     "merges decoded candidates before one NMS, which LevelTopKPostProcess does not have"),
])
def test_tta_mistakes_are_one_line(demo, tmp_path, extra, fragment):
    data, weights = demo
    result = run_tool("eval", base_args(data, f"weights={weights}") + ["--tta", *extra],
                      str(tmp_path), timeout=300)
    assert_one_line_error(result, fragment)


def test_export_refuses_tta_in_one_line(demo, tmp_path):
    data, weights = demo
    result = run_tool("export_model", base_args(data, f"weights={weights}") + ["--tta"],
                      str(tmp_path), timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]   # a usage error
    assert "--tta is not supported by ppfcos: test-time augmentation runs in dygraph" in errors[0]
    assert not (tmp_path / "output_inference").exists()
