"""Detections back into a dataset (``tools/infer.py --save_dataset DIR``): pseudo-labels
to train on, or annotations to review in a labelling tool.

``DIR`` gets the same detections in three formats:

- ``annotations.json``: COCO, with the images' sizes, ``file_name`` relative to the
  image folder, and the model's dataset's category ids and names;
- ``yolo/<image stem>.txt`` and ``yolo/classes.txt`` (``ppfcos.data.converters.yolo``);
- ``labelme/<image stem>.json``, one rectangle per detection
  (``ppfcos.data.converters.labelme``).

A detection is kept when its score reaches its class's threshold (``class_thresholds``,
by class name) or else ``threshold``, and its box is at least one pixel wide and high
(training readers drop thinner boxes).
"""
import os

import cv2

from ..core.config import ConfigError
from ..core.files import write_json
from ..data.converters.coco_file import to_coco
from ..data.converters.labelme import write_labelme
from ..data.converters.samples import Sample
from ..data.converters.yolo import write_yolo
from ..utils.visualize import kept_rows


def parse_class_thresholds(text, class_names):
    """``"cat=0.3,dog=0.6"`` -> {"cat": 0.3, "dog": 0.6}; ConfigError for a class the model
    does not have or a threshold outside [0, 1]."""
    thresholds = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, _, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not name or number is None or not 0.0 <= number <= 1.0:
            raise ConfigError(f"--class_thresholds: {item!r} must look like name=0.4 (a score "
                              f"between 0 and 1)")
        if name not in class_names:
            raise ConfigError(f"--class_thresholds: the model has no class {name!r} (its "
                              f"classes: {', '.join(class_names)})")
        thresholds[name] = number
    return thresholds


def check_dataset_dir(path):
    """ConfigError when ``path`` holds files: a dataset is written into a new or empty
    folder only, so no earlier annotations are overwritten."""
    if os.path.isfile(path) or (os.path.isdir(path) and os.listdir(path)):
        raise ConfigError(f"--save_dataset {path} already holds files, which the new "
                          f"annotations would replace: give a new or empty folder")


class DatasetWriter:
    """Collects the detections of an inference run as Samples and writes them as a
    dataset (see the module docstring).

    ``class_names``, ``category_ids``: by class index; ``image_root``: the folder the
    images' ``file_name`` are relative to.
    """

    def __init__(self, class_names, category_ids, image_root, threshold=0.5,
                 class_thresholds=None):
        self.class_names = list(class_names)
        self.category_ids = list(category_ids)
        self.image_root = image_root
        self.threshold = threshold
        self.class_thresholds = class_thresholds or {}
        self.samples = []

    def collect(self, predictions):
        """Yield ``predictions`` (``(batch, detections)`` pairs) unchanged, keeping each
        image's detections above its thresholds as a Sample."""
        for batch, detections in predictions:
            for im_file, det in zip(batch["im_file"], detections):
                self.samples.append(self.sample(im_file, det["bbox"]))
            yield batch, detections

    def sample(self, im_file, bbox):
        """The Sample of one image's detections ``bbox`` [K, 6] (class, score, x1, y1,
        x2, y2) above their thresholds."""
        height, width = cv2.imread(im_file, cv2.IMREAD_COLOR).shape[:2]
        sample = Sample(os.path.relpath(im_file, self.image_root), width, height)
        lowest = min([self.threshold, *self.class_thresholds.values()])
        for row in kept_rows(bbox, lowest):
            name = self.class_names[int(row[0])]
            x1, y1, x2, y2 = row[2:]
            if row[1] >= self.class_thresholds.get(name, self.threshold) and \
                    x2 - x1 >= 1 and y2 - y1 >= 1:
                sample.boxes.append([float(v) for v in row[2:]])
                sample.labels.append(name)
                sample.crowd.append(False)
        return sample

    def write(self, out_dir):
        """Write ``annotations.json``, ``yolo/`` and ``labelme/`` into ``out_dir``;
        returns the COCO file's path."""
        coco = to_coco(self.samples, self.class_names)
        dataset_id = dict(zip(range(1, len(self.class_names) + 1), self.category_ids))
        for category in coco["categories"]:
            category["id"] = dataset_id[category["id"]]
        for annotation in coco["annotations"]:
            annotation["category_id"] = dataset_id[annotation["category_id"]]
        path = os.path.join(out_dir, "annotations.json")
        os.makedirs(out_dir, exist_ok=True)
        write_json(coco, path)
        write_yolo(self.samples, self.class_names, os.path.join(out_dir, "yolo"))
        write_labelme(self.samples, self.image_root, os.path.join(out_dir, "labelme"))
        return path
