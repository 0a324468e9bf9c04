"""Images without annotations, for inference."""
import json
import os

import numpy as np
from ppfcos_runtime.media import images_under

from ppfcos.core.registry import register

from .base import DatasetError, DetDataset
from .voc import read_label_list


def find_images(path):
    """``path`` itself if it is a file, else the images under the directory (sorted,
    recursive; ``ppfcos_runtime.media.IMAGE_EXTENSIONS``)."""
    return [path] if os.path.isfile(path) else images_under(path)


@register
class ImageFolder(DetDataset):
    """Images to run a detector on.

    Args (PaddleDetection's names):
        dataset_dir: joined in front of ``image_dir`` and ``anno_path`` when set.
        image_dir: an image file, a directory (``.jpg/.jpeg/.png/.bmp`` files,
            searched recursively) or a list of them; `set_images` replaces it.
        anno_path: where the class names come from: a COCO json (its
            ``categories``) or a text file with one name per line.
        sample_num: use only the first N images (-1: all).

    After parsing: ``class_names``, ``cname2cid``, ``catid2clsid`` and
    ``clsid2catid`` (None when ``anno_path`` is unset or missing: inference then labels
    the classes through `ppfcos.data.class_labels.inference_labels`).
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, sample_num=-1):
        super().__init__(dataset_dir, image_dir, anno_path, ["image"], sample_num)
        self._explicit_images = None
        self.class_names = self.cname2cid = self.catid2clsid = self.clsid2catid = None

    def set_images(self, images):
        """Use these image files/directories (one path or a list), as given (no dataset_dir)."""
        self._explicit_images = [images] if isinstance(images, str) else list(images)
        self._records = None

    def _image_paths(self):
        if self._explicit_images is not None:
            return self._explicit_images, "set_images"
        if self.image_dir is None:
            return [], "image_dir"
        paths = [self.image_dir] if isinstance(self.image_dir, str) else list(self.image_dir)
        return [os.path.join(self.dataset_dir or "", p) for p in paths], "image_dir"

    def _parse(self):
        self.load_categories()
        paths, key = self._image_paths()
        images = []
        for path in paths:
            if not os.path.exists(path):
                raise DatasetError(key, f"image file or directory not found: "
                                   f"{os.path.abspath(path)}")
            images += find_images(path)
        if self.sample_num > 0:
            images = images[:self.sample_num]
        return [{"im_file": os.path.abspath(f), "im_id": np.array([i])}
                for i, f in enumerate(images)]

    def categories_file(self):
        """Absolute path of ``anno_path`` (joined to ``dataset_dir``), or None when unset."""
        if self.anno_path is None:
            return None
        return os.path.abspath(os.path.join(self.dataset_dir or "", self.anno_path))

    def missing_categories_reason(self):
        """Why ``anno_path`` gave no class names, for a message: "is not set", "<path> was
        not found" or "<path> names no classes"."""
        path = self.categories_file()
        if path is None:
            return "is not set"
        return f"{path} was not found" if not os.path.isfile(path) else f"{path} names no classes"

    def load_categories(self):
        """Read class names and id maps from ``anno_path`` (COCO json or label list); they
        stay None when it is unset or not found."""
        path = self.categories_file()
        if path is None or not os.path.isfile(path):
            return
        if path.endswith(".json"):
            try:
                with open(path, encoding="utf-8") as f:
                    cats = json.load(f).get("categories", [])
            except (ValueError, AttributeError) as e:
                raise DatasetError("anno_path", f"not a COCO json: {path} ({e})") from e
            ids = [c["id"] for c in cats]
            self.class_names = [c.get("name", str(c["id"])) for c in cats]
        else:
            self.class_names = read_label_list(path)
            ids = list(range(len(self.class_names)))
        self.catid2clsid = {cat: i for i, cat in enumerate(ids)}
        self.clsid2catid = dict(enumerate(ids))
        self.cname2cid = {name: i for i, name in enumerate(self.class_names)}
