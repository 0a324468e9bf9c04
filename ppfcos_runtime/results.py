"""What a run writes: annotated images and videos, the records of bbox.json, and a tracked
video's MOTChallenge text.

Rows are detections (class_index, score, x1, y1, x2, y2) in image pixels; only
rows with score >= the threshold are drawn, counted and saved.
"""
import json
import os

import cv2

from .media import create_video_writer, write_image
from .output_dir import OutputFolder, output_names, unique_name
from .tracking import mot_lines
from .visualize import class_name, detection_labels, draw_detections, draw_tracks


def video_output_name(path, extension=".mp4"):
    """The name of a video's (or camera name's) annotated copy, <stem>.mp4, or of another
    output of it (``extension`` ".txt": its tracks)."""
    return os.path.splitext(os.path.basename(path))[0] + extension


class ResultWriter:
    """Writes output_dir/<image name> (``draw``), output_dir/<video stem>.mp4 and, with
    ``save_results``, collects the bbox.json records that `write_json` saves. With
    ``track``, a video's frames come with track ids: they are drawn ("id N name score"),
    go into the records (``track_id``), and output_dir/<video stem>.txt gets the
    MOTChallenge lines of every tracked detection (`tracking.mot_lines`).
    ``category_ids``: the dataset's category id of each class index (bbox.json's
    ``category_id``; the class index where it has none).

    ``images`` (the image paths the run will add) or ``video`` (the path or camera name
    of its video) name the outputs before the run: DeployError, before anything is
    written, when output_dir holds one of them, or of ``also_writes`` (other files the
    run writes there), that no earlier run wrote (``output_dir.OutputFolder``). Each file
    written is recorded in the folder."""

    def __init__(self, output_dir, label_list, threshold, draw=True, save_results=False,
                 category_ids=None, images=(), video=None, also_writes=(), track=False):
        self.output_dir = output_dir
        self.folder = OutputFolder(output_dir)
        self.label_list = label_list
        self.category_ids = category_ids or []
        self.threshold = threshold
        self.draw = draw
        self.save_results = save_results
        self.records = []
        self._names = output_names(images)
        self._video_name = video_output_name(video) if video else None
        self._video = None
        self._tracks_name = video_output_name(video, ".txt") if track else None
        self._tracks = None
        self.folder.check(self.planned() + list(also_writes))
        if draw or save_results or also_writes or track:
            os.makedirs(output_dir, exist_ok=True)

    def planned(self):
        """The names of the files the writer will write into output_dir."""
        drawn = [self._video_name] if self._video_name else list(self._names.values())
        return ((drawn if self.draw else []) + (["bbox.json"] if self.save_results else [])
                + ([self._tracks_name] if self._tracks_name else []))

    def kept(self, rows):
        """The rows [k, 6] with score >= threshold."""
        return rows[rows[:, 1] >= self.threshold]

    def add_image(self, path, image_rgb, rows):
        """Record one image's detections; returns (rows kept, written path or None)."""
        kept = self.kept(rows)
        self._add_records(kept, image=path)
        if not self.draw:
            return kept, None
        if path not in self._names:   # not named before the run
            self._names[path] = unique_name(os.path.basename(path), set(self._names.values()))
        out = os.path.join(self.output_dir, self._names[path])
        write_image(out, self._drawn(image_rgb, kept))
        self.folder.wrote(self._names[path])
        return kept, out

    def start_video(self, path, fps, size):
        """Open output_dir/<stem of path>.mp4 for frames of ``size`` (w, h); returns its path."""
        self._video_name = self._video_name or video_output_name(path)
        out = os.path.join(self.output_dir, self._video_name)
        if self.draw:
            self._video = create_video_writer(out, fps, size)
        if self._tracks_name:
            self._tracks = open(os.path.join(self.output_dir, self._tracks_name), "w",
                                encoding="utf-8")
        return out

    def add_frame(self, path, index, frame_rgb, rows, track_ids=None):
        """Record one video frame's detections (and write the drawn frame); returns kept rows.
        ``track_ids`` [k]: the track id of each row (with ``track``)."""
        keep = rows[:, 1] >= self.threshold
        kept = rows[keep]
        ids = None if track_ids is None else [int(i) for i in track_ids[keep]]
        self._add_records(kept, ids, image=path, frame=index)
        if self._tracks is not None:
            self._tracks.writelines(mot_lines(index + 1, kept, ids))
        if self._video is not None:
            self._video.write(self._drawn(frame_rgb, kept, ids))
        return kept

    def end_video(self):
        """Close the output video and the tracks file (those open) and record them."""
        if self._video is not None:
            self._video.release()
            self._video = None
            self.folder.wrote(self._video_name)
        if self._tracks is not None:
            self._tracks.close()
            self._tracks = None
            self.folder.wrote(self._tracks_name)

    def write_json(self):
        """Write the collected records to output_dir/bbox.json; returns its path."""
        path = os.path.join(self.output_dir, "bbox.json")
        with open(path, "w") as f:
            json.dump(self.records, f)
        return self.folder.wrote("bbox.json")

    def _drawn(self, image_rgb, kept, track_ids=None):
        image_bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        labels = detection_labels(kept, self.label_list)
        if track_ids is None:
            return draw_detections(image_bgr, kept, labels)
        return draw_tracks(image_bgr, kept, track_ids, labels)

    def _add_records(self, kept, track_ids=None, **where):
        """bbox.json records {image[, frame][, track_id], category_id (the dataset's),
        category (class name), score, bbox [x, y, w, h]}; ``track_ids``: one per row."""
        if not self.save_results:
            return
        records = detection_records(kept, self.label_list, self.category_ids)
        if track_ids is not None:
            records = [{"track_id": i, **record} for i, record in zip(track_ids, records)]
        self.records += [{**where, **record} for record in records]


def detection_records(rows, label_list, category_ids):
    """Rows [k, 6] -> k dicts {category_id (the dataset's, or the class index where
    ``category_ids`` has none), category (class name), score, bbox [x, y, w, h]}: the
    records of bbox.json and of the HTTP server's answers."""
    records = []
    for row in rows.tolist():
        index = int(row[0])
        x1, y1, x2, y2 = row[2:]
        category_id = category_ids[index] if 0 <= index < len(category_ids) else index
        records.append({"category_id": category_id, "category": class_name(label_list, index),
                        "score": row[1], "bbox": [x1, y1, x2 - x1, y2 - y1]})
    return records
