"""VOCMetric on hand-computed examples."""
import numpy as np
import pytest

from ppfcos.evaluation.metrics import VOCMetric

GT1 = [0, 0, 9, 9]          # 10 x 10 pixels in the VOC convention
GT2 = [20, 20, 29, 29]
FAR = [50, 50, 59, 59]      # overlaps nothing


def det(im_id, rows):
    """rows of (class, score, x1, y1, x2, y2)."""
    return {"im_id": im_id, "bbox": np.array(rows, dtype=np.float32).reshape(-1, 6)}


def gt(im_id, boxes, classes, difficult=None):
    return {"im_id": im_id, "gt_bbox": np.array(boxes, dtype=np.float32).reshape(-1, 4),
            "gt_class": np.array(classes, dtype=np.int32), "difficult": difficult}


def evaluate(detections, ground_truths, class_names=("a",), **kwargs):
    metric = VOCMetric(list(class_names), **kwargs)
    metric.update(detections, ground_truths)
    return metric.accumulate()


@pytest.mark.parametrize("map_type", ["11point", "area"])
def test_perfect_detector_gives_one(map_type):
    dets = [det(1, [[0, 0.9, *GT1], [1, 0.8, *GT2]]), det(2, [[1, 0.7, *GT1]])]
    gts = [gt(1, [GT1, GT2], [0, 1]), gt(2, [GT1], [1])]
    result = evaluate(dets, gts, ("a", "b"), map_type=map_type)
    assert result["mAP"] == 1.0
    assert result["classwise"] == [("a", 1.0), ("b", 1.0)]


# One class, 2 ground truths; detections by descending score: TP, FP, TP.
#   cumulative TP = 1, 1, 2  -> recall    = 1/2, 1/2, 1
#   precision     = 1/1, 1/2, 2/3
# 11point: for t = 0, .1, ..., .5 (6 points) the best precision at recall >= t is 1;
#   for t = .6, ..., 1 (5 points) only the last detection qualifies: 2/3.
#   AP = (6 * 1 + 5 * 2/3) / 11 = 28/33
# area: envelope (max precision at this recall or beyond) = 1, 1, 2/3;
#   AP = 1/2 * 1 + (1 - 1/2) * 2/3 = 5/6
TP_FP_TP = {"11point": 28 / 33, "area": 5 / 6}


@pytest.mark.parametrize("map_type", ["11point", "area"])
def test_tp_fp_tp_hand_computed(map_type):
    dets = [det(1, [[0, 0.9, *GT1], [0, 0.8, *FAR], [0, 0.7, *GT2]])]
    result = evaluate(dets, [gt(1, [GT1, GT2], [0, 0])], map_type=map_type)
    assert result["mAP"] == pytest.approx(TP_FP_TP[map_type], abs=1e-12)


@pytest.mark.parametrize("map_type", ["11point", "area"])
def test_duplicate_detection_of_one_gt_is_a_false_positive(map_type):
    # the second detection of GT1 is the FP of the TP, FP, TP example: same APs
    # (were it ignored, recall 1 would come at precision 1 and AP would be 1.0)
    dets = [det(1, [[0, 0.9, *GT1], [0, 0.8, *GT1], [0, 0.7, *GT2]])]
    result = evaluate(dets, [gt(1, [GT1, GT2], [0, 0])], map_type=map_type)
    assert result["mAP"] == pytest.approx(TP_FP_TP[map_type], abs=1e-12)


def test_detections_split_over_images_pool_per_class():
    # the TP, FP, TP example spread over two images and two update calls
    metric = VOCMetric(["a"], map_type="area")
    metric.update([det(1, [[0, 0.9, *GT1], [0, 0.8, *FAR]])], [gt(1, [GT1], [0])])
    metric.update([det(2, [[0, 0.7, *GT2]])], [gt(2, [GT2], [0])])
    assert metric.accumulate()["mAP"] == pytest.approx(5 / 6, abs=1e-12)


def test_difficult_ground_truth_is_ignored_by_default():
    # GT2 is difficult: its detection is neither TP nor FP and it need not be found.
    # Default: 1 gt, one TP -> AP 1 in both cases.
    gts = [gt(1, [GT1, GT2], [0, 0], difficult=[0, 1])]
    with_det = [det(1, [[0, 0.9, *GT1], [0, 0.95, *GT2]])]
    without_det = [det(1, [[0, 0.9, *GT1]])]
    for map_type in ("11point", "area"):
        assert evaluate(with_det, gts, map_type=map_type)["mAP"] == 1.0
        assert evaluate(without_det, gts, map_type=map_type)["mAP"] == 1.0


def test_evaluate_difficult_counts_difficult_ground_truth():
    # 2 gts, only GT1 found: recall 1/2 at precision 1.
    # 11point: precision 1 for t = 0, ..., .5 (6 of 11 points) -> 6/11; area: 1/2 * 1.
    gts = [gt(1, [GT1, GT2], [0, 0], difficult=[0, 1])]
    dets = [det(1, [[0, 0.9, *GT1]])]
    assert evaluate(dets, gts, evaluate_difficult=True)["mAP"] == pytest.approx(6 / 11)
    assert evaluate(dets, gts, evaluate_difficult=True, map_type="area")["mAP"] == 0.5


def test_class_with_only_difficult_ground_truth_is_left_out_of_map():
    gts = [gt(1, [GT1, GT2], [0, 1], difficult=[0, 1])]
    result = evaluate([det(1, [[0, 0.9, *GT1]])], gts, ("a", "b"))
    assert result["mAP"] == 1.0
    assert result["classwise"][0] == ("a", 1.0) and np.isnan(result["classwise"][1][1])


def test_class_with_ground_truth_but_no_detection_counts_as_zero():
    gts = [gt(1, [GT1, GT2], [0, 1])]
    result = evaluate([det(1, [[0, 0.9, *GT1]])], gts, ("a", "b"))
    assert result["classwise"] == [("a", 1.0), ("b", 0.0)]
    assert result["mAP"] == 0.5


def test_overlap_must_exceed_threshold():
    # IoU([0, 0, 9, 4], GT1) = 50 / 100 = 0.5 in the VOC pixel convention: not a match at
    # 0.5 (the devkit's strict ">"), a match at 0.49
    dets = [det(1, [[0, 0.9, 0, 0, 9, 4]])]
    gts = [gt(1, [GT1], [0])]
    assert evaluate(dets, gts)["mAP"] == 0.0
    assert evaluate(dets, gts, overlap_thresh=0.49)["mAP"] == 1.0


def test_duplicate_image_counts_once():
    metric = VOCMetric(["a"], map_type="area")
    dets, gts = [det(1, [[0, 0.9, *GT1]])], [gt(1, [GT1, GT2], [0, 0])]
    metric.update(dets, gts)
    metric.update(dets, gts)        # a padded last batch repeats image 1
    assert metric.accumulate()["mAP"] == 0.5


def test_wrong_map_type_raises():
    with pytest.raises(ValueError, match="11point.*area.*integral"):
        VOCMetric(["a"], map_type="integral")


def test_mismatched_images_raise():
    metric = VOCMetric(["a"])
    with pytest.raises(ValueError, match="same images"):
        metric.update([det(1, [])], [])
    with pytest.raises(ValueError, match="image 1"):
        metric.update([det(1, [])], [gt(2, [GT1], [0])])


def test_log_lines_and_reset():
    metric = VOCMetric(["cat", "dog"], map_type="area", classwise=True)
    metric.update([det(np.array([1]), [[0, 0.9, *GT1]])], [gt(np.array([1]), [GT1, GT2], [0, 1])])
    metric.accumulate()
    lines = metric.log_lines()
    assert lines[0] == "mAP(0.50, area) = 50.00%"
    assert [line.split() for line in lines[1:]] == [["class", "AP"], ["cat", "1.000"],
                                                    ["dog", "0.000"]]
    metric.reset()
    with pytest.raises(RuntimeError, match="accumulate"):
        metric.log_lines()
    assert metric.accumulate()["mAP"] == 0.0     # no ground truth at all


def test_no_ground_truth_says_so():
    metric = VOCMetric(["a"])
    metric.update([det(1, [[0, 0.9, *GT1]])], [gt(1, [], [])])
    assert metric.accumulate()["mAP"] == 0.0
    assert metric.log_lines()[1] == ("no ground-truth boxes (other than difficult ones) in the "
                                     "evaluated images: the mAP is 0 because there was nothing "
                                     "to find")
