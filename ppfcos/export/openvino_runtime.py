"""model.onnx in OpenVINO on CPU, for the tests, benchmarks and fast evaluation.

    run = openvino_model("output_inference/fcos_r50_fpn_1x_coco/model.onnx", threads=2)
    bbox, bbox_num = run({"image": ..., "im_shape": ..., "scale_factor": ...})

``precision`` names OpenVINO's inference precision: ``fp32``, or ``bf16`` (the CPU
plugin runs the network's convolutions and their neighbours in bf16; box decoding
and NMS stay in f32, which deploy's tests check). ``int8`` is for an int8 model (QDQ
``model_int8.onnx``): its quantized convolutions run in int8 and the rest as with
``bf16`` (on a CPU without bf16 instructions OpenVINO keeps f32).

OpenVINO is an optional extra: ``pip install -e .[openvino]``.
"""
import importlib

from ..core.config import ConfigError

INSTALL_HINT = "pip install -e .[openvino]"
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "bf16"}


def require_openvino():
    """The openvino module; ConfigError with the install command if it is missing."""
    try:
        return importlib.import_module("openvino")
    except ImportError:
        raise ConfigError(f"OpenVINO is not installed: {INSTALL_HINT}") from None


def openvino_model(model, threads, precision="fp32"):
    """Compile ``model`` (a model.onnx path or an onnx.ModelProto) for the CPU with
    ``threads`` inference threads -> run(inputs) -> (bbox [K, 6], bbox_num [N]):
    ``inputs`` maps input names to float32 arrays, outputs in the model's order."""
    ov = require_openvino()
    core = ov.Core()
    source = model if isinstance(model, str) else core.read_model(model.SerializeToString(),
                                                                  b"")
    compiled = core.compile_model(source, "CPU", {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[precision]})

    def run(inputs):
        results = compiled(inputs)
        bbox, bbox_num = (results[output] for output in compiled.outputs)
        return bbox, bbox_num
    return run
