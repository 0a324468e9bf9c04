"""Shared command-line plumbing of the tools: -c/-o arguments, the tools' own flags and
user-facing errors.

The PaddleDetection-style flag helpers are deploy's (``ppfcos_runtime.flags``), so the
tools and ``deploy/python/infer.py`` read switches alike: `add_bool_flag` accepts
``--eval``, ``--use_vdl=true``, ``--save_results=True`` and ``--visualize False``;
`add_unsupported_flags` turns a PaddleDetection flag ppfcos does not implement
into a one-line error that says what to use instead; `add_slice_flags` and
`slice_options` are sliced inference's.
"""
import argparse
import contextlib
import os
import signal
import sys
import threading

from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.flags import (add_bool_flag, add_slice_flags,  # noqa: F401 (the tools')
                                 add_unsupported_flags, slice_options)

from ..analysis import AnalysisOptions
from ..checkpoint.errors import ConversionError, TorchFileError, WeightsError
from ..core.config import ConfigError, load_config
from ..core.files import DiskFull
from ..core.safe_pickle import UnsafePickleError
from ..data.datasets.base import DatasetError
from ..data.loader import ReaderError
from .trainer import PeerStopped, TrainingDiverged

# Errors whose message tells the user what to fix: printed without a traceback.
USER_ERRORS = (ConfigError, DatasetError, WeightsError, TrainingDiverged, FileNotFoundError,
               ConversionError, TorchFileError, UnsafePickleError, ReaderError, DeployError,
               DiskFull, PeerStopped)


def config_parser(description):
    """An ArgumentParser with ``-c CONFIG`` and ``-o key=value ...`` (repeatable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-c", "--config", required=True, help="config file (YAML)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="override config values: -o key=value a.b=value ...")
    return parser


SLIM = {"--slim_config": "PaddleSlim compression (pruning, quantization, distillation) is not "
                         "implemented; use the model config alone"}


def add_predictor_flag(parser):
    """``--predictor``: evaluate through Paddle Inference with oneDNN (CPU)."""
    add_bool_flag(parser, "--predictor", help="evaluate with the exported program in Paddle "
                  "Inference (oneDNN, CPU): the same detections as dygraph, several times "
                  "faster")


# The experiment loggers' switches (ppfcos.engine.loggers) -> (keyword, help).
LOGGER_FLAGS = {
    "--use_vdl": ("vdl", "log scalars and drawn validation images to VisualDL"),
    "--use_tensorboard": ("tensorboard", "log to TensorBoard event files in "
                          "save_dir/<config>/tensorboard (pip install 'ppfcos[tensorboard]')"),
    "--use_wandb": ("wandb", "log to Weights & Biases with the config's wandb section as "
                    "wandb.init's arguments (pip install 'ppfcos[wandb]')"),
    "--use_mlflow": ("mlflow", "log to MLflow with the config's mlflow section (default: "
                     "the file store save_dir/<config>/mlruns; pip install 'ppfcos[mlflow]')"),
}


def add_logger_flags(parser):
    """``--use_vdl``, ``--vdl_log_dir``, ``--use_tensorboard``, ``--use_wandb``,
    ``--use_mlflow``: the experiment loggers of a training run."""
    for flag, (_, text) in LOGGER_FLAGS.items():
        add_bool_flag(parser, flag, help=text)
    parser.add_argument("--vdl_log_dir", default=None,
                        help="VisualDL log directory (default: save_dir/<config>/vdl)")


def logger_options(args):
    """The keyword arguments of ``loggers.experiment_loggers`` that parsed logger flags
    ask for."""
    options = {keyword: getattr(args, flag[2:]) for flag, (keyword, _) in LOGGER_FLAGS.items()}
    return dict(options, vdl_log_dir=args.vdl_log_dir)


def add_tta_flag(parser):
    """``--tta``: test-time augmentation over the config's ``TTA`` views (dygraph)."""
    add_bool_flag(parser, "--tta", help="test-time augmentation: detect on the scales and "
                  "flip of the config's TTA section (default: the image and its mirror) and "
                  "merge them before NMS; slower by about the number of views")


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


def run(main, args):
    """Load ``args.config`` with the overrides and call ``main(cfg, args)``; returns the
    process exit code (see exit_code)."""
    return exit_code(lambda: main(load_config(args.config, args.opt), args))


class Terminated(KeyboardInterrupt):
    """The interrupt SIGTERM raises in the tools (what ``docker stop``, Kubernetes and
    Slurm send): a KeyboardInterrupt, so every block unwinds as after Ctrl-C."""


# The shell's codes for a process ended by the signal: 128 + its number.
INTERRUPTED = 128 + signal.SIGINT    # 130
TERMINATED = 128 + signal.SIGTERM    # 143
STOPPING_SIGNALS = {signal.SIGINT: (KeyboardInterrupt, INTERRUPTED, "Ctrl-C"),
                    signal.SIGTERM: (Terminated, TERMINATED, "SIGTERM")}


def _exit_now(signum, frame):
    print("error: interrupted again: exiting at once", file=sys.stderr, flush=True)
    os._exit(STOPPING_SIGNALS[signum][1])


def _child_exited(signum, frame):
    """SIGCHLD once a run stops: a DataLoader worker process ended, which is no error.
    (A handler, not SIG_DFL: Python raises for a signal pending when its handler goes.)"""


def _first_interrupt(signum, frame):
    for other in STOPPING_SIGNALS:
        signal.signal(other, _exit_now)
    # The DataLoader's SIGCHLD handler raises when a worker process dies: the signal of a
    # process group (Ctrl-C, Slurm's SIGTERM) ends the workers too, which is no error.
    signal.signal(signal.SIGCHLD, _child_exited)
    raise STOPPING_SIGNALS[signum][0]


@contextlib.contextmanager
def ctrl_c_twice_exits():
    """The first Ctrl-C (SIGINT) or SIGTERM raises KeyboardInterrupt (Terminated for
    SIGTERM; blocks unwind: temporaries go, locks are released); a second one of either,
    while that cleanup runs, ends the process at once.

    Setting SIGTERM's handler here replaces the one Paddle's C++ core installs when it
    loads (a "FatalError: Termination signal" dump and death by the signal), for the
    tool's run only: importing ppfcos changes no process setting. The SIGCHLD handler
    a DataLoader with worker processes installs during the run (it raises when a worker
    dies) goes with the run, or at the first signal: the signal may have ended the
    workers too (a process group's SIGTERM or Ctrl-C), which is no error."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _first_interrupt) for signum in STOPPING_SIGNALS}
    previous_child_handler = signal.getsignal(signal.SIGCHLD)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if signal.getsignal(signal.SIGCHLD) is not previous_child_handler:
            signal.signal(signal.SIGCHLD, _child_exited)


def exit_code(call):
    """Call ``call()`` -> the process exit code: 0, or 1 with a one-paragraph ``error:``
    message on stderr for errors the user can fix (bad config, data, weights, diverged,
    a full disk), or 130 (Ctrl-C) / 143 (SIGTERM) with one ``error: interrupted`` line."""
    try:
        with ctrl_c_twice_exits():
            call()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        _, code, name = STOPPING_SIGNALS[signal.SIGTERM if isinstance(e, Terminated)
                                        else signal.SIGINT]
        print(f"error: interrupted ({name}){': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return code
    return 0
