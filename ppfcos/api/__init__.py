"""The Python API: ``ppfcos.Detector`` and the results it returns.

    detector.py   Detector: from a config + weights (dygraph) or an export folder; predict
    sources.py    what predict reads: paths, folders, videos, numpy images, lists of them
    backends.py   what runs the network: the dygraph model, or ppfcos_runtime's backends
    results.py    DetectionResult: boxes, scores, classes; draw, save, COCO, supervision
    sahi_model.py sahi's DetectionModel running a Detector (the slice extra)
"""
from .detector import Detector
from .results import DetectionResult

__all__ = ["DetectionResult", "Detector"]
