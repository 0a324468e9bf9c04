"""Checks of every record of an annotation file, once, when a dataset is loaded.

Each problem is of one *kind*, and each kind is either

- **strict**: a one-line `DatasetError` naming the
  file, the record (image id / annotation id), the field and what to fix. A
  dataset's ``allow_bad_records: true`` turns these into skips of the record; or
- **skipped**: the record (a box, an image) is left out, counted, and summarised
  once per kind when loading ends (a bad box among good ones should not stop a run).

`RecordProblems` holds that policy. With ``collect=True`` (used by
``tools/check_dataset.py``) nothing raises: every problem is kept, so one pass
reports all of them.

`coco_tables` checks a COCO json's ``images`` and ``annotations`` and
returns them as flat numpy columns. Well-formed files take the fast path (one
``np.array`` per column, vectorised checks for finite numbers, duplicate and
unknown ids); only a file that fails it is walked record by record to name the
culprits.
"""
import collections
import logging
import numbers

import numpy as np

from .base import DatasetError

logger = logging.getLogger(__name__)

RELAX_HINT = "or set allow_bad_records: true in the dataset's section to skip such records"


class RecordProblems:
    """Problems of one annotation file ``source``: strict ones raise, skips are counted.

    Args:
        source: the annotation file (named in every message).
        allow_bad_records: count strict problems as skips instead of raising.
        collect: never raise; keep every problem (``errors``, ``skips``) for a report.

    ``skips`` maps a kind to its count; ``examples`` maps it to the first record's
    message; ``errors`` lists the strict problems' lines seen in ``collect`` mode.
    """

    def __init__(self, source, allow_bad_records=False, collect=False):
        self.source = source
        self.allow_bad_records = allow_bad_records
        self.collect = collect
        self.errors = []
        self.skips = collections.Counter()
        self.examples = {}

    def error(self, kind, message, key="anno_path"):
        """A strict problem of one record: raise, or (relaxed / collecting) count it."""
        line = f"{self.source}: {message}"
        if self.collect:
            self.errors.append(line)
        elif not self.allow_bad_records:
            raise DatasetError(key, f"{line}; {RELAX_HINT}")
        else:
            self.skip(kind, message)

    def skip(self, kind, message, count=1):
        """``count`` records of ``kind`` left out; ``message`` describes the first."""
        if count:
            self.skips[kind] += count
            self.examples.setdefault(kind, message)

    def summary(self):
        """One line per kind: 'N kind (first: ...)'."""
        return [f"{n} {kind} (first: {self.examples[kind]})" for kind, n in self.skips.items()]

    def log(self, owner):
        """Warn once per kind of skipped record (collecting: the report says it)."""
        for line in [] if self.collect else self.summary():
            logger.warning("%s %s: skipped %s", owner, self.source, line)


def is_number(value):
    """A JSON number (int or float, not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_box(value):
    return isinstance(value, list) and len(value) == 4 and all(map(is_number, value))


def _numbers(rows, fast_check):
    """``rows`` (lists of numbers) as float64 [N, ...] if the array passes ``fast_check``
    and holds no bool (fast path), else None.

    numpy takes a JSON true/false for 1/0, so the rows holding a 1 or a 0 are looked at
    one by one (few rows do: the fast path stays vectorised)."""
    try:
        array = np.array(rows)
    except (ValueError, TypeError):
        return None
    if array.dtype.kind not in "iuf" or not fast_check(array):
        return None
    zero_or_one = ((array == 0) | (array == 1)).reshape(len(array), -1).any(axis=1)
    if any(isinstance(value, bool) for i in np.flatnonzero(zero_or_one) for value in rows[i]):
        return None
    return array.astype(np.float64)


def _column(records, key, default):
    return [r.get(key, default) for r in records]


def _duplicates(ids):
    """Indices of entries whose id occurred earlier in ``ids`` (int64 array)."""
    _, first = np.unique(ids, return_index=True)
    later = np.ones(len(ids), dtype=bool)
    later[first] = False
    return np.flatnonzero(later)


def _dicts(data, key, problems):
    """The records under ``key`` (a list); strict error for each entry that is not a dict."""
    records = data.get(key, [])
    if not isinstance(records, list):
        raise DatasetError("anno_path", f"{problems.source}: '{key}' must be a list of "
                                        f"records, got {type(records).__name__}")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            problems.error(f"{key} entries that are not records",
                           f"{key}[{i}] is {_short(r)}, not a record {{...}}: remove it")
    return [r for r in records if isinstance(r, dict)]


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int_ids(records, keys, what, problems):
    """Keep records whose ``keys`` are all integers; strict error for the others.

    Returns (kept records, {key: int64 array of the kept records' values}).
    """
    columns = {k: _column(records, k, None) for k in keys}
    if all(set(map(type, column)) <= {int} for column in columns.values()):   # fast path
        return records, {k: np.array(c, dtype=np.int64) for k, c in columns.items()}
    keep = []
    for i, r in enumerate(records):
        bad = next((k for k in keys if not _is_int(r.get(k))), None)
        if bad is None:
            keep.append(r)
        else:
            name = f"{what} id {r['id']}" if _is_int(r.get("id")) else f"{what} #{i}"
            problems.error(f"{what}s without an integer {bad}",
                           f"{name} ({_short(r)}) has {bad} {r.get(bad)!r}: give it an "
                           f"integer {bad}")
    return keep, {k: np.array(_column(keep, k, 0), dtype=np.int64) for k in keys}


def _short(record, limit=80):
    text = repr(record)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _drop(records, indices):
    drop = set(int(i) for i in indices)
    return [r for i, r in enumerate(records) if i not in drop]


def check_images(records, problems):
    """Valid image records -> (ids int64 [N], file names [N], widths, heights float64 [N]).

    Strict: a missing or non-integer id, a missing, empty or non-text ``file_name``,
    a non-numeric width/height, a duplicate id, a file listed twice. Skipped: an
    image without a positive width and height.
    """
    records, _ = _int_ids(records, ("id",), "image", problems)
    kept = []
    for r in records:
        name = r.get("file_name")
        if not isinstance(name, str) or not name.strip():
            problems.error("images without a file_name",
                           f"image id {r['id']}: file_name is {name!r}: set it to the "
                           f"image's path under image_dir")
        elif not (is_number(r.get("width", 0)) and is_number(r.get("height", 0))):
            problems.error("images with a non-numeric size",
                           f"image id {r['id']}: width {r.get('width')!r} / height "
                           f"{r.get('height')!r} must be numbers of pixels: fix them")
        else:
            kept.append(r)
    later = _duplicates(np.array(_column(kept, "id", 0), dtype=np.int64))
    for index in later:
        problems.error("images with a duplicate id",
                       f"image id {kept[index]['id']} is listed twice "
                       f"({kept[index]['file_name']!r} again): give each image its own id "
                       f"(evaluation would count its boxes twice)")
    kept = _drop(kept, later)
    later = _duplicates(np.unique(_column(kept, "file_name", ""), return_inverse=True)[1])
    for index in later:
        problems.error("images listed twice",
                       f"image id {kept[index]['id']}: file_name {kept[index]['file_name']!r} "
                       f"is listed under another id too: list each image once")
    kept = _drop(kept, later)
    ids = np.array(_column(kept, "id", 0), dtype=np.int64)
    widths = np.array(_column(kept, "width", 0), dtype=np.float64).reshape(-1)
    heights = np.array(_column(kept, "height", 0), dtype=np.float64).reshape(-1)
    sized = np.isfinite(widths) & np.isfinite(heights) & (widths > 0) & (heights > 0)
    if not sized.all():
        first = int(np.flatnonzero(~sized)[0])
        problems.skip("images without a positive width/height",
                      f"image id {ids[first]}", int(np.sum(~sized)))
    names = _column(kept, "file_name", "")
    return (ids[sized], [n for n, s in zip(names, sized) if s], widths[sized], heights[sized])


def check_annotations(records, listed_ids, image_ids, category_ids, problems):
    """Valid annotations of the kept images -> dict of columns (one row per box).

    ``listed_ids``: every image id in the file (an annotation of another id is an
    error); ``image_ids``: the images kept (annotations of the others are dropped).

    Columns: ``id``, ``image_id``, ``category_id`` (int64 [M]), ``bbox`` (float64
    [M, 4], x, y, w, h), ``iscrowd`` and ``ignore`` (bool [M]).
    Strict: a missing or non-integer id, image_id or category_id, a duplicate id,
    an image id that is not listed, a category not in ``categories``, a bbox that is
    not 4 numbers. Skipped: annotations without a bbox (segmentation only), boxes
    with NaN or infinite numbers.
    """
    with_box = [r for r in records if "bbox" in r]
    problems.skip("annotations without a bbox", "segmentation or keypoints only",
                  len(records) - len(with_box))
    records, columns = _int_ids(with_box, ("id", "image_id", "category_id"), "annotation",
                                problems)
    ann_ids, of_images, cats = columns["id"], columns["image_id"], columns["category_id"]
    keep = np.ones(len(records), dtype=bool)

    def refuse(bad, kind, describe):
        """Strict error for each kept record where ``bad``; they are left out."""
        for index in np.flatnonzero(bad & keep):
            problems.error(kind, describe(records[index]))
        keep[bad] = False

    duplicate = np.zeros(len(records), dtype=bool)
    duplicate[_duplicates(ann_ids)] = True
    refuse(duplicate, "annotations with a duplicate id",
           lambda r: f"annotation id {r['id']} is used twice: give each annotation its own id")
    refuse(~np.isin(of_images, listed_ids), "annotations of images that are not listed",
           lambda r: f"annotation id {r['id']}: image_id {r['image_id']} is not in 'images': "
                     f"list the image or remove its annotations")
    known = np.array(sorted(category_ids), dtype=np.int64)
    refuse(~np.isin(cats, known), "annotations of unknown categories",
           lambda r: f"annotation id {r['id']} of image id {r['image_id']} has category_id "
                     f"{r['category_id']}, which is not in 'categories' (ids: "
                     f"{known.tolist()}): add the category or fix the id")

    raw = _column(records, "bbox", None)
    boxes = _numbers(raw, lambda a: a.ndim == 2 and a.shape[1] == 4) if raw else None
    if boxes is None:   # slow path: name the malformed boxes
        well_formed = np.array([_is_box(b) for b in raw], dtype=bool)
        refuse(~well_formed, "annotations with a malformed bbox",
               lambda r: f"annotation id {r['id']} of image id {r['image_id']}: bbox "
                         f"{_short(r['bbox'], 60)} is not 4 numbers [x, y, width, height] "
                         f"(polygons go in 'segmentation'): fix it")
        boxes = np.zeros((len(raw), 4))
        boxes[well_formed] = np.array([b for b, ok in zip(raw, well_formed) if ok],
                                      dtype=np.float64).reshape(-1, 4)
    finite = np.isfinite(boxes).all(axis=1)
    if not (finite | ~keep).all():
        first = records[int(np.flatnonzero(~finite & keep)[0])]
        problems.skip("boxes with NaN or infinite numbers",
                      f"annotation id {first['id']} of image id {first['image_id']}",
                      int(np.sum(~finite & keep)))
    keep &= finite & np.isin(of_images, image_ids)
    flags = {key: np.fromiter((bool(r.get(key, 0)) for r in records), dtype=bool,
                              count=len(records)) for key in ("iscrowd", "ignore")}
    return {"id": ann_ids[keep], "image_id": of_images[keep], "category_id": cats[keep],
            "bbox": boxes[keep], "iscrowd": flags["iscrowd"][keep],
            "ignore": flags["ignore"][keep]}


def coco_tables(data, problems):
    """Check a parsed COCO json (a dict) -> (categories, images, annotations).

    ``categories``: the valid category records, in file order; ``images``: the
    tuple of `check_images`; ``annotations``: the columns of
    `check_annotations`, restricted to the images kept.
    """
    categories, columns = _int_ids(_dicts(data, "categories", problems), ("id",), "category",
                                   problems)
    cat_ids = columns["id"]
    for index in _duplicates(cat_ids):
        problems.error("categories with a duplicate id",
                       f"category id {cat_ids[index]} is listed twice: give each category "
                       f"its own id")
    categories = _drop(categories, _duplicates(cat_ids))
    image_records = _dicts(data, "images", problems)
    listed = np.array([r["id"] for r in image_records if _is_int(r.get("id"))], dtype=np.int64)
    images = check_images(image_records, problems)
    annotations = check_annotations(_dicts(data, "annotations", problems), listed, images[0],
                                    {c["id"] for c in categories}, problems)
    return categories, images, annotations
