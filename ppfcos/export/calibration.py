"""Calibration inputs for post-training quantization: images through the TestReader.

The exported program takes what the TestReader gives, except that with
``fuse_normalize`` it normalizes inside the graph: then the images are fed
before NormalizeImage, as deploy's preprocessing does; and with a static
``inputs_def.image_shape`` [3, H, W] the images are resized to H x W and padded to
exactly that size, as the export's preprocessing (infer_cfg.py) does.
"""
import os

import numpy as np

from ..core.config import Config, ConfigError
from ..data.reader import build_dataset, create_reader
from .infer_cfg import static_image_shape

INPUT_NAMES = ("image", "im_shape", "scale_factor")
DEFAULT_CALIB_NUM = 32


def add_calibration_flags(parser):
    """``--calib_dir DIR`` and ``--calib_num N`` of the tools that quantize to int8."""
    parser.add_argument("--calib_dir", default=None,
                        help="int8 calibration images (recursive; training images, not the "
                        "val set)")
    parser.add_argument("--calib_num", type=int, default=DEFAULT_CALIB_NUM,
                        help=f"calibrate on at most this many images (default "
                        f"{DEFAULT_CALIB_NUM})")


def check_calib_dir(calib_dir, what):
    """ConfigError unless ``calib_dir`` is a directory (``what`` asked for int8)."""
    if not (calib_dir and os.path.isdir(calib_dir)):
        raise ConfigError(f"{what} calibrates on the images of --calib_dir DIR (training "
                          f"images, not the val set; got {calib_dir!r})")


def calibration_inputs(cfg, calib_dir, calib_num, normalize_in_graph):
    """Up to ``calib_num`` images of ``calib_dir`` (recursive) through ``cfg``'s TestReader,
    one image a batch -> list of {image [1, 3, H, W], im_shape [1, 2], scale_factor [1, 2]}
    float32 numpy dicts. ``normalize_in_graph``: leave NormalizeImage out (the program
    of a ``fuse_normalize`` export normalizes itself)."""
    reader = dict(cfg.get("TestReader") or {})
    if normalize_in_graph:
        reader["sample_transforms"] = [op for op in reader.get("sample_transforms", [])
                                       if "NormalizeImage" not in op]
    image_hw = static_image_shape(reader)
    if image_hw is not None:
        reader["sample_transforms"] = [
            {"Resize": {**(op["Resize"] or {}), "target_size": list(image_hw)}}
            if "Resize" in op else op for op in reader.get("sample_transforms", [])]
    reader["batch_size"] = 1
    cfg = Config({**cfg, "TestReader": reader}, cfg.origins, cfg.path)
    dataset = build_dataset(cfg, "TestDataset")
    dataset.set_images([calib_dir])
    if not len(dataset):
        raise ConfigError(f"--calib_dir {calib_dir}: no images found")
    loader = create_reader(cfg, "test", dataset=dataset, num_replicas=1, rank=0, worker_num=0)
    inputs = []
    for batch in loader:
        sample = {name: batch[name].numpy().astype("float32") for name in INPUT_NAMES}
        if image_hw is not None:
            sample["image"] = padded_to(sample["image"], image_hw)
        inputs.append(sample)
        if len(inputs) == calib_num:
            break
    return inputs


def padded_to(image, image_hw):
    """[N, 3, h, w] with h <= H, w <= W after resizing (past them only the batch's stride
    padding, cut here) -> [N, 3, H, W], zeros right and below, as the static export's Pad
    leaves it (the program zeroes what lies outside im_shape in any case)."""
    height, width = image_hw
    out = np.zeros(image.shape[:2] + (height, width), np.float32)
    kept = image[:, :, :height, :width]
    out[:, :, :kept.shape[2], :kept.shape[3]] = kept
    return out
