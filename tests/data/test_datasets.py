"""COCODataSet, VOCDataSet and ImageFolder on tiny files made in tmp_path."""
import json
import logging
import os
import re

import cv2
import numpy as np
import pytest

from ppfcos.data.datasets import (SKIPPED_KEY, COCODataSet, DatasetError, ImageFolder,
                                  VOCDataSet)
from ppfcos.data.transforms import Decode

CATEGORIES = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 11, "name": "bird"}]


def write_image(path, h=40, w=60):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, dtype=np.uint8))


def write_coco(root, boxes_per_image, categories=CATEGORIES, size=(40, 60)):
    """COCO files under root: images/<id>.jpg and ann.json. boxes: list of (cat, [x,y,w,h], crowd)."""
    images, anns = [], []
    for img_id, boxes in enumerate(boxes_per_image, 1):
        write_image(os.path.join(root, "images", f"{img_id}.jpg"), *size)
        images.append({"id": img_id, "file_name": f"{img_id}.jpg", "height": size[0],
                       "width": size[1]})
        for cat, bbox, crowd in boxes:
            anns.append({"id": len(anns) + 1, "image_id": img_id, "category_id": cat,
                         "bbox": bbox, "iscrowd": crowd, "area": bbox[2] * bbox[3]})
    with open(os.path.join(root, "ann.json"), "w") as f:
        json.dump({"images": images, "annotations": anns, "categories": categories}, f)


def coco(root, **kwargs):
    kwargs.setdefault("data_fields", ["image", "gt_bbox", "gt_class", "is_crowd"])
    return COCODataSet(dataset_dir=str(root), image_dir="images", anno_path="ann.json",
                       **kwargs).parse_dataset()


def test_coco_category_ids_map_to_contiguous_labels(tmp_path):
    write_coco(tmp_path, [[(11, [1, 1, 10, 10], 0), (3, [5, 5, 10, 10], 0)], [(7, [0, 0, 5, 5], 0)]])
    ds = coco(tmp_path)
    assert ds.catid2clsid == {3: 0, 7: 1, 11: 2}
    assert ds.clsid2catid == {0: 3, 1: 7, 2: 11}
    assert ds.class_names == ["cat", "dog", "bird"]
    assert ds.records[0]["gt_class"].ravel().tolist() == [2, 0]
    assert ds.records[1]["gt_class"].ravel().tolist() == [1]
    np.testing.assert_allclose(ds.records[0]["gt_bbox"][0], [1, 1, 11, 11])
    assert ds.records[0]["gt_bbox"].dtype == np.float32
    assert ds.records[0]["gt_class"].dtype == np.int32
    assert ds.records[0]["im_id"].tolist() == [1]
    assert ds.records[0]["im_file"] == os.path.join(str(tmp_path), "images", "1.jpg")
    assert (ds.records[0]["h"], ds.records[0]["w"]) == (40, 60)


def test_coco_crowd_boxes_dropped_unless_load_crowd(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0), (7, [20, 5, 10, 10], 1)]])
    plain = coco(tmp_path)
    assert len(plain.records[0]["gt_bbox"]) == 1
    assert plain.records[0]["is_crowd"].ravel().tolist() == [0]
    crowd = coco(tmp_path, load_crowd=True, data_fields=["image", "gt_bbox", "gt_class"])
    rec = crowd.records[0]
    assert len(rec["gt_bbox"]) == 2
    # is_crowd is kept even though data_fields omits it, so the crowd box is never a positive
    assert rec["is_crowd"].ravel().tolist() == [0, 1]


def test_coco_allow_empty_and_empty_ratio(tmp_path):
    boxed = [[(3, [1, 1, 10, 10], 0)]] * 4
    write_coco(tmp_path, boxed + [[]] * 4)
    assert len(coco(tmp_path)) == 4
    assert len(coco(tmp_path, allow_empty=True)) == 8
    capped = coco(tmp_path, allow_empty=True, empty_ratio=0.2)  # 4 * 0.2 / 0.8 -> 1 empty
    assert len(capped) == 5
    assert sum(len(r["gt_bbox"]) == 0 for r in capped.records) == 1
    assert len(coco(tmp_path, allow_empty=True, empty_ratio=0.0)) == 4


def test_coco_only_crowd_boxes_make_an_empty_image(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)], [(3, [1, 1, 10, 10], 1)]])
    assert [r["im_id"][0] for r in coco(tmp_path).records] == [1]


def test_coco_sample_num_takes_first_images(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)]] * 5)
    ds = coco(tmp_path, sample_num=3)
    assert [r["im_id"][0] for r in ds.records] == [1, 2, 3]


def test_coco_boxes_clipped_and_degenerate_dropped_with_count(tmp_path, caplog):
    write_coco(tmp_path, [[(3, [-5, 30, 20, 20], 0),   # partly outside: clipped
                           (3, [10, 10, 0, 5], 0),     # zero width: dropped
                           (7, [70, 10, 10, 10], 0),   # fully outside: zero area after clip
                           (11, [5, 5, 10, 10], 0)]])
    with caplog.at_level(logging.WARNING):
        ds = coco(tmp_path)
    rec = ds.records[0]
    np.testing.assert_allclose(rec["gt_bbox"], [[0, 30, 15, 40], [5, 5, 15, 15]])
    assert rec["gt_class"].ravel().tolist() == [0, 2]
    assert ds.num_dropped_boxes == 2 and ds.num_clipped_boxes == 1
    summary = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(summary) == 1 and "dropped 2 boxes" in summary[0]


def test_coco_unknown_category_is_an_error_naming_id_and_image(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)], [(99, [1, 1, 10, 10], 0)]])
    with pytest.raises(DatasetError,
                       match=r"annotation id 2 of image id 2 has category_id 99") as err:
        coco(tmp_path)
    assert err.value.key == "anno_path"


def test_coco_missing_files_name_path_and_key(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)]])
    with pytest.raises(DatasetError) as err:
        COCODataSet(str(tmp_path), "images", "missing.json").parse_dataset()
    assert err.value.key == "anno_path"
    assert str(tmp_path / "missing.json") in str(err.value)
    with pytest.raises(DatasetError) as err:
        COCODataSet(str(tmp_path), "nodir", "ann.json").parse_dataset()
    assert err.value.key == "image_dir" and str(tmp_path / "nodir") in str(err.value)


def test_getitem_returns_a_fresh_copy_through_the_transform(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)]])
    ds = coco(tmp_path)
    sample = ds[0]
    sample["gt_bbox"][0, 0] = 99
    assert ds.records[0]["gt_bbox"][0, 0] == 1
    ds.set_transform(Decode())
    assert ds[0]["image"].shape == (40, 60, 3)


def test_unreadable_image_gives_a_skipped_marker(tmp_path):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)], [(3, [1, 1, 10, 10], 0)]])
    os.remove(tmp_path / "images" / "1.jpg")
    (tmp_path / "images" / "2.jpg").write_bytes(b"not a jpeg")
    ds = coco(tmp_path)
    ds.set_transform(Decode())
    for i, name in enumerate(["1.jpg", "2.jpg"]):
        sample = ds[i]
        assert set(sample) == {SKIPPED_KEY} and name in sample[SKIPPED_KEY]


def write_voc(root, objects_per_image, size=(40, 60)):
    """VOC files under root: JPEGImages, Annotations, trainval.txt, label_list.txt."""
    (root / "label_list.txt").write_text("cat\ndog\n\nbird\n")
    lines = []
    for i, objects in enumerate(objects_per_image):
        write_image(root / "JPEGImages" / f"{i}.jpg", *size)
        objs = "".join(
            f"<object><name>{name}</name><difficult>{diff}</difficult><bndbox>"
            f"<xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>"
            f"</bndbox></object>" for name, b, diff in objects)
        os.makedirs(root / "Annotations", exist_ok=True)
        (root / "Annotations" / f"{i}.xml").write_text(
            f"<annotation><size><width>{size[1]}</width><height>{size[0]}</height></size>"
            f"{objs}</annotation>")
        lines.append(f"JPEGImages/{i}.jpg Annotations/{i}.xml")
    (root / "trainval.txt").write_text("\n".join(lines) + "\n")


def voc(root, **kwargs):
    return VOCDataSet(dataset_dir=str(root), anno_path="trainval.txt", label_list="label_list.txt",
                      data_fields=["image", "gt_bbox", "gt_class", "difficult"],
                      **kwargs).parse_dataset()


def test_voc_labels_difficult_and_list_file(tmp_path):
    write_voc(tmp_path, [[("bird", [1, 2, 11, 12], 0), ("cat", [3, 4, 30, 70], 1)],
                         [("dog", [5, 5, 9, 9], 0)]])
    ds = voc(tmp_path)
    assert ds.class_names == ["cat", "dog", "bird"] and ds.cname2cid["bird"] == 2
    assert len(ds) == 2
    rec = ds.records[0]
    assert rec["im_file"] == str(tmp_path / "JPEGImages" / "0.jpg")
    assert rec["gt_class"].ravel().tolist() == [2, 0]
    assert rec["difficult"].ravel().tolist() == [0, 1]
    np.testing.assert_allclose(rec["gt_bbox"][1], [3, 4, 30, 39])  # clipped to height - 1
    assert ds.records[1]["im_id"].tolist() == [1]


def test_voc_degenerate_boxes_dropped_and_empty_images(tmp_path):
    write_voc(tmp_path, [[("cat", [5, 5, 5, 9], 0), ("dog", [1, 1, 8, 8], 0)],
                         [("cat", [9, 9, 3, 3], 0)]])
    ds = voc(tmp_path)
    assert len(ds) == 1 and ds.num_dropped_boxes == 2
    assert ds.records[0]["gt_class"].ravel().tolist() == [1]
    assert len(voc(tmp_path, allow_empty=True)) == 2


def test_voc_unknown_class_and_missing_files(tmp_path):
    write_voc(tmp_path, [[("horse", [1, 1, 8, 8], 0)]])
    with pytest.raises(DatasetError, match="'horse' is not in the label list") as err:
        voc(tmp_path)
    assert err.value.key == "label_list" and "0.xml" in str(err.value)
    os.remove(tmp_path / "label_list.txt")
    with pytest.raises(DatasetError, match="label list file not found") as err:
        voc(tmp_path)
    assert str(tmp_path / "label_list.txt") in str(err.value)
    (tmp_path / "label_list.txt").write_text("horse\n")
    os.remove(tmp_path / "Annotations" / "0.xml")
    with pytest.raises(DatasetError, match=r"trainval.txt line 1: annotation XML not found"):
        voc(tmp_path)


def test_image_folder_file_dir_and_list(tmp_path):
    for name in ["b.jpg", "a.png", "sub/c.JPEG", "notes.txt"]:
        if name.endswith(".txt"):
            (tmp_path / name).write_text("x")
        else:
            write_image(tmp_path / name)
    ds = ImageFolder(image_dir=str(tmp_path))
    assert [os.path.relpath(r["im_file"], tmp_path) for r in ds.records] == \
        ["a.png", "b.jpg", os.path.join("sub", "c.JPEG")]
    assert [r["im_id"][0] for r in ds.records] == [0, 1, 2]
    ds.set_images(str(tmp_path / "b.jpg"))
    assert len(ds) == 1
    ds.set_images([str(tmp_path / "b.jpg"), str(tmp_path / "sub")])
    assert len(ds) == 2
    assert len(ImageFolder(dataset_dir=str(tmp_path), image_dir="sub")) == 1
    with pytest.raises(DatasetError, match="not found"):
        ImageFolder(image_dir=str(tmp_path / "nothing")).parse_dataset()


def test_image_folder_class_names_from_json_and_txt(tmp_path):
    (tmp_path / "ann.json").write_text(json.dumps({"images": [], "categories": CATEGORIES}))
    (tmp_path / "labels.txt").write_text("person\ncar\n")
    ds = ImageFolder(dataset_dir=str(tmp_path), anno_path="ann.json").parse_dataset()
    assert ds.class_names == ["cat", "dog", "bird"] and ds.clsid2catid == {0: 3, 1: 7, 2: 11}
    ds = ImageFolder(anno_path=str(tmp_path / "labels.txt")).parse_dataset()
    assert ds.class_names == ["person", "car"] and ds.clsid2catid == {0: 0, 1: 1}


@pytest.mark.parametrize("file_name", ["../../../../etc/passwd", "/etc/passwd",
                                       "sub/../../outside.jpg"])
def test_coco_file_names_outside_the_image_folder_are_refused(tmp_path, file_name):
    write_coco(tmp_path, [[(3, [1, 1, 10, 10], 0)]])
    ann = json.loads((tmp_path / "ann.json").read_text())
    ann["images"][0]["file_name"] = file_name
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    with pytest.raises(DatasetError, match=re.escape(
            f"anno_path: image id 1: file_name: '{file_name}' is outside the image folder "
            f"{tmp_path}/images")):
        coco(tmp_path)
    allowed = coco(tmp_path, allow_outside_paths=True)   # the explicit opt-in
    assert allowed.records[0]["im_file"] == os.path.normpath(
        os.path.join(str(tmp_path), "images", file_name))


def test_voc_list_entries_outside_the_dataset_are_refused(tmp_path):
    (tmp_path / "list.txt").write_text("../secret.jpg ann/1.xml\n")
    with pytest.raises(DatasetError, match="list.txt line 1: '../secret.jpg' is outside"):
        VOCDataSet(dataset_dir=str(tmp_path), anno_path="list.txt").parse_dataset()
