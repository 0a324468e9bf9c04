"""Track ids across the frames of a video: ByteTrack over a detector's rows.

ByteTrack (Zhang et al., 2022) is run by roboflow's ``trackers`` package
(``ByteTrackTracker``, which took over supervision's ``ByteTrack``), on
``supervision.Detections``. Both are optional: they are imported when a Tracker is
built, and a missing package is one DeployError saying what to install.

Each frame's rows (class_index, score, x1, y1, x2, y2) go in; out come the rows that
belong to a confirmed track, each with its id. Ids start at 1 (MOTChallenge's files
count from 1; the tracker's own ids count from 0). `mot_lines` writes them as
MOTChallenge's tracking results: ``frame,id,x,y,w,h,score,-1,-1,-1`` with 1-based frames.
"""
import math
from dataclasses import dataclass, fields

import numpy as np

from .errors import DeployError

INSTALL_HINT = "pip install trackers (or pip install -e .[track])"
# The score below which detections do not reach the tracker by default: the lowest score
# the ByteTrack paper's second association uses (low-score boxes that only continue a track).
LOW_SCORE_THRESHOLD = 0.1


@dataclass(frozen=True)
class TrackerOptions:
    """ByteTrack's parameters (defaults: trackers 2.6's ByteTrackTracker).

    track_thresh       a detection scoring at least this starts a new track
                       (track_activation_threshold)
    track_high_thresh  detections scoring at least this are matched to tracks first; the
                       others only continue tracks left unmatched (high_conf_det_threshold)
    track_buffer       frames (at 30 fps; scaled to the video's frame rate) a lost track
                       is kept for, to be found again with its id (lost_track_buffer)
    track_match_iou    the least IoU of a detection and a track's predicted box for them
                       to match (minimum_iou_threshold)
    track_min_frames   frames in a row a track is matched before it gets an id
                       (minimum_consecutive_frames; a new track gets its id in its second
                       frame at the earliest, so 1 acts as 2)
    """
    track_thresh: float = 0.7
    track_high_thresh: float = 0.6
    track_buffer: int = 30
    track_match_iou: float = 0.1
    track_min_frames: int = 2

    @classmethod
    def from_params(cls, params):
        """TrackerOptions of a {name: value} dict (e.g. ``**tracker_params``); DeployError
        for an unknown name (`check` tells of values out of range)."""
        names = [field.name for field in fields(cls)]
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise DeployError(f"unknown tracker parameter {', '.join(unknown)}: use "
                              f"{', '.join(names)}")
        return cls(**params)

    def check(self):
        """DeployError (naming the parameter) unless the thresholds are scores from 0 to 1,
        track_buffer an integer >= 0 and track_min_frames an integer >= 1."""
        for name in ("track_thresh", "track_high_thresh", "track_match_iou"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not 0 <= value <= 1:
                raise DeployError(f"{name} must be a score from 0 to 1, got {value!r}")
        for name, least in (("track_buffer", 0), ("track_min_frames", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < least:
                raise DeployError(f"{name} must be an integer >= {least}, got {value!r}")


def import_trackers():
    """(supervision.Detections, trackers.ByteTrackTracker), imported now; DeployError when
    the trackers package, or supervision, is not installed."""
    try:
        from supervision import Detections
        from trackers import ByteTrackTracker
    except ImportError:
        raise DeployError(f"tracking needs the trackers package (ByteTrack on supervision "
                          f"Detections): {INSTALL_HINT}") from None
    return Detections, ByteTrackTracker


class Tracker:
    """ByteTrack over the frames of one video at ``frame_rate`` fps, fed one frame's rows
    at a time (in frame order)."""

    def __init__(self, options, frame_rate):
        options.check()
        if not (isinstance(frame_rate, (int, float)) and math.isfinite(frame_rate)
                and frame_rate > 0):
            raise DeployError(f"the video's frame rate must be > 0, got {frame_rate!r}")
        self.detections, byte_track = import_trackers()
        self.byte_track = byte_track(
            lost_track_buffer=options.track_buffer, frame_rate=float(frame_rate),
            track_activation_threshold=options.track_thresh,
            minimum_consecutive_frames=options.track_min_frames,
            minimum_iou_threshold=options.track_match_iou,
            high_conf_det_threshold=options.track_high_thresh)

    def update(self, rows):
        """One frame's rows [k, 6] (class_index, score, x1, y1, x2, y2) -> (the rows of
        confirmed tracks [m, 6], in the order of ``rows``; their track ids int64 [m], from 1).

        Rows that start a track not yet confirmed (track_min_frames) or match none are
        left out."""
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
        detections = self.detections(
            xyxy=rows[:, 2:].astype(np.float32), confidence=rows[:, 1].astype(np.float32),
            class_id=rows[:, 0].astype(int), data={"row": np.arange(len(rows))})
        tracked = self.byte_track.update(detections)
        confirmed = np.asarray(tracked.tracker_id) >= 0
        indices = np.asarray(tracked.data.get("row", np.zeros(0, int)))[confirmed]
        ids = np.asarray(tracked.tracker_id)[confirmed].astype(np.int64) + 1
        order = np.argsort(indices, kind="stable")
        return rows[indices[order].astype(np.int64)], ids[order]


def mot_lines(frame_number, rows, track_ids):
    """MOTChallenge result lines of one frame: ``frame,id,x,y,w,h,score,-1,-1,-1`` per row.

    frame_number: 1-based; rows [m, 6] (class_index, score, x1, y1, x2, y2) in pixels;
    track_ids [m]. x, y is the box's top-left corner, w, h its size, all in pixels."""
    lines = []
    for (_, score, x1, y1, x2, y2), track_id in zip(np.asarray(rows).tolist(), track_ids):
        lines.append(f"{frame_number},{int(track_id)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},"
                     f"{y2 - y1:.2f},{score:.4f},-1,-1,-1\n")
    return lines
