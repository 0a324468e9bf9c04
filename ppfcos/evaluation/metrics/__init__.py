"""Detection metrics (numpy and pycocotools only, no paddle).

Both take per-image detections ``{"im_id": int, "bbox": [K, 6] (class, score, x1, y1,
x2, y2)}`` in original-image pixels; ``update`` adds a batch, ``accumulate`` returns the
result dict, ``log_lines`` formats it and ``reset`` starts over.
"""
from .coco import COCOMetric
from .voc import VOCMetric

__all__ = ["COCOMetric", "VOCMetric"]
