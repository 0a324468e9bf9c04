"""The work one image may cost is bounded (ppfcos_runtime/serving/shrinking.py, batching.py): an image
over --max_side is shrunk before the predictor and its boxes come back in its own pixels, a
JPEG is decoded reduced (EXIF-turned ones too), a small request sent while large images
queue is answered before they are (over real HTTP on loopback), and with two predictors one
is kept free of large images."""
import asyncio
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import assert_same_detections, fixture_tmp
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.factory import load_detector
from ppfcos_runtime.predictor import RunOptions
from server_process import Server, json_line, post_image, request
from tiny_model import THRESHOLD, export_seeded_tiny

pytest.importorskip("fastapi", reason="needs pip install -e .[serve]")
from ppfcos_runtime.serving.batching import Batcher  # noqa: E402
from ppfcos_runtime.serving.shrinking import decode_bounded, work_limits  # noqa: E402

PREDICT = f"/predict?threshold={THRESHOLD}"
# The test server shrinks images to a long side of 96; inputs over 4000 pixels run alone.
MAX_SIDE, MAX_BATCHED_PIXELS = 96, 4000


@pytest.fixture(scope="module")
def model_dir(request):
    return export_seeded_tiny(fixture_tmp(request, "bounded"))


@pytest.fixture(scope="module")
def server(model_dir):
    running = Server(model_dir, "--max_side", MAX_SIDE, "--max_batched_pixels",
                     MAX_BATCHED_PIXELS, "--max_batch_size", 8, "--max_wait_ms", 20)
    yield running
    running.stop()


def noise(h, w, seed=0):
    """Random pixels, uint8 [h, w, 3]."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def as_rows(records):
    """Answer records -> rows [k, 6] (category_id, score, x1, y1, x2, y2)."""
    return np.array([[r["category_id"], r["score"], r["bbox"][0], r["bbox"][1],
                      r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3]]
                     for r in records], dtype=np.float64).reshape(-1, 6)


def test_the_limits_default_to_the_exports_resize_and_info_tells_them(server, model_dir):
    preprocess = load_exported_model(model_dir).preprocess          # Resize [128, 192]
    assert work_limits(None, None, preprocess) == (192, 192 ** 2)   # every image batches
    assert work_limits(96, None, preprocess) == (96, 96 ** 2)
    assert work_limits(None, 5, [{"type": "Resize", "target_size": 640}]) == (640, 5)
    no_resize = [{"type": "Resize", "target_size": [512, 512], "keep_ratio": False},
                 {"type": "Permute"}]
    assert work_limits(None, None, no_resize) == (1024, 512 * 512)
    assert work_limits(800, 4000, no_resize) == (800, 4000)
    with pytest.raises(DeployError, match="Preprocess Resize: .*target_size"):
        work_limits(None, None, [{"type": "Resize"}])
    status, body, _ = request(server.port, "GET", "/info")
    limits = json_line(body)["limits"]
    assert (limits["max_side"], limits["max_batched_pixels"]) == (MAX_SIDE, MAX_BATCHED_PIXELS)


def test_an_image_over_max_side_is_shrunk_and_its_boxes_are_in_its_own_pixels(server,
                                                                               model_dir):
    # A 48x96 image enlarged 4 times (each pixel a 4x4 block): shrunk back to a long side of
    # 96 it is the small image again, so its detections are the small one's, 4 times larger.
    small = noise(48, 96)
    large = cv2.imencode(".png", np.repeat(np.repeat(small, 4, 0), 4, 1))[1].tobytes()
    detector = load_detector(model_dir, "paddle", RunOptions(cpu_threads=2))
    rows, = detector.detect([small[:, :, ::-1]])    # the PNG holds BGR, the server gives RGB
    expected = rows[rows[:, 1] >= THRESHOLD].astype(np.float64)
    expected[:, 2:] *= 4
    assert len(expected) > 0                       # the comparison compares something
    status, body = post_image(server.port, large, PREDICT, "image/png")
    assert status == 200
    found = as_rows(json_line(body))
    assert_same_detections(found, expected, box_atol=0.05, what="the 192x384 image")
    assert found[:, [4, 5]].max() > 96             # boxes beyond the shrunk image's size


def exif_turned(jpeg):
    """``jpeg`` with an EXIF APP1 segment saying 'rotate 90 degrees' (orientation 6)."""
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01"              # header, 1 IFD entry
            + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"  # Orientation = 6
            + b"\x00\x00\x00\x00")                                  # no next IFD
    segment = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + jpeg[2:]


def test_a_large_jpeg_is_decoded_reduced_to_the_limit_and_keeps_its_scale():
    image = cv2.GaussianBlur(noise(1200, 1600), (0, 0), 8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    decoded, scale = decode_bounded(jpeg, "a photo", 192)
    assert decoded.shape == (144, 192, 3) and scale == (1600 / 192, 1200 / 144)
    expected = cv2.resize(image[:, :, ::-1], (192, 144), interpolation=cv2.INTER_AREA)
    assert np.abs(decoded.astype(int) - expected).mean() < 2    # the same picture
    turned, scale = decode_bounded(exif_turned(cv2.imencode(".jpg", noise(700, 1000))[1]
                                               .tobytes()), "a turned photo", 192)
    assert turned.shape == (192, 134, 3) and scale == (700 / 134, 1000 / 192)


def test_a_small_request_is_answered_before_the_large_ones_queued_before_it(server):
    large = cv2.imencode(".png", cv2.GaussianBlur(noise(800, 1000), (0, 0), 4))[1].tobytes()
    small = cv2.imencode(".png", noise(40, 60))[1].tobytes()     # 2400 pixels: batched
    finished, statuses = [], []

    def post(data, name):               # record the order the answers come in
        status, _ = post_image(server.port, data, PREDICT, "image/png")
        statuses.append(status)
        finished.append(name)

    threads = [threading.Thread(target=post, args=(large, f"large {i}")) for i in range(24)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while queued_images(server.port) < 8:     # large images wait for the predictor
        assert time.monotonic() < deadline, "the large images never queued"
    answered_before = len(finished)
    post(small, "small")
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * 25
    # At least 8 large images were queued before the small one: in one queue it would wait
    # for all of them; in its own lane, only for the one being run.
    overtaken_by = finished.index("small") - answered_before
    assert overtaken_by <= 3, f"{overtaken_by} large images were answered while the small " \
        f"one waited"


def queued_images(port):
    """The server's ppfcos_queued_images (images waiting for the predictor)."""
    status, body, _ = request(port, "GET", "/metrics")
    line, = [line for line in body.decode().splitlines()
             if line.startswith("ppfcos_queued_images ")]
    return float(line.split()[1])


def test_with_two_predictors_one_is_kept_free_of_large_images():
    running, most_large, order = [], [0], []
    lock = threading.Lock()

    def detect(images):                 # rows [1, 6] holding each image's first pixel
        values = [int(image[0, 0, 0]) for image in images]
        large = values[0] < 100
        with lock:
            running.append(large)
            most_large[0] = max(most_large[0], running.count(True))
        time.sleep(0.3 if large else 0.01)
        with lock:
            running.remove(large)
            order.extend(values)
        return [np.full((1, 6), value, np.float32) for value in values]

    pngs = [cv2.imencode(".png", np.full((8, 8, 3), value, np.uint8))[1].tobytes()
            for value in (0, 1, 2, 3, 200)]
    batcher = Batcher([detect, detect], max_batch_size=4, max_wait_ms=0, max_queue=100,
                      max_batched_pixels=1000)
    batcher.start()

    async def submit_all():             # four large images (pixels 2000), then a small one
        tasks = [asyncio.ensure_future(batcher.submit(data, f"image {i}", 2000))
                 for i, data in enumerate(pngs[:4])]
        await asyncio.sleep(0.1)
        tasks.append(asyncio.ensure_future(batcher.submit(pngs[4], "small", 64)))
        return await asyncio.gather(*tasks)

    answers = asyncio.run(submit_all())
    batcher.close()
    assert [int(rows[0, 0]) for rows in answers] == [0, 1, 2, 3, 200]
    assert most_large[0] == 1               # the second predictor never took a large image
    assert order.index(200) <= 1            # so the small one ran at once, beside the first
