"""What the detector gets wrong, from ground truth and COCO results (numpy; plots and the
error breakdown through the ``analysis`` extra: matplotlib, tidecv).

    records.py      ground truth and detections per image, in class-index space
    matching.py     box IoU and greedy score-ordered matching of one image
    confusion.py    confusion matrix of classes + background
    score_curves.py precision, recall and F1 against the score threshold; best-F1 threshold
    pr_curves.py    precision-recall curves per class and overall (COCOeval, IoU .5, .5:.95)
    errors.py       the TIDE breakdown of the missing AP (tidecv)
    ranking.py      per-image errors, the worst and best images
    drawing.py      ground truth and detections of one image side by side
    plots.py        the PNG figures (matplotlib)
    report.py       all of the above written to a folder (PNG, CSV, JSON)
"""
from .report import AnalysisOptions, analyze

__all__ = ["AnalysisOptions", "analyze"]
