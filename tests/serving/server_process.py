"""ppfcos-serve run as a user runs it (``python -m ppfcos_runtime.serving.cli`` in a subprocess on a
free loopback port), and small HTTP helpers over http.client and raw sockets."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid

from conftest import REPO

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A running ppfcos-serve: ``port``, ``process``; :meth:`stop` sends SIGTERM."""

    def __init__(self, model_dir, *flags):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ppfcos_runtime.serving.cli", "--model_dir", str(model_dir),
             "--port", str(self.port), "--cpu_threads", "2", *map(str, flags)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stdout.read()}")
            try:
                if request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not answer /health within 120 s")

    def stop(self, timeout=60):
        """SIGTERM, wait -> (exit status, the server's output)."""
        if self.process.poll() is None:
            self.process.terminate()
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output


def request(port, method, path, body=None, headers=None, timeout=60):
    """(status, body bytes, headers dict) of one request on a new connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def post_image(port, data, path="/predict", content_type="image/jpeg"):
    status, body, _ = request(port, "POST", path, data, {"Content-Type": content_type})
    return status, body


def multipart(files):
    """(body, content type) of a multipart/form-data body of ``files``: [(field, filename,
    bytes)]."""
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename="
             f"\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n".encode() + data
             + b"\r\n" for field, name, data in files]
    return (b"".join(parts) + f"--{boundary}--\r\n".encode(),
            f"multipart/form-data; boundary={boundary}")


def post_multipart(port, files, path="/predict"):
    body, content_type = multipart(files)
    return post_image(port, body, path, content_type)


def json_line(body):
    """The JSON of a one-line body (AssertionError for a multi-line one)."""
    text = body.decode()
    assert "\n" not in text.strip(), text
    return json.loads(text)


def read_answer(connection):
    """(status line, body bytes) of the one HTTP answer on a raw socket: its head, then the
    Content-Length bytes of its body (which may come in later packets)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines
                  if line.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0], body
