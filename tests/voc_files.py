"""VOC annotation XML for the tests that turn the synthetic COCO set into a VOC set."""
import json
import os


def voc_xml(image, annotations, names, inclusive_ends=False):
    """The VOC XML of COCO ``image`` and its ``annotations`` (``names``: category id ->
    class name); ``inclusive_ends``: xmax/ymax as the last pixel (x + w - 1), as VOC's
    metric reads them, instead of x + w."""
    end = 1 if inclusive_ends else 0
    objects = "".join(
        f"<object><name>{names[a['category_id']]}</name><difficult>0</difficult><bndbox>"
        f"<xmin>{a['bbox'][0]}</xmin><ymin>{a['bbox'][1]}</ymin>"
        f"<xmax>{a['bbox'][0] + a['bbox'][2] - end}</xmax>"
        f"<ymax>{a['bbox'][1] + a['bbox'][3] - end}</ymax></bndbox></object>"
        for a in annotations if a["image_id"] == image["id"])
    return (f"<annotation><size><width>{image['width']}</width><height>{image['height']}"
            f"</height><depth>3</depth></size>{objects}</annotation>")


def write_voc_copy(coco_root, out):
    """The val split as a VOC dataset (XML per image, list file, label list) under ``out``."""
    coco = json.load(open(os.path.join(coco_root, "annotations", "instances_val.json")))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    os.makedirs(os.path.join(out, "Annotations"))
    lines = []
    for image in coco["images"]:
        xml = os.path.join("Annotations", f"{image['id']}.xml")
        with open(os.path.join(out, xml), "w") as f:
            f.write(voc_xml(image, coco["annotations"], names, inclusive_ends=True))
        lines.append(f"{os.path.join(coco_root, 'val', image['file_name'])} {xml}")
    with open(os.path.join(out, "val.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "label_list.txt"), "w") as f:
        f.write("\n".join(c["name"] for c in coco["categories"]) + "\n")


def voc_eval_dataset(voc_root):
    """The ``-o`` override making the VOC set that write_voc_copy wrote the EvalDataset."""
    return ("EvalDataset={name: VOCDataSet, dataset_dir: " f"{voc_root}, anno_path: val.txt, "
            "label_list: label_list.txt, allow_empty: true, allow_outside_paths: true, "
            "data_fields: [image, gt_bbox, gt_class, difficult]}")
