"""Shared command-line plumbing of the tools: -c/-o arguments and user-facing errors."""
import argparse
import sys

from ..core.config import ConfigError, load_config
from ..core.safe_pickle import UnsafePickleError
from ..data.datasets.base import DatasetError
from ..weights import ConversionError, TorchFileError
from .checkpoint import WeightsError
from .trainer import TrainingDiverged

# Errors whose message tells the user what to fix: printed without a traceback.
USER_ERRORS = (ConfigError, DatasetError, WeightsError, TrainingDiverged, FileNotFoundError,
               ConversionError, TorchFileError, UnsafePickleError)


def config_parser(description):
    """An ArgumentParser with ``-c CONFIG`` and ``-o key=value ...`` (repeatable)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-c", "--config", required=True, help="config file (YAML)")
    parser.add_argument("-o", "--opt", nargs="*", action="extend", default=[],
                        help="override config values: -o key=value a.b=value ...")
    return parser


def add_predictor_flag(parser):
    """``--predictor``: evaluate through Paddle Inference with oneDNN (CPU)."""
    parser.add_argument("--predictor", action="store_true",
                        help="evaluate with the exported program in Paddle Inference (oneDNN, "
                        "CPU): the same detections as dygraph, several times faster")


def run(main, args):
    """Load ``args.config`` with the overrides and call ``main(cfg, args)``; returns the
    process exit code (see exit_code)."""
    return exit_code(lambda: main(load_config(args.config, args.opt), args))


def exit_code(call):
    """Call ``call()`` -> the process exit code: 0, or 1 with a one-paragraph ``error:``
    message on stderr for errors the user can fix (bad config, data, weights, diverged)."""
    try:
        call()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
