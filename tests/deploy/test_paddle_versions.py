"""Paddle versions: an unsupported Paddle is refused at import in one line, and every
supported one gives the same detections in dygraph, Paddle Inference and ONNX Runtime.

CI runs this file on each Paddle of the matrix with PPFCOS_VERSION_RECORDS set to one
folder: each run writes its detections there and compares them with the runs before it.
"""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import test_deploy_infer
from conftest import REPO, assert_same_detections
from test_deploy_infer import TINY_PLAIN, export_tiny, image_paths

from ppfcos import compat

image_dir = test_deploy_infer.image_dir   # a fixture

from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.predictor import RunOptions  # noqa: E402


@pytest.mark.parametrize("version, supported", [
    ("2.6.2", True), ("2.6.0", True), ("3.0.0", True), ("3.1.1", True), ("3.2.2", True),
    ("3.3.1", True), ("3.0.0rc1", True), ("0.0.0", True),      # a develop build
    ("2.5.2", False), ("2.4.0", False), ("3.4.0", False), ("4.0.0", False)])
def test_supported_versions(version, supported):
    if supported:
        compat.check_paddle_version(version)
    else:
        with pytest.raises(compat.UnsupportedPaddleError, match=f"this is Paddle {version}"):
            compat.check_paddle_version(version)


# Runs before anything else in the process: binds zlib as ppfcos does (Paddle 2.6 crashes
# otherwise), then makes the imported Paddle claim another version.
FAKE_VERSION = ("import zlib; zlib.decompress(zlib.compress(b'x')); import paddle; "
                "paddle.__version__ = {version!r}")


def fake_paddle_env(tmp_path, version):
    """Environment whose Python reports Paddle ``version`` (a sitecustomize sets it)."""
    (tmp_path / "sitecustomize.py").write_text(FAKE_VERSION.format(version=version) + "\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}


def run_under_paddle(tmp_path, version, *command):
    """``python *command`` in the repository, in a process whose Paddle reports ``version``."""
    return subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True,
                          env=fake_paddle_env(tmp_path, version), timeout=120)


REFUSAL = (f"ppfcos supports Paddle {compat.SUPPORTED_TEXT}; this is Paddle 2.5.2. "
           f"Install a supported one: {compat.INSTALL_HINT}")


def test_a_tool_refuses_an_unsupported_paddle_in_one_line(tmp_path):
    done = run_under_paddle(tmp_path, "2.5.2", "tools/train.py", "-c",
                            "configs/demo/fcos_r18_lite_synthetic.yml")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == f"error: {REFUSAL}"


def test_import_refuses_an_unsupported_paddle_with_its_own_exception(tmp_path):
    """A library import raises UnsupportedPaddleError as Python shows any exception: importing
    ppfcos installs no excepthook of its own."""
    done = run_under_paddle(tmp_path, "2.5.2", "-c", "import ppfcos")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"ppfcos_runtime.paddle_compat.UnsupportedPaddleError: {REFUSAL}")


def detections_of_every_runtime(root, image_dir):
    """{runtime: detections [K, 6] per image} of the tiny model: dygraph, Paddle Inference
    (oneDNN on) and, where the onnx extra is installed, ONNX Runtime."""
    model_dir, _, dygraph = export_tiny(root, True, image_paths(image_dir), TINY_PLAIN)
    runtimes = {"dygraph": dygraph}
    images = [read_image(p) for p in image_paths(image_dir)]
    backends = ["paddle"]
    try:
        import onnxruntime  # noqa: F401
        from ppfcos.export.onnx import export_onnx
        export_onnx(model_dir)
        backends.append("onnxruntime")
    except ImportError:
        pass
    for backend in backends:
        detector = load_detector(model_dir, backend, RunOptions(cpu_threads=2))
        runtimes[backend] = detector.detect(images)
    return runtimes


def assert_same_per_image(found, expected, what):
    for i, (rows, reference) in enumerate(zip(found, expected)):
        assert_same_detections(rows, reference, score_atol=1e-4, box_atol=1e-2,
                               what=f"{what}, image {i}")


def test_every_runtime_and_paddle_version_gives_the_same_detections(tmp_path, image_dir):
    runtimes = detections_of_every_runtime(tmp_path, image_dir)
    assert sum(len(rows) for rows in runtimes["dygraph"]) > 20
    for name, found in runtimes.items():
        assert_same_per_image(found, runtimes["dygraph"], f"{name} against dygraph")
    records = os.environ.get("PPFCOS_VERSION_RECORDS")
    if not records:
        return
    os.makedirs(records, exist_ok=True)
    # Written under a temporary name and renamed: versions running at the same time read
    # only whole records.
    record = os.path.join(records, f"paddle-{paddle.__version__}.npz")
    with open(record + ".partial", "wb") as f:
        np.savez(f, **{f"{name}_{i}": rows for name, found in runtimes.items()
                       for i, rows in enumerate(found)})
    os.replace(record + ".partial", record)
    for name in sorted(n for n in os.listdir(records) if n.endswith(".npz")):
        other = np.load(os.path.join(records, name))
        for key in other.files:
            runtime, index = key.rsplit("_", 1)
            assert_same_per_image([runtimes["dygraph"][int(index)]], [other[key]],
                                   f"Paddle {paddle.__version__} dygraph against {name} {key}")
