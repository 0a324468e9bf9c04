"""Everything the analysis finds, written to one folder as PNGs and the numbers behind them.

    confusion_matrix.png / .csv              counts, rows true, columns predicted
    confusion_matrix_normalized.png / .csv   each true class's row divided by its sum
    pr_curve_iou50.png, pr_curve_iou50-95.png, pr_curves.csv
    score_curves.png / .csv                  P, R, F1 against the score threshold
    errors.png, errors.json                  the TIDE breakdown
    images/worst_NN_<file>.jpg, images/best_NN_<file>.jpg
    summary.json                             thresholds, best-F1 thresholds, AP, errors, images
"""
import csv
import os
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..core.files import write_json
from .confusion import confusion_matrix, normalize_rows
from .drawing import side_by_side
from .errors import error_breakdown
from .plots import plot_confusion, plot_curves, plot_errors, plot_score_curves
from .pr_curves import pr_curves
from .ranking import image_scores, worst_and_best
from .records import collect_records
from .score_curves import THRESHOLDS, best_f1, detection_outcomes, score_curves

PR_FILES = {"0.5": "pr_curve_iou50.png", "0.5:0.95": "pr_curve_iou50-95.png"}


@dataclass(frozen=True)
class AnalysisOptions:
    """``iou_threshold`` and ``score_threshold``: of the confusion matrix and the image
    ranking (the score curves use the IoU only); ``num_images``: worst and best images
    drawn, each."""
    iou_threshold: float = 0.5
    score_threshold: float = 0.25
    num_images: int = 8

    def __post_init__(self):
        for name in ("iou_threshold", "score_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {self.num_images}")


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_confusion(counts, labels, options, output_dir):
    """The two confusion matrices as PNG and CSV."""
    where = f"IoU {options.iou_threshold:g}, score >= {options.score_threshold:g}"
    for name, matrix, fmt, what in (
            ("confusion_matrix", counts, "{:d}", "counts"),
            ("confusion_matrix_normalized", normalize_rows(counts), "{:.2f}",
             "each true row sums to 1")):
        plot_confusion(matrix, labels, f"confusion matrix ({what}; {where})",
                       os.path.join(output_dir, f"{name}.png"), fmt)
        write_csv(os.path.join(output_dir, f"{name}.csv"), ["true \\ predicted"] + labels,
                  [[label] + list(row) for label, row in zip(labels, matrix.tolist())])


def write_pr_curves(recall, curves, output_dir):
    """PR curves as PNGs (legend: each curve's AP) and one long CSV -> {iou: {name: AP}}."""
    aps = {}
    rows = []
    for iou_name, per_class in curves.items():
        aps[iou_name] = {name: float(np.mean(p)) for name, p in per_class.items()}
        plot_curves(recall, per_class, f"precision-recall at IoU {iou_name} (legend: AP)",
                    "recall", "precision", os.path.join(output_dir, PR_FILES[iou_name]),
                    aps[iou_name])
        rows += [[iou_name, name, f"{r:.2f}", f"{p:.6f}"]
                 for name, values in per_class.items() for r, p in zip(recall, values)]
    write_csv(os.path.join(output_dir, "pr_curves.csv"), ["iou", "class", "recall", "precision"],
              rows)
    return aps


def write_score_curves(curves, options, output_dir):
    """P/R/F1 against the score threshold as PNG and CSV -> {name: best_f1 dict}."""
    best = {name: best_f1(curve) for name, curve in curves.items()}
    plot_score_curves(THRESHOLDS, curves, best["all"], options.iou_threshold,
                      os.path.join(output_dir, "score_curves.png"))
    write_csv(os.path.join(output_dir, "score_curves.csv"),
              ["class", "score_threshold", "precision", "recall", "f1"],
              [[name, f"{t:.2f}", f"{p:.6f}", f"{r:.6f}", f"{f:.6f}"]
               for name, (precision, recall, f1) in curves.items()
               for t, p, r, f in zip(THRESHOLDS, precision, recall, f1)])
    return best


def write_images(records, scores, class_names, image_root, options, output_dir):
    """The worst and best images side by side -> {"worst": [...], "best": [...]} of
    {"image_id", "file", "tp", "fp", "fn", "f1", "drawn": path or None}."""
    by_id = {r.image_id: r for r in records}
    folder = os.path.join(output_dir, "images")
    os.makedirs(folder, exist_ok=True)
    listed = {}
    for kind, chosen in zip(("worst", "best"), worst_and_best(scores, options.num_images)):
        listed[kind] = []
        for rank, score in enumerate(chosen, 1):
            image = cv2.imread(os.path.join(image_root, score.file_name))
            path = None
            if image is not None:
                path = os.path.join(folder, f"{kind}_{rank:02d}_"
                                            f"{os.path.basename(score.file_name)}")
                cv2.imwrite(path, side_by_side(image, by_id[score.image_id], score,
                                               class_names, options.score_threshold))
            listed[kind].append({**asdict(score), "f1": score.f1, "drawn": path})
    return listed


def analyze(coco_gt, results, class_names, clsid2catid, image_root, output_dir,
            options=AnalysisOptions()):
    """Write the analysis of ``results`` (a COCO results list) against ``coco_gt``
    (pycocotools COCO) into ``output_dir``; returns the summary also written to
    summary.json. ``image_root``: the folder the ground truth's file names are relative to.
    """
    os.makedirs(output_dir, exist_ok=True)
    catid2clsid = {int(cat): int(cls) for cls, cat in clsid2catid.items()}
    records = collect_records(coco_gt, results, catid2clsid)
    num_classes = len(class_names)
    labels = list(class_names) + ["background"]

    counts = confusion_matrix(records, num_classes, options.iou_threshold,
                              options.score_threshold)
    write_confusion(counts, labels, options, output_dir)
    recall, curves = pr_curves(coco_gt, results, clsid2catid, class_names)
    aps = write_pr_curves(recall, curves, output_dir)
    best = write_score_curves(score_curves(detection_outcomes(
        records, num_classes, options.iou_threshold), class_names), options, output_dir)
    breakdown = error_breakdown(records, options.iou_threshold)
    plot_errors(breakdown, os.path.join(output_dir, "errors.png"))
    write_json(breakdown, os.path.join(output_dir, "errors.json"))
    images = write_images(records, image_scores(records, options.iou_threshold,
                                                options.score_threshold),
                          class_names, image_root, options, output_dir)
    summary = {"options": asdict(options), "images": len(records),
               "detections": len(results), "ap": aps, "best_f1": best, "errors": breakdown,
               "confusion_matrix": {"labels": labels, "counts": counts.tolist()},
               "worst_images": images["worst"], "best_images": images["best"]}
    write_json(summary, os.path.join(output_dir, "summary.json"))
    return summary


def summary_lines(summary):
    """Printable lines of an ``analyze`` summary: the best-F1 threshold, AP, TIDE errors."""
    best = summary["best_f1"]["all"]
    errors = summary["errors"]
    lines = [f"best F1 {best['f1']:.3f} at score threshold {best['threshold']:.2f} "
             f"(precision {best['precision']:.3f}, recall {best['recall']:.3f}, IoU "
             f"{summary['options']['iou_threshold']:g}): use it as the deploy threshold",
             "per class best-F1 score threshold: " + ", ".join(
                 f"{name} {b['threshold']:.2f}" for name, b in summary["best_f1"].items()
                 if name != "all"),
             f"AP (from the PR curves) at IoU 0.5: {summary['ap']['0.5']['all']:.3f}, "
             f"0.5:0.95: {summary['ap']['0.5:0.95']['all']:.3f}",
             f"TIDE dAP at IoU {errors['iou_threshold']:g} (AP {errors['ap']:.2f}): " + ", ".join(
                 f"{k} {v:.2f}" for k, v in {**errors["main"], **errors["special"]}.items())]
    return lines
