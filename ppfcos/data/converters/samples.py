"""What the format readers return: one ``Sample`` per image, in COCO's box convention."""
import os
from dataclasses import dataclass, field

import yaml

from ..datasets.base import DatasetError


@dataclass
class Sample:
    """One image: ``file_name`` relative to the image folder, its size, and its objects as
    ``boxes`` [(x1, y1, x2, y2)] in pixels (x2 one past the last column, as COCO's
    x + w), ``labels`` [class name] and ``crowd`` [bool] (ignored at evaluation)."""
    file_name: str
    width: int
    height: int
    boxes: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    crowd: list = field(default_factory=list)


def read_class_list(path):
    """Class names from ``path``: one per line (a label list), or a YAML file with
    ``names`` as a list or as {index: name} (ultralytics' data.yaml)."""
    if not os.path.isfile(path):
        raise DatasetError("--classes", f"class list not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        names = (yaml.safe_load(text) or {}).get("names")
        if isinstance(names, dict):
            names = [names[k] for k in sorted(names)]
        if not isinstance(names, list):
            raise DatasetError("--classes", f"{path}: expected a 'names' list or mapping")
        return [str(n) for n in names]
    return [line.strip() for line in text.splitlines() if line.strip()]


def class_list(samples, classes_file=None):
    """The classes of ``samples``: those of ``classes_file`` in its order (a label not in it
    is a DatasetError naming the image), else the labels found, sorted."""
    found = {label for s in samples for label in s.labels}
    if classes_file is None:
        return sorted(found)
    names = read_class_list(classes_file)
    for s in samples:
        unknown = sorted(set(s.labels) - set(names))
        if unknown:
            raise DatasetError("--classes", f"{s.file_name} has labels {unknown} that are "
                               f"not in {classes_file}")
    return names


def relative_image(image_dir, path, where):
    """``path`` relative to ``image_dir``; DatasetError when it is not inside it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(image_dir))
    if rel.startswith(os.pardir):
        raise DatasetError("--image_dir", f"{where}: image {path} is not inside {image_dir}")
    return rel.replace(os.sep, "/")


def annotation_files(anno_dir, extension):
    """Sorted paths of the ``extension`` files in ``anno_dir``; DatasetError when none."""
    if not os.path.isdir(anno_dir):
        raise DatasetError("--anno_dir", f"not a directory: {anno_dir}")
    files = sorted(os.path.join(anno_dir, f) for f in os.listdir(anno_dir)
                   if f.lower().endswith(extension))
    if not files:
        raise DatasetError("--anno_dir", f"no {extension} files in {anno_dir}")
    return files
