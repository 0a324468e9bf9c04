"""What a run writes: annotated images and videos, and the records of bbox.json.

Rows are detections (class_index, score, x1, y1, x2, y2) in image pixels; only
rows with score >= the threshold are drawn, counted and saved.
"""
import json
import os

import cv2

from .media import create_video_writer, write_image
from .visualize import class_name, detection_labels, draw_detections


def unique_name(name, used):
    """``name``, or name_1, name_2, ... if it is in ``used`` (names taken by earlier inputs
    of a run, from several folders); the result is added to ``used``."""
    stem, ext = os.path.splitext(name)
    candidate, k = name, 1
    while candidate in used:
        candidate, k = f"{stem}_{k}{ext}", k + 1
    used.add(candidate)
    return candidate


class ResultWriter:
    """Writes output_dir/<image name> (``draw``), output_dir/<video stem>.mp4 and, with
    ``save_results``, collects the bbox.json records that :meth:`write_json` saves.
    ``category_ids``: the dataset's category id of each class index (bbox.json's
    ``category_id``; the class index where it has none)."""

    def __init__(self, output_dir, label_list, threshold, draw=True, save_results=False,
                 category_ids=None):
        self.output_dir = output_dir
        self.label_list = label_list
        self.category_ids = category_ids or []
        self.threshold = threshold
        self.draw = draw
        self.save_results = save_results
        self.records = []
        self._used_names = set()
        self._video = None
        if draw or save_results:
            os.makedirs(output_dir, exist_ok=True)

    def kept(self, rows):
        """The rows [k, 6] with score >= threshold."""
        return rows[rows[:, 1] >= self.threshold]

    def add_image(self, path, image_rgb, rows):
        """Record one image's detections; returns (rows kept, written path or None)."""
        kept = self.kept(rows)
        self._add_records(kept, image=path)
        if not self.draw:
            return kept, None
        out = os.path.join(self.output_dir, unique_name(os.path.basename(path),
                                                        self._used_names))
        write_image(out, self._drawn(image_rgb, kept))
        return kept, out

    def start_video(self, path, fps, size):
        """Open output_dir/<stem of path>.mp4 for frames of ``size`` (w, h); returns its path."""
        stem = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(self.output_dir, unique_name(stem + ".mp4", self._used_names))
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
        """Close the output video (if one is open)."""
        if self._video is not None:
            self._video.release()
            self._video = None

    def write_json(self):
        """Write the collected records to output_dir/bbox.json; returns its path."""
        path = os.path.join(self.output_dir, "bbox.json")
        with open(path, "w") as f:
            json.dump(self.records, f)
        return path

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
