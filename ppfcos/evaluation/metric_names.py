"""A metric's results as flat, named floats: the names mmdetection gives COCO's numbers.

The loggers (``ppfcos.engine.loggers``) and ``ppfcos.train``/``ppfcos.evaluate`` report
these names, so a dashboard or a hyper-parameter search reads ``bbox_mAP_50`` whatever
wrote it.
"""

# The first six of COCO's 12 stats (AP at IoU .50:.95, .50, .75; small, medium, large).
COCO_STAT_NAMES = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m",
                   "bbox_mAP_l")


def named_metrics(results):
    """``{name: float}`` of a metric's results dict (see ``ppfcos.evaluation.metrics``):
    COCO's first six stats under ``COCO_STAT_NAMES``; VOC's mAP as ``bbox_mAP_50`` (its
    IoU is 0.5). Empty when nothing was scored (``save_prediction_only``)."""
    stats = results.get("stats")
    if stats is not None:
        return {name: float(value) for name, value in zip(COCO_STAT_NAMES, stats)}
    if results.get("mAP") is None:
        return {}
    return {"bbox_mAP_50": float(results["mAP"])}
