"""The TIDE breakdown of the AP a detector misses (Bolya et al., ECCV 2020), via tidecv.

TIDE matches detections at IoU >= 0.5 (foreground) and sorts each false positive and
missed box into one error type; for each type, the AP gained when every error of that
type alone is fixed is that type's dAP (in AP points, 0-100):
- Cls: the box is right (IoU >= 0.5) with a box of another class;
- Loc: right class, overlap between the background 0.1 and 0.5 (or a box already taken);
- Both: wrong class and 0.1 <= IoU < 0.5;
- Dupe: right class and box, but a higher-scored detection already took it;
- Bkg: overlaps no box by 0.1;
- Miss: a box no detection covers (after the fixes above).
FalsePos and FalseNeg give the AP gained by removing every false positive / finding
every missed box. tidecv 1.0.1 works with numpy 2 (checked in the project's venv).
"""
import contextlib
import io

from ..core.config import ConfigError

MAIN_ERRORS = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")
SPECIAL_ERRORS = ("FalsePos", "FalseNeg")


def import_tide():
    """tidecv's TIDE and Data; ConfigError naming the extra when it is not installed."""
    try:
        from tidecv import TIDE, Data
    except ImportError:
        raise ConfigError("the error breakdown needs tidecv: pip install -e .[analysis] "
                          "(or pip install tidecv matplotlib)") from None
    return TIDE, Data


def tide_data(records):
    """(ground truth, detections) as tidecv ``Data``; crowd boxes become ignore regions."""
    _, Data = import_tide()
    gt, preds = Data("ground truth"), Data("detections")
    for r in records:
        for box, cls, crowd in zip(r.gt_boxes, r.gt_classes, r.gt_crowd):
            xywh = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            if crowd:
                gt.add_ignore_region(r.image_id, int(cls), xywh)
            else:
                gt.add_ground_truth(r.image_id, int(cls), xywh)
        for box, cls, score in zip(r.det_boxes, r.det_classes, r.det_scores):
            preds.add_detection(r.image_id, int(cls), float(score),
                                [box[0], box[1], box[2] - box[0], box[3] - box[1]])
    return gt, preds


def error_breakdown(records, iou_threshold=0.5, background_threshold=0.1):
    """{"iou_threshold", "ap": TIDE's AP at it (0-100), "main": {type: dAP}, "special":
    {"FalsePos", "FalseNeg": dAP}, "counts": {type: number of errors}} of ``records``."""
    TIDE, _ = import_tide()
    import matplotlib
    gt, preds = tide_data(records)
    # TIDE() sets seaborn's style and a dpi in matplotlib's global rcParams: keep them local
    with matplotlib.rc_context(), contextlib.redirect_stdout(io.StringIO()):
        tide = TIDE(pos_threshold=iou_threshold, background_threshold=background_threshold)
        run = tide.evaluate(gt, preds, mode=TIDE.BOX, name="run")
        main = tide.get_main_errors()["run"]
        special = tide.get_special_errors()["run"]
    counts = {error.short_name: len(found) for error, found in run.error_dict.items()}
    return {"iou_threshold": iou_threshold, "ap": float(run.ap),
            "main": {k: float(main[k]) for k in MAIN_ERRORS},
            "special": {k: float(special[k]) for k in SPECIAL_ERRORS},
            "counts": {k: int(counts.get(k, 0)) for k in MAIN_ERRORS}}
