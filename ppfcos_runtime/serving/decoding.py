"""Image bytes -> a checked RGB image: the format and size come from the file's header, so an
image over the pixel limit (a 20000 x 20000 photo, a decompression bomb: a small file that
inflates to gigabytes) is refused before any pixel is decoded."""
import struct

import cv2

from ppfcos_runtime.errors import ImageReadError
from ppfcos_runtime.media import decode_image

from .errors import ServeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (they carry the size): C0-CF except DHT, JPG and DAC.
JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0-7, SOI.
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}
FORMATS = "JPEG, PNG or BMP"


def not_an_image(what, detail):
    return ServeError(400, "not_an_image", f"{what} is not a {FORMATS} image ({detail})")


def png_size(data):
    """(width, height) from the IHDR chunk."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("a PNG without its IHDR header")
    return struct.unpack(">II", data[16:24])


def jpeg_size(data):
    """(width, height) from the first start-of-frame segment."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"a JPEG with a broken segment at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:           # fill byte
            i += 1
            continue
        if marker in JPEG_STANDALONE:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in JPEG_SOF:
            if i + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise ValueError("a JPEG that ends before its frame header")


def bmp_size(data):
    """(width, height) from the BITMAPINFOHEADER (height < 0: stored top-down)."""
    if len(data) < 26:
        raise ValueError("a BMP without its header")
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


SIZE_READERS = ((PNG_SIGNATURE, png_size), (JPEG_SOI, jpeg_size), (b"BM", bmp_size))


def image_size(data, what="the body"):
    """(width, height) of JPEG, PNG or BMP bytes from their header; ServeError 400 for
    other bytes."""
    for signature, read_size in SIZE_READERS:
        if data.startswith(signature):
            try:
                return read_size(data)
            except ValueError as e:
                raise not_an_image(what, e) from None
    raise not_an_image(what, f"starts with {data[:8]!r}" if data else "empty")


def check_image(data, max_pixels, what="the body"):
    """ServeError unless ``data`` is a JPEG, PNG or BMP of at most ``max_pixels`` pixels
    (the header's width x height); returns (width, height)."""
    width, height = image_size(data, what)
    if width * height > max_pixels or width == 0 or height == 0:
        raise ServeError(422, "too_many_pixels",
                         f"{what} is a {width}x{height} image: the server takes images of "
                         f"1 to {max_pixels} pixels (width x height, --max_pixels)")
    return width, height


def decode_checked(data, what, flags=cv2.IMREAD_COLOR):
    """Checked image bytes -> RGB uint8 [H, W, 3] (``flags``: cv2.imdecode's); ServeError
    400 when they do not decode (a truncated file)."""
    try:
        return decode_image(data, what, flags)
    except ImageReadError:
        raise not_an_image(what, "truncated or corrupt: it does not decode") from None
