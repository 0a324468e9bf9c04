"""``ppfcos-serve``: serve an exported model's detections over HTTP.

    ppfcos-serve --model_dir output_inference/fcos_r18_lite_synthetic \\
        [--backend paddle|onnxruntime|openvino] [--precision fp32|bf16|int8] [--cpu_threads N] \\
        [--predictor_processes 1] \\
        [--host 127.0.0.1] [--port 8080] [--workers 1] [--max_batch_size 16] [--max_wait_ms 5] \\
        [--max_body_mb 20] [--max_pixels 25000000] [--max_side N] [--max_batched_pixels N] \\
        [--max_batch_images 64] [--max_queue 256] \\
        [--client_timeout 10] [--graceful_timeout 30] [--access_log]

Endpoints: POST /predict, POST /predict/batch, GET /health, GET /info, GET /metrics
(docs/serving.md). Needs ``pip install -e .[serve]``.
"""
import argparse
import os
import sys

from ppfcos_runtime.errors import exit_status
from ppfcos_runtime.flags import add_bool_flag, positive_float, positive_int
from ppfcos_runtime.predictor import BACKENDS, PRECISIONS, backends_help, precisions_help

from .settings import DEFAULT_MAX_BATCHED_PIXELS, DEFAULT_MAX_SIDE, ServeSettings


def non_negative_float(text):
    """A number >= 0 (argparse type)."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser():
    defaults = ServeSettings(model_dir="")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`: "))
    parser.add_argument("--model_dir", required=True,
                        help="directory written by tools/export_model.py")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="paddle",
                        help=f"inference library: {backends_help()}")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help=precisions_help())
    parser.add_argument("--predictor_processes", type=positive_int,
                        default=defaults.predictor_processes,
                        help="predictors, each in a process of its own, whose runs overlap "
                        "(1: one predictor in the server's process)")
    parser.add_argument("--cpu_threads", type=positive_int, default=None,
                        help="CPU math threads of each predictor (default: the cores shared "
                        "among the predictor processes)")
    parser.add_argument("--host", default=defaults.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=defaults.port, help="port to listen on")
    parser.add_argument("--workers", type=positive_int, default=defaults.workers,
                        help="server processes, each with its own predictor")
    parser.add_argument("--max_batch_size", type=positive_int, default=defaults.max_batch_size,
                        help="images per predictor run (1: no batching)")
    parser.add_argument("--max_wait_ms", type=non_negative_float, default=defaults.max_wait_ms,
                        help="how long the first queued image waits for others to batch with")
    parser.add_argument("--max_body_mb", type=positive_float,
                        default=defaults.max_body_bytes / 2 ** 20,
                        help="largest request body, MiB (413 beyond)")
    parser.add_argument("--max_pixels", type=positive_int, default=defaults.max_pixels,
                        help="largest image, width x height from its header (422 beyond)")
    parser.add_argument("--max_side", type=positive_int, default=None,
                        help="long side (pixels) a larger image is shrunk to, keeping its "
                        "aspect ratio, before the predictor sees it; detections come back in "
                        "the original's pixels (default: the long side of the export's "
                        f"keep-ratio Resize target, else {DEFAULT_MAX_SIDE})")
    parser.add_argument("--max_batched_pixels", type=positive_int, default=None,
                        help="input pixels (width x height after --max_side) above which an "
                        "image runs alone, taking turns with the batches of smaller ones "
                        "(default: --max_side squared for an export with a keep-ratio "
                        f"Resize, whose images all batch; else {DEFAULT_MAX_BATCHED_PIXELS})")
    parser.add_argument("--max_batch_images", type=positive_int,
                        default=defaults.max_batch_images, help="images per /predict/batch")
    parser.add_argument("--max_queue", type=positive_int, default=defaults.max_queue,
                        help="images waiting for the predictor before requests get 503")
    parser.add_argument("--client_timeout", type=positive_float,
                        default=defaults.client_timeout, help="seconds for a client to send "
                        "a request's headers, and again its body (408); idle keep-alive time")
    parser.add_argument("--graceful_timeout", type=positive_float,
                        default=defaults.graceful_timeout, help="seconds a shutdown waits for "
                        "requests in flight")
    add_bool_flag(parser, "--access_log", help="log a line per request")
    return parser


def shared_cores(processes):
    """The cores each of ``processes`` predictor processes gets (at least 1)."""
    return max((os.cpu_count() or 1) // processes, 1)


def settings_of(args):
    """The ServeSettings of parsed flags."""
    return ServeSettings(
        model_dir=args.model_dir, backend=args.backend, precision=args.precision,
        cpu_threads=args.cpu_threads or shared_cores(args.predictor_processes),
        predictor_processes=args.predictor_processes, host=args.host, port=args.port,
        workers=args.workers,
        max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
        max_body_bytes=int(args.max_body_mb * 2 ** 20), max_pixels=args.max_pixels,
        max_side=args.max_side, max_batched_pixels=args.max_batched_pixels,
        max_batch_images=args.max_batch_images, max_queue=args.max_queue,
        client_timeout=args.client_timeout, graceful_timeout=args.graceful_timeout,
        access_log=args.access_log)


def main(argv=None):
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        from .server import serve
    except ImportError as e:
        print(f"error: ppfcos-serve needs the serve extra ({e.name} is missing): "
              f"pip install -e .[serve]", file=sys.stderr)
        return 1
    return exit_status(serve, settings_of(args))


if __name__ == "__main__":
    sys.exit(main())
