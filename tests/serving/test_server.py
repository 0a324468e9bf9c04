"""ppfcos-serve in a subprocess, over real HTTP on loopback: every endpoint, batched answers
equal to lone ones (up to conftest's RUN_TO_RUN tolerances), each kind of bad input refused
in one line of JSON with the next request still answered, the slow-client timeouts,
/metrics, and a shutdown that finishes requests in flight."""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

import cv2
import numpy as np
import paddle
import pytest

from ppfcos_runtime.serving.loadgen import raw_request, run_load
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.factory import load_detector
from ppfcos_runtime.media import decode_image
from ppfcos_runtime.predictor import RunOptions
from ppfcos_runtime.results import detection_records
from conftest import assert_run_to_run_detections, fixture_tmp
from server_process import (HOST, Server, json_line, multipart, post_image, post_multipart,
                            read_answer, request)
from tiny_model import LABELS, THRESHOLD, export_seeded_tiny

pytest.importorskip("fastapi", reason="needs pip install -e .[serve]")
PREDICT = f"/predict?threshold={THRESHOLD}"
# The test server's limits, small enough to reach quickly.
MAX_BODY_MB, MAX_PIXELS, CLIENT_TIMEOUT = 1, 1_000_000, 1.5
SERVER_FLAGS = ("--max_batch_size", 8, "--max_wait_ms", 100, "--max_body_mb", MAX_BODY_MB,
                "--max_pixels", MAX_PIXELS, "--client_timeout", CLIENT_TIMEOUT)


def encoded_images():
    """{name: bytes}: eight random 60x90 JPEGs (one preprocessed shape, so they can share a
    predictor run) and three of other sizes and formats."""
    rng = np.random.default_rng(0)
    sizes = {**{f"same{i}.jpg": (60, 90) for i in range(8)}, "square.png": (80, 80),
             "wide.jpg": (50, 120), "tall.bmp": (100, 70)}
    return {name: cv2.imencode("." + name.rsplit(".", 1)[1],
                               rng.integers(0, 256, (h, w, 3), dtype=np.uint8))[1].tobytes()
            for name, (h, w) in sizes.items()}


IMAGES = encoded_images()


@pytest.fixture(scope="module")
def model_dir(request):
    return export_seeded_tiny(fixture_tmp(request, "serve"))


@pytest.fixture(scope="module")
def server(model_dir):
    running = Server(model_dir, *SERVER_FLAGS)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def alone(model_dir):
    """{name: the records ppfcos_runtime's ExportDetector gives the image alone (batch of one)}."""
    detector = load_detector(model_dir, "paddle", RunOptions(cpu_threads=2))
    model = detector.exported
    records = {}
    for name, data in IMAGES.items():
        rows, = detector.detect([decode_image(data, name)])
        records[name] = json.loads(json.dumps(detection_records(
            rows[rows[:, 1] >= THRESHOLD], model.label_list, model.category_ids)))
    assert sum(map(len, records.values())) > 0      # the comparisons below compare something
    return records


def record_rows(records):
    """Answer records -> rows [k, 6] (category_id, score, x, y, w, h), each record checked to
    have the answer's four keys and its class's name."""
    for record in records:
        assert set(record) == {"category_id", "category", "score", "bbox"}, record
        assert record["category"] == LABELS[record["category_id"]], record
    return np.array([[r["category_id"], r["score"], *r["bbox"]] for r in records],
                    np.float64).reshape(-1, 6)


def assert_records_of_alone(records, expected, threshold=THRESHOLD):
    """The server's records of an image are the lone run's ``expected`` up to conftest's
    RUN_TO_RUN tolerances: the server's predictor runs the image in other batches, and in a
    process that uses MKL's AVX2 path on AMD CPUs, where the pytest process, whose dygraph
    ran before the switch was set, uses MKL's default one. Records within the score
    tolerance of ``threshold`` may be in one answer only."""
    assert_run_to_run_detections(record_rows(records), record_rows(expected), threshold)


def assert_answer_of_alone(answer, expected, threshold=THRESHOLD):
    """``answer`` (status, body) is a 200 whose one-line JSON records are ``expected``'s
    (assert_records_of_alone)."""
    status, body = answer
    assert status == 200, body
    assert_records_of_alone(json_line(body), expected, threshold)


def metric(port, name, **labels):
    """The value of one sample of /metrics (0 when absent)."""
    status, body, headers = request(port, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{selector}}}" if labels else "")) + r" (\S+)"
    found = re.search("^" + pattern + "$", body.decode(), re.M)
    return float(found.group(1)) if found else 0.0


def test_health_and_info(server, model_dir):
    status, body, _ = request(server.port, "GET", "/health")
    assert (status, json_line(body)) == (200, {"status": "ok"})
    status, body, _ = request(server.port, "GET", "/info")
    info = json_line(body)
    assert status == 200
    assert (info["model_dir"], info["backend"], info["precision"]) == (model_dir, "paddle",
                                                                        "fp32")
    assert info["classes"] == LABELS and info["paddle"] == paddle.__version__
    assert info["cpu"].startswith("CPU: ") and "oneDNN ISA" in info["cpu"]
    assert info["batching"] == {"max_batch_size": 8, "max_wait_ms": 100.0}
    assert info["limits"]["max_body_bytes"] == MAX_BODY_MB * 2 ** 20
    assert info["limits"]["max_pixels"] == MAX_PIXELS


@pytest.mark.parametrize("name", ["same0.jpg", "square.png", "tall.bmp"])
def test_predict_raw_and_multipart_give_the_detections_of_the_detector(server, alone, name):
    content_type = {"jpg": "image/jpeg", "png": "image/png", "bmp": "image/bmp"}
    assert_answer_of_alone(post_image(server.port, IMAGES[name], PREDICT,
                                      content_type[name.rsplit(".", 1)[1]]), alone[name])
    assert_answer_of_alone(post_multipart(server.port, [("image", name, IMAGES[name])],
                                          PREDICT), alone[name])


def test_default_threshold_is_the_models_draw_threshold(server, model_dir, alone):
    threshold = load_exported_model(model_dir).draw_threshold
    assert threshold > THRESHOLD        # the default cuts more than the lone run did
    assert_answer_of_alone(post_image(server.port, IMAGES["same1.jpg"], "/predict"),
                           [r for r in alone["same1.jpg"] if r["score"] >= threshold],
                           threshold)


def test_predict_batch_answers_each_image_in_order(server, alone):
    names = ["wide.jpg", "same2.jpg", "square.png", "same3.jpg"]
    status, body = post_multipart(server.port, [("images", n, IMAGES[n]) for n in names],
                                  "/predict/batch" + PREDICT[len("/predict"):])
    assert status == 200
    answers = json_line(body)
    assert len(answers) == len(names)
    for records, name in zip(answers, names):
        assert_records_of_alone(records, alone[name])


def test_concurrent_requests_are_batched_and_get_the_detections_they_get_alone(server, alone):
    names = list(IMAGES)
    before = metric(server.port, "ppfcos_batch_size_count")
    requests = [raw_request(HOST, server.port, PREDICT, IMAGES[n]) for n in names]
    result = asyncio.run(run_load(HOST, server.port, requests, len(names), 3 * len(names),
                                  keep_bodies=True))
    assert result.errors == 0
    for index, answer in result.bodies.items():
        assert_answer_of_alone(answer, alone[names[index % len(names)]])
    runs = metric(server.port, "ppfcos_batch_size_count") - before
    assert runs < 3 * len(names)          # some requests shared a predictor run


def png_bomb(side):
    """A real PNG of side x side black grey pixels: a few hundred KB that inflate to side**2
    bytes (a decompression bomb)."""
    def chunk(kind, data):
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    compressor, row = zlib.compressobj(9), b"\x00" * (side + 1)
    idat = b"".join(compressor.compress(row * 500) for _ in range(side // 500))
    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", idat + compressor.flush()) + chunk(b"IEND", b""))


def json_post(content_type):
    return lambda data: post_image(data[0], data[1], PREDICT, content_type)


BAD_INPUTS = {
    # name: (body or a function of the good JPEG, path, content type, status, reason)
    "not an image": (b"GIF89a not really", PREDICT, "image/jpeg", 400, "not_an_image"),
    "empty body": (b"", PREDICT, "application/octet-stream", 400, "not_an_image"),
    "truncated JPEG": (lambda jpg: jpg[:len(jpg) // 2], PREDICT, "image/jpeg", 400,
                       "not_an_image"),
    "JPEG header only": (lambda jpg: jpg[:200], PREDICT, "image/jpeg", 400, "not_an_image"),
    "20000x20000 PNG bomb": (lambda jpg: png_bomb(20000), PREDICT, "image/png", 422,
                             "too_many_pixels"),
    "wrong content type": (lambda jpg: jpg, PREDICT, "text/plain", 415, "content_type"),
    "no content type": (lambda jpg: jpg, PREDICT, None, 415, "content_type"),
    "threshold above 1": (lambda jpg: jpg, "/predict?threshold=1.5", "image/jpeg", 422,
                          "bad_threshold"),
    "threshold not a number": (lambda jpg: jpg, "/predict?threshold=high", "image/jpeg", 422,
                               "bad_threshold"),
    "batch not multipart": (lambda jpg: jpg, "/predict/batch", "image/jpeg", 415,
                            "content_type"),
    "unknown endpoint": (lambda jpg: jpg, "/detect", "image/jpeg", 404, "not_found"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_a_4xx_of_one_json_line_and_the_next_request_is_answered(
        server, alone, case):
    body, path, content_type, status, reason = BAD_INPUTS[case]
    jpg = IMAGES["same4.jpg"]
    data = body(jpg) if callable(body) else body
    headers = {"Content-Type": content_type} if content_type else {}
    errors_before = metric(server.port, "ppfcos_errors_total", reason=reason)
    answer_status, answer, _ = request(server.port, "POST", path, data, headers)
    refusal = json_line(answer)
    assert (answer_status, refusal["reason"]) == (status, reason)
    assert refusal["error"] and "\n" not in refusal["error"]
    assert metric(server.port, "ppfcos_errors_total", reason=reason) == errors_before + 1
    assert_answer_of_alone(post_image(server.port, jpg, PREDICT), alone["same4.jpg"])


def test_an_oversized_body_is_refused_from_its_content_length(server, alone):
    # As curl sends a large upload: the headers, then the body only after "100 Continue".
    # The answer comes first, so the client sends nothing more (sending the whole body at
    # once would race the server's close).
    errors_before = metric(server.port, "ppfcos_errors_total", reason="body_too_large")
    connection = socket.create_connection((HOST, server.port), timeout=30)
    with connection:
        connection.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg"
                           f"\r\nContent-Length: {MAX_BODY_MB * 2 ** 20 + 1}\r\n"
                           f"Expect: 100-continue\r\n\r\n".encode())
        status, answer = read_answer(connection)
    assert status.startswith("HTTP/1.1 413")
    refusal = json_line(answer)
    assert refusal == {"error": f"the request body is over the server's limit of "
                       f"{MAX_BODY_MB * 2 ** 20} bytes (--max_body_mb)",
                       "reason": "body_too_large"}
    assert metric(server.port, "ppfcos_errors_total", reason="body_too_large") == \
        errors_before + 1
    assert_answer_of_alone(post_image(server.port, IMAGES["same4.jpg"], PREDICT),
                           alone["same4.jpg"])


def test_a_bad_image_in_a_batch_names_it(server):
    body, content_type = multipart([("images", "a.jpg", IMAGES["same5.jpg"]),
                                    ("images", "b.jpg", IMAGES["same6.jpg"][:300])])
    status, answer = post_image(server.port, body, "/predict/batch", content_type)
    refusal = json_line(answer)
    assert (status, refusal["reason"]) == (400, "not_an_image")
    assert refusal["error"].startswith("image 1 (b.jpg) is not a JPEG, PNG or BMP image")


def test_an_oversized_chunked_body_is_refused_while_it_arrives(server):
    connection = socket.create_connection((HOST, server.port), timeout=30)
    with connection:
        connection.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg"
                           f"\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"\xff" * 65536
        try:
            for _ in range(MAX_BODY_MB * 16 + 2):
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass                            # the server answered and closed mid-upload
        status, answer = read_answer(connection)
    assert status.startswith("HTTP/1.1 413")
    assert json_line(answer)["reason"] == "body_too_large"


def test_slow_clients_are_timed_out_and_others_still_answered(server, alone):
    headers_only = socket.create_connection((HOST, server.port), timeout=30)
    body_short = socket.create_connection((HOST, server.port), timeout=30)
    with headers_only, body_short:
        headers_only.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-")
        body_short.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg"
                           f"\r\nContent-Length: 5000\r\n\r\n".encode() + b"\xff\xd8")
        assert post_image(server.port, IMAGES["same7.jpg"], PREDICT)[0] == 200
        started = time.monotonic()
        status, answer = read_answer(body_short)
        assert status.startswith("HTTP/1.1 408")
        assert json_line(answer)["reason"] == "timeout"
        assert headers_only.recv(65536) == b""          # closed without an answer
        assert time.monotonic() - started < 2 * CLIENT_TIMEOUT + 1
    assert_answer_of_alone(post_image(server.port, IMAGES["same7.jpg"], PREDICT),
                           alone["same7.jpg"])


def test_metrics_count_requests_latency_and_batches(server):
    answered = metric(server.port, "ppfcos_requests_total", endpoint="/predict", status="200")
    post_image(server.port, IMAGES["wide.jpg"], PREDICT)
    assert metric(server.port, "ppfcos_requests_total", endpoint="/predict",
                  status="200") == answered + 1
    assert metric(server.port, "ppfcos_request_seconds_count", endpoint="/predict") >= \
        answered + 1
    assert metric(server.port, "ppfcos_request_seconds_bucket", endpoint="/predict",
                  le="+Inf") >= answered + 1
    assert metric(server.port, "ppfcos_batch_size_count") >= 1
    assert metric(server.port, "ppfcos_batch_size_bucket", le="64.0") == \
        metric(server.port, "ppfcos_batch_size_count")
    assert metric(server.port, "ppfcos_queued_images") == 0


def test_shutdown_finishes_the_requests_in_flight(model_dir, alone):
    slow_batches = Server(model_dir, "--max_batch_size", 8, "--max_wait_ms", 3000)
    answers = []
    worker = threading.Thread(target=lambda: answers.append(
        post_image(slow_batches.port, IMAGES["same0.jpg"], PREDICT)))
    worker.start()
    time.sleep(1.0)                   # the request waits in the batcher for 3 s
    started = time.monotonic()
    status, output = slow_batches.stop()
    worker.join(timeout=30)
    assert len(answers) == 1
    assert_answer_of_alone(answers[0], alone["same0.jpg"])
    # uvicorn re-raises the SIGTERM it caught once it has shut down cleanly
    assert status == -signal.SIGTERM and "Application shutdown complete" in output
    assert time.monotonic() - started < 30
    with pytest.raises(OSError):
        request(slow_batches.port, "GET", "/health", timeout=5)


def test_a_bad_model_dir_is_one_error_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ppfcos_runtime.serving.cli", "--model_dir",
                           str(tmp_path / "missing")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: model directory not found: {tmp_path / 'missing'} (export a model with "
        f"tools/export_model.py)")


def predictor_children(pid):
    """PIDs of the spawned predictor processes of process ``pid`` (Linux /proc; each of its
    threads lists the children it started)."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            children += [int(child) for child in f.read().split()]
    found = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                found.append(child)
    return found


def test_predictor_processes_give_the_detections_of_one_and_a_dead_one_is_replaced(model_dir,
                                                                                     alone):
    pool = Server(model_dir, "--predictor_processes", 2, "--max_batch_size", 4,
                  "--max_wait_ms", 20)
    try:
        status, body, _ = request(pool.port, "GET", "/info")
        assert (json_line(body)["predictor_processes"], json_line(body)["cpu_threads"]) == (2, 2)
        names = list(IMAGES)

        def answers_equal_alone():
            requests = [raw_request(HOST, pool.port, PREDICT, IMAGES[n]) for n in names]
            result = asyncio.run(run_load(HOST, pool.port, requests, len(names),
                                          2 * len(names), keep_bodies=True))
            assert result.errors == 0
            for index, answer in result.bodies.items():
                assert_answer_of_alone(answer, alone[names[index % len(names)]])

        answers_equal_alone()
        children = predictor_children(pool.process.pid)
        assert len(children) == 2
        os.kill(children[0], signal.SIGKILL)
        time.sleep(1.0)
        answers_equal_alone()        # the killed predictor was replaced before its next run
        assert len(predictor_children(pool.process.pid)) == 2
    finally:
        status, output = pool.stop()
    assert status == -signal.SIGTERM and "Application shutdown complete" in output
