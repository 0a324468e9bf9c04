"""What ``Detector.predict`` reads: image and video paths, folders, numpy images, lists.

A source is one of

    a path (str or os.PathLike) of an image file (any format OpenCV decodes) or a video
        file (VIDEO_EXTENSIONS: its frames, read one batch at a time)
    a folder: its .jpg/.jpeg/.png/.bmp images, recursive, sorted by path (as
        ``tools/infer.py --infer_dir`` and ``deploy/python/infer.py --image_dir``)
    a numpy image: uint8 [H, W, 3] in BGR order, as ``cv2.imread`` gives it
    a list or tuple of image paths, folders and numpy images, in any mix

Everything that can be checked before decoding is checked when the source is opened, so
a bad source fails before any detection: an unknown type, a missing file or folder, an
empty folder, a video OpenCV cannot open, a numpy array that is not a BGR image (or has
no pixels). An image named explicitly that cannot be decoded is an error; one found in a
folder is skipped with a warning, as the tools do.
"""
import logging
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from ppfcos_runtime.errors import DeployError, ImageReadError
from ppfcos_runtime.media import VideoReader, list_images, read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
logger = logging.getLogger("ppfcos")


@dataclass(frozen=True)
class Item:
    """One image to detect in: ``image`` RGB uint8 [H, W, 3]; ``path`` its file (None for a
    numpy image); ``frame`` its index in a video (None for an image)."""
    image: np.ndarray
    path: Optional[str] = None
    frame: Optional[int] = None


@dataclass(frozen=True)
class _ImageFile:
    path: str
    in_folder: bool     # found by listing a folder: skipped (with a warning) if unreadable


def is_path(source):
    return isinstance(source, (str, os.PathLike))


def is_video(source):
    """True for a path whose extension is one of VIDEO_EXTENSIONS."""
    return is_path(source) and os.fspath(source).lower().endswith(VIDEO_EXTENSIONS)


def open_source(source):
    """Check ``source`` -> (is_video, iterator of Items in order)."""
    if is_video(source):
        return True, open_video(source)[1]
    entries = list(source) if isinstance(source, (list, tuple)) else [source]
    if not entries:
        raise DeployError("predict: the list of images is empty")
    planned = [planned_image for entry in entries for planned_image in plan(entry)]
    return False, image_items(planned)


def plan(entry):
    """One entry of a source -> the images it stands for (_ImageFile or BGR array)."""
    if isinstance(entry, np.ndarray):
        return [checked_bgr_image(entry)]
    if not is_path(entry):
        raise DeployError(f"predict cannot read a {type(entry).__name__}: give an image or "
                          f"video path, a folder, a numpy BGR image uint8 [H, W, 3], or a "
                          f"list of image paths, folders and numpy images")
    path = os.fspath(entry)
    if is_video(path):
        raise DeployError(f"{path} is a video: pass it on its own, predict({path!r}), not "
                          f"in a list")
    if os.path.isdir(path):
        return [_ImageFile(p, in_folder=True) for p in list_images(image_dir=path)]
    if not os.path.isfile(path):
        raise DeployError(f"image file or folder not found: {path}")
    return [_ImageFile(path, in_folder=False)]


def checked_bgr_image(array):
    """``array`` if it is a numpy image uint8 [H, W, 3] with H, W >= 1, else DeployError."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or not array.size:
        raise DeployError(f"a numpy image must be uint8 [H, W, 3] in BGR order (as "
                          f"cv2.imread gives it) with H, W >= 1, got {array.dtype} "
                          f"{list(array.shape)}")
    return array


def image_items(planned):
    """Items of the planned images, each file decoded when it is reached."""
    done = 0
    for entry in planned:
        if isinstance(entry, np.ndarray):
            yield Item(cv2.cvtColor(entry, cv2.COLOR_BGR2RGB))
        else:
            try:
                image = read_image(entry.path)
            except ImageReadError as e:
                if not entry.in_folder:
                    raise
                logger.warning("skipped: %s", e)
                continue
            yield Item(image, entry.path)
        done += 1
    if not done:
        raise DeployError(f"none of the {len(planned)} image(s) could be read")


def open_video(source):
    """Check ``source`` is a video file that OpenCV opens -> (its frame rate, iterator of
    the Items of its frames); DeployError otherwise."""
    if not is_video(source):
        raise DeployError(f"expected a video file ({', '.join(VIDEO_EXTENSIONS)}), got "
                          f"{source!r}")
    path = os.fspath(source)
    video = VideoReader(path)
    return video.fps, video_items(path, video)


def video_items(path, video):
    """Items of the frames of ``video`` (a VideoReader of ``path``)."""
    frame = -1
    for frame, image in enumerate(video):
        yield Item(image, path, frame)
    if frame < 0:
        raise DeployError(f"no frames could be read from {path}")
