"""Snapshots laid out by PaddleDetection (``ppdet/utils/checkpoint.py``'s ``save_model``),
read for resuming in ppfcos: a DenseTeacher (or any) run of PaddleDetection continues here.

PaddleDetection writes, for ``<dir>/<name>``:

* ``<name>.pdparams``: the weights evaluated and exported: with an EMA or a DenseTeacher
  teacher (``use_ema``, ``use_simple_ema``) the averaged ones, else the model's;
* ``<name>.pdema`` (EMA or teacher only): the weights training continues from (the
  DenseTeacher student);
* ``<name>.pdopt``: ``optimizer.state_dict()`` as Paddle gives it, accumulators keyed by
  the tensor names Paddle gave the parameters in PaddleDetection's process
  (``conv2d_0.w_0_velocity_0``) and ``LR_Scheduler`` (``last_epoch``: iterations done,
  ``last_lr``), plus ``last_epoch``: epochs done.

Tensor names of one process mean nothing in another, but the weights file the optimizer
trained (the ``.pdema`` when there is one, else the ``.pdparams``) carries the table from
structured names to the tensor names of the process that saved it (``paddle.save`` writes
it into every state dict), which turns each accumulator key into ppfcos's portable one.
There are no digests: the files are trusted to be one save's.
"""
import os

from .errors import WeightsError
from .optimizer_state import SCHEDULER_KEY, by_structured_names
from .state_file import tensor_names

EPOCHS_KEY = "last_epoch"


def is_paddledetection_state(state):
    """Whether a ``.pdopt``'s ``state`` is PaddleDetection's (epochs as ``last_epoch``)
    rather than ppfcos's (``epoch`` and ``iter``)."""
    return EPOCHS_KEY in state and "epoch" not in state


def paddledetection_snapshot(prefix, state, averaged):
    """What resuming the PaddleDetection snapshot ``prefix`` (its ``.pdopt`` read as
    ``state``) needs: (path of the weights training continues from, epochs done,
    iterations done, the optimizer state keyed by structured names).

    ``averaged``: the run keeps averaged weights in ``.pdparams`` (a DenseTeacher teacher),
    so the ``.pdema`` is required. WeightsError (one line, saying what to do) for a
    missing file or an accumulator of no parameter of the training weights."""
    if not os.path.isfile(prefix + ".pdparams"):
        raise WeightsError(f"cannot resume from {prefix}: {prefix}.pdparams is missing")
    training = prefix + ".pdema"
    if not os.path.isfile(training):
        if averaged:
            raise WeightsError(
                f"cannot resume from {prefix}: {training} is missing (PaddleDetection keeps "
                f"the student there and the teacher in .pdparams): copy it beside "
                f"{prefix}.pdparams, or start from the teacher alone with "
                f"-o pretrain_weights={prefix}.pdparams")
        training = prefix + ".pdparams"
    names = {tensor: structured for structured, tensor in tensor_names(training).items()}
    if not names:
        raise WeightsError(f"cannot resume from {prefix}: {training} has no table of tensor "
                           f"names (not written by paddle.save from a model), so its "
                           f".pdopt cannot be matched to the parameters")
    scheduler = state.get(SCHEDULER_KEY)
    if not isinstance(scheduler, dict) or "last_epoch" not in scheduler:
        raise WeightsError(f"cannot resume from {prefix}: {prefix}.pdopt has no LR_Scheduler "
                           f"progress (last_epoch)")
    optimizer_state = {k: v for k, v in state.items() if k != EPOCHS_KEY}
    return (training, int(state[EPOCHS_KEY]), int(scheduler["last_epoch"]),
            by_structured_names(optimizer_state, names, training))
