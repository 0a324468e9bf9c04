"""Detect objects in image files: annotated copies and (optionally) a JSON of detections."""
import os

import cv2

from .env import logger
from .evaluator import predict
from ..core.files import write_json
from ..data.datasets import DatasetError
from .visualize import detections_to_json, draw_detections, kept_rows


def output_name(im_file, used):
    """The file's base name, made unique among ``used`` (images from several folders)."""
    stem, ext = os.path.splitext(os.path.basename(im_file))
    name, k = stem + ext, 1
    while name in used:
        name, k = f"{stem}_{k}{ext}", k + 1
    used.add(name)
    return name


def check_output_dir(output_dir, im_files):
    """DatasetError if ``output_dir`` holds one of the input images ``im_files``: its
    annotated copy, named like it, would replace it."""
    out = os.path.realpath(output_dir)
    clash = next((f for f in im_files if os.path.dirname(os.path.realpath(f)) == out), None)
    if clash is not None:
        raise DatasetError("--output_dir", f"{output_dir} holds the input image {clash}, which "
                           f"its annotated copy would replace: choose another --output_dir")


def infer_images(model, loader, class_names, output_dir, draw_threshold=0.5, save_results=False):
    """Run ``model`` over ``loader``'s images; draw detections >= ``draw_threshold``.

    Writes ``output_dir/<image name>`` per image and, with ``save_results``,
    ``output_dir/bbox.json`` (detections >= draw_threshold, boxes as [x, y, w, h]).
    Returns the list of written image paths; DatasetError if no image could be read
    or an annotated copy would replace its input.
    """
    if not len(loader.dataset):
        raise DatasetError("infer_dir", "no image files found in the given --infer_img or "
                                        "--infer_dir")
    check_output_dir(output_dir, [r["im_file"] for r in loader.dataset.records])
    os.makedirs(output_dir, exist_ok=True)
    written, results, used = [], [], set()
    for batch, detections in predict(model, loader, desc="infer"):
        for im_file, det in zip(batch["im_file"], detections):
            image = cv2.imread(im_file, cv2.IMREAD_COLOR)
            drawn = draw_detections(image, det["bbox"], class_names, draw_threshold)
            path = os.path.join(output_dir, output_name(im_file, used))
            if not cv2.imwrite(path, drawn):
                raise OSError(f"cannot write {path}")
            written.append(path)
            if save_results:
                results += detections_to_json(im_file, det["im_id"], det["bbox"], class_names,
                                              draw_threshold)
            logger.info("%s: %d detections >= %.2f -> %s", im_file,
                        len(kept_rows(det["bbox"], draw_threshold)), draw_threshold, path)
    if not written:
        raise DatasetError("infer_img", f"none of the {len(loader.dataset)} input image(s) "
                           f"could be read (see the skipped images above)")
    if save_results:
        write_json(results, os.path.join(output_dir, "bbox.json"))
        logger.info("detections saved to %s", os.path.join(output_dir, "bbox.json"))
    return written
