"""Inference backends: run the exported network on one batch of preprocessed inputs.

A backend is a class built as ``Backend(model, options)`` (an ExportedModel and
RunOptions) with

    run(inputs) -> (bbox, bbox_num)

``inputs`` maps input names to numpy arrays: image float32 [N, 3, H, W],
im_shape float32 [N, 2], scale_factor float32 [N, 2]. ``bbox`` is float32
[K, 6] rows (class_index, score, x1, y1, x2, y2) in original image pixels and
``bbox_num`` int32 [N] the rows of each image, in batch order.

A backend may also define ``check(options)``, raising DeployError for options it
cannot honour, so a run fails before any work. ``BACKENDS`` is the one place
a backend is chosen by name (``--backend``): ``paddle`` (Paddle Inference: model.json
+ model.pdiparams), ``onnxruntime`` (ONNX Runtime: model.onnx) or ``openvino``
(OpenVINO: model.onnx); onnxruntime and openvino are imported only by their backend.

``--precision`` (``PRECISIONS`` of each backend): fp32; bf16 (Paddle Inference with
oneDNN, OpenVINO: the network in bf16, box decoding, scores and NMS in f32 or better);
int8 (model_int8.onnx from ``tools/export_model.py --quantize int8``, whose decoding
and NMS are float32).
"""
import os
from dataclasses import dataclass, field

import numpy as np
from .paddle_compat import paddle_bf16_unsupported  # before paddle: see bind_system_zlib
import paddle  # noqa: E402
from paddle import inference  # noqa: E402

from .errors import DeployError  # noqa: E402
from .exported_model import onnx_model_file  # noqa: E402

TRT_PRECISIONS = {"trt_fp32": inference.PrecisionType.Float32,
                  "trt_fp16": inference.PrecisionType.Half,
                  "trt_int8": inference.PrecisionType.Int8}
RUN_MODES = ("paddle",) + tuple(TRT_PRECISIONS)
PRECISIONS = ("fp32", "bf16", "int8")
# oneDNN keeps kernels per input shape; remember at most this many shapes, so a
# folder of differently sized images does not grow memory without bound.
ONEDNN_CACHED_SHAPES = 10


# TensorRT's workspace per image of a batch (PaddleDetection's deploy uses the same).
TRT_WORKSPACE_PER_IMAGE = 1 << 25


@dataclass(frozen=True)
class TensorRTOptions:
    """PaddleDetection's TensorRT flags: image side range of the dynamic-shape engine
    (min, max, opt), int8 calibration, and the shape-range file that
    ``collect_shape_info`` writes and trt_* runs use when it exists."""
    min_shape: int = 1
    max_shape: int = 1280
    opt_shape: int = 640
    calib_mode: bool = False
    collect_shape_info: bool = False
    shape_file: str = "shape_range_info.pbtxt"


@dataclass(frozen=True)
class RunOptions:
    """How to run: device 'CPU'|'GPU', run_mode (RUN_MODES), CPU threads, oneDNN, batch
    size, TensorRT settings, precision (PRECISIONS)."""
    device: str = "CPU"
    run_mode: str = "paddle"
    cpu_threads: int = 1
    enable_mkldnn: bool = True
    batch_size: int = 1
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
    precision: str = "fp32"


def check_precision(backend, options, reasons):
    """DeployError unless ``backend`` runs ``options.precision``; ``reasons`` maps each
    precision it does not run to why, and what to use instead."""
    if options.precision in reasons:
        raise DeployError(f"--backend {backend} does not run --precision {options.precision}: "
                          f"{reasons[options.precision]}")


def mkl_avx2_on_amd():
    """MKL (Paddle's CPU BLAS, used with oneDNN off) runs a slow generic path on AMD CPUs;
    MKL_DEBUG_CPU_TYPE=5 selects its AVX2 kernels (the project README has the figures). Set
    on AMD CPUs unless the user set it; MKL reads it on first use."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            amd = any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in f)
    except OSError:
        amd = False
    if amd:
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")


def checked_outputs(model_file, names):
    """The model's output names as a list; DeployError unless they are two (bbox, bbox_num)."""
    names = list(names)
    if len(names) != 2:
        raise DeployError(f"{model_file}: expected 2 outputs (bbox, bbox_num), the model "
                          f"has {len(names)}")
    return names


def model_feed(input_names, inputs):
    """{name: contiguous float32 array} of ``inputs`` for the model's ``input_names``;
    DeployError naming those the preprocessing does not provide."""
    missing = [name for name in input_names if name not in inputs]
    if missing:
        raise DeployError(f"the model takes inputs {', '.join(missing)} that the "
                          f"preprocessing does not provide")
    return {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in input_names}


class PaddlePredictor:
    """Paddle Inference on CPU (optionally oneDNN) or GPU (optionally TensorRT).

    fp32, or bf16 on CPU with oneDNN (``enable_mkldnn_bfloat16``): oneDNN's bf16 pass
    converts every float32 op it has a bf16 kernel for, so the network runs in bf16
    while the decoding, which ppfcos exports in float64 (infer_cfg's ``decode_dtype``),
    stays exact. No int8 on CPU: the int8 model is QDQ ONNX.
    """
    UNSUPPORTED = {
        "int8": "the int8 model is model_int8.onnx; use --backend openvino (or onnxruntime) "
                "--precision int8"}

    @classmethod
    def check(cls, options):
        """DeployError if ``options`` are inconsistent or this Paddle build cannot run them."""
        check_precision("paddle", options, cls.UNSUPPORTED)
        trt = options.tensorrt
        if options.run_mode in TRT_PRECISIONS and not 1 <= trt.min_shape <= trt.opt_shape \
                <= trt.max_shape:
            raise DeployError(f"TensorRT shapes must satisfy 1 <= --trt_min_shape <= "
                              f"--trt_opt_shape <= --trt_max_shape, got {trt.min_shape}, "
                              f"{trt.opt_shape}, {trt.max_shape}")
        cuda = paddle.is_compiled_with_cuda()
        build = "" if cuda else " (this Paddle build is CPU-only: install paddlepaddle-gpu)"
        if options.run_mode in TRT_PRECISIONS and (options.device != "GPU" or not cuda):
            raise DeployError(f"--run_mode {options.run_mode} runs TensorRT, which needs "
                              f"--device GPU and a GPU build of Paddle{build}")
        if options.device == "GPU" and not cuda:
            raise DeployError(f"--device GPU needs a GPU build of Paddle{build}; or use "
                              f"--device CPU")
        if options.precision == "bf16" and (options.device != "CPU"
                                            or not options.enable_mkldnn):
            raise DeployError("--precision bf16 with --backend paddle runs oneDNN's bf16 "
                              "kernels: use --device CPU with --enable_mkldnn True")
        refusal = paddle_bf16_unsupported() if options.precision == "bf16" else None
        if refusal:
            raise DeployError(refusal)
        if options.run_mode in TRT_PRECISIONS and inference.get_trt_compile_version() == (0, 0, 0):
            raise DeployError(f"--run_mode {options.run_mode} needs a Paddle build with "
                              f"TensorRT; this GPU build has none (use --run_mode paddle)")

    def __init__(self, model, options):
        self.predictor = inference.create_predictor(paddle_config(model, options))
        self.input_names = list(self.predictor.get_input_names())
        self.output_names = checked_outputs(model.program, self.predictor.get_output_names())

    def run(self, inputs):
        """Feed the inputs the program lists (by name), run -> (bbox [K, 6], bbox_num [N])."""
        for name, array in model_feed(self.input_names, inputs).items():
            self.predictor.get_input_handle(name).copy_from_cpu(array)
        self.predictor.run()
        bbox, bbox_num = (self.predictor.get_output_handle(name).copy_to_cpu()
                          for name in self.output_names)
        return bbox, bbox_num


def paddle_config(model, options):
    """The inference.Config that runs ``model`` (an ExportedModel) with ``options``."""
    config = inference.Config(model.program, model.params)
    if options.tensorrt.collect_shape_info:
        config.collect_shape_range_info(options.tensorrt.shape_file)
    if options.device == "GPU":
        config.enable_use_gpu(200, 0)
        if options.run_mode in TRT_PRECISIONS:
            configure_tensorrt(config, model, options)
    else:
        mkl_avx2_on_amd()
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(options.cpu_threads)
        if options.enable_mkldnn:
            config.enable_mkldnn()
            config.set_mkldnn_cache_capacity(ONEDNN_CACHED_SHAPES)
            if options.precision == "bf16":
                check_bf16_decoding(model)
                config.enable_mkldnn_bfloat16()
        else:
            config.disable_mkldnn()
    config.disable_glog_info()
    return config


def check_bf16_decoding(model):
    """DeployError unless the export decodes in float64 (ppfcos's exports since bf16 ran
    in Paddle Inference): oneDNN's bf16 would decode a float32 decoding in bf16."""
    if model.decode_dtype != "float64":
        raise DeployError(f"--precision bf16: {model.program} decodes boxes in "
                          f"{model.decode_dtype}, which Paddle Inference's bf16 would run in "
                          f"bf16 (boxes move by up to 8 px); export it again with ppfcos's "
                          f"tools/export_model.py (it decodes in float64), or use --backend "
                          f"openvino --precision bf16")


def configure_tensorrt(config, model, options):
    """Paddle Inference's TensorRT settings (its documented Config calls) for
    ``options.run_mode`` on an inference.Config with the GPU enabled.

    The engine takes subgraphs of at least ``model.min_subgraph_size`` ops. Input shapes:
    a shape-range file (``--tuned_trt_shape_file``, from ``--collect_trt_shape_info``)
    when one exists and this run is not collecting; else, for a dynamic-shape export,
    image sides from trt_min_shape to trt_max_shape (tuned for trt_opt_shape). A
    static-shape export needs neither.
    """
    trt, batch = options.tensorrt, options.batch_size
    config.enable_tensorrt_engine(
        workspace_size=TRT_WORKSPACE_PER_IMAGE * batch, max_batch_size=batch,
        min_subgraph_size=model.min_subgraph_size,
        precision_mode=TRT_PRECISIONS[options.run_mode], use_static=False,
        use_calib_mode=trt.calib_mode)
    if not trt.collect_shape_info and os.path.isfile(trt.shape_file):
        config.enable_tuned_tensorrt_dynamic_shape(trt.shape_file, True)
    elif model.use_dynamic_shape:
        def shapes(side):
            return {"image": [batch, 3, side, side], "im_shape": [batch, 2],
                    "scale_factor": [batch, 2]}
        config.set_trt_dynamic_shape_info(shapes(trt.min_shape), shapes(trt.max_shape),
                                          shapes(trt.opt_shape))


def import_onnxruntime():
    """The onnxruntime module, or DeployError saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise DeployError("--backend onnxruntime needs the onnxruntime package: pip install "
                          "onnxruntime (onnxruntime-gpu for --device GPU)") from None
    return onnxruntime


def check_not_tensorrt(backend, options):
    """DeployError for a TensorRT run_mode (Paddle Inference's) on another backend."""
    if options.run_mode in TRT_PRECISIONS:
        raise DeployError(f"--run_mode {options.run_mode} is Paddle Inference's TensorRT; "
                          f"--backend {backend} runs with --run_mode paddle (or use "
                          f"--backend paddle)")


class OnnxRuntimePredictor:
    """ONNX Runtime on CPU (``cpu_threads`` intra-op threads), or GPU through its CUDA
    execution provider. Runs ``model.onnx`` (``model_int8.onnx`` for int8): decoding and
    NMS are in the graph, so it gives the Paddle backend's detections. oneDNN and
    TensorRT are Paddle's settings: ``enable_mkldnn`` does not apply, and a ``trt_*``
    run_mode is an error."""
    UNSUPPORTED = {"bf16": "ONNX Runtime's CPU provider has no bf16 convolutions; use "
                           "--backend openvino --precision bf16"}

    @classmethod
    def check(cls, options):
        """DeployError if onnxruntime is missing or cannot run ``options``."""
        ort = import_onnxruntime()
        check_not_tensorrt("onnxruntime", options)
        check_precision("onnxruntime", options, cls.UNSUPPORTED)
        providers = ort.get_available_providers()
        if options.device == "GPU" and "CUDAExecutionProvider" not in providers:
            raise DeployError(f"--device GPU with --backend onnxruntime needs ONNX Runtime's "
                              f"CUDAExecutionProvider (pip install onnxruntime-gpu); this "
                              f"onnxruntime has {', '.join(providers)}")

    def __init__(self, model, options):
        ort = import_onnxruntime()
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.cpu_threads
        session_options.log_severity_level = 3      # errors only
        providers = (["CUDAExecutionProvider", "CPUExecutionProvider"]
                     if options.device == "GPU" else ["CPUExecutionProvider"])
        path = onnx_model_file(model, options.precision)
        try:
            self.session = ort.InferenceSession(path, session_options, providers=providers)
        except Exception as e:   # onnxruntime raises its own exception types
            hint = (" (deformable convolution: this onnxruntime has no DeformConv kernel; "
                    "upgrade onnxruntime)" if "DeformConv" in str(e) else "")
            raise DeployError(f"{path}: ONNX Runtime {ort.__version__} cannot load it: "
                              f"{e}{hint}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = checked_outputs(path, [o.name for o in self.session.get_outputs()])

    def run(self, inputs):
        """Feed the inputs the model lists (by name), run -> (bbox [K, 6], bbox_num [N])."""
        bbox, bbox_num = self.session.run(self.output_names,
                                          model_feed(self.input_names, inputs))
        return bbox, bbox_num


def import_openvino():
    """The openvino module, or DeployError saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise DeployError("--backend openvino needs OpenVINO: pip install -e .[openvino]  "
                          "(or: pip install openvino)") from None
    return openvino


class OpenVinoPredictor:
    """OpenVINO on CPU (``cpu_threads`` inference threads): ``model.onnx`` in fp32 or
    bf16 (INFERENCE_PRECISION_HINT: the CPU plugin runs convolutions and their
    neighbours in bf16 and keeps box decoding, scores and NMS in f32), or
    ``model_int8.onnx``: its quantized convolutions in int8, the rest as in bf16 (a CPU
    without bf16 instructions keeps f32). OpenVINO 2026.4 reads no ONNX DeformConv (DCN
    configs)."""
    INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "bf16"}

    @staticmethod
    def check(options):
        """DeployError if openvino is missing or cannot run ``options``."""
        import_openvino()
        check_not_tensorrt("openvino", options)
        if options.device != "CPU":
            raise DeployError("--backend openvino runs on --device CPU")

    def __init__(self, model, options):
        ov = import_openvino()
        path = onnx_model_file(model, options.precision)
        try:
            self.compiled = ov.Core().compile_model(path, "CPU", {
                "INFERENCE_NUM_THREADS": options.cpu_threads,
                "INFERENCE_PRECISION_HINT": self.INFERENCE_PRECISION[options.precision]})
        except RuntimeError as e:
            hint = (" (deformable convolution: OpenVINO reads no ONNX DeformConv; use "
                    "--backend onnxruntime)" if "DeformConv" in str(e) else "")
            raise DeployError(f"{path}: OpenVINO {ov.__version__} cannot load it{hint}: "
                              f"{str(e).splitlines()[0]}") from None
        # A port may carry several tensor names (a float64 cast of scale_factor, which
        # OpenVINO folds, lends it its name); the parameter keeps the ONNX input's name.
        self.input_names = [port.get_node().get_friendly_name()
                            for port in self.compiled.inputs]
        checked_outputs(path, self.compiled.outputs)

    def run(self, inputs):
        """Feed the inputs the model lists (by name), run -> (bbox [K, 6], bbox_num [N])."""
        results = self.compiled(model_feed(self.input_names, inputs))
        bbox, bbox_num = (results[port] for port in self.compiled.outputs)
        return bbox, bbox_num


BACKENDS = {"paddle": PaddlePredictor, "onnxruntime": OnnxRuntimePredictor,
            "openvino": OpenVinoPredictor}


def check_options(backend, options):
    """DeployError if ``backend`` cannot run ``options`` (call before any work)."""
    check = getattr(BACKENDS[backend], "check", None)
    if check is not None:
        check(options)


def create_predictor(backend, model, options):
    """The ``backend`` (a BACKENDS name) predictor for an ExportedModel."""
    return BACKENDS[backend](model, options)
