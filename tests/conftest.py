"""Shared test helpers: fixture paths, the Paddle device for tests, YAML files and tools."""
import importlib.util
import os
import shutil

import numpy as np

import ppfcos.compat  # noqa: F401  (before paddle: see ppfcos.compat.bind_system_zlib)
import paddle  # noqa: E402
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CONFIGS = os.path.join(REPO, "configs")
PPDET_CONFIGS = os.path.join(FIXTURES, "ppdet_configs")
ZOO = ["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco", "fcos_r50_fpn_iou_1x_coco",
       "fcos_r50_fpn_multiscale_2x_coco", "fcos_r50_fpn_iou_multiscale_2x_coco"]

paddle.set_device("cpu")
paddle.base.core.set_num_threads(2)


def fixture(name):
    return np.load(os.path.join(FIXTURES, name))


@pytest.fixture
def write_yaml(tmp_path):
    """write_yaml('a.yml', text) -> path of the written file under tmp_path."""
    def write(relpath, text):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)
    return write


def fixture_tmp(request, name):
    """A new folder (pathlib.Path, tmp_path_factory.mktemp(name)) for the exports and runs
    of the module- or class-scoped fixture whose ``request`` this is: removed when that
    fixture is torn down (its module's tests have ended, or the next parameter's begin),
    unless a test failed meanwhile (then kept for inspection, as a failed test's tmp_path
    is). mktemp's folders otherwise stay until the session ends, so a run's disk use would
    be the sum of every module's exports (the last CI run filled the disk)."""
    folder = request.getfixturevalue("tmp_path_factory").mktemp(name)
    failed_before = request.session.testsfailed

    def remove():
        if request.session.testsfailed == failed_before:
            shutil.rmtree(folder, ignore_errors=True)
    request.addfinalizer(remove)
    return folder


def load_tool(name, folder="tools"):
    """<folder>/<name>.py (tools/ or benchmarks/) as a module (named tool_<name>: deploy has
    a benchmark module too)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}",
                                                  os.path.join(REPO, folder, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime(backend, model, threads=2, **options):
    """run(inputs) -> (bbox, bbox_num) of ppfcos_runtime's ``backend`` on ``model``: an export
    directory, or the path of an ONNX model alone; ``options``: more RunOptions."""
    from ppfcos_runtime.exported_model import ExportedModel, load_exported_model
    from ppfcos_runtime.predictor import RunOptions, create_predictor
    options = RunOptions(cpu_threads=threads, **options)
    exported = (load_exported_model(model, backend, options.precision) if os.path.isdir(model)
                else ExportedModel(onnx=model))
    return create_predictor(backend, exported, options).run


def export_onnx_or_skip(model_dir):
    """ppfcos.export.onnx.export_onnx(model_dir), or a skip where this Paddle's paddle2onnx
    cannot write the model's operators (deformable conv on Paddle 2.6), once the refusal
    has been checked to be the one-line OnnxExportError saying so."""
    import paddle2onnx
    from ppfcos.compat import paddle2onnx_max_opset
    from ppfcos.export.onnx import OnnxExportError, export_onnx
    try:
        return export_onnx(model_dir)
    except OnnxExportError as e:
        if paddle2onnx_max_opset(paddle2onnx) >= 19 or "convert this model with Paddle 3" not in str(e):
            raise
        pytest.skip(f"refused as expected on Paddle {paddle.__version__}: {e}")


# The program file an export writes with this Paddle (3.x: PIR model.json; 2.6: model.pdmodel).
from ppfcos.compat import writes_pir_programs  # noqa: E402
PROGRAM_FILE = "model.json" if writes_pir_programs() else "model.pdmodel"


def export_listing(model_dir):
    """Sorted file names of an export, less the model.pdiparams.info Paddle 2.6 adds."""
    return sorted(name for name in os.listdir(model_dir) if name != "model.pdiparams.info")


# Detections of one export in two runs on one machine that differ in batch composition, CPU
# thread count, or MKL's code path (the ppfcos-serve and ppfcos.Detector tests compare such
# runs). They are not bit-equal where the model has a deformable convolution: Paddle Inference
# runs it as Paddle's own kernel over MKL's SGEMM, and on AMD CPUs, where MKL's AVX2 path is
# selected (MKL_DEBUG_CPU_TYPE=5, in processes that set it before their first BLAS call), that
# path sums in an order that depends on the GEMM's size (the batch) and thread count. Measured
# on an AMD EPYC (tests/serving's tiny model, 11 images, 1100 rows, batch 1 vs 8, 1 vs 2
# threads, AVX2 vs MKL's default path): at most 9.1e-7 in score and 1.1e-4 px in a box
# coordinate; the same model without DCN gave bit-equal rows in every pairing. The
# tolerances are about ten times those, and far below what a real fault changes (a class, a
# pixel, a score rescaled or taken from another image).
RUN_TO_RUN_SCORE_ATOL = 1e-5
RUN_TO_RUN_BOX_ATOL = 1e-3


def assert_same_detections(found, expected, score_atol=1e-3, box_atol=1e-2, what="",
                           threshold=None):
    """Detections [K, 6] (class, score, x1, y1, x2, y2) equal up to tolerance, in any order
    among rows of one class whose scores are within ``score_atol`` (runtimes computing
    the same scores to ~1e-6 may order such near-ties either way; NMS sorts by score).
    Each expected row needs its own found row: same class, score and box within tolerance.

    ``threshold``: both sets were cut at this score, so a row scoring below
    threshold + score_atol in one may be missing from the other (the other run scored it
    just under the cut); every row above that margin still needs its partner."""
    found = np.asarray(found, np.float64).reshape(-1, 6)
    expected = np.asarray(expected, np.float64).reshape(-1, 6)
    if threshold is None:
        assert found.shape == expected.shape, f"{what}: {found.shape} against {expected.shape}"
    margin = -np.inf if threshold is None else threshold + score_atol
    unused = list(range(len(found)))
    for row in expected[np.argsort(-expected[:, 1], kind="stable")]:
        close = [i for i in unused if found[i, 0] == row[0]
                 and abs(found[i, 1] - row[1]) <= score_atol]
        best = min(close, key=lambda i: np.abs(found[i, 2:] - row[2:]).max(), default=None)
        error = np.inf if best is None else np.abs(found[best, 2:] - row[2:]).max()
        if row[1] < margin and error > box_atol:
            continue                  # a near-threshold row the other run left out
        assert close, f"{what}: no row of class {row[0]:g} with score {row[1]:.6f}"
        assert error <= box_atol, f"{what}: box of {row} off by {error:.4f} px"
        unused.remove(best)
    extra = found[unused]
    assert (extra[:, 1] < margin).all(), \
        f"{what}: rows not expected: {extra[extra[:, 1] >= margin]}"


def assert_run_to_run_detections(found, expected, threshold, what=""):
    """assert_same_detections with the RUN_TO_RUN tolerances, for rows of two runs of one
    model (batched or not, on other threads, in another process), both cut at
    ``threshold``."""
    assert_same_detections(found, expected, RUN_TO_RUN_SCORE_ATOL, RUN_TO_RUN_BOX_ATOL, what,
                           threshold)
