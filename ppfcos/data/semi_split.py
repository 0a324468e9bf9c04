"""Split a COCO json into a labelled and an unlabelled part (what PaddleDetection's
``tools/gen_semi_coco.py`` does, with ppfcos's own code).

``percent`` % of the images (``round(n * percent / 100)``, at least 1) are drawn without
replacement by ``numpy.random.default_rng(seed)``; they keep their annotations in
``<stem>.<seed>@<percent>.json``. The other images go, without annotations, to
``<stem>.<seed>@<percent>-unlabeled.json`` (PaddleDetection's names:
``instances_train2017.1@10.json``, ``instances_train2017.1@10-unlabeled.json``). Both keep
``categories`` and every other top-level key. Existing files are never overwritten.
"""
import json
import os

import numpy as np

from ppfcos.core.files import atomic_path


def split_names(anno_path, percent, seed):
    """(labelled path, unlabelled path) the split of ``anno_path`` is written to."""
    stem = os.path.splitext(anno_path)[0]
    tag = f"{stem}.{seed}@{percent:g}"
    return f"{tag}.json", f"{tag}-unlabeled.json"


def labelled_ids(image_ids, percent, seed):
    """The ids of ``image_ids`` drawn as labelled (sorted)."""
    count = min(max(int(round(len(image_ids) * percent / 100.0)), 1), len(image_ids))
    picks = np.random.default_rng(seed).choice(len(image_ids), count, replace=False)
    return sorted(image_ids[i] for i in picks)


def split_semi_coco(anno_path, percent, seed=1, out_dir=None):
    """Write the labelled and unlabelled parts of ``anno_path`` (see the module docstring)
    into ``out_dir`` (default: beside it); returns their paths.

    Raises ValueError (one line) for a percent outside (0, 100), a json without images, or
    an output file that exists already; OSError for an unreadable file.
    """
    if not 0 < percent < 100:
        raise ValueError(f"--percent must be between 0 and 100 (exclusive), got {percent:g}")
    with open(anno_path, encoding="utf-8") as f:
        try:
            coco = json.load(f)
        except ValueError as e:
            raise ValueError(f"{anno_path} is not a valid COCO json ({e})") from None
    images = coco.get("images") if isinstance(coco, dict) else None
    if not images:
        raise ValueError(f"{anno_path} lists no images: nothing to split")
    target = os.path.join(out_dir, os.path.basename(anno_path)) if out_dir else anno_path
    paths = split_names(target, percent, seed)
    for path in paths:
        if os.path.exists(path):
            raise ValueError(f"{path} exists already: remove it or choose another --seed or "
                             f"--out_dir")
    chosen = set(labelled_ids([image["id"] for image in images], percent, seed))
    labelled = {**coco, "images": [im for im in images if im["id"] in chosen],
                "annotations": [a for a in coco.get("annotations", [])
                                if a["image_id"] in chosen]}
    unlabelled = {**coco, "images": [im for im in images if im["id"] not in chosen],
                  "annotations": []}
    for path, part in zip(paths, (labelled, unlabelled)):
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(part, f)
    return paths
