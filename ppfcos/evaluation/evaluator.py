"""Run a detector over a loader and score it: per-image detections, gathered across ranks.

Detections travel as one dict per image, ``{"im_id": int, "bbox": float32
[K, 6]}`` with rows ``(class, score, x1, y1, x2, y2)`` in original-image pixels
(what FCOS's eval forward returns, split per image).
"""
import numpy as np
import paddle
import paddle.distributed as dist

from ..core.config import ConfigError
from ..core.messages import excerpt
from ..utils.progress import progress
from .metrics import COCOMetric, VOCMetric


def split_per_image(outputs, im_ids):
    """Eval outputs ``bbox`` [sum K, 6] and ``bbox_num`` [N] (tensors or arrays) -> N
    detection dicts."""
    boxes = np.asarray(outputs["bbox"], dtype=np.float32)
    counts = np.asarray(outputs["bbox_num"], dtype=np.int64)
    ends = np.cumsum(counts)
    return [{"im_id": int(im_id), "bbox": boxes[end - count:end]}
            for im_id, count, end in zip(im_ids, counts, ends)]


def predict(model, loader, desc="eval"):
    """Yield ``(batch, detections)`` for each batch of ``loader`` (model in eval mode).
    ``model``: the dygraph detector or a stand-in with its eval interface
    (``export.runtime_eval.RuntimeEvalModel``)."""
    model.eval()
    with paddle.no_grad():
        for batch in progress(loader, len(loader), desc):
            outputs = model(batch)
            yield batch, split_per_image(outputs, batch["im_id"].numpy().reshape(-1))


def gather(detections):
    """Every rank's detections. The sampler pads shards with repeated images; the
    metrics count each ``im_id`` once."""
    if dist.get_world_size() <= 1:
        return detections
    parts = []
    dist.all_gather_object(parts, detections)
    return [d for part in parts for d in part]


def build_metric(metric_name, dataset, output_dir=None, classwise=False, map_type="11point",
                 save_prediction_only=False):
    """The metric a config's ``metric`` names, set up for ``dataset``.
    ``save_prediction_only`` (COCO only): write bbox.json to ``output_dir``, score nothing."""
    if metric_name not in ("COCO", "VOC"):
        raise ConfigError(f"metric must be COCO or VOC, got {excerpt(metric_name)}")
    if metric_name not in dataset.metrics:
        kind = f"the EvalDataset, a {type(dataset).__name__}"
        if dataset.metrics:
            raise ConfigError(f"metric {metric_name} cannot score {kind} (scored by metric "
                              f"{' or '.join(dataset.metrics)}): set metric: {dataset.metrics[0]}")
        raise ConfigError(f"metric {metric_name} cannot score {kind}, which has no ground "
                          f"truth: evaluate on a COCODataSet or VOCDataSet")
    if metric_name == "COCO":
        return COCOMetric(dataset.get_anno(), dataset.clsid2catid, dataset.class_names,
                          output_dir=output_dir, classwise=classwise,
                          save_prediction_only=save_prediction_only)
    if save_prediction_only:
        raise ConfigError("--save_prediction_only and --json_eval write and read COCO's "
                          "bbox.json: they need metric COCO")
    return VOCGroundTruthMetric(dataset, map_type=map_type, classwise=classwise)


class VOCGroundTruthMetric(VOCMetric):
    """VOCMetric that looks up each image's ground truth in the dataset's records."""

    def __init__(self, dataset, **options):
        missing = [f for f in ("gt_bbox", "gt_class") if f not in dataset.data_fields]
        if missing:
            raise ConfigError(f"metric VOC reads the ground truth from the EvalDataset: add "
                             f"{', '.join(missing)} (and difficult) to EvalDataset.data_fields")
        super().__init__(dataset.class_names, **options)
        self.records = {int(r["im_id"][0]): r for r in dataset.records}

    def update(self, detections):
        truths = [self.records[d["im_id"]] for d in detections]
        super().update(detections, [
            {"im_id": d["im_id"], "gt_bbox": r.get("gt_bbox", np.zeros((0, 4), np.float32)),
             "gt_class": r.get("gt_class", np.zeros((0,), np.int32)),
             "difficult": r.get("difficult")} for d, r in zip(detections, truths)])


def evaluate(predictions, metric):
    """Score ``predictions`` (``(batch, detections)`` pairs of `predict` or
    ``slicing.predict_sliced`` over this rank's shard); all ranks get the results."""
    metric.reset()
    detections = [det for _, dets in predictions for det in dets]
    metric.update(gather(detections))
    return metric.accumulate()
