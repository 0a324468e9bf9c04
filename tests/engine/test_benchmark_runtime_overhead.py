"""benchmarks/benchmark_runtime_overhead.py run as a user runs it, on the tiny export (one
round, no timed assertions): every backend and precision the export has files for is
printed with ppfcos's and the runtime's own time and their ratio, --max_ratio fails when
forced, bad arguments are one error line (its main() in this process: no model is
built), and the export is left as it was."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, export_onnx_or_skip, load_tool
from tiny_model import TINY_PLAIN, seeded_tiny_model, write_images
from tool_runs import checksums, one_error_line
from ppfcos.export import export_model
from ppfcos_runtime.paddle_compat import paddle_bf16_unsupported

for module in ("paddle2onnx", "onnxruntime", "openvino"):
    pytest.importorskip(module, reason=f"the test extra is not installed ({module}): "
                        f"pip install -e .[test]")

tool = load_tool("benchmark_runtime_overhead", folder="benchmarks")
SCRIPT = os.path.join(REPO, "benchmarks", "benchmark_runtime_overhead.py")
ROW = re.compile(r"^\| (\w+) \| (\w+)" + r" \| ([\d.]+)" * 6 + r" \|$", re.M)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """(the tiny export with model.onnx and no model_int8.onnx, a test image)."""
    root = tmp_path_factory.mktemp("overhead")
    cfg, model = seeded_tiny_model(root, fuse=True, config=TINY_PLAIN)
    model_dir = export_model(model, cfg, str(root / "model"))
    export_onnx_or_skip(model_dir)
    (root / "images").mkdir()
    return root / "model", str(write_images(root / "images") / "a.jpg")


def benchmark(*args):
    """Run the script with one round and one warm-up -> CompletedProcess."""
    return subprocess.run([sys.executable, SCRIPT, "--rounds", "1", "--warmup", "1",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def test_each_backend_is_printed_beside_its_runtime_with_the_ratio(export):
    model_dir, image = export
    before = checksums(model_dir)
    done = benchmark("--model_dir", model_dir, "--image", image, "--max_ratio", "1000")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^CPU: .+ oneDNN ISA \w+$", done.stdout, re.M)
    assert "load average before: " in done.stdout and "load average after: " in done.stdout
    assert "input image 60x90 -> 1x3x128x192; 2 thread(s)" in done.stdout
    rows = {(backend, precision): tuple(map(float, figures))
            for backend, precision, *figures in ROW.findall(done.stdout)}
    bf16 = [] if paddle_bf16_unsupported() else [("paddle", "bf16")]
    assert sorted(rows) == sorted([("paddle", "fp32"), *bf16, ("onnxruntime", "fp32"),
                                   ("openvino", "fp32"), ("openvino", "bf16")])
    for ours, theirs, ratio, best_ours, best_theirs, best_ratio in rows.values():
        # one round: its times are the medians and the best; times printed to 0.01 ms
        assert ours == best_ours > 0 and theirs == best_theirs > 0
        assert ratio == best_ratio == pytest.approx(ours / theirs, rel=0.01)
    # no model_int8.onnx: the int8 rows are named as not run
    for backend in ("onnxruntime", "openvino"):
        assert f"{backend} int8: not run (" in done.stdout
    assert checksums(model_dir) == before


def test_max_ratio_fails_when_forced(export):
    model_dir, image = export
    done = benchmark("--model_dir", model_dir, "--image", image, "--backends", "onnxruntime",
                     "--max_ratio", "0.01")
    line = one_error_line(1, done.returncode, done.stdout, done.stderr)
    assert re.fullmatch(r"error: ppfcos takes more than --max_ratio 0\.01 times the "
                        r"runtime's own time: onnxruntime fp32 [\d.]+", line)
    assert len(ROW.findall(done.stdout)) == 1   # the table is printed first


@pytest.mark.parametrize("args, message", [
    (["--model_dir", "no/such/dir"], "error: model directory not found: no/such/dir"),
    (["--model_dir", "{model_dir}", "--image", "no/such.jpg"],
     "error: --image no/such.jpg: no such file"),
    (["-c", "no/such.yml"], "error: -c no/such.yml: no such config file"),
])
def test_bad_arguments_are_one_error_line(export, args, message, capsys):
    model_dir, _ = export
    assert tool.main([arg.format(model_dir=model_dir) for arg in args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1
