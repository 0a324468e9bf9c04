"""Evaluation: run a detector over a dataset and score its detections.

    evaluator.py   per-image detections, gathering across ranks, the metric a config names
    metrics/       COCO (pycocotools) and VOC metrics: numpy only, no paddle

Nothing is imported here, so ``ppfcos.evaluation.metrics`` (which ``ppfcos.analysis``
scores with) stays free of paddle and of the evaluator.
"""
