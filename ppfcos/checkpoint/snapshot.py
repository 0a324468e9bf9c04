"""Training snapshots: save and resume model, optimizer, LR schedule, progress and hooks.

A snapshot ``<dir>/<name>`` is two or three files, as in PaddleDetection:

* ``<name>.pdparams``: the model's state dict (loads anywhere weights load); with
  ``use_ema`` the EMA weights, which evaluation and export use;
* ``<name>.pdema`` (``use_ema`` only): the weights training itself continues from, the
  raw model's (PaddleDetection's layout: its trainer swaps the two the same way);
* ``<name>.pdopt``: the optimizer accumulators, the LR scheduler state, the
  progress (``epoch`` = epochs completed, ``iter`` = iterations completed), the
  state of the trainer hooks that have one (``hooks``: {hook name: state}, e.g. the
  EMA's averages and step, the best score and the early-stopping count) and the
  SHA-256 of the ``.pdparams`` (and ``.pdema``) files written with it
  (``pdparams_sha256``, ``pdema_sha256``).

Each file is written to a temporary name in the same directory and renamed
into place, so no file is ever half-written. A kill between the renames leaves
files of different saves side by side: resuming compares the recorded digests and
refuses such a set, as it refuses files copied together from two runs. Optimizer
accumulators are stored under the parameters' structured
names (``backbone.conv1.conv1.conv.weight@velocity_0``, `ppfcos.checkpoint.optimizer_state`)
rather than Paddle's global tensor names (``conv2d_0.w_0_velocity_0``), which depend on
how many layers the process built before.

A snapshot PaddleDetection wrote (its ``.pdopt`` has ``last_epoch`` instead of ``epoch``
and ``iter``) resumes too: `ppfcos.checkpoint.ppdet_snapshot`.
"""
import contextlib
import logging
import os
from typing import NamedTuple

import paddle
from ppfcos_runtime.output_dir import file_sha256

from ..core.files import atomic_path
from .errors import WeightsError
from .loading import load_weights
from .optimizer_state import portable_optimizer_state, restore_optimizer_state
from .ppdet_snapshot import is_paddledetection_state, paddledetection_snapshot
from .state_file import read_state_file

logger = logging.getLogger("ppfcos")

PROGRESS_KEYS = ("epoch", "iter")
HOOKS_KEY = "hooks"
DIGEST_KEY = "pdparams_sha256"
TRAINING_DIGEST_KEY = "pdema_sha256"


class Progress(NamedTuple):
    """What a snapshot resumes: ``epoch`` and ``iteration`` completed, and ``hook_states``
    ({hook name: state}, empty for a snapshot saved without any)."""
    epoch: int
    iteration: int
    hook_states: dict


def save_snapshot(prefix, model, optimizer, epoch, iteration, *, training_weights=None,
                  hook_states=None):
    """Write ``prefix.pdparams`` and ``prefix.pdopt`` (and ``prefix.pdema`` with
    ``training_weights``, the state dict training continues from when the model holds
    averaged weights) as a set; ``hook_states``: {hook name: picklable state} (numpy
    arrays, numbers, dicts). See the module docstring."""
    opt_state = portable_optimizer_state(model, optimizer)
    with contextlib.ExitStack() as files:
        # each file is written right after its atomic_path is entered, so a full disk's
        # DiskFull names the file being written
        params_tmp = files.enter_context(atomic_path(prefix + ".pdparams"))
        paddle.save(model.state_dict(), params_tmp)
        opt_state.update(epoch=epoch, iter=iteration)
        opt_state[HOOKS_KEY] = hook_states or {}
        opt_state[DIGEST_KEY] = file_sha256(params_tmp)
        if training_weights is not None:
            training_tmp = files.enter_context(atomic_path(prefix + ".pdema"))
            paddle.save(training_weights, training_tmp)
            opt_state[TRAINING_DIGEST_KEY] = file_sha256(training_tmp)
        opt_tmp = files.enter_context(atomic_path(prefix + ".pdopt"))
        paddle.save(opt_state, opt_tmp)


def snapshot_prefix(path):
    """A snapshot given as ``prefix`` or ``prefix.pdparams`` -> ``prefix``."""
    return path[:-len(".pdparams")] if path.endswith(".pdparams") else path


def resume_snapshot(prefix, model, optimizer, *, averaged=False):
    """Load a snapshot written by ``save_snapshot``, or laid out by PaddleDetection
    (`ppfcos.checkpoint.ppdet_snapshot`), into ``model`` (the ``.pdema`` weights when
    the snapshot has them) and ``optimizer``; returns its Progress (no hook states for
    PaddleDetection's). ``averaged``: the run keeps averaged weights in ``.pdparams`` (a
    DenseTeacher teacher), so a PaddleDetection snapshot must have its ``.pdema``."""
    prefix = snapshot_prefix(prefix)
    opt_path = prefix + ".pdopt"
    if not os.path.isfile(opt_path):
        raise WeightsError(f"cannot resume from {prefix}: {opt_path} is missing (resume needs "
                           f"the .pdparams and .pdopt pair that training writes; to start "
                           f"from weights only, use -o pretrain_weights={prefix})")
    state = read_state_file(opt_path)
    if is_paddledetection_state(state):
        weights, epoch, iteration, optimizer_state = paddledetection_snapshot(
            prefix, state, averaged)
        load_weights(model, weights, strict=True)
        restore_optimizer_state(model, optimizer, optimizer_state, opt_path)
        return Progress(epoch, iteration, {})
    if any(key not in state for key in PROGRESS_KEYS):
        raise WeightsError(f"{opt_path} has no training progress (epoch and iter as ppfcos "
                           f"writes them, or PaddleDetection's last_epoch): not a snapshot")
    check_pair(prefix, state.pop(DIGEST_KEY, None))
    training_digest = state.pop(TRAINING_DIGEST_KEY, None)
    if training_digest is None:
        load_weights(model, prefix + ".pdparams", strict=True)
    else:
        check_pair(prefix, training_digest, ".pdema")
        load_weights(model, prefix + ".pdema", strict=True)
    epoch, iteration = (int(state.pop(key)) for key in PROGRESS_KEYS)
    hook_states = state.pop(HOOKS_KEY, {})
    restore_optimizer_state(model, optimizer, state, opt_path)
    return Progress(epoch, iteration, hook_states)


def check_pair(prefix, recorded_digest, suffix=".pdparams"):
    """WeightsError unless ``prefix + suffix`` is the file its ``.pdopt`` was saved with."""
    params_path = prefix + suffix
    if not os.path.isfile(params_path):
        raise WeightsError(f"cannot resume from {prefix}: {params_path} is missing")
    if recorded_digest is None:
        logger.warning("%s.pdopt records no .pdparams digest (saved by an older ppfcos): "
                       "cannot check that the pair was written together", prefix)
    elif file_sha256(params_path) != recorded_digest:
        raise WeightsError(f"cannot resume from {prefix}: {params_path} is not the file "
                           f"{prefix}.pdopt was saved with (a save killed midway, or files of "
                           f"two runs mixed); resume from another snapshot, or start from these "
                           f"weights alone with -o pretrain_weights={prefix}")
