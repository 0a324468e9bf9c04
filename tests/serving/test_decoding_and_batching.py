"""The header reader behind the pixel limit, and the Batcher's grouping, on real encoded images
and a real worker thread."""
import asyncio
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs pip install -e .[serve]")
from ppfcos_runtime.serving.batching import Batcher  # noqa: E402
from ppfcos_runtime.serving.decoding import check_image, image_size  # noqa: E402
from ppfcos_runtime.serving.errors import ServeError  # noqa: E402


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp"])
@pytest.mark.parametrize("hw", [(37, 91), (64, 5)])
def test_image_size_reads_the_header_of_opencv_files(ext, hw):
    data = cv2.imencode(ext, np.zeros((*hw, 3), np.uint8))[1].tobytes()
    assert image_size(data) == (hw[1], hw[0])
    assert check_image(data, hw[0] * hw[1]) == (hw[1], hw[0])
    with pytest.raises(ServeError, match=rf"is a {hw[1]}x{hw[0]} image: the server takes "
                                         rf"images of 1 to {hw[0] * hw[1] - 1} pixels"):
        check_image(data, hw[0] * hw[1] - 1)


def test_a_progressive_jpeg_with_metadata_segments_is_read():
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    data = cv2.imencode(".jpg", np.zeros((33, 44, 3), np.uint8), params)[1].tobytes()
    exif = b"\xff\xe1" + (18).to_bytes(2, "big") + b"Exif\x00\x00" + b"\x00" * 10
    assert image_size(data[:2] + exif + data[2:]) == (44, 33)


@pytest.mark.parametrize("data, detail", [
    (b"", "empty"), (b"GIF89a....", "starts with b'GIF89a..'"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a JPEG that ends before its frame header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG without its IHDR header")])
def test_other_bytes_are_not_an_image(data, detail):
    with pytest.raises(ServeError) as refused:
        image_size(data)
    assert (refused.value.status, refused.value.reason) == (400, "not_an_image")
    assert refused.value.message == f"the body is not a JPEG, PNG or BMP image ({detail})"


def test_the_batcher_groups_up_to_max_batch_size_and_answers_each_its_own_rows():
    runs = []
    release = threading.Event()

    def detect(images):                 # rows [1, 6] holding each image's first pixel
        release.wait(10)
        runs.append(len(images))
        return [np.full((1, 6), image[0, 0, 0], np.float32) for image in images]

    jpegs = [cv2.imencode(".png", np.full((8, 8, 3), value, np.uint8))[1].tobytes()
             for value in range(10)]
    batcher = Batcher([detect], max_batch_size=4, max_wait_ms=200, max_queue=100)
    batcher.start()

    async def submit_all():
        tasks = [asyncio.ensure_future(batcher.submit(data, f"image {i}"))
                 for i, data in enumerate(jpegs)]
        await asyncio.sleep(0.3)
        release.set()
        return await asyncio.gather(*tasks)

    answers = asyncio.run(submit_all())
    batcher.close()
    assert [int(rows[0, 0]) for rows in answers] == list(range(10))
    assert sum(runs) == 10 and max(runs) == 4 and len(runs) == 3
    with pytest.raises(ServeError, match="shutting down"):
        asyncio.run(batcher.submit(jpegs[0], "late"))


def test_a_full_queue_is_refused_with_503():
    batcher = Batcher([lambda images: []], max_batch_size=1, max_wait_ms=0, max_queue=0)
    with pytest.raises(ServeError) as refused:
        asyncio.run(batcher.submit(b"", "x"))
    assert (refused.value.status, refused.value.reason) == (503, "overloaded")


def test_each_predictor_has_a_worker_and_close_answers_what_is_queued():
    used = []

    def detect_of(name):
        def detect(images):             # rows [1, 6] holding each image's first pixel
            time.sleep(0.05)
            used.append(name)
            return [np.full((1, 6), image[0, 0, 0], np.float32) for image in images]
        return detect

    pngs = [cv2.imencode(".png", np.full((8, 8, 3), value, np.uint8))[1].tobytes()
            for value in range(12)]
    batcher = Batcher([detect_of("a"), detect_of("b")], max_batch_size=2, max_wait_ms=0,
                      max_queue=100)
    batcher.start()

    async def submit_then_close():
        tasks = [asyncio.ensure_future(batcher.submit(data, f"image {i}"))
                 for i, data in enumerate(pngs)]
        await asyncio.sleep(0.01)       # the first batches run, the rest wait in the queue
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)
        return await asyncio.gather(*tasks)

    answers = asyncio.run(submit_then_close())
    assert [int(rows[0, 0]) for rows in answers] == list(range(12))
    assert set(used) == {"a", "b"}
    assert not any(thread.is_alive() for thread in threading.enumerate()
                   if thread.name.startswith("ppfcos-batcher"))
