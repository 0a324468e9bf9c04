"""What every detection dataset shares: records, transforms, bad-image skipping, box cleaning.

A dataset parses its annotations once into *records* (plain dicts with
PaddleDetection's keys: ``im_file``, ``im_id``, ``h``, ``w``, ``gt_bbox``,
``gt_class``, ``is_crowd``, ``difficult``). ``dataset[i]`` deep-copies record
``i`` and runs it through the transform set with `DetDataset.set_transform`.

An image that cannot be read (missing file, corrupt bytes) does not raise:
``dataset[i]`` returns a *skipped marker* ``{SKIPPED_KEY: "<file>: <reason>"}``
instead, which the reader's collate carries to the main process, where it is
logged and counted (see ``ppfcos.data.loader``). This works the same in worker
processes, whose exceptions would otherwise end the epoch.

Any other exception while transforming a sample is not raised in the reader
either: ``dataset[i]`` returns ``{READER_ERROR_KEY: "<one line>"}``, which the
collate passes on and the loader raises as ``ReaderError`` in the main process.
Raising inside the reader would be lost: with ``worker_num: 0`` Paddle's
DataLoader fetches in a thread whose death leaves the main process waiting on
its queue forever.
"""
import copy
import logging
import os
import traceback
import typing
from typing import Dict, List, Optional, Tuple

import numpy as np

from ppfcos.core.config import ConfigError
from ppfcos.data.transforms.draws import RANDOM_KEY, SampleRandom
from ppfcos.data.transforms.operators import ImageDecodeError

logger = logging.getLogger(__name__)

SKIPPED_KEY = "skipped"
READER_ERROR_KEY = "reader_error"

# Variable-length ground-truth fields a record may carry; ``data_fields``
# selects which ones it keeps, and the reader batches them as per-image lists.
GT_FIELDS = ("gt_bbox", "gt_class", "is_crowd", "difficult")


class DatasetError(ConfigError):
    """Bad dataset files. ``key`` is the dataset argument to fix (``anno_path``, ...).

    The reader re-raises it prefixed with the config file and section
    (``TrainDataset.anno_path``), so users know which line to change.
    """

    def __init__(self, key, detail):
        super().__init__(f"{key}: {detail}")
        self.key, self.detail = key, detail


def failure_line(where, error):
    """One line for an exception raised in the reader: where, what, and the code line.

    ``where`` names the image or batch; the innermost frame (file:line) points a
    developer at the op that failed without a multi-line traceback.
    """
    frames = traceback.extract_tb(error.__traceback__)
    origin = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(error).split()) or "no message"
    return f"{where}: {type(error).__name__}: {message}{origin}"


def resolve_path(dataset_dir, relative, key, what, isdir=False):
    """Absolute ``dataset_dir/relative``; DatasetError naming ``key`` if it does not exist."""
    if relative is None:
        raise DatasetError(key, f"{what} is not set")
    path = os.path.abspath(os.path.join(dataset_dir or "", relative))
    exists = os.path.isdir(path) if isdir else os.path.isfile(path)
    if not exists:
        raise DatasetError(key, f"{what} not found: {path}")
    return path


def path_inside(folder, relative, key, where, allow_outside=False):
    """``folder/relative`` as an absolute path, refusing one that leaves ``folder``.

    The check is on the path as written (``..`` components, absolute paths), not
    on where symbolic links lead, so a dataset folder that is itself a link works.
    Raises DatasetError naming ``key`` unless ``allow_outside``.
    """
    root = os.path.abspath(folder or "")
    path = os.path.normpath(os.path.join(root, relative))
    if not allow_outside and os.path.commonpath([root, path]) != root:
        raise DatasetError(key, f"{where}: {relative!r} is outside the image folder {root}; "
                                f"move the file into it, or set allow_outside_paths: true in "
                                f"the dataset's section to read it anyway")
    return path


def clip_boxes(boxes, max_x, max_y):
    """Clip ``[n,4]`` x1,y1,x2,y2 boxes to ``[0,max_x]x[0,max_y]``.

    Returns (clipped boxes, mask of boxes with positive area, mask of boxes that
    were changed by clipping).
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    clipped = boxes.copy()
    clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, max_x)
    clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, max_y)
    eps = 1e-5
    valid = ((clipped[:, 2] - clipped[:, 0]) > eps) & ((clipped[:, 3] - clipped[:, 1]) > eps)
    changed = np.any(clipped != boxes, axis=1)
    return clipped, valid, changed


def runtime_types(hint):
    """The classes ``isinstance`` accepts for a type hint.

    ``Optional[List[str]]`` gives ``(list, NoneType)``; ``float`` also accepts ``int``
    (a YAML ``1`` for ``1.0``), as PEP 484 does.
    """
    if typing.get_origin(hint) is typing.Union:
        return tuple(t for arg in typing.get_args(hint) for t in runtime_types(arg))
    if hint is float:
        return (int, float)
    return (typing.get_origin(hint) or hint,)


def check_provides(dataset):
    """DatasetError naming the attribute when ``dataset`` breaks the contract that
    DetDataset declares (an attribute of another type than its annotation says).

    The reader calls it where it builds a dataset and again after parsing, since
    parsing sets ``class_names`` and ``clsid2catid``.
    """
    for name, hint in typing.get_type_hints(DetDataset).items():
        value = getattr(dataset, name)
        if not isinstance(value, runtime_types(hint)) or (
                isinstance(value, bool) and bool not in runtime_types(hint)):
            wanted = " or ".join(t.__name__ for t in runtime_types(hint))
            raise DatasetError(name, f"{type(dataset).__name__}.{name} must be {wanted}, "
                                     f"got {value!r}")


class DetDataset:
    """Base of COCODataSet, VOCDataSet and ImageFolder.

    What every dataset provides, declared here with its type and default and checked
    by `check_provides` where the reader builds a dataset (subclasses override the
    class attributes or set them in ``__init__``/``_parse``):

    - ``metrics``: the config's ``metric`` values its annotations can score
      (``("COCO", "VOC")`` for COCODataSet); a config whose ``metric`` is not among
      them is refused before any prediction is made.
    - ``class_names``: the category names in class-id order, once parsed (None for a
      dataset without categories).
    - ``clsid2catid``: class id -> the annotation file's category id, once parsed.
    - ``allow_empty``: keep images without boxes.
    - ``empty_ratio``: with ``allow_empty``, the largest fraction of empty images
      (see `DetDataset._select`).

    Subclasses implement ``_parse()`` returning the list of records. Parsing is
    lazy (first ``len``/indexing/``parse_dataset()``), so building a dataset from
    a config is cheap; the reader parses it before starting worker processes.

    Random transforms draw from the sample's own generators, which
    ``__getitem__`` seeds from ``(seed, epoch, index)`` (see `set_epoch` and
    ``ppfcos.data.transforms.draws``) and leaves in ``sample["random"]`` for the
    batch ops: an image gets the same augmentation in the same epoch whichever
    worker loads it, so a resumed run sees exactly the data an uninterrupted one
    would.

    While ``epoch < mixup_epoch`` (or always, with ``mixup_epoch == 0``: the
    reader's key, PaddleDetection's rule) ``__getitem__`` hands the transforms a
    pair ``[sample, partner]``, the partner a copy of a record drawn with the
    sample's numpy generator, for a ``Mixup`` op to blend; ``-1`` (the default)
    never pairs.
    """

    metrics: Tuple[str, ...] = ()
    class_names: Optional[List[str]] = None
    clsid2catid: Optional[Dict[int, int]] = None
    allow_empty: bool = False
    empty_ratio: float = 1.0

    def __init__(self, dataset_dir=None, image_dir=None, anno_path=None,
                 data_fields=("image",), sample_num=-1, allow_outside_paths=False,
                 allow_bad_records=False):
        self.dataset_dir = dataset_dir
        self.allow_outside_paths = allow_outside_paths
        self.allow_bad_records = allow_bad_records
        # collect_problems: set by a checker before parsing, so that malformed records
        # are gathered in ``problems`` (a RecordProblems) instead of raising.
        self.collect_problems = False
        self.problems = None
        self.image_dir = image_dir
        self.anno_path = anno_path
        self.data_fields = list(data_fields)
        self.sample_num = sample_num
        self.transform = None
        self.num_clipped_boxes = 0
        self.num_dropped_boxes = 0
        self._records = None
        self.seed, self.epoch = 0, 0
        self.mixup_epoch = -1

    def _parse(self):
        raise NotImplementedError

    def parse_dataset(self):
        """Parse the annotations now (errors surface here); returns self."""
        if self._records is None:
            self._records = self._parse()
        return self

    @property
    def records(self):
        return self.parse_dataset()._records

    def set_transform(self, transform):
        """Set the callable ``sample -> sample`` applied by ``__getitem__``."""
        self.transform = transform

    def set_epoch(self, epoch, seed=0):
        """Draw the random augmentations of ``epoch`` (from ``seed``) from now on."""
        self.epoch, self.seed = int(epoch), int(seed)

    def get_anno(self):
        """Absolute path of the annotation file (``dataset_dir/anno_path``)."""
        return resolve_path(self.dataset_dir, self.anno_path, "anno_path", "annotation file")

    def __len__(self):
        return len(self.records)

    def __getitem__(self, idx):
        """Record ``idx`` transformed with the draws of (seed, epoch, idx). An ``idx`` of
        ``len(self)`` or more is copy ``idx // len(self)`` of record ``idx % len(self)``
        (repeat-factor sampling): the same image with augmentations of its own."""
        sample = copy.deepcopy(self.records[idx % len(self.records)])
        if self.transform is None:
            return sample
        draws = SampleRandom.for_sample(self.seed, self.epoch, idx)
        sample[RANDOM_KEY] = draws
        try:
            return self.transform(self._with_mixup_partner(sample, draws))
        except (ImageDecodeError, OSError) as e:  # unreadable image: skip, never crash
            name, reason = str(sample.get("im_file")), str(e)
            return {SKIPPED_KEY: reason if name in reason else f"{name}: {reason}"}
        except Exception as e:  # carried to the main process (see the module docstring)
            return {READER_ERROR_KEY: failure_line(f"image {sample.get('im_file')}", e)}

    def _with_mixup_partner(self, sample, draws):
        """``sample``, or ``[sample, partner]`` while Mixup is on (see the class docstring)."""
        if not (self.mixup_epoch == 0 or self.epoch < self.mixup_epoch):
            return sample
        partner = copy.deepcopy(self.records[draws.np.randint(len(self.records))])
        partner[RANDOM_KEY] = draws
        return [sample, partner]

    def _gt_record(self, record, gt):
        """Add the ``gt`` fields that ``data_fields`` asks for to ``record``.

        ``is_crowd`` is always kept when a crowd box is present, so crowd boxes
        can never pass as ordinary objects.
        """
        for key, value in gt.items():
            if key in self.data_fields or (key == "is_crowd" and value.any()):
                record[key] = value
        return record

    def _clean(self, boxes, max_x, max_y):
        """Clip boxes and drop degenerate ones, updating the counters; returns (boxes, keep)."""
        clipped, valid, changed = clip_boxes(boxes, max_x, max_y)
        self.num_clipped_boxes += int(np.sum(changed & valid))
        self.num_dropped_boxes += int(np.sum(~valid))
        return clipped[valid], valid

    def _warn_dropped(self, source):
        if self.num_dropped_boxes or self.num_clipped_boxes:
            logger.warning("%s %s: dropped %d boxes with zero or negative area after clipping "
                           "to the image; clipped %d boxes that extended outside the image",
                           type(self).__name__, source, self.num_dropped_boxes,
                           self.num_clipped_boxes)

    def _file_record(self, record, has_boxes, records, empty_records):
        """Append ``record`` to ``records`` (has boxes) or ``empty_records`` (when
        allow_empty, else drop it); True once ``sample_num`` images are collected."""
        if has_boxes:
            records.append(record)
        elif self.allow_empty:
            empty_records.append(record)
        else:
            return False
        return 0 < self.sample_num <= len(records) + len(empty_records)

    def _select(self, records, empty_records, empty_ratio, source):
        """Join images with boxes and the images without (collected only if ``allow_empty``).

        With ``0 <= empty_ratio < 1`` the empty images are sampled (fixed seed)
        so that they make up at most that fraction of the result; any other
        ratio keeps all of them (PaddleDetection's semantics).
        """
        if 0.0 <= empty_ratio < 1.0:
            keep = min(int(len(records) * empty_ratio / (1.0 - empty_ratio)), len(empty_records))
            picks = np.random.default_rng(0).choice(len(empty_records), keep, replace=False)
            empty_records = [empty_records[i] for i in sorted(picks)]
        if not records + empty_records:
            raise DatasetError("anno_path", f"no usable images in {source} (images without "
                               f"boxes are dropped unless allow_empty: true)")
        return records + empty_records
