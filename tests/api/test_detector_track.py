"""ppfcos.Detector.track: an exported Detector whose network is a stand-in with known output
(tracking_scene) tracks each object of a synthetic video under one id; results carry the ids
into drawing and supervision; bad calls are one clear error before any frame is read."""
import sys

import numpy as np
import pytest

import ppfcos
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.visualize import class_color
from tiny_model import export_seeded_tiny
from tracking_scene import (FRAMES, OBJECTS, ScenePredictor, expected_frames, ids_per_object,
                            report_switches, write_scene_video)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """(the tiny model's export, the scene video scene.avi)."""
    root = tmp_path_factory.mktemp("scene")
    return export_seeded_tiny(root), write_scene_video(root / "scene.avi")


def scene_detector(model_dir):
    """A Detector of the tiny export whose network is replaced by the scene's stand-in."""
    detector = ppfcos.Detector.from_export(model_dir, device="cpu", threads=1)
    detector.backend.predictor = ScenePredictor()
    return detector


def tracked_boxes(results):
    return [list(zip(r.boxes.tolist(), r.track_ids.tolist())) for r in results]


def test_track_gives_each_object_one_id(scene):
    pytest.importorskip("trackers", reason="the track extra is not installed")
    model_dir, video = scene
    results = list(scene_detector(model_dir).track(video))
    assert [(r.path, r.frame) for r in results] == [(video, f) for f in range(FRAMES)]
    found = ids_per_object(tracked_boxes(results))
    assert report_switches(found) == [0, 0, 0]
    assert [set(ids.values()) for ids in found] == [{1}, {2}, {3}]
    assert [set(ids) for ids in found] == [expected_frames(i) for i in range(len(OBJECTS))]
    tracked = results[10]
    assert tracked.track_ids.dtype == np.int64 and len(tracked.track_ids) == len(tracked) == 3
    assert tracked.class_names == ["cat", "dog", "car"]
    detections = tracked.to_supervision()
    np.testing.assert_array_equal(detections.tracker_id, tracked.track_ids)
    np.testing.assert_array_equal(detections.xyxy, tracked.boxes)
    drawn = tracked.draw()
    for (x1, y1, x2, y2), track_id in zip(np.round(tracked.boxes).astype(int), tracked.track_ids):
        assert tuple(drawn[y2, (x1 + x2) // 2]) == class_color(int(track_id))  # the track's colour


def test_tracker_parameters_reach_byte_track(scene):
    """track_min_frames=3 names the tracks a frame later; track_buffer=0 forgets the object
    missed in two frames, which comes back under a new id (the measure counts it)."""
    pytest.importorskip("trackers", reason="the track extra is not installed")
    model_dir, video = scene
    found = ids_per_object(tracked_boxes(scene_detector(model_dir).track(
        video, track_min_frames=3)))
    assert report_switches(found) == [0, 0, 0]
    assert [set(ids) for ids in found] == [expected_frames(i, min_frames=3)
                                           for i in range(len(OBJECTS))]
    found = ids_per_object(tracked_boxes(scene_detector(model_dir).track(
        video, track_buffer=0)))
    assert report_switches(found) == [0, 1, 0]


@pytest.mark.parametrize("case", ["unknown", "range", "image", "no_trackers"])
def test_bad_track_call_is_one_clear_error(case, scene, tmp_path, monkeypatch):
    model_dir, video = scene
    detector = scene_detector(model_dir)
    source, params = video, {}
    if case == "unknown":
        params = {"match_thresh": 0.8}
    elif case == "range":
        params = {"track_buffer": -1}
    elif case == "image":
        source = str(tmp_path / "photo.jpg")
    else:
        monkeypatch.setitem(sys.modules, "trackers", None)
    expected = {"unknown": "unknown tracker parameter match_thresh: use track_thresh, "
                           "track_high_thresh, track_buffer, track_match_iou, track_min_frames",
                "range": "track_buffer must be an integer >= 0, got -1",
                "image": "expected a video file (.mp4, .avi",
                "no_trackers": "tracking needs the trackers package"}[case]
    with pytest.raises(DeployError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        detector.track(source, **params)
    assert detector.backend.predictor.frame == 0        # nothing was detected
