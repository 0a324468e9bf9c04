"""ppfcos.Detector: the detections of tools/infer.py (dygraph) and of deploy/python/infer.py
(exported: paddle, onnxruntime, openvino) on the same images, from every kind of source, in
every output form, with one clear error for bad input."""
import json
import os
import types

import cv2
import numpy as np
import paddle
import pytest

import ppfcos
from conftest import (assert_run_to_run_detections, assert_same_detections,
                      export_onnx_or_skip, fixture_tmp, load_tool)
from ppfcos.export import export_model
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos_runtime.errors import DeployError
from tiny_model import (LABELS, THRESHOLD, TINY_PLAIN, cli, read_frames, write_images,
                        write_tiny_config, write_video)

BACKENDS = ["paddle", "onnxruntime", "openvino"]


@pytest.fixture(scope="module")
def tiny(request):
    """The tiny model without DCN (OpenVINO reads no ONNX DeformConv): root with images/
    (IMAGES and a broken.jpg), tiny.yml, its seeded weights tiny.pdparams and its export
    model/ (with model.onnx when the onnx extra is installed)."""
    root = fixture_tmp(request, "tiny")
    (root / "images").mkdir()
    write_images(root / "images")
    config = write_tiny_config(root, True, TINY_PLAIN)
    cfg = ppfcos.load_config(config)
    model = seed_weights(ppfcos.build_model(cfg))
    paddle.save(model.state_dict(), str(root / "tiny.pdparams"))
    model_dir = export_model(model, cfg, str(root / "model"))
    return types.SimpleNamespace(root=root, images=str(root / "images"), config=config,
                                 weights=str(root / "tiny.pdparams"), model_dir=model_dir)


@pytest.fixture(scope="module")
def onnx_dir(tiny):
    """The export with model.onnx (skips without the onnx extra)."""
    for module in ("paddle2onnx", "onnx", "onnxruntime", "openvino"):
        pytest.importorskip(module, reason=f"needs pip install -e .[test] ({module})")
    export_onnx_or_skip(tiny.model_dir)
    return tiny.model_dir


@pytest.fixture(scope="module")
def dygraph(tiny):
    return ppfcos.Detector(tiny.config, tiny.weights, threshold=THRESHOLD)


@pytest.fixture(scope="module")
def dygraph_results(dygraph, tiny):
    return dygraph.predict(tiny.images)


def rows_of(result):
    """A DetectionResult as rows [k, 6] with the dataset category id as class."""
    return np.concatenate([result.category_ids[:, None], result.scores[:, None],
                           result.boxes], axis=1)


def records_by_image(path):
    """bbox.json (tools' or deploy's) -> {image path: rows [k, 6] (category_id, score,
    x1, y1, x2, y2)}."""
    with open(path) as f:
        records = json.load(f)
    rows = {}
    for r in records:
        x, y, w, h = r["bbox"]
        rows.setdefault(r["image"], []).append([r["category_id"], r["score"], x, y, x + w, y + h])
    return {image: np.array(found, dtype=np.float32) for image, found in rows.items()}


NO_ROWS = np.zeros((0, 6))


def assert_results_match(results, expected):
    """Each result's detections equal ``expected`` {path: rows}, both cut at THRESHOLD, up
    to conftest's RUN_TO_RUN tolerances; no image left out."""
    assert sorted(r.path for r in results if len(r)) == sorted(expected)
    for result in results:
        assert_run_to_run_detections(rows_of(result), expected.get(result.path, NO_ROWS),
                                     THRESHOLD, result.path)


def test_dygraph_detector_gives_the_detections_of_tools_infer(tiny, dygraph_results, tmp_path):
    assert load_tool("infer").main([
        "-c", tiny.config, "-o", f"weights={tiny.weights}", "--infer_dir", tiny.images,
        "--output_dir", str(tmp_path), "--save_results", "--save_threshold", str(THRESHOLD),
        "--visualize", "False"]) in (0, None)
    expected = records_by_image(tmp_path / "bbox.json")
    assert len(dygraph_results) == 5 and all(len(r) > 0 for r in dygraph_results)
    assert_results_match(dygraph_results, expected)
    assert all(set(r.class_names) <= set(LABELS) for r in dygraph_results)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exported_detector_gives_the_detections_of_deploy_and_dygraph(backend, onnx_dir, tiny,
                                                                     dygraph_results, tmp_path):
    done = cli("--model_dir", onnx_dir, "--image_dir", tiny.images, "--backend", backend,
               "--cpu_threads", 2, "--threshold", THRESHOLD, "--output_dir", tmp_path,
               "--save_results", "--save_images", "False")
    assert done.returncode == 0, done.stderr
    detector = ppfcos.Detector.from_export(onnx_dir, backend=backend, threshold=THRESHOLD)
    results = detector.predict(tiny.images)
    assert_results_match(results, records_by_image(tmp_path / "bbox.json"))
    assert detector.class_names == LABELS
    for found, reference in zip(results, dygraph_results):
        assert found.path == reference.path
        assert_same_detections(rows_of(found), rows_of(reference), what=found.path,
                               threshold=THRESHOLD)


def test_batching_and_source_kinds_give_the_same_detections(tiny, dygraph, dygraph_results):
    by_path = {r.path: r for r in dygraph_results}
    batched = ppfcos.Detector(tiny.config, tiny.weights, threshold=THRESHOLD, batch_size=4)
    streamed = batched.predict(tiny.images, stream=True)
    assert isinstance(streamed, types.GeneratorType)
    for result in streamed:
        assert_run_to_run_detections(rows_of(result), rows_of(by_path[result.path]),
                                     THRESHOLD, result.path)
    png = os.path.join(tiny.images, "b.png")              # lossless: the array is the file
    from_array, from_path, from_folder = dygraph.predict(
        [cv2.imread(png), png, os.path.join(tiny.images, "sub")])
    assert from_array.path is None and from_path.path == png
    assert from_folder.path == os.path.join(tiny.images, "sub", "a.jpg")
    for found, path in ((from_array, png), (from_path, png), (from_folder, from_folder.path)):
        assert_run_to_run_detections(rows_of(found), rows_of(by_path[path]), THRESHOLD, path)
    np.testing.assert_array_equal(dygraph.predict(cv2.imread(png))[0].image, cv2.imread(png))


def test_video_gives_a_generator_of_frame_results(dygraph, tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=3, fps=5)
    frames, _ = read_frames(video)
    results = dygraph.predict(video)
    assert isinstance(results, types.GeneratorType)
    results = list(results)
    assert [(r.path, r.frame) for r in results] == [(video, i) for i in range(3)]
    for result, expected in zip(results, dygraph.predict(frames)):
        assert_run_to_run_detections(rows_of(result), rows_of(expected), THRESHOLD)


def test_track_runs_the_dygraph_model(dygraph, tiny, tmp_path):
    """Detector.track on a dygraph Detector: a still scene (one image, 4 frames) tracked with
    thresholds low enough for the seeded model's scores gives, from the second frame on,
    every detection of predict() on the same frames whose box has an area (IoU matches no
    other), under the same ids in each frame."""
    pytest.importorskip("trackers", reason="the track extra is not installed")
    image = cv2.imread(os.path.join(tiny.images, "b.png"))
    video = str(tmp_path / "still.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 5, image.shape[1::-1])
    for _ in range(4):
        writer.write(image)
    writer.release()
    frames, _ = read_frames(video)
    tracked = list(dygraph.track(video, track_thresh=THRESHOLD, track_high_thresh=THRESHOLD))
    detected = dygraph.predict(frames)
    assert [r.frame for r in tracked] == [0, 1, 2, 3] and len(tracked[0]) == 0
    assert all(len(d) for d in detected)
    for found, expected in zip(tracked[1:], detected[1:]):
        expected = rows_of(expected)
        expected = expected[(expected[:, 4] > expected[:, 2]) & (expected[:, 5] > expected[:, 3])]
        assert len(expected)
        assert_run_to_run_detections(rows_of(found), expected, THRESHOLD)
        assert sorted(found.track_ids) == sorted(tracked[1].track_ids) == \
            list(range(1, len(expected) + 1))


def test_results_draw_save_and_convert(dygraph_results, tmp_path):
    result = next(r for r in dygraph_results if r.path.endswith("b.png"))
    drawn = result.draw()
    assert drawn.shape == result.image.shape and 0 < (drawn != result.image).any(axis=2).mean() < 1
    saved = result.save(tmp_path / "out" / "b.png")
    np.testing.assert_array_equal(cv2.imread(str(saved)), drawn)
    records = result.to_coco(image_id=7)
    assert len(records) == len(result) and set(records[0]) == {"image_id", "category_id",
                                                              "bbox", "score"}
    assert {r["image_id"] for r in records} == {7}
    assert json.loads(json.dumps(records)) == records
    x1, y1, x2, y2 = result.boxes[0]
    np.testing.assert_allclose(records[0]["bbox"], [x1, y1, x2 - x1, y2 - y1], rtol=1e-6)
    assert [r["category_id"] for r in records] == result.category_ids.tolist()


def test_to_supervision(dygraph_results, monkeypatch):
    pytest.importorskip("supervision", reason="the supervision extra is not installed")
    result = dygraph_results[0]
    detections = result.to_supervision()
    np.testing.assert_array_equal(detections.xyxy, result.boxes)
    np.testing.assert_array_equal(detections.confidence, result.scores)
    np.testing.assert_array_equal(detections.class_id, result.class_ids)
    assert detections.data["class_name"].tolist() == result.class_names
    monkeypatch.setitem(__import__("sys").modules, "supervision", None)
    with pytest.raises(DeployError, match="to_supervision needs the supervision package"):
        result.to_supervision()


def test_sahi_sliced_prediction_runs_the_detector(tiny, tmp_path):
    pytest.importorskip("sahi", reason="the slice extra is not installed")
    from sahi.postprocess.combine import batched_nms
    from sahi.predict import get_sliced_prediction
    from sahi.slicing import get_slice_bboxes
    from ppfcos.api.sahi_model import PPFCOSDetectionModel
    image = np.random.default_rng(2).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    path = str(tmp_path / "big.png")
    cv2.imwrite(path, image)
    model = PPFCOSDetectionModel(model_path=tiny.model_dir, confidence_threshold=THRESHOLD)
    found = get_sliced_prediction(path, model, slice_height=64, slice_width=80,
                                  overlap_height_ratio=0.25, overlap_width_ratio=0.25,
                                  perform_standard_pred=False, postprocess_type="NMS",
                                  postprocess_match_metric="IOS",
                                  postprocess_match_threshold=0.5, batch_size=4, verbose=0)
    found = np.array([[p.category.id, p.score.value, *p.bbox.to_xyxy()]
                      for p in found.object_prediction_list], dtype=np.float32)
    # The expectation: each window through the Detector, clipped, shifted, merged by sahi's NMS.
    rgb, expected = cv2.cvtColor(image, cv2.COLOR_BGR2RGB), []
    for x1, y1, x2, y2 in get_slice_bboxes(120, 160, 64, 80, False, 0.25, 0.25):
        rows = model.model.backend.detect([rgb[y1:y2, x1:x2]])[0]
        rows = rows[rows[:, 1] >= THRESHOLD]
        rows[:, 2:] = np.clip(rows[:, 2:], 0, [x2 - x1, y2 - y1] * 2) + [x1, y1] * 2
        expected.append(rows[(rows[:, 4] > rows[:, 2]) & (rows[:, 5] > rows[:, 3])])
    expected = np.concatenate(expected)
    expected = expected[batched_nms(expected[:, [2, 3, 4, 5, 1, 0]].astype(np.float64),
                                    "IOS", 0.5)]
    assert len(expected) > 0
    assert_run_to_run_detections(found, expected, THRESHOLD)


@pytest.mark.parametrize("case", ["unknown type", "missing file", "empty folder",
                                  "unreadable file", "float array", "empty array",
                                  "video in a list", "empty list", "missing video",
                                  "only broken images"])
def test_bad_source_is_one_clear_error(case, dygraph, tiny, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.jpg").write_bytes(b"no")
    source, message = {
        "unknown type": (42, "predict cannot read a int: give an image or video path"),
        "missing file": (str(tmp_path / "nope.jpg"), "image file or folder not found: .*nope"),
        "empty folder": (str(tmp_path / "empty"), "no images .* in .*empty"),
        "unreadable file": (os.path.join(tiny.images, "broken.jpg"),
                            "cannot decode image .*broken.jpg"),
        "float array": (np.zeros((8, 8, 3)), r"uint8 \[H, W, 3\] in BGR order.*float64 \[8, 8, 3\]"),
        "empty array": (np.zeros((0, 0, 3), np.uint8), r"with H, W >= 1, got uint8 \[0, 0, 3\]"),
        "video in a list": ([str(tmp_path / "v.mp4")], "is a video: pass it on its own"),
        "empty list": ([], "the list of images is empty"),
        "missing video": (str(tmp_path / "v.mp4"), "video file not found"),
        "only broken images": (str(tmp_path / "broken"), "none of the 1 image"),
    }[case]
    with pytest.raises(DeployError, match=message):
        dygraph.predict(source)


@pytest.mark.parametrize("case", ["backend", "precision", "device", "threshold", "batch size",
                                  "threads", "no weights", "overrides on a Config"])
def test_bad_detector_options_are_one_clear_error(case, tiny):
    def export(**options):
        return lambda: ppfcos.Detector.from_export(tiny.model_dir, **options)
    build, error, message = {
        "backend": (export(backend="tensorrt"), DeployError,
                    "unknown backend 'tensorrt': choose paddle, onnxruntime or openvino"),
        "precision": (export(backend="onnxruntime", precision="bf16"), DeployError,
                      "the onnxruntime backend .ONNX Runtime. runs fp32 and int8, not bf16"),
        "device": (export(device="cuda"), DeployError, "device must be 'cpu', 'gpu' or None"),
        "threshold": (export(threshold=1.5), DeployError, "threshold must be a score from 0 to 1"),
        "batch size": (export(batch_size=0), DeployError, "batch_size must be an integer >= 1"),
        "threads": (export(threads=0), DeployError, "threads must be an integer >= 1"),
        "no weights": (lambda: ppfcos.Detector(tiny.config), ppfcos.ConfigError,
                       r"give the weights: Detector\(config, weights\)"),
        "overrides on a Config": (lambda: ppfcos.Detector(ppfcos.load_config(tiny.config),
                                                          tiny.weights, overrides=["a=1"]),
                                  ppfcos.ConfigError, "overrides apply when loading a config"),
    }[case]
    with pytest.raises(error, match=message):
        build()
