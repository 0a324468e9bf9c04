"""Shared command-line plumbing of the tools: -c/-o arguments, PaddleDetection-style flags
and user-facing errors.

PaddleDetection's tools declare their switches in three ways (``action='store_true'``,
``type=bool``, ``type=ast.literal_eval``), so its docs write them as ``--eval``,
``--use_vdl=true``, ``--save_results=True`` or ``--visualize False``. :func:`add_bool_flag`
accepts all of these spellings for every switch; :func:`add_unsupported_flags` turns a
PaddleDetection flag ppfcos does not implement into a one-line error that says what to
use instead.
"""
import argparse
import contextlib
import os
import signal
import sys
import threading

from ..analysis import AnalysisOptions
from ..core.config import ConfigError, load_config
from ..core.safe_pickle import UnsafePickleError
from ..data.datasets.base import DatasetError
from ..data.loader import ReaderError
from ..weights import ConversionError, TorchFileError
from .checkpoint import WeightsError
from .slicing import SliceOptions
from .trainer import TrainingDiverged

# Errors whose message tells the user what to fix: printed without a traceback.
USER_ERRORS = (ConfigError, DatasetError, WeightsError, TrainingDiverged, FileNotFoundError,
               ConversionError, TorchFileError, UnsafePickleError, ReaderError)
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


def config_parser(description):
    """An ArgumentParser with ``-c CONFIG`` and ``-o key=value ...`` (repeatable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-c", "--config", required=True, help="config file (YAML)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="override config values: -o key=value a.b=value ...")
    return parser


def str2bool(text):
    """'True'/'False' (also true/false, yes/no, 1/0, any case) -> bool (argparse type)."""
    value = str(text).strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def add_bool_flag(parser, name, default=False, help=None):
    """A switch given bare (``--flag``: True) or with a value (``--flag=true``, ``--flag
    False``, ``--flag=1``), as PaddleDetection's docs spell its switches."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default,
                        metavar="True|False", help=f"{help} (default {default})")


class UnsupportedFlag(argparse.Action):
    """A PaddleDetection flag ppfcos does not implement: exit with one ``error:`` line."""

    def __init__(self, option_strings, dest, advice, **kwargs):
        super().__init__(option_strings, dest, nargs="*", help=argparse.SUPPRESS, **kwargs)
        self.advice = advice

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(2, f"error: {option_string} is not supported by ppfcos: {self.advice}\n")


def add_unsupported_flags(parser, flags):
    """``flags``: {PaddleDetection flag: what to use instead}."""
    for flag, advice in flags.items():
        parser.add_argument(flag, action=UnsupportedFlag, advice=advice)


SLIM = {"--slim_config": "PaddleSlim compression (pruning, quantization, distillation) is not "
                         "implemented; use the model config alone"}


def add_predictor_flag(parser):
    """``--predictor``: evaluate through Paddle Inference with oneDNN (CPU)."""
    add_bool_flag(parser, "--predictor", help="evaluate with the exported program in Paddle "
                  "Inference (oneDNN, CPU): the same detections as dygraph, several times "
                  "faster")


def add_slice_flags(parser):
    """PaddleDetection's sliced-inference flags (tools/infer.py, tools/eval.py)."""
    add_bool_flag(parser, "--slice_infer", help="detect on overlapping slices of each image "
                  "and merge the detections (small objects in large images)")
    parser.add_argument("--slice_size", nargs=2, type=int, default=[640, 640],
                        metavar=("H", "W"), help="slice height and width in original pixels")
    parser.add_argument("--overlap_ratio", nargs=2, type=float, default=[0.25, 0.25],
                        metavar=("RH", "RW"), help="overlap of neighbouring slices, as a "
                        "fraction of the slice height and width")
    parser.add_argument("--combine_method", choices=["nms", "concat"], default="nms",
                        help="merge the slices' detections by class-wise NMS, or keep all")
    parser.add_argument("--match_threshold", type=float, default=0.6,
                        help="overlap above which NMS drops the lower-scored box")
    parser.add_argument("--match_metric", choices=["iou", "ios"], default="ios",
                        help="overlap measure: intersection over union, or over the smaller box")


def add_analysis_flags(parser, dir_flags=("--analysis_dir",)):
    """The folder, thresholds and image count of the analysis (tools/analyze_results.py,
    and tools/eval.py --analyze); ``dir_flags``: the spellings of the folder's flag."""
    parser.add_argument(*dir_flags, dest="analysis_dir", default=None, help="where the "
                        "analysis is written (default: the bbox.json folder's analysis/)")
    parser.add_argument("--iou_threshold", type=float, default=0.5, help="IoU of a match, for "
                        "the confusion matrix, the score curves and the error breakdown")
    parser.add_argument("--score_threshold", type=float, default=0.25, help="lowest score of "
                        "the detections in the confusion matrix and the image ranking")
    parser.add_argument("--num_images", type=int, default=8, help="worst and best images "
                        "drawn, each")


def analysis_options(args):
    """The AnalysisOptions of parsed analysis flags (ConfigError when out of range)."""
    try:
        return AnalysisOptions(args.iou_threshold, args.score_threshold, args.num_images)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def slice_options(args):
    """The SliceOptions of parsed slice flags, or None without ``--slice_infer``."""
    if not args.slice_infer:
        return None
    return SliceOptions(tuple(args.slice_size), tuple(args.overlap_ratio), args.combine_method,
                        args.match_threshold, args.match_metric)


def run(main, args):
    """Load ``args.config`` with the overrides and call ``main(cfg, args)``; returns the
    process exit code (see exit_code)."""
    return exit_code(lambda: main(load_config(args.config, args.opt), args))


INTERRUPTED = 130   # the shell's code for a process ended by SIGINT


def _exit_now(signum, frame):
    print("error: interrupted again: exiting at once", file=sys.stderr, flush=True)
    os._exit(INTERRUPTED)


def _first_interrupt(signum, frame):
    signal.signal(signal.SIGINT, _exit_now)
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_twice_exits():
    """The first Ctrl-C raises KeyboardInterrupt (blocks unwind: temporaries go, locks are
    released); a second one, while that cleanup runs, ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def exit_code(call):
    """Call ``call()`` -> the process exit code: 0, or 1 with a one-paragraph ``error:``
    message on stderr for errors the user can fix (bad config, data, weights, diverged),
    or 130 with one ``error: interrupted`` line after Ctrl-C."""
    try:
        with ctrl_c_twice_exits():
            call()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"error: interrupted (Ctrl-C){': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return INTERRUPTED
    return 0
