"""The detections in one image (or video frame), and what to turn them into."""
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.media import write_image
from ppfcos_runtime.results import class_name
from ppfcos_runtime.visualize import draw_detections, draw_tracks


@dataclass
class DetectionResult:
    """The detections of one image with score >= the detector's threshold, in the order the
    model's NMS gives them.

    boxes         float32 [k, 4]: x1, y1, x2, y2 in the original image's pixels
    scores        float32 [k]
    class_ids     int64 [k]: class indices (0 .. num_classes - 1)
    class_names   k str: the class name of each detection
    category_ids  int64 [k]: the dataset's category id of each detection (COCO's 1..90
                  for the zoo models; the class index when the model has no table)
    image         the image, BGR uint8 [H, W, 3] (as cv2 reads it)
    path          its file (None for a numpy image); frame: its index in a video, or None
    track_ids     int64 [k]: each detection's track id, from 1 (results of
                  ``Detector.track``), or None
    """
    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: list
    category_ids: np.ndarray
    image: np.ndarray
    path: Optional[str] = None
    frame: Optional[int] = None
    track_ids: Optional[np.ndarray] = None

    @classmethod
    def from_rows(cls, rows, item, label_list, category_table, track_ids=None):
        """Rows [k, 6] (class, score, x1, y1, x2, y2) of a sources.Item's image; the
        model's class names and dataset category id by class index; ``track_ids`` [k]
        when the rows are tracked."""
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, 6)
        class_ids = rows[:, 0].astype(np.int64)
        return cls(boxes=rows[:, 2:].copy(), scores=rows[:, 1].copy(), class_ids=class_ids,
                   class_names=[class_name(label_list, int(i)) for i in class_ids],
                   category_ids=np.array([category_table[i] if 0 <= i < len(category_table)
                                          else i for i in class_ids], dtype=np.int64),
                   image=cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR), path=item.path,
                   frame=item.frame,
                   track_ids=None if track_ids is None else np.asarray(track_ids, np.int64))

    def __len__(self):
        return len(self.scores)

    def rows(self):
        """The detections as rows [k, 6] (class, score, x1, y1, x2, y2), as ppfcos_runtime
        gives them."""
        return np.concatenate([self.class_ids[:, None].astype(np.float32),
                               self.scores[:, None], self.boxes], axis=1)

    def draw(self):
        """A copy of the image (BGR) with each box and a "name score" label drawn ("id N
        name score", in the colour of the track, when the detections are tracked)."""
        labels = [f"{name} {score:.2f}" for name, score in zip(self.class_names, self.scores)]
        if self.track_ids is not None:
            return draw_tracks(self.image, self.rows(), self.track_ids, labels)
        return draw_detections(self.image, self.rows(), labels)

    def save(self, path):
        """Write `draw`'s image to ``path`` (its folder is made); returns ``path``."""
        folder = os.path.dirname(os.fspath(path))
        if folder:
            os.makedirs(folder, exist_ok=True)
        write_image(os.fspath(path), self.draw())
        return path

    def to_coco(self, image_id):
        """COCO result records of ``image_id``: {image_id, category_id (the dataset's),
        bbox [x, y, w, h], score}, plain Python numbers (json.dump-able)."""
        return [{"image_id": image_id, "category_id": int(category),
                 "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                 "score": float(score)}
                for category, (x1, y1, x2, y2), score in zip(self.category_ids, self.boxes,
                                                             self.scores)]

    def to_supervision(self):
        """The detections as ``supervision.Detections`` (xyxy, confidence, class_id,
        tracker_id when tracked, and data["class_name"]); needs ``pip install supervision``
        (the supervision extra)."""
        try:
            import supervision
        except ImportError:
            raise DeployError("to_supervision needs the supervision package: pip install "
                              "supervision (or pip install -e .[supervision])") from None
        return supervision.Detections(xyxy=self.boxes.astype(np.float32),
                                      confidence=self.scores.astype(np.float32),
                                      class_id=self.class_ids.astype(int),
                                      tracker_id=None if self.track_ids is None
                                      else self.track_ids.astype(int),
                                      data={"class_name": np.array(self.class_names)})
