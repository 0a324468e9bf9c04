"""Check a config's datasets before training: every problem of every record, and statistics.

`check_split` parses one dataset section with the same record checks as
training (`ppfcos.data.datasets.validation`) but gathers every problem
instead of stopping at the first, decodes each image (unreadable files, sizes
unlike the annotation) and measures the boxes. `write_report` writes the
reports as text and json; `ppfcos.data.check_plots` draws them;
`browse` draws samples after the TrainReader's sample transforms.
"""
import dataclasses
import json
import os

import cv2
import numpy as np
from ppfcos_runtime.visualize import class_name, draw_boxes

from .datasets import DatasetError
from .datasets.base import GT_FIELDS
from .reader import Compose, build_dataset, build_ops
from .transforms import Decode, ImageDecodeError, NormalizeImage

SPLITS = {"train": "TrainDataset", "eval": "EvalDataset"}
SHOWN = 10   # examples listed per kind of problem in the text report


@dataclasses.dataclass
class SplitReport:
    """What `check_split` found in one dataset section.

    ``errors``: strict problems (each one line naming the record); ``skips``:
    "N kind (first: ...)" lines of records training would skip; ``fatal``: the
    error that stopped parsing (a missing file, ...), else None; ``unreadable``:
    "file: reason" of images that cannot be used; ``widths``/``heights``: box sizes
    in pixels [K]; ``class_counts``: boxes per class name.
    """
    section: str
    source: str = ""
    fatal: str = None
    errors: list = dataclasses.field(default_factory=list)
    skips: list = dataclasses.field(default_factory=list)
    unreadable: list = dataclasses.field(default_factory=list)
    images: int = 0
    empty_images: list = dataclasses.field(default_factory=list)
    class_counts: dict = dataclasses.field(default_factory=dict)
    widths: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    heights: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    clipped_boxes: int = 0
    dropped_boxes: int = 0

    @property
    def ok(self):
        return not (self.fatal or self.errors or self.unreadable)

    def summary(self):
        """JSON-ready dict (box sizes as quantiles)."""
        def quantiles(values):
            return ({q: round(float(np.quantile(values, q / 100)), 2) for q in (0, 5, 50, 95, 100)}
                    if len(values) else {})
        aspect = self.widths / np.maximum(self.heights, 1e-9)
        return {"section": self.section, "source": self.source, "fatal": self.fatal,
                "images": self.images, "images_without_boxes": len(self.empty_images),
                "boxes": int(len(self.widths)), "class_counts": self.class_counts,
                "box_size_px_quantiles": quantiles(np.sqrt(self.widths * self.heights)),
                "aspect_ratio_quantiles": quantiles(aspect),
                "boxes_clipped_to_the_image": self.clipped_boxes,
                "boxes_dropped_outside_or_degenerate": self.dropped_boxes,
                "errors": self.errors, "skipped": self.skips, "unreadable_images": self.unreadable}


def parsed_for_check(cfg, section, collect=True):
    """The dataset of ``cfg[section]`` parsed with its boxes and empty images, gathering
    its problems (``collect``) or skipping the bad records."""
    dataset = build_dataset(cfg, section)
    dataset.collect_problems, dataset.allow_bad_records = collect, True
    dataset.allow_empty, dataset.empty_ratio = True, 1.0
    dataset.data_fields = ["image", *GT_FIELDS]
    dataset.parse_dataset()
    return dataset


def check_split(cfg, section, read_images=True):
    """Check ``cfg[section]`` -> SplitReport (never raises for bad data)."""
    report = SplitReport(section)
    try:
        dataset = parsed_for_check(cfg, section)
    except DatasetError as e:
        report.fatal = f"{section}.{e.key}: {e.detail}"
        return report
    problems = dataset.problems
    report.source = problems.source if problems else str(dataset.anno_path)
    if problems:
        report.errors, report.skips = list(problems.errors), problems.summary()
    names = dataset.class_names or []
    counts = dict.fromkeys(names, 0)
    widths, heights = [], []
    decode = Decode()
    for record in dataset.records:
        boxes = record.get("gt_bbox", np.zeros((0, 4)))
        if len(boxes) == 0:
            report.empty_images.append(record["im_file"])
        for label in record.get("gt_class", np.zeros((0, 1))).ravel():
            key = class_name(names, int(label))
            counts[key] = counts.get(key, 0) + 1
        widths.append(boxes[:, 2] - boxes[:, 0])
        heights.append(boxes[:, 3] - boxes[:, 1])
        if read_images:
            try:
                decode({"im_file": record["im_file"], "h": record["h"], "w": record["w"]})
            except (ImageDecodeError, OSError) as e:
                report.unreadable.append(str(e))
    report.images = len(dataset.records)
    report.class_counts = counts
    report.widths = np.concatenate(widths) if widths else np.zeros(0)
    report.heights = np.concatenate(heights) if heights else np.zeros(0)
    report.clipped_boxes, report.dropped_boxes = (dataset.num_clipped_boxes,
                                                  dataset.num_dropped_boxes)
    return report


def _listed(title, lines):
    if not lines:
        return []
    more = [f"    ... and {len(lines) - SHOWN} more"] if len(lines) > SHOWN else []
    return [f"  {title} ({len(lines)}):"] + [f"    {line}" for line in lines[:SHOWN]] + more


def report_lines(split, report):
    """The human-readable report of one split."""
    head = f"[{split}] {report.section}: {report.source}"
    if report.fatal:
        return [head, f"  cannot be read: {report.fatal}"]
    s = report.summary()
    lines = [head, f"  {s['images']} images, {s['boxes']} boxes, {s['images_without_boxes']} "
                   f"images without boxes; boxes outside the image: "
                   f"{s['boxes_clipped_to_the_image']} clipped, "
                   f"{s['boxes_dropped_outside_or_degenerate']} dropped"]
    lines.append("  boxes per class: " + ", ".join(f"{k} {v}" for k, v in
                                                   report.class_counts.items()))
    if s["box_size_px_quantiles"]:
        sizes = s["box_size_px_quantiles"]
        lines.append(f"  box size sqrt(w*h) px: min {sizes[0]}, median {sizes[50]}, "
                     f"max {sizes[100]}")
    lines += _listed("ERRORS (training stops at the first)", report.errors)
    lines += _listed("UNREADABLE IMAGES or sizes unlike the annotation", report.unreadable)
    lines += _listed("skipped by training", report.skips)
    lines += _listed("images without boxes", report.empty_images)
    lines.append("  OK" if report.ok else "  PROBLEMS FOUND")
    return lines


def write_report(reports, out_dir):
    """Write ``out_dir/report.txt`` and ``report.json`` of ``{split: SplitReport}``;
    returns the text lines."""
    os.makedirs(out_dir, exist_ok=True)
    lines = [line for split, report in reports.items() for line in report_lines(split, report)]
    with open(os.path.join(out_dir, "report.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump({split: r.summary() for split, r in reports.items()}, f, indent=1)
    return lines


def viewable(sample, ops):
    """The transformed ``sample['image']`` as BGR uint8 [H, W, 3]: NormalizeImage undone,
    CHW (after Permute) turned back to HWC."""
    image = np.asarray(sample["image"], dtype=np.float32)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[2] != 3:
        image = image.transpose(1, 2, 0)
    norm = next((op for op in ops if isinstance(op, NormalizeImage)), None)
    if norm is not None:
        if norm.norm_type == "mean_std":
            image = image * np.array(norm.std) + np.array(norm.mean)
        if norm.is_scale:
            image = image * 255.0
    rgb = next((op.to_rgb for op in ops if isinstance(op, Decode)), True)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image


def browse(cfg, num, out_dir, seed=0):
    """Draw ``num`` TrainDataset samples (chosen with ``seed``) with their boxes after the
    TrainReader's sample transforms into ``out_dir``; returns the written files.
    The batch transforms (padding, targets) are not applied."""
    dataset = parsed_for_check(cfg, "TrainDataset", collect=False)
    ops = build_ops(cfg, "TrainReader", "sample_transforms")
    dataset.set_transform(Compose(ops))
    os.makedirs(out_dir, exist_ok=True)
    picks = np.random.default_rng(seed).permutation(len(dataset))[:num]
    written = []
    for index in picks.tolist():
        sample = dataset[index]
        if "image" not in sample:   # skipped or failed: its reason is the message
            written.append(None)
            continue
        classes = sample.get("gt_class", np.zeros((0, 1))).ravel()
        labels = [class_name(dataset.class_names or [], int(c)) for c in classes]
        canvas = draw_boxes(viewable(sample, ops), classes, sample.get("gt_bbox", []), labels)
        path = os.path.join(out_dir, f"{index:06d}_{os.path.basename(sample['im_file'])}")
        path = os.path.splitext(path)[0] + ".jpg"
        cv2.imwrite(path, canvas)
        written.append(path)
    return [p for p in written if p]
