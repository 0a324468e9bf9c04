"""Bounding the work of one image: an image whose long side is over the server's limit
(``max_side``) is shrunk, keeping its aspect ratio, before the predictor sees it, and its
detections are mapped back to the original image's pixels.

An export without Resize (the demo's) runs each image at its own size: a 24-megapixel photo
would cost seconds and gigabytes in the network. The limit defaults to what the export does
anyway: the long side of its keep-ratio Resize target (Resize brings every larger image
down to at most that, so shrinking first changes only the interpolation), else
DEFAULT_MAX_SIDE (work_limits). A JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that
is still at least the limit (libjpeg scales while it decodes: a 6000x4000 photo decodes to
1500x1000 in a fraction of the time and 1/16 of the memory), then resized to the limit
(INTER_AREA).
"""
import cv2
from ppfcos_runtime.preprocess import build_step

from .decoding import JPEG_SOI, decode_checked, image_size
from .settings import DEFAULT_MAX_BATCHED_PIXELS, DEFAULT_MAX_SIDE

# cv2.imdecode flags of the reductions libjpeg decodes at, the largest first.
JPEG_REDUCTIONS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                   (2, cv2.IMREAD_REDUCED_COLOR_2))


def export_max_side(preprocess):
    """The long side of the Resize target in infer_cfg's ``Preprocess`` list ([{type: Name,
    ...}]), or None when it has no Resize or one without keep_ratio; DeployError for a
    malformed Resize."""
    for spec in preprocess:
        if spec.get("type") == "Resize":
            resize = build_step(spec)
            return max(resize.target_size) if resize.keep_ratio else None
    return None


def work_limits(max_side, max_batched_pixels, preprocess):
    """(max_side, max_batched_pixels) the server keeps: the given ones, or where None, from
    infer_cfg's ``Preprocess`` list. With a keep-ratio Resize, its target's long side and
    that side squared (every image shares runs: the Resize bounds what each costs); without
    one, DEFAULT_MAX_SIDE and DEFAULT_MAX_BATCHED_PIXELS (the cost of an image is its size:
    large ones run alone)."""
    resize_side = export_max_side(preprocess)
    max_side = max_side or resize_side or DEFAULT_MAX_SIDE
    default_batched = max_side ** 2 if resize_side else DEFAULT_MAX_BATCHED_PIXELS
    return max_side, max_batched_pixels or default_batched


def shrunk_size(width, height, max_side):
    """(width, height) of an image brought down to a long side of ``max_side`` (keeping its
    aspect ratio; unchanged when it is not over)."""
    if max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(round(width * scale), 1), max(round(height * scale), 1)


def jpeg_reduction(width, height, max_side):
    """The cv2.imdecode flag decoding a width x height JPEG at the smallest 1/n whose long
    side is still at least ``max_side`` (IMREAD_COLOR: full size)."""
    for n, flag in JPEG_REDUCTIONS:
        if max(width, height) // n >= max_side:
            return flag
    return cv2.IMREAD_COLOR


def oriented_size(width, height, shape):
    """The header's (width, height), swapped when the decoded image (``shape`` [h, w, 3],
    perhaps reduced) came out turned a quarter (OpenCV applies a JPEG's EXIF orientation)."""
    aspect = shape[1] / shape[0]
    turned = abs(aspect - height / width) < abs(aspect - width / height)
    return (height, width) if turned else (width, height)


def decode_bounded(data, what, max_side):
    """Checked image bytes -> (RGB uint8 [h, w, 3] with max(h, w) <= max_side, (sx, sy):
    pixels of the original image per pixel of it along x and y); ServeError 400 when the
    bytes do not decode."""
    width, height = image_size(data, what)
    flags = (jpeg_reduction(width, height, max_side) if data.startswith(JPEG_SOI)
             else cv2.IMREAD_COLOR)
    image = decode_checked(data, what, flags)
    width, height = oriented_size(width, height, image.shape)
    size = shrunk_size(width, height, max_side)
    if size != (image.shape[1], image.shape[0]):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, (width / size[0], height / size[1])


def to_original(rows, scale):
    """Rows [k, 6] (class, score, x1, y1, x2, y2) in a shrunk image's pixels -> the same rows
    in the original's (``scale``: decode_bounded's (sx, sy))."""
    if scale == (1, 1):
        return rows
    rows = rows.copy()
    rows[:, [2, 4]] *= scale[0]
    rows[:, [3, 5]] *= scale[1]
    return rows
