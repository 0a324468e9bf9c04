"""Post-training int8 quantization of model.onnx with NNCF -> ``model_int8.onnx``.

    quantize_int8(model_dir, calibration)    # writes model_dir/model_int8.onnx

NNCF (OpenVINO's quantization library) calibrates on the given inputs and writes
QDQ ONNX: QuantizeLinear/DequantizeLinear pairs around the network's convolutions.
Only the network is quantized: box decoding,
scores and NMS are ``ignored`` and stay float32. OpenVINO runs the result with
int8 kernels; ONNX Runtime reads it too (slower than its fp32, see
docs/benchmarks.md). Why NNCF and not ONNX Runtime's ``quantize_static``: on the same
model, OpenVINO ran NNCF's model at about 0.2x its fp32 time and ONNX Runtime's
quantize_static model at fp32 speed (docs/design.md, "int8 through NNCF").

NNCF is an optional extra: ``pip install -e .[quantize]``.
"""
import importlib
import logging
import os

from ppfcos_runtime.model_files import INT8_FILE, ONNX_FILE

from ..core.config import ConfigError
from ..core.files import atomic_path
from .infer_cfg import check_sources, record_model_file
from .onnx import require_onnx

logger = logging.getLogger("ppfcos")

INSTALL_HINT = "pip install -e .[quantize]"
# Operators whose ancestors (and themselves) are the network; the rest is post-processing.
NETWORK_OUTPUT_OPS = ("Conv", "DeformConv")


def require_nncf():
    """The nncf module; ConfigError with the install command if it is missing."""
    try:
        return importlib.import_module("nncf")
    except ImportError:
        raise ConfigError(f"int8 quantization needs NNCF: {INSTALL_HINT}") from None


def post_process_nodes(graph):
    """Names of the nodes of an ONNX ``graph`` that no convolution depends on: box
    decoding, scores and NMS (everything after the head's last convolutions)."""
    producer = {output: node for node in graph.node for output in node.output}
    network, stack = set(), [node for node in graph.node if node.op_type in NETWORK_OUTPUT_OPS]
    while stack:
        node = stack.pop()
        if node.name not in network:
            network.add(node.name)
            stack.extend(producer[name] for name in node.input if name in producer)
    return [node.name for node in graph.node if node.name not in network]


def model_inputs(graph, calibration):
    """The ``calibration`` input dicts with only the inputs the ONNX ``graph`` takes (a raw
    export's graph takes no scale_factor)."""
    names = {value.name for value in graph.input}
    return [{key: value for key, value in item.items() if key in names} for item in calibration]


def quantize_int8(model_dir, calibration, output=None):
    """Quantize ``model_dir/model.onnx`` calibrated on ``calibration`` (a list of input
    dicts: image [1, 3, H, W], im_shape [1, 2], scale_factor [1, 2]) -> writes ``output``
    (default ``model_dir/model_int8.onnx``) once complete, then recorded in infer_cfg.yml's
    ``files`` (ppfcos's exports); returns its path."""
    nncf = require_nncf()
    onnx, = require_onnx(["onnx"])
    source = os.path.join(model_dir, ONNX_FILE)
    if not os.path.isfile(source):
        raise ConfigError(f"{source} not found: int8 quantization starts from model.onnx "
                          f"(export with --export_onnx)")
    if not calibration:
        raise ConfigError("int8 quantization needs at least one calibration image")
    check_sources(model_dir, "onnxruntime")      # model.onnx is the export's own
    model = onnx.load(source)
    quantized = nncf.quantize(
        model, nncf.Dataset(model_inputs(model.graph, calibration)), subset_size=len(calibration),
        # validate=False: NNCF leaves some nodes out of its own graph (a Cast of paddle2onnx
        # 1.x's LevelTopKPostProcess, on Paddle 2.6), and those need no ignoring
        ignored_scope=nncf.IgnoredScope(names=post_process_nodes(model.graph), validate=False))
    output = output or os.path.join(model_dir, INT8_FILE)
    with atomic_path(output) as tmp_file:
        onnx.save(quantized, tmp_file)
    logger.info("wrote %s (int8, calibrated on %d images)", output, len(calibration))
    record_model_file(model_dir, output)
    return output
