"""Optimizer state that survives another process: accumulators keyed by the parameters'
structured names.

Paddle keys an optimizer's accumulators by the tensor names it gave the parameters in the
process that built them (``conv2d_0.w_0_velocity_0``); those depend on how many layers the
process built before, so snapshots store them under the structured names instead
(``backbone.conv1.conv1.conv.weight@velocity_0``: the parameter, ``@``, the accumulator).
The LR scheduler's state (``LR_Scheduler``) is kept as it is.
"""
import paddle

from .errors import WeightsError

SCHEDULER_KEY = "LR_Scheduler"


def by_structured_names(state, tensor_names, where):
    """``state`` (an optimizer state dict keyed by tensor names) keyed by structured names.

    ``tensor_names``: {Paddle tensor name: structured name} of the parameters; ``where``:
    the file or model the names come from, for the error. WeightsError for an accumulator
    of no parameter listed."""
    longest_first = sorted(tensor_names, key=len, reverse=True)
    state_by_name = {}
    for key, value in state.items():
        if key == SCHEDULER_KEY:
            state_by_name[key] = value
            continue
        tensor_name = next((t for t in longest_first if key.startswith(t + "_")), None)
        if tensor_name is None:
            raise WeightsError(f"optimizer state {key!r} belongs to no parameter of {where}")
        state_by_name[f"{tensor_names[tensor_name]}@{key[len(tensor_name) + 1:]}"] = value
    return state_by_name


def portable_optimizer_state(model, optimizer):
    """The optimizer's state dict keyed by structured parameter names."""
    return by_structured_names(optimizer.state_dict(),
                               {p.name: n for n, p in model.named_parameters()}, "the model")


def restore_optimizer_state(model, optimizer, state, path):
    """Inverse of `portable_optimizer_state`: load ``state`` (read from ``path``) into
    ``optimizer``."""
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
        native[f"{tensor_names[structured]}_{suffix}"] = paddle.to_tensor(value)
    optimizer.set_state_dict(native)
