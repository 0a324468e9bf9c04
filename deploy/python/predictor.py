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
a backend is chosen by name (``--backend``).
"""
import os
from dataclasses import dataclass

import numpy as np
import paddle
from paddle import inference

from errors import DeployError

TRT_PRECISIONS = {"trt_fp32": inference.PrecisionType.Float32,
                  "trt_fp16": inference.PrecisionType.Half,
                  "trt_int8": inference.PrecisionType.Int8}
RUN_MODES = ("paddle",) + tuple(TRT_PRECISIONS)
# oneDNN keeps kernels per input shape; remember at most this many shapes, so a
# folder of differently sized images does not grow memory without bound.
ONEDNN_CACHED_SHAPES = 10


@dataclass(frozen=True)
class RunOptions:
    """How to run: device 'CPU'|'GPU', run_mode (RUN_MODES), CPU threads, oneDNN, batch size."""
    device: str = "CPU"
    run_mode: str = "paddle"
    cpu_threads: int = 1
    enable_mkldnn: bool = True
    batch_size: int = 1


def mkl_avx2_on_amd():
    """MKL (Paddle's CPU BLAS, used with oneDNN off) runs a slow generic path on AMD CPUs;
    MKL_DEBUG_CPU_TYPE=5 selects its AVX2 kernels (R50 at 800x1216 without oneDNN: 9.6 ->
    5.7 s here). Set on AMD CPUs unless the user set it; MKL reads it on first use."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            amd = any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in f)
    except OSError:
        amd = False
    if amd:
        os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")


class PaddlePredictor:
    """Paddle Inference on CPU (optionally oneDNN) or GPU (optionally TensorRT)."""

    @staticmethod
    def check(options):
        """DeployError if this Paddle build cannot run ``options``."""
        cuda = paddle.is_compiled_with_cuda()
        build = "" if cuda else " (this Paddle build is CPU-only: install paddlepaddle-gpu)"
        if options.run_mode in TRT_PRECISIONS and (options.device != "GPU" or not cuda):
            raise DeployError(f"--run_mode {options.run_mode} runs TensorRT, which needs "
                              f"--device GPU and a GPU build of Paddle{build}")
        if options.device == "GPU" and not cuda:
            raise DeployError(f"--device GPU needs a GPU build of Paddle{build}; or use "
                              f"--device CPU")

    def __init__(self, model, options):
        config = inference.Config(model.program, model.params)
        if options.device == "GPU":
            config.enable_use_gpu(200, 0)
            if options.run_mode in TRT_PRECISIONS:
                config.enable_tensorrt_engine(
                    workspace_size=1 << 30, max_batch_size=options.batch_size,
                    min_subgraph_size=model.min_subgraph_size,
                    precision_mode=TRT_PRECISIONS[options.run_mode], use_static=False,
                    use_calib_mode=options.run_mode == "trt_int8")
        else:
            mkl_avx2_on_amd()
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(options.cpu_threads)
            if options.enable_mkldnn:
                config.enable_mkldnn()
                config.set_mkldnn_cache_capacity(ONEDNN_CACHED_SHAPES)
            else:
                config.disable_mkldnn()
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        self.input_names = list(self.predictor.get_input_names())
        self.output_names = list(self.predictor.get_output_names())
        if len(self.output_names) != 2:
            raise DeployError(f"{model.program}: expected 2 outputs (bbox, bbox_num), the "
                              f"program has {len(self.output_names)}")

    def run(self, inputs):
        """Feed the inputs the program lists (by name), run -> (bbox [K, 6], bbox_num [N])."""
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise DeployError(f"the model takes inputs {', '.join(missing)} that the "
                              f"preprocessing does not provide")
        for name in self.input_names:
            self.predictor.get_input_handle(name).copy_from_cpu(
                np.ascontiguousarray(inputs[name]))
        self.predictor.run()
        bbox, bbox_num = (self.predictor.get_output_handle(name).copy_to_cpu()
                          for name in self.output_names)
        return bbox, bbox_num


BACKENDS = {"paddle": PaddlePredictor}


def check_options(backend, options):
    """DeployError if ``backend`` cannot run ``options`` (call before any work)."""
    check = getattr(BACKENDS[backend], "check", None)
    if check is not None:
        check(options)


def create_predictor(backend, model, options):
    """The ``backend`` ('paddle', ...) predictor for an ExportedModel."""
    return BACKENDS[backend](model, options)
