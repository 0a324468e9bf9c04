"""COCO box AP with pycocotools, for detections in the ``(class, score, x1, y1, x2, y2)`` format."""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

NUM_STATS = 12


def image_id(value):
    """An ``im_id`` given as an int or a one-element array, as a Python int."""
    return int(np.asarray(value).item())


def run_cocoeval(coco_gt, results):
    """COCOeval of the COCO results list ``results`` (non-empty) against ``coco_gt``, run
    quietly through ``evaluate`` and ``accumulate``; its ``eval["precision"]`` is
    [iou, recall, category, area, max_dets]."""
    with contextlib.redirect_stdout(io.StringIO()):
        # loadRes adds keys to the dicts it gets: hand it copies
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        coco_eval = COCOeval(coco_gt, coco_dt, "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def detection_rows(bbox):
    """A ``[K, 6]`` detection array as float64 rows, without the ``class < 0`` padding rows
    that some NMS kernels emit for images with no detection."""
    rows = np.asarray(bbox, dtype=np.float64).reshape(-1, 6)
    return rows[rows[:, 0] >= 0]


def format_table(headers, rows, float_format="{:.3f}"):
    """Text lines of a table: first column left-aligned, the numeric ones right-aligned."""
    cells = [list(headers)] + [[str(row[0])] + [float_format.format(v) for v in row[1:]]
                               for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    return ["  ".join([line[0].ljust(widths[0])] +
                      [cell.rjust(w) for cell, w in zip(line[1:], widths[1:])])
            for line in cells]


class COCOMetric:
    """COCO bbox evaluation (AP@[.5:.95] and the other 11 standard stats).

    Args:
        anno_path: the COCO annotation json of the evaluated images.
        clsid2catid: maps the contiguous 0-based class index to the COCO category id.
        class_names: names by class index, for the classwise table.
        output_dir: when given, ``accumulate`` writes the results list there as ``bbox.json``.
        classwise: also compute per-class AP@[.5:.95] and AP50.
        save_prediction_only: ``accumulate`` only writes ``bbox.json`` (where ``output_dir``
            is given: rank 0 of a distributed run) and scores nothing, e.g. for COCO
            test-dev, whose annotation file has images but no boxes.

    ``update`` takes a list of ``{"im_id", "bbox": [K, 6] (class, score, x1, y1, x2, y2)}``
    in original-image pixels. An image seen twice (a distributed sampler pads its last
    batch with repeated images) keeps its first detections.
    """

    def __init__(self, anno_path, clsid2catid, class_names, output_dir=None, classwise=False,
                 save_prediction_only=False):
        self.save_prediction_only = save_prediction_only
        self.anno_path = anno_path
        self.clsid2catid = {int(k): int(v) for k, v in clsid2catid.items()}
        self.class_names = list(class_names)
        self.output_dir = output_dir
        self.classwise = classwise
        self._coco_gt = None
        self.reset()

    def reset(self):
        """Forget all detections and the last result."""
        self._results = []
        self._seen_ids = set()
        self._result = None
        self._summary = []
        self._classwise_rows = None

    @property
    def coco_gt(self):
        """The ground truth, loaded (quietly) on first use."""
        if self._coco_gt is None:
            with contextlib.redirect_stdout(io.StringIO()):
                self._coco_gt = COCO(self.anno_path)
        return self._coco_gt

    @property
    def results(self):
        """The COCO results list added or loaded so far (``bbox.json``'s records)."""
        return self._results

    def update(self, detections):
        """Add the detections of a batch of images (see the class docstring for the format)."""
        for det in detections:
            im_id = image_id(det["im_id"])
            if im_id not in self.coco_gt.imgs:
                raise ValueError(f"detection for image id {im_id}, which is not in the "
                                 f"annotation file {self.anno_path}")
            if im_id in self._seen_ids:
                continue
            self._seen_ids.add(im_id)
            self._results.extend(self._coco_results(im_id, det["bbox"]))
        self._result = None

    def load_results(self, path):
        """Use the COCO results list in ``path`` (a ``bbox.json``: dicts with ``image_id``,
        ``category_id``, ``bbox`` [x, y, w, h], ``score``) as the detections to score."""
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
        if not isinstance(results, list) or not all(
                isinstance(r, dict) and {"image_id", "category_id", "bbox", "score"} <= set(r)
                for r in results):
            raise ValueError(f"{path}: expected a COCO results list of {{image_id, "
                             f"category_id, bbox, score}} records")
        image_ids = {r["image_id"] for r in results}
        unknown = sorted(image_ids - set(self.coco_gt.imgs))[:5]
        if unknown:
            raise ValueError(f"{path}: image ids {unknown} are not in the annotation file "
                             f"{self.anno_path}")
        self.reset()
        self._results = results
        self._seen_ids = image_ids

    def _coco_results(self, im_id, bbox):
        """One image's detections as COCO result dicts (bbox as x, y, w, h, no +1)."""
        results = []
        for cls, score, x1, y1, x2, y2 in detection_rows(bbox).tolist():
            if int(cls) not in self.clsid2catid:
                raise ValueError(f"class index {int(cls)} has no category id in clsid2catid")
            results.append({"image_id": im_id, "category_id": self.clsid2catid[int(cls)],
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score})
        return results

    def accumulate(self):
        """Evaluate everything added so far.

        Returns:
            ``{"mAP": AP@[.5:.95], "stats": the 12 COCO stats, "classwise": [(name, AP)]
            by class index, or None without ``classwise``}``. With no detection at all
            every stat is 0.0; with no ground-truth box every stat is -1 (COCO's "not
            computable") and the summary says why; with ``save_prediction_only`` all
            three are None.
        """
        if self.output_dir:
            self._write_results()
        if self.save_prediction_only:
            where = os.path.join(self.output_dir, "bbox.json") if self.output_dir else "no file"
            self._summary = [f"{len(self._results)} detections of {len(self._seen_ids)} images "
                             f"saved to {where}, not evaluated (save_prediction_only)"]
            self._classwise_rows = None
            self._result = {"mAP": None, "stats": None, "classwise": None}
            return self._result
        if not self.coco_gt.getAnnIds():
            stats = [-1.0] * NUM_STATS
            self._summary = [f"no ground-truth boxes in {self.anno_path}: nothing to evaluate "
                             f"against, so every COCO stat is -1 (check EvalDataset.anno_path)"]
            per_class = [(name, float("nan"), float("nan")) for name in self.class_names]
        elif self._results:
            stats, self._summary, per_class = self._evaluate()
        else:
            stats = [0.0] * NUM_STATS
            self._summary = ["no detections: all COCO stats are 0.0"]
            per_class = [(name, 0.0, 0.0) for name in self.class_names]
        self._classwise_rows = per_class if self.classwise else None
        self._result = {"mAP": stats[0], "stats": stats,
                        "classwise": ([(name, ap) for name, ap, _ in per_class]
                                      if self.classwise else None)}
        return self._result

    def _write_results(self):
        """Write ``bbox.json`` into ``output_dir`` through ``bbox.json.tmp-<pid>`` (the
        temporary name the tools remove when a killed process leaves one behind)."""
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, "bbox.json")
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                json.dump(self._results, f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _evaluate(self):
        """Run COCOeval -> (12 stats, pycocotools' summary lines, per-class (name, AP, AP50))."""
        coco_eval = run_cocoeval(self.coco_gt, self._results)
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.summarize()
        stats = [float(s) for s in coco_eval.stats]
        return stats, summary.getvalue().splitlines(), self._per_class_ap(coco_eval)

    def _per_class_ap(self, coco_eval):
        """(name, AP@[.5:.95], AP50) by class index, from COCOeval's precision array
        [iou, recall, category, area, max_dets] at area "all" and 100 detections;
        nan for a class without ground truth or detections."""
        precision = coco_eval.eval["precision"]
        cat_index = {cat_id: k for k, cat_id in enumerate(coco_eval.params.catIds)}
        rows = []
        for cls, name in enumerate(self.class_names):
            k = cat_index.get(self.clsid2catid.get(cls))
            all_ious = precision[:, :, k, 0, -1] if k is not None else np.empty(0)
            rows.append((name, _mean_valid(all_ious), _mean_valid(all_ious[:1])))
        return rows

    def log_lines(self):
        """Printable lines of the last ``accumulate``: the COCO summary, then the
        classwise table when asked for."""
        if self._result is None:
            raise RuntimeError("COCOMetric.log_lines: call accumulate() first")
        lines = list(self._summary)
        if self._classwise_rows is not None:
            lines += format_table(["class", "AP@[.5:.95]", "AP50"], self._classwise_rows)
        return lines


def _mean_valid(precision):
    """Mean of the entries COCOeval filled (-1 marks none); nan when there are none."""
    valid = precision[precision > -1]
    return float(np.mean(valid)) if valid.size else float("nan")
