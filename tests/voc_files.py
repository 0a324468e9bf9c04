"""VOC annotation XML for the tests that turn the synthetic COCO set into a VOC set."""


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
