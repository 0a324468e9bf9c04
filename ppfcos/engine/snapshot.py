"""Training snapshots: save and resume model, optimizer, LR schedule and progress.

A snapshot ``<dir>/<name>`` is two files, as in PaddleDetection:

* ``<name>.pdparams``: the model's state dict (loads anywhere weights load);
* ``<name>.pdopt``: the optimizer accumulators, the LR scheduler state and the
  progress (``epoch`` = epochs completed, ``iter`` = iterations completed).

Each file is written to a temporary name in the same directory and renamed
into place, so a crash mid-save leaves the previous snapshot of that name
whole. Optimizer accumulators are stored under the parameters' structured
names (``backbone.conv1.conv1.conv.weight@velocity_0``) rather than Paddle's
global tensor names (``conv2d_0.w_0_velocity_0``), which depend on how many
layers the process built before.
"""
import os

import paddle

from .checkpoint import WeightsError, load_weights
from ..core.files import atomic_path

SCHEDULER_KEY = "LR_Scheduler"


def atomic_save(obj, path):
    """``paddle.save(obj, path)`` through a temporary file and an atomic rename."""
    with atomic_path(path) as tmp:
        paddle.save(obj, tmp)


def _optimizer_names(model):
    """{Paddle tensor name: structured name} for the model's parameters, longest first."""
    names = {p.name: n for n, p in model.named_parameters()}
    return dict(sorted(names.items(), key=lambda item: -len(item[0])))


def portable_optimizer_state(model, optimizer):
    """The optimizer's state dict keyed by structured parameter names."""
    names = _optimizer_names(model)
    state = {}
    for key, value in optimizer.state_dict().items():
        if key == SCHEDULER_KEY:
            state[key] = value
            continue
        tensor_name = next((t for t in names if key.startswith(t + "_")), None)
        if tensor_name is None:
            raise ValueError(f"optimizer state {key!r} belongs to no model parameter")
        state[f"{names[tensor_name]}@{key[len(tensor_name) + 1:]}"] = value
    return state


def restore_optimizer_state(model, optimizer, state, path):
    """Inverse of :func:`portable_optimizer_state`: load ``state`` into ``optimizer``."""
    tensor_names = {n: p.name for n, p in model.named_parameters()}
    native = {}
    for key, value in state.items():
        if key == SCHEDULER_KEY:
            native[key] = value
            continue
        structured, _, suffix = key.partition("@")
        if structured not in tensor_names:
            raise WeightsError(f"{path}: optimizer state for {structured!r}, which the model "
                               f"does not have (snapshot from another config?)")
        native[f"{tensor_names[structured]}_{suffix}"] = value
    optimizer.set_state_dict(native)


def save_snapshot(prefix, model, optimizer, epoch, iteration):
    """Write ``prefix.pdparams`` and ``prefix.pdopt`` atomically (model file last)."""
    opt_state = portable_optimizer_state(model, optimizer)
    opt_state.update(epoch=epoch, iter=iteration)
    atomic_save(opt_state, prefix + ".pdopt")
    atomic_save(model.state_dict(), prefix + ".pdparams")


def resume_snapshot(prefix, model, optimizer):
    """Load a snapshot written by :func:`save_snapshot`; returns (epoch, iteration) completed."""
    prefix = prefix[:-len(".pdparams")] if prefix.endswith(".pdparams") else prefix
    opt_path = prefix + ".pdopt"
    if not os.path.isfile(opt_path):
        raise WeightsError(f"cannot resume from {prefix}: {opt_path} is missing (resume needs "
                           f"the .pdparams and .pdopt pair that training writes; to start "
                           f"from weights only, use -o pretrain_weights={prefix})")
    load_weights(model, prefix + ".pdparams", strict=True)
    try:
        state = paddle.load(opt_path)
    except Exception as e:  # paddle raises assorted errors for truncated/foreign files
        raise WeightsError(f"cannot read {opt_path}: {type(e).__name__}: {e}") from e
    if "epoch" not in state or "iter" not in state:
        raise WeightsError(f"{opt_path} has no training progress (epoch, iter): not a ppfcos "
                           f"snapshot")
    epoch, iteration = int(state.pop("epoch")), int(state.pop("iter"))
    restore_optimizer_state(model, optimizer, state, opt_path)
    return epoch, iteration
