"""Large images made of many small ones: grid mosaics of a COCO split, with their boxes.

For measuring sliced inference: a ``rows x cols`` mosaic of 160x160 images is a 640x640
image whose objects keep their pixel size, so a reader that resizes the mosaic to the
size the model was trained at shrinks them ``rows`` times, while slices of the original
tile size do not.
"""
import json
import os

import cv2
import numpy as np


def make_mosaic_coco(anno_path, image_dir, out_dir, grid=(4, 4), num_images=50, seed=0):
    """Write ``num_images`` mosaics of the images of a COCO split to ``out_dir/images`` and
    their COCO json to ``out_dir/annotations.json``; returns the json's path.

    Every mosaic is a ``grid`` (rows, cols) of source images, drawn without repetition
    within a mosaic (seeded); all source images must share one size. Each box is moved
    by its tile's corner; categories are copied.
    """
    with open(anno_path, encoding="utf-8") as f:
        coco = json.load(f)
    sizes = {(im["height"], im["width"]) for im in coco["images"]}
    if len(sizes) != 1:
        raise ValueError(f"mosaics need source images of one size, {anno_path} has {sizes}")
    (tile_h, tile_w), = sizes
    rows, cols = grid
    if rows * cols > len(coco["images"]):
        raise ValueError(f"a {rows}x{cols} mosaic needs {rows * cols} images, the split has "
                         f"{len(coco['images'])}")
    boxes = {}
    for ann in coco["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    images, annotations = [], []
    for index in range(num_images):
        picks = rng.choice(len(coco["images"]), rows * cols, replace=False)
        canvas = np.zeros((rows * tile_h, cols * tile_w, 3), np.uint8)
        for k, pick in enumerate(picks):
            source = coco["images"][pick]
            y0, x0 = (k // cols) * tile_h, (k % cols) * tile_w
            canvas[y0:y0 + tile_h, x0:x0 + tile_w] = cv2.imread(
                os.path.join(image_dir, source["file_name"]), cv2.IMREAD_COLOR)
            for ann in boxes.get(source["id"], []):
                x, y, w, h = ann["bbox"]
                annotations.append({**ann, "id": len(annotations) + 1, "image_id": index + 1,
                                    "bbox": [x + x0, y + y0, w, h]})
        name = f"{index + 1:06d}.jpg"
        cv2.imwrite(os.path.join(out_dir, "images", name), canvas,
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": index + 1, "file_name": name, "height": canvas.shape[0],
                       "width": canvas.shape[1]})
    path = os.path.join(out_dir, "annotations.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"images": images, "annotations": annotations,
                   "categories": coco["categories"]}, f)
    return path
