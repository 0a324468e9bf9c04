"""A synthetic COCO-format detection dataset: the project's embedded default.

It lets a fresh machine train and evaluate a small FCOS with no download.
Every image shows 0 to ``max_objects`` filled shapes, one class per shape
(`CATEGORIES`), drawn over a cluttered background (gradient,
low-frequency noise, lines, curves and soft blobs that belong to no class).
The shape is the class; size, aspect ratio, rotation, colour and texture
(solid, stripes, noise) vary independently of it, so only the outline tells
the classes apart. Later objects are drawn over earlier ones, but a placement
that would hide more than half of an earlier object is rejected.

Layout written by `make_synthetic_coco`::

    out_dir/
      synthetic_dataset.json           marker: generator name and parameters
      train/000001.jpg ...             one JPEG per image, named by image id
      val/000001.jpg ...
      annotations/instances_train.json COCO "images", "annotations", "categories"
      annotations/instances_val.json

Each annotation's ``bbox`` is the tight pixel box ``[x, y, w, h]`` of the
object's visible pixels (``x + w`` is one past the last column, as in COCO)
and ``area`` is its visible pixel count. Category ids start at 1.

Everything is reproducible: image ``index`` of ``split`` is drawn from a
random generator seeded with ``(seed, split, index)``, so the same seed gives
identical pixels and byte-identical JSON whatever the image counts.
"""
import json
import math
import os
import re

import cv2
import numpy as np

CATEGORIES = ("circle", "rectangle", "triangle", "star", "ring", "cross")
SPLITS = ("train", "val")
MARKER_NAME = "synthetic_dataset.json"
MIN_OBJECT_SIZE = 16
MAX_ASPECT_RATIO = 1.8
MAX_HIDDEN_FRACTION = 0.5
PLACEMENT_TRIES = 20
JPEG_QUALITY = 90

_SPLIT_IDS = {split: i for i, split in enumerate(SPLITS)}
_IMAGE_NAME = re.compile(r"^\d{6}\.jpg$")
_ANN_NAME = re.compile(r"^instances_(train|val)\.json(\.tmp)?$")


# ---------------------------------------------------------------- shapes
# Each outline is a list of filled polygons and a list of hole polygons in
# unit coordinates (about [-1, 1] on both axes, y pointing down).

def _circle_outline(rng):
    return [_unit_circle()], []


def _ring_outline(rng):
    inner = rng.uniform(0.45, 0.65)
    return [_unit_circle()], [_unit_circle() * inner]


def _rectangle_outline(rng):
    return [np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)], []


def _triangle_outline(rng):
    apex_x = rng.uniform(-0.5, 0.5)
    return [np.array([[apex_x, -1], [1, 1], [-1, 1]], np.float64)], []


def _star_outline(rng, points=5):
    inner = rng.uniform(0.38, 0.5)
    angles = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return [np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)], []


def _cross_outline(rng):
    t = rng.uniform(0.25, 0.4)  # half the arm thickness
    corners = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t),
               (t, 1), (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t)]
    return [np.array(corners, np.float64)], []


def _unit_circle(vertices=64):
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], 1)


# category name -> (outline builder, largest rotation in degrees either way).
# Rectangles and crosses rotate little so they stay unlike diamonds and X's.
_SHAPES = {
    "circle": (_circle_outline, 180),
    "rectangle": (_rectangle_outline, 30),
    "triangle": (_triangle_outline, 180),
    "star": (_star_outline, 180),
    "ring": (_ring_outline, 180),
    "cross": (_cross_outline, 30),
}
assert tuple(_SHAPES) == CATEGORIES


def _sample_shape(rng, category, image_hw):
    """Outline polygons of one object, scaled, rotated and placed in the image.

    The longer side is log-uniform between ``MIN_OBJECT_SIZE`` and half the
    shorter image side; the translation keeps the whole shape inside.
    """
    build_outline, max_rotation = _SHAPES[category]
    fills, holes = build_outline(rng)
    height, width = image_hw
    long_side = math.exp(rng.uniform(math.log(MIN_OBJECT_SIZE),
                                     math.log(min(height, width) / 2)))
    short_side = long_side / rng.uniform(1.0, MAX_ASPECT_RATIO)
    half = np.array([long_side, short_side]) / 2
    if rng.random() < 0.5:
        half = half[::-1]
    theta = math.radians(rng.uniform(-max_rotation, max_rotation))
    rotation = np.array([[math.cos(theta), -math.sin(theta)],
                         [math.sin(theta), math.cos(theta)]])
    fills = [(p * half) @ rotation.T for p in fills]
    holes = [(p * half) @ rotation.T for p in holes]
    low = np.min([p.min(0) for p in fills], 0)
    high = np.max([p.max(0) for p in fills], 0)
    offset = rng.uniform(-low, np.array([width - 1, height - 1]) - high)
    return [p + offset for p in fills], [p + offset for p in holes]


def _shape_mask(fills, holes, image_hw):
    """Boolean image-sized mask of the polygons ``fills`` minus ``holes``."""
    mask = np.zeros(image_hw, np.uint8)
    cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in fills], 1)
    if holes:
        cv2.fillPoly(mask, [np.round(p).astype(np.int32) for p in holes], 0)
    return mask.astype(bool)


# ---------------------------------------------------------------- colour

def _random_colour(rng):
    return rng.integers(0, 256, 3).astype(np.float32)


def _contrasting_colour(rng, region_mean, candidates=8):
    """The one of a few random colours farthest from ``region_mean``."""
    colours = rng.integers(0, 256, (candidates, 3)).astype(np.float32)
    return colours[np.argmax(np.linalg.norm(colours - region_mean, axis=1))]


def _texture(rng, hw, colour):
    """An ``hw``-sized patch of ``colour``: solid, striped or noisy."""
    height, width = hw
    kind = rng.integers(3)
    if kind == 0:
        return np.broadcast_to(colour, (height, width, 3))
    if kind == 1:
        toward = 0.0 if rng.random() < 0.5 else 255.0
        second = colour + (toward - colour) * rng.uniform(0.4, 0.7)
        period = rng.uniform(4, 12)
        theta = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:height, 0:width]
        phase = (xs * math.cos(theta) + ys * math.sin(theta)) / period
        stripe = (np.floor(phase) % 2).astype(bool)
        return np.where(stripe[..., None], second, colour)
    return colour + rng.normal(0, rng.uniform(15, 35), (height, width, 3))


# ---------------------------------------------------------------- background

def _smooth_noise(rng, hw, cell, channels):
    """Low-frequency noise in about [-1, 1]: random values ``cell`` px apart."""
    height, width = hw
    coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2, channels))
    fine = cv2.resize(coarse.astype(np.float32), (width, height),
                      interpolation=cv2.INTER_CUBIC)
    return fine.reshape(height, width, channels)


def _gradient_background(rng, hw):
    """A linear blend between two random colours plus low-frequency noise."""
    height, width = hw
    theta = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs * math.cos(theta) + ys * math.sin(theta)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    start, end = _random_colour(rng), _random_colour(rng)
    image = start + t[..., None] * (end - start)
    return image + rng.uniform(5, 30) * _smooth_noise(rng, hw, 32, 3)


def _draw_blobs(rng, image):
    """Blend a few soft, irregular colour blobs (no class's outline) in place."""
    for _ in range(rng.integers(0, 3)):
        field = _smooth_noise(rng, image.shape[:2], int(rng.integers(24, 64)), 1)
        alpha = np.clip(field - 1.0, 0, 1) * rng.uniform(0.4, 0.8)
        image += alpha * (_random_colour(rng) - image)


def _draw_lines(rng, image):
    """Draw random straight lines and wiggly open curves in place."""
    height, width = image.shape[:2]
    for _ in range(rng.integers(2, 10)):
        start = (int(rng.integers(width)), int(rng.integers(height)))
        end = (int(rng.integers(width)), int(rng.integers(height)))
        cv2.line(image, start, end, _random_colour(rng).tolist(),
                 int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(rng.integers(0, 3)):
        steps = rng.normal(0, 12, (int(rng.integers(4, 12)), 2))
        walk = np.cumsum(steps, 0) + (rng.integers(width), rng.integers(height))
        cv2.polylines(image, [np.round(walk).astype(np.int32)], False,
                      _random_colour(rng).tolist(), int(rng.integers(1, 3)),
                      cv2.LINE_AA)


def _cluttered_background(rng, hw):
    """A float32 BGR background: gradient, noise, blobs, lines and curves."""
    image = _gradient_background(rng, hw).astype(np.float32)
    _draw_blobs(rng, image)
    _draw_lines(rng, image)
    return image


# ---------------------------------------------------------------- one image

def _place_object(rng, category, visible_masks, image_hw):
    """Mask of a new object that hides at most half of each earlier object.

    ``visible_masks`` holds ``(full_area, visible_mask)`` of the objects
    already placed. Returns ``None`` if ``PLACEMENT_TRIES`` placements fail.
    """
    for _ in range(PLACEMENT_TRIES):
        mask = _shape_mask(*_sample_shape(rng, category, image_hw), image_hw)
        if all(np.count_nonzero(visible & ~mask) >= (1 - MAX_HIDDEN_FRACTION) * area
               for area, visible in visible_masks):
            return mask
    return None


def _paint_object(rng, image, mask):
    """Paint a textured object of a colour that stands out under ``mask``."""
    ys, xs = np.nonzero(mask)
    y0, x0 = ys.min(), xs.min()
    box_mask = mask[y0:ys.max() + 1, x0:xs.max() + 1]
    region = image[y0:ys.max() + 1, x0:xs.max() + 1]
    colour = _contrasting_colour(rng, region[box_mask].mean(0))
    region[box_mask] = _texture(rng, box_mask.shape, colour)[box_mask]


def _visible_box(mask):
    """COCO ``[x, y, w, h]`` of the True pixels of ``mask`` (ints)."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]


def _is_empty_image(index, empty_ratio):
    """Spread empty images evenly: exactly ``floor(n * empty_ratio)`` of ``n``."""
    return math.floor((index + 1) * empty_ratio) > math.floor(index * empty_ratio)


def render_image(seed, split, index, image_size=(256, 384), empty_ratio=0.05,
                 max_objects=6):
    """Draw image ``index`` of ``split`` and return ``(image, objects)``.

    ``image`` is a ``uint8`` BGR array whose height and width are each drawn
    from the inclusive range ``image_size = (min_side, max_side)``.
    ``objects`` is a list of ``{"category_id", "bbox", "area"}`` dicts
    (COCO conventions, ids from 1) in drawing order. The result depends only
    on the arguments, not on which other images were drawn before.
    """
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
    image_hw = tuple(int(s) for s in rng.integers(image_size[0], image_size[1] + 1, 2))
    image = _cluttered_background(rng, image_hw)
    num_objects = 0 if _is_empty_image(index, empty_ratio) else rng.integers(1, max_objects + 1)
    placed = []  # (category_id, full_area, visible_mask), bottom to top
    for _ in range(num_objects):
        category_id = int(rng.integers(len(CATEGORIES))) + 1
        mask = _place_object(rng, CATEGORIES[category_id - 1],
                             [(area, visible) for _, area, visible in placed], image_hw)
        if mask is None:
            continue
        _paint_object(rng, image, mask)
        placed = [(c, area, visible & ~mask) for c, area, visible in placed]
        placed.append((category_id, np.count_nonzero(mask), mask))
    image += rng.normal(0, rng.uniform(0, 6), image.shape).astype(np.float32)
    objects = [{"category_id": c, "bbox": _visible_box(visible),
                "area": int(np.count_nonzero(visible))} for c, _, visible in placed]
    return np.clip(np.round(image), 0, 255).astype(np.uint8), objects


# ---------------------------------------------------------------- files

def _write_json_atomic(path, data):
    """Write ``data`` as compact JSON to ``path`` via a temp file and rename."""
    tmp_path = path + ".tmp"
    with open(tmp_path, "w", encoding="utf-8") as f:
        json.dump(data, f, separators=(",", ":"))
    os.replace(tmp_path, path)


def _is_own_entry(rel_path):
    """Whether ``rel_path`` (relative to out_dir) is a name this module writes."""
    parts = rel_path.split(os.sep)
    if len(parts) == 1:
        return parts[0] in (MARKER_NAME, MARKER_NAME + ".tmp", "annotations") + SPLITS
    if len(parts) == 2 and parts[0] == "annotations":
        return bool(_ANN_NAME.match(parts[1]))
    return len(parts) == 2 and parts[0] in SPLITS and bool(_IMAGE_NAME.match(parts[1]))


def _check_out_dir(out_dir):
    """Refuse an ``out_dir`` holding anything but an earlier synthetic dataset.

    An absent or empty directory is fine; so is one with the marker file whose
    every entry has a name this module writes. Raises ``FileExistsError``
    otherwise (``NotADirectoryError`` if ``out_dir`` is a file).
    """
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise NotADirectoryError(f"synthetic dataset output {out_dir!r} is not a directory")
    entries = []
    for root, dirs, files in os.walk(out_dir):
        entries += [os.path.relpath(os.path.join(root, n), out_dir) for n in dirs + files]
    if not entries:
        return
    foreign = sorted(e for e in entries if not _is_own_entry(e))
    if foreign or not os.path.isfile(os.path.join(out_dir, MARKER_NAME)):
        shown = ", ".join(foreign[:5]) if foreign else "no " + MARKER_NAME + " marker"
        raise FileExistsError(
            f"refusing to write a synthetic dataset into {out_dir!r}: it is not empty "
            f"and not an earlier synthetic dataset ({shown}); choose a new or empty "
            f"directory")


def _coco_categories():
    return [{"id": i + 1, "name": name, "supercategory": "shape"}
            for i, name in enumerate(CATEGORIES)]


def _write_split(out_dir, split, num_images, seed, render_kwargs):
    """Render and save one split's JPEGs and COCO JSON; return its summary."""
    image_dir = os.path.join(out_dir, split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        image, objects = render_image(seed, split, index, **render_kwargs)
        image_id = index + 1
        file_name = f"{image_id:06d}.jpg"
        if not cv2.imwrite(os.path.join(image_dir, file_name), image,
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise OSError(f"could not write {os.path.join(image_dir, file_name)}")
        images.append({"id": image_id, "file_name": file_name,
                       "width": image.shape[1], "height": image.shape[0]})
        for obj in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                **obj, "iscrowd": 0})
    written = {img["file_name"] for img in images}
    for stale in sorted(set(os.listdir(image_dir)) - written):
        os.remove(os.path.join(image_dir, stale))
    ann_file = os.path.join(out_dir, "annotations", f"instances_{split}.json")
    _write_json_atomic(ann_file, {
        "info": {"description": f"ppfcos synthetic shapes, {split} split, seed {seed}"},
        "images": images, "annotations": annotations,
        "categories": _coco_categories()})
    return {"image_dir": image_dir, "ann_file": ann_file, "num_images": num_images,
            "num_annotations": len(annotations),
            "num_empty": num_images - len({a["image_id"] for a in annotations})}


def make_synthetic_coco(out_dir, num_train=800, num_val=200, seed=0,
                        image_size=(256, 384), empty_ratio=0.05, max_objects=6):
    """Write a synthetic COCO detection dataset to ``out_dir`` (see module doc).

    Args:
        out_dir: target directory; created if absent. It must be empty or an
            earlier output of this function, which is then overwritten.
        num_train: number of images in the train split.
        num_val: number of images in the val split.
        seed: non-negative int; the same seed gives identical files.
        image_size: ``(min_side, max_side)``: each image's height and width
            are drawn from this inclusive range (``(320, 320)`` fixes them).
        empty_ratio: fraction of images with no object, spread evenly.
        max_objects: the other images get 1 to ``max_objects`` objects (fewer
            when no placement keeps earlier objects at least half visible).

    Returns:
        ``{"out_dir", "categories", "splits": {split: {"image_dir",
        "ann_file", "num_images", "num_annotations", "num_empty"}}}``.
    """
    _validate(num_train, num_val, seed, image_size, empty_ratio, max_objects)
    out_dir = os.path.abspath(out_dir)
    _check_out_dir(out_dir)
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    render_kwargs = {"image_size": tuple(image_size), "empty_ratio": empty_ratio,
                     "max_objects": max_objects}
    _write_json_atomic(os.path.join(out_dir, MARKER_NAME), {
        "generator": __name__, "seed": seed, "num_train": num_train,
        "num_val": num_val, **render_kwargs})
    counts = {"train": num_train, "val": num_val}
    return {"out_dir": out_dir, "categories": list(CATEGORIES),
            "splits": {split: _write_split(out_dir, split, counts[split], seed, render_kwargs)
                       for split in SPLITS}}


def _validate(num_train, num_val, seed, image_size, empty_ratio, max_objects):
    """Raise ``ValueError`` for arguments that cannot make a sound dataset."""
    for name, value in (("num_train", num_train), ("num_val", num_val), ("seed", seed)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if len(image_size) != 2 or not 4 * MIN_OBJECT_SIZE <= image_size[0] <= image_size[1]:
        raise ValueError(f"image_size must be (min_side, max_side) with "
                         f"{4 * MIN_OBJECT_SIZE} <= min_side <= max_side, got {image_size!r}")
    if not 0 <= empty_ratio <= 1:
        raise ValueError(f"empty_ratio must be in [0, 1], got {empty_ratio!r}")
    if not isinstance(max_objects, int) or max_objects < 1:
        raise ValueError(f"max_objects must be a positive int, got {max_objects!r}")
