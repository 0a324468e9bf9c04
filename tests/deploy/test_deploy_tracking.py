"""deploy/python/infer.py --track: on a synthetic video whose objects move along known paths,
detected by a stand-in network whose output is known (tracking_scene), each object keeps one
track id; the MOT file, bbox.json and the drawn video say so; bad uses fail in one line."""
import inspect
import json
import os
import re

import cv2
import numpy as np
import pytest

from conftest import REPO
from tiny_model import export_seeded_tiny, read_frames
from tool_runs import checksums, one_error_line, run_tool
from tracking_scene import (FPS, FRAMES, OBJECTS, WEAK, WEAK_SCORE, expected_frames,
                            ids_per_object, report_switches, write_scene_video)
from ppfcos_runtime.tracking import TrackerOptions

TESTS = os.path.join(REPO, "tests")
DEPLOY_SCENE = os.path.join(TESTS, "helpers", "deploy_scene.py")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """(the tiny model's export, the scene video scene.avi) in a folder of their own."""
    root = tmp_path_factory.mktemp("scene")
    return export_seeded_tiny(root), write_scene_video(root / "scene.avi")


def deploy_scene(*args, hide=()):
    """deploy with the scene's stand-in network (helpers/deploy_scene.py) -> CompletedProcess;
    ``hide``: folders whose modules shadow installed packages."""
    return run_tool(DEPLOY_SCENE, [str(a) for a in args], cwd=REPO, timeout=120,
                    pythonpath=[*hide, TESTS])


def read_mot(path):
    """A MOT file -> per frame (0-based) the list of (box x1, y1, x2, y2, track id), and the
    parsed lines."""
    lines = [line.split(",") for line in path.read_text().splitlines()]
    tracked = [[] for _ in range(FRAMES)]
    for frame, track_id, x, y, w, h, *_ in lines:
        x, y, w, h = map(float, (x, y, w, h))
        tracked[int(frame) - 1].append(((x, y, x + w, y + h), int(track_id)))
    return tracked, lines


def test_track_keeps_one_id_per_object_in_mot_file_records_and_video(scene, tmp_path):
    pytest.importorskip("trackers", reason="the track extra is not installed")
    model_dir, video = scene
    out = tmp_path / "out"
    done = deploy_scene("--model_dir", model_dir, "--video_file", video, "--track",
                        "--save_results", "--output_dir", out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(os.listdir(out)) == [".ppfcos_outputs.jsonl", "bbox.json", "scene.mp4",
                                       "scene.txt"]
    tracked, lines = read_mot(out / "scene.txt")
    found = ids_per_object(tracked)
    assert report_switches(found) == [0, 0, 0]
    assert [len(set(ids.values())) for ids in found] == [1, 1, 1]
    assert len({min(ids.values()) for ids in found}) == 3 and min(found[0].values()) >= 1
    # Tracked from the second frame (a track is confirmed after 2 matched frames) in every
    # frame it is detected in, weak ones included; the spurious one-frame box never is.
    assert [set(ids) for ids in found] == [expected_frames(i) for i in range(len(OBJECTS))]
    assert len(lines) == sum(len(expected_frames(i)) for i in range(len(OBJECTS)))
    assert all(line[7:] == ["-1", "-1", "-1"] for line in lines)
    weak = {(f + 1, found[2][f]) for f in WEAK[2]}
    assert {(int(line[0]), int(line[1])): float(line[6]) for line in lines
            if (int(line[0]), int(line[1])) in weak} == {key: WEAK_SCORE for key in weak}
    records = json.loads((out / "bbox.json").read_text())
    assert sorted((r["frame"] + 1, r["track_id"]) for r in records) == \
        sorted((int(line[0]), int(line[1])) for line in lines)
    counts = re.findall(r"scene\.avi frame (\d+): (\d+) tracked detections >= 0\.10",
                        done.stderr)
    assert counts[:2] == [("0", "0"), ("1", "3")] and len(counts) == FRAMES
    drawn, capture = read_frames(out / "scene.mp4")
    assert len(drawn) == FRAMES and capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
    plain, _ = read_frames(video)
    changed = [np.abs(drawn[f].astype(int) - plain[f]).max(axis=2) > 60 for f in (0, 10)]
    assert not changed[0].any()                   # nothing tracked yet: nothing drawn
    for box, _ in tracked[10]:                    # box outlines and "id N name score" labels
        x1, y1, x2, y2 = np.round(box).astype(int)
        assert changed[1][max(y1 - 12, 0):y2 + 1, x1:x2 + 1].sum() > 60, box


def test_track_buffer_zero_gives_a_missed_object_a_new_id(scene, tmp_path):
    """The tracker's flags reach ByteTrack: without a buffer, the object missed in two
    frames comes back under a new id (one switch, counted by the same measure)."""
    pytest.importorskip("trackers", reason="the track extra is not installed")
    model_dir, video = scene
    done = deploy_scene("--model_dir", model_dir, "--video_file", video, "--track",
                        "--track_buffer", 0, "--save_images", "False", "--output_dir",
                        tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert report_switches(ids_per_object(read_mot(tmp_path / "scene.txt")[0])) == [0, 1, 0]


@pytest.mark.parametrize("case", ["images", "no_trackers", "bad_threshold", "users_file"])
def test_bad_track_use_is_one_line_and_writes_nothing(case, scene, tmp_path):
    model_dir, video = scene
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    flags, hide = ["--video_file", video, "--track"], ()
    if case == "images":
        cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((32, 32, 3), 90, np.uint8))
        flags = ["--image_file", tmp_path / "photo.jpg", "--track"]
    elif case == "no_trackers":
        shadow = tmp_path / "shadow"
        shadow.mkdir()
        (shadow / "trackers.py").write_text("raise ImportError('hidden by the test')\n")
        hide = [str(shadow)]
    elif case == "bad_threshold":
        flags += ["--track_thresh", "1.5"]
    else:
        pytest.importorskip("trackers", reason="the track extra is not installed")
        (out / "scene.txt").write_text("1,1,0,0,5,5,1,-1,-1,-1\n")
    before = checksums(out)
    done = deploy_scene("--model_dir", model_dir, *flags, "--output_dir", out, hide=hide)
    line = one_error_line(1, done.returncode, done.stdout, done.stderr)
    expected = {"images": "--track follows objects from frame to frame: give --video_file or "
                          "--camera_id",
                "no_trackers": "tracking needs the trackers package (ByteTrack on supervision "
                               "Detections): pip install trackers (or pip install -e .[track])",
                "bad_threshold": "track_thresh must be a score from 0 to 1, got 1.5",
                "users_file": "holds scene.txt, which this run would replace"}[case]
    assert expected in line, line
    assert checksums(out) == before


def test_tracker_defaults_are_byte_tracks():
    """The flags' defaults are those of the installed ByteTrackTracker."""
    trackers = pytest.importorskip("trackers", reason="the track extra is not installed")
    defaults = {name: p.default for name, p in
                inspect.signature(trackers.ByteTrackTracker).parameters.items()}
    options = TrackerOptions()
    assert (defaults["track_activation_threshold"], defaults["high_conf_det_threshold"],
            defaults["lost_track_buffer"], defaults["minimum_iou_threshold"],
            defaults["minimum_consecutive_frames"]) == \
        (options.track_thresh, options.track_high_thresh, options.track_buffer,
         options.track_match_iou, options.track_min_frames)
