"""Inference backends, and BACKENDS: the one table of what each can do.

A backend is a class built as ``Predictor(model, options)`` (an ExportedModel and
RunOptions) with

    run(inputs) -> the graph's outputs, in the order of ``model.form.outputs``

``inputs`` maps input names to numpy arrays: image float32 [N, 3, H, W],
im_shape float32 [N, 2], scale_factor float32 [N, 2]. `create_predictor` returns a
predictor whose ``run(inputs)`` gives (bbox, bbox_num) for every export form: ``bbox`` is
float32 [K, 6] rows (class_index, score, x1, y1, x2, y2) in original image pixels and
``bbox_num`` int32 [N] the rows of each image, in batch order. A full export's graph
outputs exactly those; for the decoded, raw and edge forms (no NMS or no decoding in the
graph) `HostPostProcess` does the rest in numpy (host_postprocess.py).

A backend may also define ``check(options)`` (a static or class method), raising DeployError for options it
cannot honour beyond what its table row says (its package missing, a CPU-only build),
so a run fails before any work; its package (onnxruntime, openvino) is imported only
inside the backend.

``BACKENDS`` maps each ``--backend`` name to its row (Capabilities): the class, the
library's title, the files it reads at each precision it runs (model_files), and the
devices it runs on. ``paddle`` is Paddle Inference (model.json + model.pdiparams; fp32, or bf16
with oneDNN), ``onnxruntime`` ONNX Runtime and ``openvino`` OpenVINO (model.onnx;
model_int8.onnx for int8). Precisions: fp32; bf16 (the network in bf16, box decoding,
scores and NMS in f32 or better); int8 (model_int8.onnx from ``tools/export_model.py
--quantize int8``, whose decoding and NMS are float32).

Adding a backend is one class here and one row in BACKENDS (and, for a new file, one
ModelFile in model_files.py with an ExportedModel field). The row is all the rest reads: ``--backend`` and ``--precision`` choices (PRECISIONS), load_exported_model's
check of the files, the errors for a precision or device the backend does not run
(`check_options`), ppfcos's ``--predictor_backend`` and the runtimes that
``benchmarks/benchmark.py --parts runtimes`` times.
"""
import os
from dataclasses import dataclass, field

import numpy as np
from .paddle_compat import paddle_bf16_unsupported  # before paddle: see bind_system_zlib
import paddle  # noqa: E402
from paddle import inference  # noqa: E402

from .errors import DeployError, one_line  # noqa: E402
from .host_postprocess import EDGE_FORM  # noqa: E402
from .machine import use_mkl_avx2_on_amd  # noqa: E402
from .model_files import ONNX, ONNX_INT8, PARAMS, PROGRAM, describe_missing  # noqa: E402

TRT_PRECISIONS = {"trt_fp32": inference.PrecisionType.Float32,
                  "trt_fp16": inference.PrecisionType.Half,
                  "trt_int8": inference.PrecisionType.Int8}
RUN_MODES = ("paddle",) + tuple(TRT_PRECISIONS)
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


def checked_outputs(model_file, names, expected):
    """The model's output names as a list; DeployError unless there are as many as the
    ``expected`` names (the export form's outputs)."""
    names = list(names)
    if len(names) != len(expected):
        raise DeployError(f"{model_file}: expected {len(expected)} outputs "
                          f"({', '.join(expected)}), the model has {len(names)}; its "
                          f"infer_cfg.yml is from another export")
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

    @staticmethod
    def check(options):
        """DeployError if ``options`` are inconsistent or this Paddle build cannot run them."""
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
        config = paddle_config(model, options)
        try:
            self.predictor = inference.create_predictor(config)
        except (RuntimeError, ValueError) as e:    # Paddle's C++ errors on a damaged file
            raise DeployError(f"Paddle Inference {paddle.__version__} cannot load "
                              f"{model.program} with {model.params}: {one_line(e)}; one of "
                              f"them is damaged or not from this export: export the model "
                              f"again with tools/export_model.py") from None
        self.input_names = list(self.predictor.get_input_names())
        self.output_names = checked_outputs(model.program, self.predictor.get_output_names(),
                                            model.form.outputs)

    def run(self, inputs):
        """Feed the inputs the program lists (by name), run -> its outputs (a list)."""
        for name, array in model_feed(self.input_names, inputs).items():
            self.predictor.get_input_handle(name).copy_from_cpu(array)
        self.predictor.run()
        return [self.predictor.get_output_handle(name).copy_to_cpu()
                for name in self.output_names]


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
        use_mkl_avx2_on_amd()
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
    if model.form.name == EDGE_FORM:
        raise DeployError(f"--precision bf16: {model.program} is an edge export, which decodes "
                          f"boxes in {model.decode_dtype} (NPUs have no float64) and Paddle "
                          f"Inference's bf16 would run that in bf16 (boxes move by up to 8 px); "
                          f"use --backend openvino --precision bf16, or Paddle at fp32")
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
    run_mode is an error. No bf16: its CPU provider has no bf16 convolutions."""

    @staticmethod
    def check(options):
        """DeployError if onnxruntime is missing or cannot run ``options``."""
        ort = import_onnxruntime()
        check_not_tensorrt("onnxruntime", options)
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
        path, = backend_files(model, "onnxruntime", options.precision)
        try:
            self.session = ort.InferenceSession(path, session_options, providers=providers)
        except Exception as e:   # onnxruntime raises its own exception types
            hint = (" (deformable convolution: this onnxruntime has no DeformConv kernel; "
                    "upgrade onnxruntime)" if "DeformConv" in str(e) else "")
            raise DeployError(f"{path}: ONNX Runtime {ort.__version__} cannot load it: "
                              f"{one_line(e)}{hint}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = checked_outputs(path, [o.name for o in self.session.get_outputs()],
                                            model.form.outputs)

    def run(self, inputs):
        """Feed the inputs the model lists (by name), run -> its outputs (a list)."""
        return self.session.run(self.output_names, model_feed(self.input_names, inputs))


def import_openvino():
    """The openvino module, or DeployError saying how to install it."""
    try:
        import openvino
    except ImportError:
        raise DeployError("--backend openvino needs OpenVINO: pip install -e .[openvino]  "
                          "(or: pip install openvino)") from None
    return openvino


class OpenVinoPredictor:
    """OpenVINO on CPU (``cpu_threads`` inference threads, PERFORMANCE_HINT LATENCY: one
    stream, as deploy runs one request at a time; set, not left to the version's
    default): ``model.onnx`` in fp32 or bf16 (INFERENCE_PRECISION_HINT: the CPU plugin
    runs convolutions and their neighbours in bf16 and keeps box decoding, scores and NMS
    in f32), or ``model_int8.onnx``: its quantized convolutions in int8, the rest as in
    bf16 (a CPU without bf16 instructions keeps f32). OpenVINO 2026.4 reads no ONNX
    DeformConv (DCN configs)."""
    INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16", "int8": "bf16"}

    @staticmethod
    def check(options):
        """DeployError if openvino is missing or cannot run ``options``."""
        import_openvino()
        check_not_tensorrt("openvino", options)

    def __init__(self, model, options):
        ov = import_openvino()
        path, = backend_files(model, "openvino", options.precision)
        try:
            self.compiled = ov.Core().compile_model(path, "CPU", {
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": options.cpu_threads,
                "INFERENCE_PRECISION_HINT": self.INFERENCE_PRECISION[options.precision]})
        except RuntimeError as e:
            hint = (" (deformable convolution: OpenVINO reads no ONNX DeformConv; use "
                    "--backend onnxruntime)" if "DeformConv" in str(e) else "")
            raise DeployError(f"{path}: OpenVINO {ov.__version__} cannot load it{hint}: "
                              f"{one_line(e)}") from None
        # A port may carry several tensor names (a float64 cast of scale_factor, which
        # OpenVINO folds, lends it its name); the parameter keeps the ONNX input's name.
        self.input_names = [port.get_node().get_friendly_name()
                            for port in self.compiled.inputs]
        checked_outputs(path, self.compiled.outputs, model.form.outputs)

    def run(self, inputs):
        """Feed the inputs the model lists (by name), run -> its outputs (a list)."""
        results = self.compiled(model_feed(self.input_names, inputs))
        return [results[port] for port in self.compiled.outputs]


@dataclass(frozen=True)
class Capabilities:
    """A row of BACKENDS. ``predictor``: the class, built as predictor(model, options);
    ``title``: the library, for messages and benchmark tables; ``files``: {precision: the
    model_files.ModelFile the backend reads at it}, whose keys are the precisions it runs;
    ``devices``: the RunOptions.device values it runs on."""
    predictor: type
    title: str
    files: dict
    devices: tuple

    @property
    def precisions(self):
        return tuple(self.files)


PADDLE_FILES = (PROGRAM, PARAMS)
BACKENDS = {
    "paddle": Capabilities(PaddlePredictor, "Paddle Inference",
                           {"fp32": PADDLE_FILES, "bf16": PADDLE_FILES}, ("CPU", "GPU")),
    "onnxruntime": Capabilities(OnnxRuntimePredictor, "ONNX Runtime",
                                {"fp32": (ONNX,), "int8": (ONNX_INT8,)}, ("CPU", "GPU")),
    "openvino": Capabilities(OpenVinoPredictor, "OpenVINO",
                             {"fp32": (ONNX,), "bf16": (ONNX,), "int8": (ONNX_INT8,)},
                             ("CPU",)),
}
# Every precision some backend runs, in the order of the table.
PRECISIONS = tuple(dict.fromkeys(p for row in BACKENDS.values() for p in row.precisions))


def listed(names, last="and"):
    """'a', 'a and b', 'a, b and c' (``last``: the word before the last name); 'none'."""
    names = list(names)
    if len(names) < 2:
        return names[0] if names else "none"
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def backend_row(backend):
    """The BACKENDS row of ``backend``; DeployError naming the choices for another name."""
    if backend not in BACKENDS:
        raise DeployError(f"unknown backend {backend!r}: choose {listed(BACKENDS, 'or')}")
    return BACKENDS[backend]


def backends_running(precision=None, device=None):
    """The names of the backends that run ``precision`` and ``device`` (None: any)."""
    return [name for name, row in BACKENDS.items()
            if precision in (None, *row.precisions) and device in (None, *row.devices)]


def backends_help():
    """'paddle (Paddle Inference), ...': the backends for a --backend help text."""
    return ", ".join(f"{name} ({row.title})" for name, row in BACKENDS.items())


def precisions_help():
    """'fp32 on paddle, ...; bf16 on ...': who runs each precision, for a help text."""
    return "; ".join(f"{precision} on {listed(backends_running(precision))}"
                     for precision in PRECISIONS)


def check_precision(backend, precision):
    """The BACKENDS row of ``backend``; DeployError, from the table, unless it runs
    ``precision`` (the message names the backends that do)."""
    row = backend_row(backend)
    if precision not in row.precisions:
        raise DeployError(f"the {backend} backend ({row.title}) runs {listed(row.precisions)}, "
                          f"not {precision}; {listed(backends_running(precision))} run "
                          f"{precision}")
    return row


def check_options(backend, options):
    """DeployError if ``backend`` cannot run ``options`` (call before any work): its table
    row (precision, device), then the backend's own ``check``."""
    row = check_precision(backend, options.precision)
    if options.device not in row.devices:
        raise DeployError(f"the {backend} backend ({row.title}) runs on {listed(row.devices)}, "
                          f"not on {options.device}; "
                          f"{listed(backends_running(device=options.device))} run on "
                          f"{options.device}")
    check = getattr(row.predictor, "check", None)
    if check is not None:
        check(options)


def check_files(model, backend, precision, also_missing=()):
    """DeployError unless ``backend`` runs ``precision`` and ``model`` (an ExportedModel)
    has the files it reads at it; ``also_missing``: other missing files to list."""
    missing = [describe_missing(f) for f in check_precision(backend, precision).files[precision]
               if getattr(model, f.field) is None] + list(also_missing)
    if missing:
        where = model.model_dir or "the model"
        raise DeployError(f"{where} is not a complete exported model for the {backend} "
                          f"backend at {precision}: missing {', '.join(missing)}")


def backend_model_files(backend, precision):
    """The ModelFiles ``backend`` reads at ``precision`` (its BACKENDS row)."""
    return BACKENDS[backend].files[precision]


def backend_files(model, backend, precision):
    """The paths of the files ``backend`` reads at ``precision`` (its BACKENDS row)."""
    return [getattr(model, f.field) for f in backend_model_files(backend, precision)]


class HostPostProcess:
    """A backend's predictor for a decoded, raw or edge export, with the decoding and NMS
    its graph leaves out done on the host: ``run(inputs)`` -> (bbox [K, 6], bbox_num [N])."""

    def __init__(self, predictor, form):
        self.predictor = predictor
        self.form = form

    def run(self, inputs):
        """(bbox, bbox_num) of the batch ``inputs``, run ``form.images_per_run`` images at a
        time where the graph's batch is fixed (the edge form)."""
        count = len(inputs["image"])
        step = self.form.images_per_run or count
        return join_detections([self.run_images(inputs, start, start + step)
                                for start in range(0, count, step)])

    def run_images(self, inputs, start, stop):
        """(bbox, bbox_num) of the images start:stop of ``inputs``, run as one batch."""
        part = {name: array[start:stop] for name, array in inputs.items()}
        return self.form.detections(self.predictor.run(part), part["scale_factor"],
                                    part["im_shape"])


def join_detections(parts):
    """[(bbox [K_i, 6], bbox_num [N_i])] of consecutive batches -> (bbox, bbox_num) of all."""
    return (np.concatenate([bbox for bbox, _ in parts]),
            np.concatenate([bbox_num for _, bbox_num in parts]).astype(np.int32))


def create_predictor(backend, model, options):
    """The ``backend`` (a BACKENDS name) predictor for an ExportedModel, whose ``run(inputs)``
    gives (bbox, bbox_num) whatever the export's form (HostPostProcess for the decoded and
    raw forms); DeployError if the model lacks a file the backend reads at
    ``options.precision``."""
    check_files(model, backend, options.precision)
    predictor = BACKENDS[backend].predictor(model, options)
    return predictor if model.form.name == "full" else HostPostProcess(predictor, model.form)
