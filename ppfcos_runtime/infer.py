"""Detect objects with a model from tools/export_model.py (Paddle Inference, ONNX Runtime or
OpenVINO).

    python deploy/python/infer.py --model_dir output_inference/fcos_r50_fpn_1x_coco \\
        (--image_file FILE | --image_dir DIR | --video_file FILE) [--batch_size 1] \\
        [--backend paddle|onnxruntime|openvino] [--precision fp32|bf16|int8] [--device CPU|GPU] \\
        [--run_mode paddle|trt_fp32|trt_fp16|trt_int8] [--cpu_threads N] \\
        [--enable_mkldnn True|False] [--threshold T] \\
        [--output_dir output] [--save_results] [--save_images True|False] [--run_benchmark] \\
        [--camera_id N] [--slice_infer --slice_size H W --overlap_ratio RH RW ...] \\
        [--track [--track_thresh 0.7 --track_buffer 30 ...]] \\
        [--trt_min_shape 1 --trt_max_shape 1280 --trt_opt_shape 640 --trt_calib_mode False \\
         --collect_trt_shape_info --tuned_trt_shape_file shape_range_info.pbtxt]

Writes output_dir/<image name> with the detections drawn (output_dir/<video stem>.mp4
for a video or camera; with --track, each object's track id drawn too, and
output_dir/<video stem>.txt in MOTChallenge's format) and, with --save_results,
output_dir/bbox.json; --run_benchmark prints the CPU and the stage times and writes
output_dir/benchmark.json. Standalone: imports only the standard library, paddle, numpy,
opencv and pyyaml (and onnxruntime or openvino for those backends, which run model.onnx;
sahi for --slice_infer; trackers and supervision for --track), so ppfcos need not be
installed.
"""
import argparse
import itertools
import logging
import os
import sys

from . import machine  # (the package __init__ has bound zlib before paddle)
from .benchmark import Timings
from .errors import DeployError, ImageReadError, exit_status
from .exported_model import load_exported_model
from .factory import load_detector
from .flags import (add_bool_flag, add_slice_flags, add_tensorrt_flags, add_track_flags,
                    add_unsupported_flags, positive_int, slice_options, tracker_options)
from .media import VideoReader, check_output_dir, list_images, open_camera, read_image
from .predictor import (BACKENDS, PRECISIONS, RUN_MODES, RunOptions, TensorRTOptions,
                        backends_help, check_options, precisions_help)
from .results import ResultWriter
from .slicing import SlicedDetector
from .tracking import LOW_SCORE_THRESHOLD, Tracker, import_trackers

# Untimed runs of each new input shape before --run_benchmark times it.
WARMUP_RUNS = 3
BENCHMARK_FILE = "benchmark.json"   # --run_benchmark's figures, in output_dir
logger = logging.getLogger("deploy")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", required=True,
                        help="directory written by tools/export_model.py")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image_file", help="one image")
    source.add_argument("--image_dir", help="the .jpg/.jpeg/.png/.bmp images under this "
                        "directory (recursive)")
    source.add_argument("--video_file", help="a video; writes output_dir/<stem>.mp4")
    source.add_argument("--camera_id", type=int, default=None,
                        help="detect on the frames of camera N (0, 1, ...); writes "
                        "output_dir/camera_<N>.mp4")
    parser.add_argument("--batch_size", type=positive_int, default=1,
                        help="images per predictor run; only images whose preprocessed "
                        "tensors have the same shape share a run")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="paddle",
                        help=f"inference library: {backends_help()}")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help=f"{precisions_help()} (bf16: the network in bf16, decoding and "
                        f"NMS in f32 or better; int8: model_int8.onnx from "
                        f"tools/export_model.py --quantize int8)")
    parser.add_argument("--device", choices=["CPU", "GPU"], default="CPU", type=str.upper)
    parser.add_argument("--run_mode", choices=RUN_MODES, default="paddle",
                        help="paddle, or TensorRT (trt_*: needs --device GPU and "
                        "--backend paddle)")
    parser.add_argument("--cpu_threads", type=positive_int, default=os.cpu_count() or 1,
                        help="CPU math threads (default: all cores)")
    add_bool_flag(parser, "--enable_mkldnn", default=True,
                  help="use oneDNN on CPU (fastest; --backend paddle)")
    add_bool_flag(parser, "--enable_mkldnn_bfloat16",
                  help="PaddleDetection's spelling of --precision bf16")
    parser.add_argument("--threshold", type=float, default=None,
                        help="score threshold for drawing, counting and saving "
                        "(default: infer_cfg.yml's draw_threshold)")
    parser.add_argument("--output_dir", default="output", help="where results are written")
    add_bool_flag(parser, "--save_results", help="write output_dir/bbox.json: detections >= "
                  "threshold, bbox as [x, y, w, h], the dataset's category_id")
    add_bool_flag(parser, "--save_images", default=True,
                  help="write the images (or video) with the detections drawn")
    add_bool_flag(parser, "--run_benchmark", help=f"time the stages after {WARMUP_RUNS} "
                  "warm-up runs per input shape; print ms per image, fps and peak memory; "
                  "writes no images")
    add_slice_flags(parser)
    add_track_flags(parser)
    add_tensorrt_flags(parser)
    add_unsupported_flags(parser, {
        "--use_gpu": "use --device GPU",
        "--use_coco_category": "bbox.json's category_id is already the dataset's category id "
                               "(infer_cfg.yml's category_ids, written at export)",
        "--use_dynamic_shape": "infer_cfg.yml's use_dynamic_shape (written at export) "
                               "decides it"})
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


def detect_video(detector, path, video, batch_size, writer, tracking=None):
    """Detect in every frame of ``video`` (a VideoReader of ``path``); writes an annotated
    copy. ``tracking``: TrackerOptions, to track the detections >= the writer's threshold
    and write only the tracked ones, with their ids."""
    out = writer.start_video(path, video.fps, video.size)
    tracker = Tracker(tracking, video.fps) if tracking else None
    index = 0
    try:
        for frames in batches(video, batch_size):
            for frame, rows in zip(frames, detector.detect(frames)):
                track_ids = None
                if tracker:
                    rows, track_ids = tracker.update(writer.kept(rows))
                kept = writer.add_frame(path, index, frame, rows, track_ids)
                logger.info("%s frame %d: %d %s >= %.2f", path, index, len(kept),
                            "tracked detections" if tracker else "detections",
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
    tensorrt = TensorRTOptions(args.trt_min_shape, args.trt_max_shape, args.trt_opt_shape,
                               args.trt_calib_mode, args.collect_trt_shape_info,
                               args.tuned_trt_shape_file)
    if args.enable_mkldnn_bfloat16:
        if args.precision not in ("fp32", "bf16"):
            raise DeployError(f"--enable_mkldnn_bfloat16 is --precision bf16; it cannot go "
                              f"with --precision {args.precision}")
        args.precision = "bf16"
    options = RunOptions(device=args.device, run_mode=args.run_mode,
                         cpu_threads=args.cpu_threads, enable_mkldnn=args.enable_mkldnn,
                         batch_size=args.batch_size, tensorrt=tensorrt,
                         precision=args.precision)
    check_options(args.backend, options)
    tracking = check_tracking(args)
    cpu = machine.cpu_info()
    notice = machine.missing_instructions(args.precision, cpu["flags"])
    if notice and args.device == "CPU":
        logger.warning("%s", notice)
    model = load_exported_model(args.model_dir, args.backend, args.precision)
    timings = Timings()
    detector = load_detector(model, args.backend, options, timings,
                             warmup_runs=WARMUP_RUNS if args.run_benchmark else 0)
    if args.video_file:
        video, name = VideoReader(args.video_file), args.video_file
    elif args.camera_id is not None:
        video, name = open_camera(args.camera_id), f"camera_{args.camera_id}"
    else:
        video, name = None, None
    paths = None if video else list_images(args.image_file, args.image_dir)
    draw = args.save_images and not args.run_benchmark
    if draw:
        check_output_dir(args.output_dir, [args.video_file] if args.video_file else paths or [])
    threshold = args.threshold if args.threshold is not None else (
        LOW_SCORE_THRESHOLD if tracking else model.draw_threshold)
    writer = ResultWriter(args.output_dir, model.label_list, threshold, draw=draw,
                          save_results=args.save_results, category_ids=model.category_ids,
                          images=paths or (), video=name,
                          also_writes=[BENCHMARK_FILE] if args.run_benchmark else [],
                          track=bool(tracking))
    slicing = slice_options(args)
    if slicing:
        detector = SlicedDetector(detector, slicing, args.batch_size)
    batch_size = 1 if args.slice_infer else args.batch_size   # slices are batched instead
    if video:
        detect_video(detector, name, video, batch_size, writer, tracking)
    else:
        detect_images(detector, paths, batch_size, writer)
    if args.save_results:
        logger.info("%d detections saved to %s", len(writer.records), writer.write_json())
    if args.run_benchmark:
        print(machine.describe(cpu))
        print("\n".join(timings.report()))
        timings.write_json(os.path.join(args.output_dir, BENCHMARK_FILE),
                           backend=args.backend, precision=args.precision,
                           threads=args.cpu_threads, batch_size=args.batch_size)
        writer.folder.wrote(BENCHMARK_FILE)


def check_tracking(args):
    """The TrackerOptions of ``--track`` (None without it), checked before anything loads:
    DeployError for images (nothing to track across), a parameter out of range, or a
    missing trackers package."""
    tracking = tracker_options(args)
    if tracking is None:
        return None
    if args.video_file is None and args.camera_id is None:
        raise DeployError("--track follows objects from frame to frame: give --video_file or "
                          "--camera_id, not --image_file or --image_dir")
    tracking.check()
    import_trackers()
    return tracking


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return exit_status(run, args)


if __name__ == "__main__":
    sys.exit(main())
