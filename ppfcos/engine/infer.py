"""Detect objects in image files: annotated copies and (optionally) a JSON of detections."""
import os

import cv2
from ppfcos_runtime.output_dir import OutputFolder, output_names

from ..core.files import write_json
from ..data.datasets import DatasetError
from ..utils.env import logger
from ..utils.visualize import detections_to_json, draw_detections_above, kept_rows


def check_inputs(im_files, output_dir, visualize=True, save_results=False):
    """The output name of each of ``im_files`` ({path: name}), after checking the run can
    write them: DatasetError if there is no input image, or (``visualize``) if
    ``output_dir`` holds one of ``im_files`` (its annotated copy, named like it, would
    replace it); DeployError if ``output_dir`` holds a file the run would write (an
    annotated image, bbox.json with ``save_results``) that no earlier run wrote."""
    if not im_files:
        raise DatasetError("infer_dir", "no image files found in the given --infer_img, "
                                        "--infer_dir or --infer_list")
    names = output_names(im_files)
    if visualize:
        out = os.path.realpath(output_dir)
        clash = next((f for f in im_files if os.path.dirname(os.path.realpath(f)) == out),
                     None)
        if clash is not None:
            raise DatasetError("--output_dir", f"{output_dir} holds the input image {clash}, "
                               f"which its annotated copy would replace: choose another "
                               f"--output_dir")
    OutputFolder(output_dir).check((list(names.values()) if visualize else []) +
                                   (["bbox.json"] if save_results else []))
    return names


def infer_images(predictions, class_names, output_dir, names, *, draw_threshold=0.5,
                 save_threshold=0.5, save_results=False, visualize=True, clsid2catid=None):
    """Draw and save the detections of ``predictions`` (``(batch, detections)`` pairs of
    ``evaluator.predict`` or ``slicing.predict_sliced``; ``batch['im_file']`` names the images).

    With ``visualize``, writes ``output_dir/<names[image path]>`` with the detections >=
    ``draw_threshold`` drawn; with ``save_results``, ``output_dir/bbox.json`` with the
    detections >= ``save_threshold`` (boxes as [x, y, w, h], ``category_id`` the
    dataset's id through ``clsid2catid``, ``category`` the class name). Each file written
    is recorded in the folder (``ppfcos_runtime.output_dir``). Returns the list of written
    image paths; DatasetError if no image could be read.
    """
    os.makedirs(output_dir, exist_ok=True)
    folder = OutputFolder(output_dir)
    written, results, done = [], [], 0
    for batch, detections in predictions:
        for im_file, det in zip(batch["im_file"], detections):
            done += 1
            path = "(not drawn)"
            if visualize:
                drawn = draw_detections_above(cv2.imread(im_file, cv2.IMREAD_COLOR),
                                              det["bbox"], class_names, draw_threshold)
                path = os.path.join(output_dir, names[im_file])
                if not cv2.imwrite(path, drawn):
                    raise OSError(f"cannot write {path}")
                written.append(folder.wrote(names[im_file]))
            if save_results:
                results += detections_to_json(im_file, det["im_id"], det["bbox"], class_names,
                                              save_threshold, clsid2catid)
            logger.info("%s: %d detections >= %.2f -> %s", im_file,
                        len(kept_rows(det["bbox"], draw_threshold)), draw_threshold, path)
    if not done:
        raise DatasetError("infer_img", "none of the input images could be read (see the "
                                        "skipped images above)")
    if save_results:
        write_json(results, os.path.join(output_dir, "bbox.json"))
        logger.info("%d detections saved to %s", len(results), folder.wrote("bbox.json"))
    return written
