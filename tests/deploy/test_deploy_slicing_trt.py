"""deploy/python: sliced inference (and its agreement with ppfcos's tools), the static-shape
Pad step, --camera_id, and TensorRT's settings up to the point that needs a GPU."""
import json
import os
import types

import cv2
import numpy as np
import paddle
import pytest
from paddle import inference

import ppfcos
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos.engine.slicing import SlicedEvalModel
from conftest import fixture_tmp
from test_deploy_infer import cli, export_tiny, image_dir, image_paths  # noqa: F401 (fixture)

from ppfcos_runtime.errors import DeployError  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.output_dir import RECORD  # noqa: E402
from ppfcos_runtime.predictor import (PaddlePredictor, RunOptions, TensorRTOptions,  # noqa: E402
                                      configure_tensorrt)
from ppfcos_runtime.preprocess import Preprocessor, build_step  # noqa: E402
from ppfcos_runtime.slicing import SliceOptions, SlicedDetector, windows  # noqa: E402

BIG = (150, 200)   # an image several 64x64 slices wide


@pytest.fixture(scope="module")
def exported(request, image_dir):
    """(model_dir, root, path of a BIG image) of the tiny fused export."""
    root = fixture_tmp(request, "slicing")
    big = root / "big.png"
    cv2.imwrite(str(big), np.random.default_rng(3).integers(0, 256, (*BIG, 3), dtype=np.uint8))
    model_dir, _, _ = export_tiny(root, True, image_paths(image_dir))
    return model_dir, root, str(big)


def detector_of(model_dir):
    return load_detector(model_dir, "paddle", RunOptions(cpu_threads=2))


def options(size=(64, 64), method="nms", metric="ios", threshold=0.6):
    return SliceOptions(size, (0.25, 0.25), method, threshold, metric)


def intersection(a, b):
    """Intersection area of (x1, y1, x2, y2) boxes."""
    return (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))


def area(box):
    return (box[2] - box[0]) * (box[3] - box[1])


def ios(a, b):
    """Intersection over the smaller box (0 for an empty box, as sahi counts it)."""
    smaller = min(area(a), area(b))
    return intersection(a, b) / smaller if smaller > 0 else 0.0


def iou(a, b):
    union = area(a) + area(b) - intersection(a, b)
    return intersection(a, b) / union if union > 0 else 0.0


def test_one_slice_covering_the_image_gives_the_whole_image_detections(exported):
    model_dir, _, big = exported
    detector, image = detector_of(model_dir), read_image(big)
    whole = detector.detect([image])[0]
    sliced = SlicedDetector(detector, options(size=BIG, method="concat")).detect([image])[0]
    assert len(whole) > 0
    np.testing.assert_array_equal(sliced, whole)


def test_slices_cover_the_image_and_their_boxes_move_to_image_pixels(exported):
    model_dir, _, big = exported
    detector, image = detector_of(model_dir), read_image(big)
    sliced = SlicedDetector(detector, options(method="concat"), batch_size=4)
    corners = windows(*BIG, sliced.options)
    covered = np.zeros(BIG, bool)
    for x1, y1, x2, y2 in corners:
        assert (x2 - x1, y2 - y1) == (64, 64) and 0 <= x1 and x2 <= BIG[1] and y2 <= BIG[0]
        covered[y1:y2, x1:x2] = True
    assert covered.all() and len(corners) == 12        # 4 columns x 3 rows at 48 px steps
    expected = []
    for x1, y1, x2, y2 in corners:
        rows = detector.detect([image[y1:y2, x1:x2]])[0].copy()
        rows[:, 2:] += [x1, y1, x1, y1]
        expected.append(rows)
    np.testing.assert_allclose(sliced.detect([image])[0], np.concatenate(expected), atol=1e-3)


@pytest.mark.parametrize("metric", ["ios", "iou"])
def test_nms_merge_drops_exactly_the_overlapped_lower_scored_boxes(exported, metric):
    model_dir, _, big = exported
    detector, image = detector_of(model_dir), read_image(big)
    every = SlicedDetector(detector, options(method="concat")).detect([image])[0]
    kept = SlicedDetector(detector, options(metric=metric, threshold=0.5)).detect([image])[0]
    overlap = ios if metric == "ios" else iou
    assert 0 < len(kept) < len(every)
    assert np.all(np.diff(kept[:, 1]) <= 0)                       # by descending score
    kept_set = {tuple(row) for row in kept.tolist()}
    assert kept_set <= {tuple(row) for row in every.tolist()}
    for i, a in enumerate(kept):                                   # no kept pair overlaps
        for b in kept[i + 1:]:
            assert a[0] != b[0] or overlap(a[2:], b[2:]) <= 0.5
    for row in every.tolist():                                     # each drop has a reason
        if tuple(row) not in kept_set:
            assert any(k[0] == row[0] and k[1] >= row[1] and overlap(k[2:], row[2:]) > 0.5
                       for k in kept)


def test_sliced_cli_and_ppfcos_tools_give_the_same_detections(exported, tmp_path):
    """deploy --slice_infer (any batch size) == ppfcos's SlicedEvalModel on the dygraph model."""
    model_dir, root, big = exported
    done = cli("--model_dir", model_dir, "--image_file", big, "--slice_infer", "--slice_size",
               64, 64, "--overlap_ratio", 0.25, 0.25, "--combine_method", "nms",
               "--match_threshold", 0.5, "--match_metric", "iou", "--batch_size", 4,
               "--threshold", 0.0, "--save_results=True", "--save_images", "False",
               "--output_dir", tmp_path, "--cpu_threads", 2)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path)) == [RECORD, "bbox.json"]
    records = json.loads((tmp_path / "bbox.json").read_text())
    deployed = np.array([[r["category_id"], r["score"], *r["bbox"]] for r in records])
    deployed[:, 4:] += deployed[:, 2:4]

    cfg = ppfcos.load_config(str(root / "tiny.yml"))
    model = seed_weights(ppfcos.build_model(cfg))
    model.eval()
    sliced = SlicedEvalModel.from_config(
        model, cfg, "TestReader", SliceOptions((64, 64), (0.25, 0.25), "nms", 0.5, "iou"))
    mine = sliced.detect(read_image(big))
    assert len(mine) == len(deployed) > 0
    # the same rows; near-equal scores (1e-6 apart) may sort differently
    distance = np.abs(deployed[:, None, :] - mine[None, :, :]).max(axis=2)
    nearest = distance.argmin(axis=1)
    assert sorted(nearest) == list(range(len(mine)))
    assert distance[np.arange(len(deployed)), nearest].max() < 2e-3


def test_pad_fills_the_fixed_input_and_rejects_larger_images():
    preprocess = Preprocessor([{"type": "Resize", "target_size": [48, 48], "keep_ratio": True},
                               {"type": "Pad", "size": [48, 48]}, {"type": "Permute"}])
    sample = preprocess(np.full((30, 60, 3), 200, np.uint8))
    assert sample["image"].shape == (3, 48, 48)
    assert sample["im_shape"].tolist() == [24, 48]
    assert (sample["image"][:, :24] == 200).all() and (sample["image"][:, 24:] == 0).all()
    with pytest.raises(DeployError, match="larger than the model's fixed input 16x16"):
        build_step({"type": "Pad", "size": [16, 16]})({"image": np.zeros((20, 10, 3))})


def test_no_camera_at_the_index_is_a_one_line_error(exported):
    done = cli("--model_dir", exported[0], "--camera_id", 57)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == ("error: cannot open camera 57 "
                                                    "(--camera_id): no camera at that index, "
                                                    "or no permission to use it")
    assert "Traceback" not in done.stderr


TRT = dict(run_mode="trt_fp16", device="GPU", batch_size=2)


def test_tensorrt_on_a_cpu_only_paddle_stops_before_loading(monkeypatch):
    """(The command line prints these as one error: line: tests/deploy/test_deploy_infer.py.)"""
    assert not paddle.is_compiled_with_cuda()
    with pytest.raises(DeployError) as error:
        PaddlePredictor.check(RunOptions(**TRT))
    assert str(error.value) == ("--run_mode trt_fp16 runs TensorRT, which needs --device GPU "
                                "and a GPU build of Paddle (this Paddle build is CPU-only: "
                                "install paddlepaddle-gpu)")
    with pytest.raises(DeployError, match="1 <= --trt_min_shape <= --trt_opt_shape <= "
                                          "--trt_max_shape, got 1, 2000, 1280"):
        PaddlePredictor.check(RunOptions(**TRT, tensorrt=TensorRTOptions(opt_shape=2000)))
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: True)   # a GPU build ...
    with pytest.raises(DeployError, match="needs a Paddle build with TensorRT"):  # ... no TRT
        PaddlePredictor.check(RunOptions(**TRT))


class RecordingConfig:
    """A real inference.Config that records enable_tensorrt_engine (which a CPU build of
    Paddle refuses) and passes every other call through."""

    def __init__(self):
        self.config, self.calls = inference.Config(), []

    def enable_tensorrt_engine(self, **kwargs):
        self.calls.append(("enable_tensorrt_engine", kwargs))

    def set_trt_dynamic_shape_info(self, *shapes):
        self.calls.append(("set_trt_dynamic_shape_info", shapes))
        self.config.set_trt_dynamic_shape_info(*shapes)

    def __getattr__(self, name):
        return getattr(self.config, name)


def test_tensorrt_settings_follow_paddle_inference_docs(tmp_path):
    model = types.SimpleNamespace(min_subgraph_size=16, use_dynamic_shape=True)
    config = RecordingConfig()
    configure_tensorrt(config, model, RunOptions(**TRT, tensorrt=TensorRTOptions(
        min_shape=32, max_shape=960, opt_shape=320, calib_mode=True,
        shape_file=str(tmp_path / "absent.pbtxt"))))
    assert config.calls == [
        ("enable_tensorrt_engine", {"workspace_size": 2 << 25, "max_batch_size": 2,
                                    "min_subgraph_size": 16,
                                    "precision_mode": inference.PrecisionType.Half,
                                    "use_static": False, "use_calib_mode": True}),
        ("set_trt_dynamic_shape_info", tuple(
            {"image": [2, 3, side, side], "im_shape": [2, 2], "scale_factor": [2, 2]}
            for side in (32, 960, 320)))]
    assert not config.tuned_tensorrt_dynamic_shape()

    tuned = tmp_path / "shape_range_info.pbtxt"       # a tuned file replaces the ranges
    tuned.write_text("")
    config = RecordingConfig()
    configure_tensorrt(config, model, RunOptions(**TRT, tensorrt=TensorRTOptions(
        shape_file=str(tuned))))
    assert [name for name, _ in config.calls] == ["enable_tensorrt_engine"]
    assert config.tuned_tensorrt_dynamic_shape()

    config = RecordingConfig()                        # a static-shape export needs no ranges
    configure_tensorrt(config, types.SimpleNamespace(min_subgraph_size=16,
                                                     use_dynamic_shape=False),
                       RunOptions(**TRT, tensorrt=TensorRTOptions(shape_file=str(tmp_path))))
    assert [name for name, _ in config.calls] == ["enable_tensorrt_engine"]


def test_collect_trt_shape_info_writes_the_shape_ranges_on_cpu(exported, tmp_path):
    shapes = tmp_path / "ranges.pbtxt"
    done = cli("--model_dir", exported[0], "--image_file", exported[2], "--output_dir",
               tmp_path, "--collect_trt_shape_info", "--tuned_trt_shape_file", shapes,
               "--enable_mkldnn", "False", "--cpu_threads", 2)
    assert done.returncode == 0, done.stderr
    text = shapes.read_text()
    assert "image" in text
    assert "min_shape" in text and "max_shape" in text
