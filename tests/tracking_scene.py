"""The tests of tracking (deploy --track, Detector.track): a synthetic video whose objects move
along known straight paths without ever overlapping, a stand-in for the exported network
that "detects" them (their true boxes, jittered, with misses and weak frames), and the
count of id switches per object."""
import cv2
import numpy as np

WIDTH, HEIGHT = 160, 120
FRAMES = 40
FPS = 10
BACKGROUND = 90


class MovingObject:
    """A filled rectangle of ``size`` (w, h) px and BGR ``color`` whose top-left corner is at
    ``start`` (x, y) in frame 0 and moves ``velocity`` (dx, dy) px per frame; the
    detector's class index ``class_index``."""

    def __init__(self, class_index, color, start, velocity, size):
        self.class_index = class_index
        self.color = color
        self.start = np.array(start, np.float64)
        self.velocity = np.array(velocity, np.float64)
        self.size = np.array(size, np.float64)

    def box(self, frame):
        """Its box (x1, y1, x2, y2) in ``frame`` (0-based)."""
        corner = self.start + frame * self.velocity
        return np.concatenate([corner, corner + self.size])


# Three lanes: the boxes never overlap (y ranges 8-38, 48-72, 82-110), and all stay inside.
OBJECTS = [MovingObject(0, (40, 40, 230), (5, 8), (3.0, 0.25), (24, 20)),
           MovingObject(1, (40, 200, 40), (130, 48), (-2.5, 0.0), (20, 24)),
           MovingObject(2, (220, 120, 30), (40, 92), (2.0, -0.25), (30, 18))]
# The detections the stand-in network gives: object 1 is missed in frames 12 and 13 (its
# track is lost, then found again); object 2 scores 0.3 in frames 20-22 (only
# ByteTrack's second association keeps it); a spurious box shows in frame 25 alone.
MISSED = {1: {12, 13}}
WEAK = {2: {20, 21, 22}}
WEAK_SCORE = 0.3
SPURIOUS_FRAME, SPURIOUS_ROW = 25, [3, 0.8, 70.0, 30.0, 90.0, 44.0]
JITTER = 1.5   # px, uniform on each coordinate


def write_scene_video(path):
    """The scene as an .avi (mp4v) of FRAMES frames WIDTH x HEIGHT at FPS; returns ``path``
    as str."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for frame in range(FRAMES):
        image = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
        for thing in OBJECTS:
            x1, y1, x2, y2 = np.round(thing.box(frame)).astype(int)
            cv2.rectangle(image, (x1, y1), (x2, y2), thing.color, cv2.FILLED)
        writer.write(image)
    writer.release()
    return str(path)


def scene_rows(frame, rng):
    """The stand-in network's rows [k, 6] (class_index, score, x1, y1, x2, y2) of ``frame``."""
    rows = []
    for index, thing in enumerate(OBJECTS):
        if frame in MISSED.get(index, ()):
            continue
        score = WEAK_SCORE if frame in WEAK.get(index, ()) else 0.9
        box = thing.box(frame) + rng.uniform(-JITTER, JITTER, 4)
        rows.append([thing.class_index, score, *box])
    if frame == SPURIOUS_FRAME:
        rows.append(SPURIOUS_ROW)
    return np.array(rows, np.float32).reshape(-1, 6)


class ScenePredictor:
    """Stands in for an export's predictor (``run(inputs) -> (bbox, bbox_num)``): the i-th
    image it is given is frame i of the scene, whose rows (`scene_rows`, in original
    pixels as an export's NMS gives them) it returns; jitter seeded, so runs repeat."""

    def __init__(self, seed=0):
        self.frame = 0
        self.rng = np.random.default_rng(seed)

    def run(self, inputs):
        rows = []
        for _ in range(len(inputs["image"])):
            rows.append(scene_rows(self.frame, self.rng))
            self.frame += 1
        return np.concatenate(rows), np.array([len(r) for r in rows], np.int32)


def iou(a, b):
    """IoU of two boxes (x1, y1, x2, y2)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def ids_per_object(frames):
    """``frames``: per frame (0-based, in order), the tracked (box, track id) pairs ->
    per object of OBJECTS, {frame: track id of the tracked box over its true box (IoU >= 0.5)}."""
    found = [{} for _ in OBJECTS]
    for frame, tracked in enumerate(frames):
        for index, thing in enumerate(OBJECTS):
            matches = [track_id for box, track_id in tracked
                       if iou(box, thing.box(frame)) >= 0.5]
            assert len(matches) <= 1, (frame, index, matches)
            if matches:
                found[index][frame] = matches[0]
    return found


def id_switches(ids_by_frame):
    """The number of times the track id of one object changes from one tracked frame to the
    next ({frame: id})."""
    ids = [ids_by_frame[frame] for frame in sorted(ids_by_frame)]
    return sum(a != b for a, b in zip(ids, ids[1:]))


def expected_frames(index, min_frames=2):
    """The frames in which object ``index`` is tracked: all once its track is confirmed
    (matched in ``min_frames`` frames in a row, and never in its first frame: ByteTrack
    names a track when a detection matches it), except those in which it is missed."""
    return set(range(max(min_frames, 2) - 1, FRAMES)) - MISSED.get(index, set())


def report_switches(found):
    """Print and return the id switches of each object (``ids_per_object``'s result)."""
    switches = [id_switches(ids) for ids in found]
    for index, (ids, count) in enumerate(zip(found, switches)):
        print(f"object {index}: ids {sorted(set(ids.values()))} in {len(ids)} of {FRAMES} "
              f"frames, {count} id switches")
    return switches
