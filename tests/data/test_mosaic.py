"""Mosaics of a COCO split: tiles placed on a grid, boxes moved with their tile."""
import json

import cv2
import numpy as np
import pytest

from ppfcos.data.mosaic import make_mosaic_coco
from ppfcos.data.synthetic import make_synthetic_coco


def test_mosaic_tiles_and_boxes_move_together(tmp_path):
    make_synthetic_coco(str(tmp_path / "src"), num_train=0, num_val=6, image_size=(64, 64))
    anno = tmp_path / "src" / "annotations" / "instances_val.json"
    source = json.loads(anno.read_text())
    path = make_mosaic_coco(str(anno), str(tmp_path / "src" / "val"), str(tmp_path / "out"),
                            grid=(2, 3), num_images=2, seed=1)
    mosaic = json.loads(open(path).read())
    assert [(im["height"], im["width"]) for im in mosaic["images"]] == [(128, 192)] * 2
    assert mosaic["categories"] == source["categories"]
    # every source image appears once per mosaic (6 tiles of 6 images): all boxes, moved
    for image in mosaic["images"]:
        pixels = cv2.imread(str(tmp_path / "out" / "images" / image["file_name"]))
        boxes = sorted(a["bbox"] for a in mosaic["annotations"] if a["image_id"] == image["id"])
        assert len(boxes) == len(source["annotations"])
        tiles = []
        for src in source["images"]:
            tile = cv2.imread(str(tmp_path / "src" / "val" / src["file_name"])).astype(int)
            # the tile whose pixels match best (JPEG re-encoding changes them a little)
            error, y0, x0 = min((np.abs(pixels[y:y + 64, x:x + 64] - tile).mean(), y, x)
                                for y in (0, 64) for x in (0, 64, 128))
            assert error < 8
            tiles.append((y0, x0))
            for a in source["annotations"]:
                if a["image_id"] == src["id"]:
                    x, y, w, h = a["bbox"]
                    assert [x + x0, y + y0, w, h] in boxes
        assert len(set(tiles)) == 6
    with pytest.raises(ValueError, match="needs 9 images, the split has 6"):
        make_mosaic_coco(str(anno), str(tmp_path / "src" / "val"), str(tmp_path / "x"),
                         grid=(3, 3))
