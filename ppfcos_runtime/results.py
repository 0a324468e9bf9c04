"""What a run writes: annotated images and videos, and the records of bbox.json.

Rows are detections (class_index, score, x1, y1, x2, y2) in image pixels; only
rows with score >= the threshold are drawn, counted and saved.
"""
import json
import os

import cv2

from .media import create_video_writer, write_image
from .output_dir import OutputFolder, output_names, unique_name
from .visualize import class_name, detection_labels, draw_detections


def video_output_name(path):
    """The annotated copy's name of a video (or camera name): <stem>.mp4."""
    return os.path.splitext(os.path.basename(path))[0] + ".mp4"


class ResultWriter:
    """Writes output_dir/<image name> (``draw``), output_dir/<video stem>.mp4 and, with
    ``save_results``, collects the bbox.json records that `write_json` saves.
    ``category_ids``: the dataset's category id of each class index (bbox.json's
    ``category_id``; the class index where it has none).

    ``images`` (the image paths the run will add) or ``video`` (the path or camera name
    of its video) name the outputs before the run: DeployError, before anything is
    written, when output_dir holds one of them, or of ``also_writes`` (other files the
    run writes there), that no earlier run wrote (``output_dir.OutputFolder``). Each file
    written is recorded in the folder."""

    def __init__(self, output_dir, label_list, threshold, draw=True, save_results=False,
                 category_ids=None, images=(), video=None, also_writes=()):
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
        self.folder.check(self.planned() + list(also_writes))
        if draw or save_results or also_writes:
            os.makedirs(output_dir, exist_ok=True)

    def planned(self):
        """The names of the files the writer will write into output_dir."""
        drawn = [self._video_name] if self._video_name else list(self._names.values())
        return (drawn if self.draw else []) + (["bbox.json"] if self.save_results else [])

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
        return out

    def add_frame(self, path, index, frame_rgb, rows):
        """Record one video frame's detections (and write the drawn frame); returns kept rows."""
        kept = self.kept(rows)
        self._add_records(kept, image=path, frame=index)
        if self._video is not None:
            self._video.write(self._drawn(frame_rgb, kept))
        return kept

    def end_video(self):
        """Close the output video (if one is open) and record it."""
        if self._video is not None:
            self._video.release()
            self._video = None
            self.folder.wrote(self._video_name)

    def write_json(self):
        """Write the collected records to output_dir/bbox.json; returns its path."""
        path = os.path.join(self.output_dir, "bbox.json")
        with open(path, "w") as f:
            json.dump(self.records, f)
        return self.folder.wrote("bbox.json")

    def _drawn(self, image_rgb, kept):
        return draw_detections(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), kept,
                               detection_labels(kept, self.label_list))

    def _add_records(self, kept, **where):
        """bbox.json records {image[, frame], category_id (the dataset's), category (class
        name), score, bbox [x, y, w, h]}."""
        if not self.save_results:
            return
        self.records += [{**where, **record} for record in
                         detection_records(kept, self.label_list, self.category_ids)]


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
