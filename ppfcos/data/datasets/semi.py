"""SemiCOCODataSet: the labelled or the unlabelled part of a semi-supervised run.

PaddleDetection's configs name it for both ``TrainDataset`` (``supervised: true``, the
default: a COCODataSet) and ``UnsupTrainDataset`` (``supervised: false``). The unlabelled
part is read from

- an image-only COCO json (``images`` listed, ``annotations`` empty or absent; PaddleDetection's
  ``instances_train2017.1@10-unlabeled.json``), or
- a plain folder of images: ``anno_path`` unset, or naming a directory; the images are found
  under ``image_dir`` (recursively, sorted by path, so the order is the same everywhere).

Unlabelled records carry no ground truth unless ``data_fields`` asks for ``gt_bbox`` and the
json has annotations (an unlabelled part split from a labelled set): the boxes are then read
(images without boxes kept) for the trainer to log how good the pseudo-labels are; they are
never trained on. Every listed image is
used (PaddleDetection redraws the unlabelled list with an unseeded ``np.random.choice`` at
parse time; ppfcos keeps it whole, in file order, and only the sampler shuffles, per seed).
"""
import os

import numpy as np

from ppfcos.core.registry import register

from .base import DatasetError, path_inside, resolve_path
from .coco import COCODataSet
from .image_folder import find_images


@register
class SemiCOCODataSet(COCODataSet):
    """COCODataSet plus ``supervised`` (see the module docstring).

    Args: COCODataSet's, and ``supervised``: True for the labelled part (parsed as
    COCODataSet), False for the unlabelled part (images only).
    """

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None, data_fields=["image"],
                 sample_num=-1, load_crowd=False, allow_empty=False, empty_ratio=1.,
                 allow_outside_paths=False, allow_bad_records=False, supervised=True):
        super().__init__(dataset_dir, image_dir, anno_path, data_fields, sample_num,
                         load_crowd, allow_empty, empty_ratio, allow_outside_paths,
                         allow_bad_records)
        self.supervised = supervised

    def _parse(self):
        if self.supervised:
            return super()._parse()
        image_dir = resolve_path(self.dataset_dir, self.image_dir or "", "image_dir",
                                 "image directory", isdir=True)
        anno = (os.path.join(self.dataset_dir or "", self.anno_path)
                if self.anno_path else None)
        if anno is None or os.path.isdir(anno):
            records = self._folder_records(anno or image_dir)
            source = anno or image_dir
        elif "gt_bbox" in self.data_fields:
            self.allow_empty, self.empty_ratio = True, 1.0
            records = super()._parse()
            source = self.get_anno()
        else:
            records = self._json_records(image_dir)
            source = self.get_anno()
        if not records:
            raise DatasetError("anno_path" if anno and not os.path.isdir(anno) else "image_dir",
                               f"the unlabelled set {source} holds no images: list them in the "
                               f"json's 'images' or put .jpg/.png files in the folder")
        return records[:self.sample_num] if self.sample_num > 0 else records

    def _json_records(self, image_dir):
        """Records of every image the json lists (its annotations, if any, are not read)."""
        data, anno_file = self._load_json()
        images = data.get("images")
        if not isinstance(images, list):
            raise DatasetError("anno_path", f"{anno_file} has no 'images' list: an unlabelled "
                               f"COCO json lists its images there")
        records = []
        for i, image in enumerate(images):
            if not isinstance(image, dict) or "file_name" not in image or "id" not in image:
                raise DatasetError("anno_path", f"{anno_file}: images[{i}] needs 'id' and "
                                   f"'file_name', got {image!r}")
            im_file = path_inside(image_dir, image["file_name"], "anno_path",
                                  f"image id {image['id']}: file_name",
                                  self.allow_outside_paths)
            record = {"im_file": im_file, "im_id": np.array([image["id"]])}
            if "height" in image and "width" in image:
                record.update(h=image["height"], w=image["width"])
            records.append(record)
        return records

    @staticmethod
    def _folder_records(folder):
        """Records of the images under ``folder`` (ids 0, 1, ... in sorted path order)."""
        return [{"im_file": path, "im_id": np.array([i])}
                for i, path in enumerate(find_images(folder))]
