"""Evaluator: splitting detections per image, predicting in eval mode, metric choice and a
whole VOC evaluation with known AP."""
import types

import numpy as np
import paddle
import pytest

from ppfcos.core.config import ConfigError
from ppfcos.evaluation.evaluator import (VOCGroundTruthMetric, build_metric, evaluate, gather,
                                     predict, split_per_image)


def test_detections_are_split_per_image_by_bbox_num():
    boxes = np.arange(5 * 6, dtype=np.float32).reshape(5, 6)
    dets = split_per_image({"bbox": paddle.to_tensor(boxes), "bbox_num": np.array([2, 0, 3])},
                           np.array([7, 8, 9]))
    assert [d["im_id"] for d in dets] == [7, 8, 9]
    np.testing.assert_array_equal(dets[0]["bbox"], boxes[:2])
    assert dets[1]["bbox"].shape == (0, 6)
    np.testing.assert_array_equal(dets[2]["bbox"], boxes[2:])


class Oracle(paddle.nn.Layer):
    """Stands in for FCOS in eval mode: returns the rows given per image id."""

    def __init__(self, rows_by_id):
        super().__init__()
        self.rows_by_id = rows_by_id
        self.seen = []

    def forward(self, batch):
        self.seen.append((self.training, paddle.is_grad_enabled()))
        rows = [self.rows_by_id.get(int(i), np.zeros((0, 6), np.float32))
                for i in batch["im_id"].numpy().reshape(-1)]
        return {"bbox": np.concatenate(rows).astype(np.float32),
                "bbox_num": np.array([len(r) for r in rows])}


def batches(*id_groups):
    return [{"im_id": paddle.to_tensor(np.array(ids).reshape(-1, 1))} for ids in id_groups]


def test_predict_runs_in_eval_mode_without_gradients(capsys):
    row = np.array([[0, 0.9, 1, 2, 3, 4]], np.float32)
    model = Oracle({2: row})
    out = list(predict(model, batches([1, 2], [3])))
    assert model.seen == [(False, False), (False, False)]
    assert [[d["im_id"] for d in dets] for _, dets in out] == [[1, 2], [3]]
    np.testing.assert_array_equal(out[0][1][1]["bbox"], row)
    assert "eval [" in capsys.readouterr().err                    # the progress bar


def test_a_single_process_gathers_its_own_detections():
    detections = [{"im_id": 1, "bbox": np.zeros((0, 6), np.float32)}]
    assert gather(detections) is detections


def voc_dataset(data_fields=("image", "gt_bbox", "gt_class")):
    """Two images with one 'square' each (class 0)."""
    records = [{"im_id": np.array([i]), "gt_bbox": np.array([[10, 10, 50, 50]], np.float32),
                "gt_class": np.array([[0]], np.int32)} for i in (1, 2)]
    return types.SimpleNamespace(class_names=["square", "circle"], records=records,
                                 data_fields=list(data_fields), metrics=("VOC",))


def test_voc_evaluation_scores_known_detections():
    hit = np.array([[0, 0.9, 10, 10, 50, 50]], np.float32)
    miss = np.array([[0, 0.8, 200, 200, 240, 240]], np.float32)
    metric = build_metric("VOC", voc_dataset())
    assert isinstance(metric, VOCGroundTruthMetric) and metric.map_type == "11point"
    assert evaluate(predict(Oracle({1: hit, 2: hit}), batches([1, 2])), metric)["mAP"] == 1.0
    # one of two found, at the top score: precision 1 up to recall 0.5 -> 6 of 11 points
    results = evaluate(predict(Oracle({1: hit, 2: miss}), batches([1], [2])), metric)
    assert results["mAP"] == pytest.approx(6 / 11)
    assert results["classwise"][0] == ("square", pytest.approx(6 / 11))
    assert np.isnan(results["classwise"][1][1])                  # circle: no ground truth


def test_metric_choice_errors_say_what_to_change():
    with pytest.raises(ConfigError, match="metric must be COCO or VOC, got 'mAP'"):
        build_metric("mAP", voc_dataset())
    with pytest.raises(ConfigError, match=r"metric COCO cannot score the EvalDataset, a "
                                          r"SimpleNamespace \(scored by metric VOC\): set "
                                          r"metric: VOC"):
        build_metric("COCO", voc_dataset())
    with pytest.raises(ConfigError, match=r"add gt_bbox, gt_class \(and difficult\) to "
                                          r"EvalDataset.data_fields"):
        build_metric("VOC", voc_dataset(data_fields=("image",)))
