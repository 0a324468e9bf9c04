"""Inputs and outputs on disk: image lists, image decoding, video frames in and out."""
import os

import cv2
import numpy as np

from .errors import DeployError, ImageReadError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# Frame rate of an output video when the input does not report one.
DEFAULT_FPS = 25.0


def list_images(image_file=None, image_dir=None):
    """``[image_file]``, or the images under ``image_dir`` (recursive, sorted by path)."""
    if image_file is not None:
        if not os.path.isfile(image_file):
            raise DeployError(f"image file not found: {image_file}")
        return [image_file]
    if not os.path.isdir(image_dir):
        raise DeployError(f"image directory not found: {image_dir}")
    found = images_under(image_dir)
    if not found:
        raise DeployError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {image_dir}")
    return found


def images_under(directory):
    """The IMAGE_EXTENSIONS files under ``directory`` (recursive, sorted by path)."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [os.path.join(root, name) for name in sorted(files)
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    return found


def check_output_dir(output_dir, inputs):
    """DeployError if ``output_dir`` holds one of ``inputs``: the annotated copy, named
    like its input, would replace it."""
    out = os.path.realpath(output_dir)
    clash = next((p for p in inputs if os.path.dirname(os.path.realpath(p)) == out), None)
    if clash is not None:
        raise DeployError(f"--output_dir {output_dir} holds the input {clash}, which its "
                          f"annotated copy would replace: choose another --output_dir")


def read_image(path):
    """The image file at ``path`` as RGB uint8 [H, W, 3] (decoded as ppfcos's Decode does).

    Raises ImageReadError naming the file when it cannot be read or decoded.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(f"cannot read image {path}: {e.strerror}") from None
    return decode_image(data, path)


def decode_image(data, name, flags=cv2.IMREAD_COLOR):
    """Encoded image bytes (JPEG, PNG, BMP, ...) -> RGB uint8 [H, W, 3], decoded as
    ppfcos's Decode does; ImageReadError naming ``name`` when they do not decode.
    ``flags``: cv2.imdecode's, e.g. cv2.IMREAD_REDUCED_COLOR_4 to decode a JPEG at 1/4 of
    its size (libjpeg scales while it decodes, in less time and memory)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, flags) if buffer.size else None
    if image is None:
        raise ImageReadError(f"cannot decode image {name}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoReader:
    """The frames of a video file (or an opened ``capture``) as RGB uint8 [H, W, 3];
    ``fps`` and ``size`` (w, h)."""

    def __init__(self, path, capture=None):
        if capture is None:
            if not os.path.isfile(path):
                raise DeployError(f"video file not found: {path}")
            capture = cv2.VideoCapture(path)
            if not capture.isOpened():
                raise DeployError(f"cannot open video {path} (not a video OpenCV can decode?)")
        self.capture = capture
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps > 0 else DEFAULT_FPS
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def __iter__(self):
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            self.capture.release()


def open_camera(camera_id):
    """A VideoReader of camera ``camera_id`` (PaddleDetection's --camera_id); DeployError
    when no camera opens at that index."""
    if camera_id < 0:
        raise DeployError(f"--camera_id must be a camera index >= 0, got {camera_id}")
    capture = cv2.VideoCapture(camera_id)
    if not capture.isOpened():
        raise DeployError(f"cannot open camera {camera_id} (--camera_id): no camera at that "
                          f"index, or no permission to use it")
    return VideoReader(f"camera {camera_id}", capture)


def create_video_writer(path, fps, size):
    """An MP4 (mp4v) cv2.VideoWriter for BGR frames of ``size`` (w, h) at ``fps``."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise DeployError(f"cannot write video {path} (OpenCV without an mp4v encoder?)")
    return writer


def write_image(path, image_bgr):
    """Write a BGR uint8 image; DeployError if OpenCV cannot."""
    if not cv2.imwrite(path, image_bgr):
        raise DeployError(f"cannot write image {path}")
