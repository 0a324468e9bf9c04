"""Detect objects with a model from tools/export_model.py (Paddle Inference, ONNX Runtime or
OpenVINO).

    python deploy/python/infer.py --model_dir output_inference/fcos_r50_fpn_1x_coco \\
        (--image_file FILE | --image_dir DIR | --video_file FILE) [--batch_size 1] \\
        [--backend paddle|onnxruntime|openvino] [--precision fp32|bf16|int8] [--device CPU|GPU] \\
        [--run_mode paddle|trt_fp32|trt_fp16|trt_int8] [--cpu_threads N] \\
        [--enable_mkldnn True|False] [--threshold T] \\
        [--output_dir output] [--save_results] [--run_benchmark]

Writes output_dir/<image name> with the detections drawn (output_dir/<video stem>.mp4
for a video) and, with --save_results, output_dir/bbox.json; --run_benchmark prints the
CPU and the stage times and writes output_dir/benchmark.json. Standalone: imports only
the standard library, paddle, numpy, opencv and pyyaml (and onnxruntime or openvino
for those backends, which run model.onnx), so ppfcos need not be installed.
"""
import argparse
import itertools
import logging
import os
import sys

import machine
from benchmark import Timings
from detector import Detector
from errors import DeployError, ImageReadError
from exported_model import load_exported_model
from media import VideoReader, list_images, read_image
from predictor import (BACKENDS, PRECISIONS, RUN_MODES, RunOptions, check_options,
                       create_predictor)
from preprocess import Preprocessor
from results import ResultWriter

# Untimed runs of each new input shape before --run_benchmark times it.
WARMUP_RUNS = 3
logger = logging.getLogger("deploy")


def str2bool(text):
    """'True'/'False' (also yes/no, 1/0, any case) -> bool, as PaddleDetection's flags."""
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def positive_int(text):
    """An integer >= 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True,
                        help="directory written by tools/export_model.py")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image_file", help="one image")
    source.add_argument("--image_dir", help="the .jpg/.jpeg/.png/.bmp images under this "
                        "directory (recursive)")
    source.add_argument("--video_file", help="a video; writes output_dir/<stem>.mp4")
    parser.add_argument("--batch_size", type=positive_int, default=1,
                        help="images per predictor run; only images whose preprocessed "
                        "tensors have the same shape share a run")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="paddle",
                        help="inference library: paddle (Paddle Inference: model.json + "
                        "model.pdiparams), onnxruntime (ONNX Runtime: model.onnx) or "
                        "openvino (OpenVINO: model.onnx)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32; bf16 (--backend openvino: the network in bf16, decoding "
                        "and NMS in f32); int8 (model_int8.onnx from tools/export_model.py "
                        "--quantize int8)")
    parser.add_argument("--device", choices=["CPU", "GPU"], default="CPU", type=str.upper)
    parser.add_argument("--run_mode", choices=RUN_MODES, default="paddle",
                        help="paddle, or TensorRT (trt_*: needs --device GPU and "
                        "--backend paddle)")
    parser.add_argument("--cpu_threads", type=positive_int, default=os.cpu_count() or 1,
                        help="CPU math threads (default: all cores)")
    parser.add_argument("--enable_mkldnn", type=str2bool, default=True,
                        help="use oneDNN on CPU: True (default, fastest) or False "
                        "(--backend paddle)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="score threshold for drawing, counting and saving "
                        "(default: infer_cfg.yml's draw_threshold)")
    parser.add_argument("--output_dir", default="output", help="where results are written")
    parser.add_argument("--save_results", action="store_true",
                        help="write output_dir/bbox.json: detections >= threshold, "
                        "bbox as [x, y, w, h]")
    parser.add_argument("--run_benchmark", action="store_true",
                        help=f"time the stages after {WARMUP_RUNS} warm-up runs per input "
                        "shape; print ms per image, fps and peak memory; writes no images")
    return parser


def batches(items, size):
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    items = iter(items)
    while batch := list(itertools.islice(items, size)):
        yield batch


def readable_images(paths, timings):
    """(path, RGB image) for each readable image of ``paths``; warns about and skips the rest."""
    for path in paths:
        try:
            with timings.measure("preprocess"):
                image = read_image(path)
        except ImageReadError as e:
            logger.warning("skipped: %s", e)
            continue
        yield path, image


def detect_images(detector, paths, batch_size, writer):
    """Detect in every readable image; DeployError if none could be read."""
    done = 0
    for batch in batches(readable_images(paths, detector.timings), batch_size):
        for (path, image), rows in zip(batch, detector.detect([im for _, im in batch])):
            kept, out = writer.add_image(path, image, rows)
            logger.info("%s: %d detections >= %.2f -> %s", path, len(kept), writer.threshold,
                        out or "(not drawn with --run_benchmark)")
            done += 1
    if not done:
        raise DeployError(f"none of the {len(paths)} image(s) could be read")


def detect_video(detector, path, video, batch_size, writer):
    """Detect in every frame of ``video`` (a VideoReader of ``path``); writes an annotated copy."""
    out = writer.start_video(path, video.fps, video.size)
    index = 0
    try:
        for frames in batches(video, batch_size):
            for frame, rows in zip(frames, detector.detect(frames)):
                kept = writer.add_frame(path, index, frame, rows)
                logger.info("%s frame %d: %d detections >= %.2f", path, index, len(kept),
                            writer.threshold)
                index += 1
    finally:
        writer.end_video()
    if not index:
        raise DeployError(f"no frames could be read from {path}")
    if writer.draw:
        logger.info("%s: %d frames -> %s", path, index, out)


def run(args):
    """Check everything, build the predictor, detect, write; DeployError for user errors."""
    options = RunOptions(device=args.device, run_mode=args.run_mode,
                         cpu_threads=args.cpu_threads, enable_mkldnn=args.enable_mkldnn,
                         batch_size=args.batch_size, precision=args.precision)
    check_options(args.backend, options)
    cpu = machine.cpu_info()
    notice = machine.missing_instructions(args.precision, cpu["flags"])
    if notice and args.device == "CPU":
        logger.warning("%s", notice)
    model = load_exported_model(args.model_dir, args.backend)
    preprocessor = Preprocessor(model.preprocess)
    video = VideoReader(args.video_file) if args.video_file else None
    paths = None if video else list_images(args.image_file, args.image_dir)
    timings = Timings()
    detector = Detector(preprocessor, create_predictor(args.backend, model, options), timings,
                        warmup_runs=WARMUP_RUNS if args.run_benchmark else 0)
    threshold = model.draw_threshold if args.threshold is None else args.threshold
    writer = ResultWriter(args.output_dir, model.label_list, threshold,
                          draw=not args.run_benchmark, save_results=args.save_results)
    if video:
        detect_video(detector, args.video_file, video, args.batch_size, writer)
    else:
        detect_images(detector, paths, args.batch_size, writer)
    if args.save_results:
        logger.info("%d detections saved to %s", len(writer.records), writer.write_json())
    if args.run_benchmark:
        print(machine.describe(cpu))
        print("\n".join(timings.report()))
        os.makedirs(args.output_dir, exist_ok=True)
        timings.write_json(os.path.join(args.output_dir, "benchmark.json"),
                           backend=args.backend, precision=args.precision,
                           threads=args.cpu_threads, batch_size=args.batch_size)


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        run(args)
    except DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
