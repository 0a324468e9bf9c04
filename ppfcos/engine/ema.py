"""Exponential moving averages of a model's weights, with PaddleDetection's behaviour.

``ModelEMA`` is what ``use_ema: true`` trains with (``ppdet/optimizer/ema.py``'s ModelEMA,
reproduced to the fixture ``tests/fixtures/ema.npz``); ``SimpleModelEMA`` is the
semi-supervised teacher (DenseTeacher's): a whole copy of the model averaged in place.

ModelEMA, step by step (``step`` counts the updates made so far, ``d`` the decay):

- the average ``v`` of each state entry starts at **zero**;
- ``update()``: ``v = d * v + (1 - d) * w`` for every entry not black-listed, with
  ``d = min(decay, (1 + step) / (10 + step))`` (``threshold``),
  ``decay * (1 - exp(-(step + 1) / 2000))`` (``exponential``) or ``decay`` (any other type);
- ``apply()``: the weights to evaluate and save, ``v / (1 - d_last ** step)`` (bias
  correction with the last decay only, as PaddleDetection) or ``v`` itself for
  ``exponential``; it then counts an epoch and, with ``cycle_epoch > 0``, starts again from
  zero every ``cycle_epoch`` applies;
- black-listed entries (``ema_black_list``: any entry whose name contains one of the
  strings; with ``ema_filter_no_grad`` also every parameter with ``stop_gradient`` except
  BatchNorm running statistics) are not averaged: their entry is the model's own tensor.

ModelEMA keeps its averages as float32 numpy arrays on the host, updated in place: on the
demo network (142 entries, 0.98 M values; AMD EPYC shared with other jobs,
``OMP_NUM_THREADS=1``, the mean of 20 ``update()`` calls) an update took 2.6-4.7 ms in
three runs, against 7.3-11.6 ms in four runs with one Paddle op per entry and term as
PaddleDetection computes it (the cost there is the dispatch of some 570 small ops). On a
GPU each update copies the weights to the host.
"""
import copy
import math

import numpy as np
import paddle


def batch_norm_running_names(model):
    """Names of the BatchNorm running mean and variance in ``model.state_dict()``; Paddle
    makes them parameters with ``stop_gradient`` set, unlike the frozen weights."""
    names = set()
    for prefix, layer in model.named_sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.layer.norm._BatchNormBase)):
            names.update({f"{prefix}._mean", f"{prefix}._variance"})
    return names


def black_listed(model, patterns, filter_no_grad):
    """State names ModelEMA leaves alone: those containing any of ``patterns`` and, with
    ``filter_no_grad``, the parameters that do not train (BatchNorm statistics excepted)."""
    names = {name for name in model.state_dict() if any(p in name for p in patterns or ())}
    if filter_no_grad:
        running = batch_norm_running_names(model)
        names.update(name for name, p in model.named_parameters()
                     if p.stop_gradient and name not in running)
    return names


class ModelEMA:
    """The moving average of ``model``'s state dict (see the module docstring).

    Args:
        model: the network whose ``state_dict()`` tensors are read at every update (the
            tensors are updated in place by training, so the average follows them).
        decay: the decay the schedule tends to.
        ema_decay_type: ``threshold`` (ramp ``(1+step)/(10+step)`` up to ``decay``),
            ``exponential`` or ``normal`` (constant).
        cycle_epoch: restart the average every this many ``apply()`` calls (<= 0: never).
        ema_black_list: substrings of the state names not to average.
        ema_filter_no_grad: also leave alone the parameters that do not train.

    State: ``step`` (updates since the start or the last restart), ``epoch`` (applies
    since then), ``last_decay`` (the decay of the last update), ``averages``
    ({name: float32 numpy array of the entry's shape}; a black-listed name maps to the
    model's own tensor).
    """

    def __init__(self, model, decay=0.9998, ema_decay_type="threshold", cycle_epoch=-1,
                 ema_black_list=None, ema_filter_no_grad=False):
        self.model = model
        self.decay = decay
        self.decay_type = ema_decay_type
        self.cycle_epoch = cycle_epoch
        self.black_list = black_listed(model, ema_black_list, ema_filter_no_grad)
        self.averages = {}
        self.reset()

    def reset(self):
        """Start again: every average at zero, ``step`` and ``epoch`` 0."""
        self.step = self.epoch = 0
        self.last_decay = None
        for name, value in self.model.state_dict().items():
            self.averages[name] = (value if name in self.black_list
                                   else np.zeros(value.shape, dtype=np.float32))

    def current_decay(self):
        """The decay the next update uses."""
        if self.decay_type == "threshold":
            return min(self.decay, (1 + self.step) / (10 + self.step))
        if self.decay_type == "exponential":
            return self.decay * (1 - math.exp(-(self.step + 1) / 2000))
        return self.decay

    def update(self):
        """Fold the model's current weights into the averages (in place, float32)."""
        decay = self.current_decay()
        kept, added = np.float32(decay), np.float32(1 - decay)
        weights = self.model.state_dict()
        for name, average in self.averages.items():
            if name not in self.black_list:
                average *= kept
                average += added * weights[name].numpy().astype(np.float32, copy=False)
        self.last_decay = decay
        self.step += 1

    def apply(self):
        """{name: numpy array or tensor} to load into the model for evaluation and saving
        (the averages, bias-corrected; the black-listed entries are the model's tensors);
        counts an epoch and restarts the averages when ``cycle_epoch`` applies are done.
        Before any update it returns the model's own weights (PaddleDetection's would be
        the zeros the averages start at) and counts nothing."""
        if self.step == 0:
            return dict(self.model.state_dict())
        applied = {}
        for name, average in self.averages.items():
            if name not in self.black_list:
                average = (average / np.float32(1 - self.last_decay ** self.step)
                           if self.decay_type != "exponential" else average.copy())
            applied[name] = average
        self.epoch += 1
        if self.cycle_epoch > 0 and self.epoch == self.cycle_epoch:
            self.reset()
        return applied

    def state_dict(self):
        """What resuming needs to continue bit-identically: the averages (numpy, without
        the black-listed entries, which are the model's), ``step``, ``epoch``, ``last_decay``."""
        return {"averages": {name: value.copy() for name, value in self.averages.items()
                             if name not in self.black_list},
                "step": self.step, "epoch": self.epoch, "last_decay": self.last_decay}

    def load_state_dict(self, state):
        """Inverse of ``state_dict``; ValueError when its entries are not this model's."""
        averages = state["averages"]
        expected = set(self.averages) - self.black_list
        if set(averages) != expected:
            missing = sorted(expected - set(averages)) or sorted(set(averages) - expected)
            raise ValueError(f"the saved EMA state does not fit this model (differs in "
                             f"{missing[0]!r}): saved with another config or ema_black_list")
        for name, value in averages.items():
            self.averages[name] = np.array(value, dtype=np.float32)
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.last_decay = state["last_decay"]


class SimpleModelEMA:
    """A copy of ``model`` kept as its moving average (a semi-supervised teacher).

    ``update(model, decay=None)``: every floating entry of the copy's state dict
    (BatchNorm statistics included) becomes ``d * v + (1 - d) * w`` with ``d = decay``
    or the constructor's; no bias correction. ``self.model`` is the averaged copy.
    """

    def __init__(self, model, decay=0.9996):
        self.model = copy.deepcopy(model)
        self.decay = decay

    @paddle.no_grad()
    def update(self, model, decay=None):
        """Average ``model``'s current weights into the copy, with ``decay`` if given."""
        decay = self.decay if decay is None else decay
        weights = model.state_dict()
        averaged = {}
        for name, value in self.model.state_dict().items():
            if paddle.is_floating_point(value):
                value = value * decay + (1.0 - decay) * weights[name].detach()
            averaged[name] = value
        self.model.set_state_dict(averaged)
