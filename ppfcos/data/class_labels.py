"""The class names and category ids that label a model's detections at inference.

They come from the TestDataset's ``anno_path`` (a COCO json's ``categories`` or a label
list). Without it (weights downloaded to try them, the dataset not on disk) an 80-class
COCO model is labelled with COCO's names and category ids, as PaddleDetection does, and
any other model with its class indices; one warning line says which.
"""
import logging

from .coco_classes import COCO_CATEGORY_IDS, COCO_CLASSES

logger = logging.getLogger(__name__)


def inference_labels(dataset, num_classes, metric="COCO"):
    """(names, category_ids) of the ``num_classes`` classes: lists of str and int by class
    index.

    ``dataset``: an ImageFolder whose categories are loaded (parsed, or
    ``load_categories()`` called); ``metric``: the config's metric ("COCO", "VOC").
    """
    if dataset.class_names:
        return ([str(name) for name in dataset.class_names],
                [int(dataset.clsid2catid[i]) for i in range(len(dataset.class_names))])
    if metric == "COCO" and num_classes == len(COCO_CLASSES):
        labels = list(COCO_CLASSES), list(COCO_CATEGORY_IDS)
        instead = "COCO's 80 class names and category ids"
    else:
        labels = [str(i) for i in range(num_classes)], list(range(num_classes))
        instead = f"the class indices 0-{num_classes - 1} as names and category ids"
    logger.warning("TestDataset.anno_path %s: detections are labelled with %s (point "
                   "anno_path at the training annotations or a label list for their names)",
                   dataset.missing_categories_reason(), instead)
    return labels
