"""Weights by URL, against a real HTTP server on 127.0.0.1 in a thread."""
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import paddle
import pytest

from ppfcos.checkpoint.download import cache_path, fetch, is_url
from ppfcos.checkpoint.errors import WeightsError
from ppfcos.checkpoint.loading import load_weights
from hostile import dead_pid, evil_pickle


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` {path: bytes}; ``server.declared`` overrides Content-Length."""

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(self.server.declared.get(self.path, len(body))))
        self.end_headers()
        self.wfile.write(body)   # HTTP/1.0: the connection closes after the body

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def weights_home(tmp_path, monkeypatch):
    """Every test caches under tmp_path, never in the real home directory."""
    monkeypatch.setenv("PPFCOS_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "weights"


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.declared, httpd.requests = {}, {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights_bytes(tmp_path, out=3):
    """The bytes of a real ``.pdparams`` file (a Linear(4, out)'s state dict)."""
    path = tmp_path / f"linear{out}.pdparams"
    paddle.save(paddle.nn.Linear(4, out).state_dict(), str(path))
    return path.read_bytes()


def test_is_url():
    assert is_url("http://a/b.pdparams") and is_url("https://a/b.pdparams")
    assert not is_url("output/model_final") and not is_url("/abs/http://x")


def test_downloads_once_then_uses_the_cache(server, tmp_path, capsys):
    body = server.files["/models/w.pdparams"] = weights_bytes(tmp_path)
    url = server.url + "/models/w.pdparams"
    path = fetch(url, cache_dir=str(tmp_path / "cache"))
    assert path == str(tmp_path / "cache" / "w.pdparams")
    assert open(path, "rb").read() == body
    assert f"{url} -> {path}" in capsys.readouterr().out
    assert fetch(url, cache_dir=str(tmp_path / "cache")) == path
    assert server.requests == ["/models/w.pdparams"]
    assert os.listdir(tmp_path / "cache") == ["w.pdparams"]


def test_truncated_download_leaves_no_file(server, tmp_path):
    server.files["/t.pdparams"] = b"y" * 10
    server.declared["/t.pdparams"] = 1000
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="received 10 of 1000 bytes"):
        fetch(server.url + "/t.pdparams", cache_dir=str(cache))
    assert os.listdir(cache) == []


def test_http_error_is_a_weights_error(server, tmp_path):
    with pytest.raises(WeightsError, match="404"):
        fetch(server.url + "/missing.pdparams", cache_dir=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_unreachable_url_names_the_url_and_the_cache_path(weights_home):
    url = f"http://127.0.0.1:{closed_port()}/x.pdparams"
    with pytest.raises(WeightsError) as err:
        fetch(url)
    message = str(err.value)
    assert url in message
    assert str(weights_home / "x.pdparams") in message
    assert not (weights_home / "x.pdparams").exists()


def test_file_put_by_hand_is_used_offline(weights_home):
    url = f"http://127.0.0.1:{closed_port()}/x.pdparams"
    weights_home.mkdir(parents=True)
    (weights_home / "x.pdparams").write_bytes(b"by hand")
    assert fetch(url) == str(weights_home / "x.pdparams")


def test_ppfcos_home_is_the_default_cache(server, weights_home, tmp_path):
    body = server.files["/a/b.pdparams"] = weights_bytes(tmp_path)
    url = server.url + "/a/b.pdparams"
    assert cache_path(url) == str(weights_home / "b.pdparams")
    assert fetch(url) == str(weights_home / "b.pdparams")
    assert (weights_home / "b.pdparams").read_bytes() == body


def test_error_page_served_with_200_never_enters_the_cache(server, tmp_path):
    server.files["/w.pdparams"] = b"<html><body>Access denied</body></html>"
    cache = tmp_path / "cache"
    for _ in range(2):   # asked again: downloaded again, not served from the cache
        with pytest.raises(WeightsError, match="cannot read weights file"):
            fetch(server.url + "/w.pdparams", cache_dir=str(cache))
    assert os.listdir(cache) == []
    assert server.requests == ["/w.pdparams", "/w.pdparams"]


def test_download_of_a_pickle_that_runs_code_is_refused(server, tmp_path):
    marker = tmp_path / "ran"
    server.files["/evil.pdparams"] = evil_pickle(marker)
    with pytest.raises(WeightsError, match="refusing to load .*posix.system"):
        fetch(server.url + "/evil.pdparams", cache_dir=str(tmp_path / "cache"))
    assert not marker.exists()
    assert os.listdir(tmp_path / "cache") == []


def test_parts_of_killed_downloads_are_removed(server, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    dead = dead_pid()
    (cache / f"x.pdparams.part-{dead}").write_bytes(b"half")
    (cache / f"y.pdparams.part-{os.getpid()}").write_bytes(b"ours, still running")
    server.files["/w.pdparams"] = weights_bytes(tmp_path)
    fetch(server.url + "/w.pdparams", cache_dir=str(cache))
    assert sorted(os.listdir(cache)) == ["w.pdparams", f"y.pdparams.part-{os.getpid()}"]


def test_load_weights_from_url(server, tmp_path, weights_home):
    source, target = paddle.nn.Linear(4, 3), paddle.nn.Linear(4, 3)
    saved = tmp_path / "linear.pdparams"
    paddle.save(source.state_dict(), str(saved))
    server.files["/models/linear.pdparams"] = saved.read_bytes()
    report = load_weights(target, server.url + "/models/linear")   # suffix appended
    assert sorted(report.loaded) == ["bias", "weight"]
    np.testing.assert_array_equal(target.weight.numpy(), source.weight.numpy())
    assert (weights_home / "linear.pdparams").is_file()
    assert server.requests == ["/models/linear.pdparams"]
