"""ppfcos's backends against each runtime's own minimal API, on the same file and input.

    python benchmarks/benchmark_runtime_overhead.py (--model_dir DIR | -c CONFIG)
        [--image FILE] [--image_size H W] [--cpu_threads 2] [--rounds 5] [--warmup 3]
        [--backends paddle onnxruntime openvino] [--max_ratio R]

For every backend and precision of ppfcos_runtime's capability table (BACKENDS) that the
export has files for (int8 where model_int8.onnx exists) and this machine runs, two
runners are built on the same file:

- ppfcos: ``load_detector`` as deploy/python/infer.py builds it; a run is ``detect`` of
  the image, and its time is the inference stage it adds to the detector's Timings (the
  ``inference`` figure --run_benchmark prints);
- the runtime's own minimal API with the switches a user would set: Paddle Inference
  ``create_predictor`` (threads, oneDNN, its bf16 switch) with copy_from_cpu, run,
  copy_to_cpu; ONNX Runtime ``InferenceSession.run`` (intra-op threads); OpenVINO
  ``core.compile_model`` (PERFORMANCE_HINT LATENCY, INFERENCE_NUM_THREADS, the precision
  hint) and an infer request's ``infer``.

The image (--image, else a scene of the demo's synthetic val set; resized to --image_size
if given) is preprocessed once by the export's preprocessing; the runtime runners get
those arrays, and ppfcos's preprocessing of the same image gives the same ones (checked).
Each runner lives on a thread of its own. After --warmup untimed runs of each, the
runners take turns in --rounds rounds (which of a pair goes first alternates), with a
pause before each timed run so the threads of the previous run are idle. Prints the CPU
(flags, oneDNN's ISA), the load average before and after, each round's times, and a
table of the median times with the median of the rounds' ratios ppfcos / runtime, and
of the best (fastest) times with their ratio. --max_ratio checks the median ratio.
Exit status 1 when --max_ratio is given and a ratio exceeds it, or on an error (one line).
``-c CONFIG`` exports the config's network with name-seeded weights
(ppfcos/modeling/seeded_weights.py) and its model.onnx to a temporary folder first.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

import ppfcos  # noqa: E402  (before paddle)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from paddle import inference  # noqa: E402

from ppfcos.data.synthetic import render_image  # noqa: E402
from ppfcos.export import export_model  # noqa: E402
from ppfcos.export.onnx import export_onnx  # noqa: E402
from ppfcos.modeling.seeded_weights import seed_weights  # noqa: E402
from ppfcos_runtime import machine  # noqa: E402
from ppfcos_runtime.detector import stack_inputs  # noqa: E402
from ppfcos_runtime.errors import DeployError, exit_status  # noqa: E402
from ppfcos_runtime.exported_model import load_exported_model  # noqa: E402
from ppfcos_runtime.factory import load_detector  # noqa: E402
from ppfcos_runtime.flags import positive_float, positive_int  # noqa: E402
from ppfcos_runtime.infer import WARMUP_RUNS  # noqa: E402
from ppfcos_runtime.media import read_image  # noqa: E402
from ppfcos_runtime.predictor import (BACKENDS, OpenVinoPredictor, RunOptions,  # noqa: E402
                                      backend_files, check_files, check_options)

# Seconds of rest before each timed run, so the previous run's worker threads stop
# competing for the cores: Paddle's OpenMP workers (Intel OpenMP) spin for KMP_BLOCKTIME,
# 200 ms by default, after a run, and each runner's thread has its own team of them.
PAUSE_S = 0.3
SIDES = ("ppfcos", "runtime")


def paddle_runner(model, precision, threads):
    """Paddle Inference's own API on the export's program: run(inputs) -> outputs."""
    config = inference.Config(model.program, model.params)
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads)
    config.enable_mkldnn()
    if precision == "bf16":
        config.enable_mkldnn_bfloat16()
    config.disable_glog_info()
    predictor = inference.create_predictor(config)

    def run(inputs):
        for name in predictor.get_input_names():
            predictor.get_input_handle(name).copy_from_cpu(inputs[name])
        predictor.run()
        return [predictor.get_output_handle(name).copy_to_cpu()
                for name in predictor.get_output_names()]
    return run


def onnxruntime_runner(model, precision, threads):
    """ONNX Runtime's own API on the backend's ONNX file: run(inputs) -> outputs."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3      # errors only
    path, = backend_files(model, "onnxruntime", precision)
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, {name: inputs[name] for name in names})


def openvino_runner(model, precision, threads):
    """OpenVINO's own API (LATENCY hint, ``threads``, ppfcos's inference precision for
    ``precision``) on the backend's ONNX file: run(inputs) -> outputs."""
    import openvino
    path, = backend_files(model, "openvino", precision)
    compiled = openvino.Core().compile_model(path, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": OpenVinoPredictor.INFERENCE_PRECISION[precision]})
    request = compiled.create_infer_request()
    names = [port.get_node().get_friendly_name() for port in compiled.inputs]

    def run(inputs):
        request.infer([inputs[name] for name in names])
        return [request.get_output_tensor(i).data for i in range(len(compiled.outputs))]
    return run


RUNTIME_RUNNERS = {"paddle": paddle_runner, "onnxruntime": onnxruntime_runner,
                   "openvino": openvino_runner}


class Pair:
    """ppfcos's detector and the runtime's own runner for one backend and precision, on
    the same image (``image``: RGB uint8); ``inputs`` is the image preprocessed once by
    the detector's preprocessing (image [1, 3, H, W], im_shape and scale_factor [1, 2]).

    Each side is built and run on a thread of its own, as a deploy process has its one
    predictor to itself (Paddle keeps oneDNN's state per thread): two Paddle predictors
    taking turns on one thread made whichever ran second the slower one.
    """

    def __init__(self, model_dir, backend, precision, threads, image):
        self.threads = {side: ThreadPoolExecutor(1) for side in SIDES}
        options = RunOptions(cpu_threads=threads, precision=precision)
        self.detector = self.on("ppfcos", load_detector, model_dir, backend, options)
        self.runtime = self.on("runtime", RUNTIME_RUNNERS[backend], self.detector.exported,
                               precision, threads)
        self.image = image
        self.inputs = stack_inputs([self.detector.preprocessor(image)])
        self.ms = {side: [] for side in SIDES}

    def on(self, side, function, *args):
        """``function(*args)`` run on ``side``'s thread -> its result."""
        return self.threads[side].submit(function, *args).result()

    def run_ppfcos(self):
        """One detect() -> the milliseconds it added to the detector's inference stage."""
        seconds = self.detector.timings.seconds
        before = seconds["inference"]
        self.detector.detect([self.image])
        return 1000 * (seconds["inference"] - before)

    def run_runtime(self):
        """One run of the runtime's own runner on ``inputs`` -> milliseconds."""
        start = time.perf_counter()
        self.runtime(self.inputs)
        return 1000 * (time.perf_counter() - start)

    def warm_up(self, runs):
        """``runs`` untimed runs of both (the detector's first runs of a shape are slow)."""
        for _ in range(runs):
            for side in SIDES:
                self.on(side, getattr(self, f"run_{side}"))

    def time_round(self, ppfcos_first):
        """Time both once (ppfcos first or second), each after a PAUSE_S rest ->
        (ppfcos ms, runtime ms)."""
        for side in SIDES if ppfcos_first else SIDES[::-1]:
            time.sleep(PAUSE_S)
            self.ms[side].append(self.on(side, getattr(self, f"run_{side}")))
        return self.ms["ppfcos"][-1], self.ms["runtime"][-1]

    def summary(self):
        """(median ppfcos ms, median runtime ms, median of the rounds' ratios ppfcos /
        runtime, best ppfcos ms, best runtime ms, their ratio). The two runs of a round
        are next to each other in time, so their ratio is the figure a slow change in the
        machine's load touches least; the best (fastest) run of each is the one other
        processes touched least, when they take the cores in bursts."""
        ours, theirs = self.ms["ppfcos"], self.ms["runtime"]
        ratios = [a / b for a, b in zip(ours, theirs)]
        return (statistics.median(ours), statistics.median(theirs), statistics.median(ratios),
                min(ours), min(theirs), min(ours) / min(theirs))


def runnable(model_dir, backends, threads):
    """([(backend, precision)] that the export and this machine run, [skip notes]);
    DeployError if ``model_dir`` is no export (infer_cfg.yml and the Paddle files)."""
    model = load_exported_model(model_dir)
    pairs, skipped = [], []
    for backend in backends:
        for precision in BACKENDS[backend].precisions:
            try:
                check_options(backend, RunOptions(cpu_threads=threads, precision=precision))
                check_files(model, backend, precision)
            except DeployError as e:
                skipped.append(f"{backend} {precision}: not run ({e})")
                continue
            pairs.append((backend, precision))
    return pairs, skipped


def load_image(path, size):
    """RGB uint8 [H, W, 3]: the image at ``path`` (else a scene of the demo's synthetic
    val set), resized to ``size`` (H, W) when given."""
    if path is None:
        bgr, _ = render_image(0, "val", 1)
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    else:
        image = read_image(path)
    return image if size is None else cv2.resize(image, (size[1], size[0]))


def export_seeded(config, folder):
    """``config``'s network with name-seeded weights exported (with model.onnx) under
    ``folder`` -> the export's directory."""
    cfg = ppfcos.load_config(config)
    model_dir = export_model(seed_weights(ppfcos.build_model(cfg)), cfg,
                             os.path.join(folder, cfg.name))
    export_onnx(model_dir)
    return model_dir


def same_arrays(a, b):
    """True when the dicts of arrays ``a`` and ``b`` have the same keys and values."""
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def compare(model_dir, args):
    """Build the pairs, time them in rounds, print -> {(backend, precision): ratio}."""
    image = load_image(args.image, args.image_size)
    pairs, skipped = runnable(model_dir, args.backends, args.cpu_threads)
    if not pairs:
        raise DeployError(f"{model_dir}: none of {', '.join(args.backends)} runs here: "
                          + "; ".join(skipped))
    built = {key: Pair(model_dir, *key, args.cpu_threads, image) for key in pairs}
    inputs = next(iter(built.values())).inputs
    for pair in built.values():   # every runtime runner gets the same arrays
        if not same_arrays(pair.inputs, inputs):
            raise DeployError("the export's preprocessing gave other arrays for the same image")
        pair.inputs = inputs
    print(f"{model_dir}; input image {image.shape[0]}x{image.shape[1]} -> "
          f"{'x'.join(map(str, inputs['image'].shape))}; {args.cpu_threads} thread(s); "
          f"{args.warmup} warm-up run(s), {args.rounds} round(s)", flush=True)
    print("\n".join(skipped))
    for pair in built.values():
        pair.warm_up(args.warmup)
    for index in range(args.rounds):
        line = []
        for (backend, precision), pair in built.items():
            ours, theirs = pair.time_round(ppfcos_first=index % 2 == 0)
            line.append(f"{backend} {precision} {ours:.1f}/{theirs:.1f}")
        print(f"round {index + 1} (ppfcos/runtime ms): " + ", ".join(line), flush=True)
    print("| backend | precision | ppfcos inference ms | runtime's own ms | ratio (median of "
          "the rounds') | best ppfcos ms | best runtime ms | ratio of the best |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios = {}
    for key, pair in built.items():
        figures = pair.summary()
        ratios[key] = figures[2]
        print(f"| {key[0]} | {key[1]} | " + " | ".join(
            f"{value:.3f}" if index in (2, 5) else f"{value:.2f}"
            for index, value in enumerate(figures)) + " |")
    return ratios


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model_dir", help="an export from tools/export_model.py "
                       "--export_onnx (and --quantize int8 for the int8 rows)")
    model.add_argument("-c", "--config", help="export this config's network with "
                       "name-seeded weights (and its model.onnx) to a temporary folder")
    parser.add_argument("--image", help="the image to detect in (default: a scene of the demo's "
                        "synthetic val set)")
    parser.add_argument("--image_size", type=positive_int, nargs=2, default=None,
                        metavar=("H", "W"), help="resize the image to H x W first")
    parser.add_argument("--cpu_threads", type=positive_int, default=2)
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--warmup", type=positive_int, default=WARMUP_RUNS,
                        help="untimed runs of each runner first")
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--max_ratio", type=positive_float, default=None,
                        help="exit with status 1 when a median of the rounds' ratios "
                        "ppfcos/runtime exceeds this")
    return parser


def run(args):
    """Export if asked, compare, check --max_ratio; DeployError for what the user can fix."""
    if args.image is not None and not os.path.isfile(args.image):
        raise DeployError(f"--image {args.image}: no such file")
    if args.config is not None and not os.path.isfile(args.config):
        raise DeployError(f"-c {args.config}: no such config file")
    print(machine.describe(machine.cpu_info()))
    print(machine.load_line("before"), flush=True)
    try:
        if args.model_dir is not None:
            ratios = compare(args.model_dir, args)
        else:
            with tempfile.TemporaryDirectory() as folder:
                ratios = compare(export_seeded(args.config, folder), args)
    finally:
        print(machine.load_line("after"))
    above = [f"{backend} {precision} {ratio:.3f}" for (backend, precision), ratio
             in ratios.items() if args.max_ratio is not None and ratio > args.max_ratio]
    if above:
        raise DeployError(f"ppfcos takes more than --max_ratio {args.max_ratio} times the "
                          f"runtime's own time: {', '.join(above)}")


def main(argv=None):
    return exit_status(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
