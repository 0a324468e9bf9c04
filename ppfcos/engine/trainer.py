"""The training loop: epochs of (forward, backward, update) steps; everything else is a hook.

Hooks (`ppfcos.engine.hooks`) see the trainer and its state at fixed
points: ``before_train``, ``before_epoch``, ``after_step``, ``after_epoch``,
``after_train`` (always, however the loop ends). Logging, checkpoints, evaluation,
best-model saving, early stopping, the EMA and VisualDL live there; they share results
through ``trainer.storage`` (``ppfcos.engine.storage``). A hook whose state a resumed
run needs (the EMA's averages, the best score) returns it from ``state_dict()``: the
snapshots keep it under the hook's class name and ``load_hook_states`` gives it back.
"""
import math
import time

import paddle
import paddle.distributed as dist

from .storage import TrainingStorage


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or Inf; training stopped before the update that would spread it."""


class PeerStopped(RuntimeError):
    """Another rank of a distributed run stopped (interrupted, killed or failed), so a
    collective operation with it (gloo on CPU, NCCL on GPU) failed on this rank."""


class HookBase:
    """A hook does nothing by default; ``self.trainer`` is set when it is registered.

    Hooks read the trainer's documented state (see `Trainer`), share results
    with each other only through ``trainer.storage``
    (`TrainingStorage`), and
    leave the model in the mode (train or eval) they found it in. ``after_train`` runs
    even when the loop stops with an exception (a diverged loss, Ctrl-C).

    A hook with state that must survive a resume returns it from ``state_dict()``
    (numpy arrays, numbers, strings, dicts; None: nothing to keep) and takes it back in
    ``load_state_dict``.
    """
    trainer = None

    def state_dict(self):
        return None

    def load_state_dict(self, state):
        pass

    def before_train(self):
        pass

    def before_epoch(self):
        pass

    def after_step(self):
        pass

    def after_epoch(self):
        pass

    def after_train(self):
        pass


class Trainer:
    """Runs ``epochs`` epochs over ``loader``.

    Args:
        model: in train mode, ``model(batch)`` returns a dict of scalar losses with
            the total under ``loss``.
        optimizer: a Paddle optimizer whose learning rate is ``schedule``.
        schedule: the LR scheduler, stepped once per iteration.
        loader: a DetLoader (``set_epoch``, ``len``, iteration yields batch dicts).
        epochs: the schedule's length.
        hooks: HookBase instances, called in order.
        start_epoch: epochs already done (resume).
        start_iter: iterations already done (resume).
        amp: run the forward pass under float16 autocast with a loss scaler (GPU).
        accumulate: batches whose gradients are summed into one update (gradient
            accumulation; each batch's loss is divided by the number of batches summed).
            An epoch's last update takes the batches left over, so an update never spans
            two epochs and snapshots hold no pending gradients.

    State shared with the hooks (the trainer writes it unless said otherwise):

    - ``model`` (as given), ``network`` (the model without its DataParallel wrapper,
      for saving and evaluation), ``optimizer``;
    - ``epochs``, ``epoch`` (0-based, current), ``iter`` (iterations completed),
      ``steps_per_epoch``, ``max_iters``;
    - of the last step: ``losses`` (floats), ``lr``, ``batch_size``, ``batch_cost`` and
      ``data_cost`` (seconds), ``updated`` (whether it ended with an optimizer update);
    - ``stop_reason``: None, or why a hook asked the loop to end after the current
      epoch (``stop()``); hooks treat that epoch as the last one;
    - ``storage``: the `TrainingStorage` hooks share
      results in (its docstring lists the names ppfcos's hooks use); the hooks write it.
    """

    def __init__(self, model, optimizer, schedule, loader, epochs, hooks=(), start_epoch=0,
                 start_iter=0, amp=False, accumulate=1):
        self.model = model
        self.network = model._layers if isinstance(model, paddle.DataParallel) else model
        self.optimizer = optimizer
        self.schedule = schedule
        self.loader = loader
        self.epochs = epochs
        self.epoch = start_epoch
        self.start_epoch = start_epoch
        self.iter = start_iter
        self.steps_per_epoch = len(loader)
        self.max_iters = epochs * self.steps_per_epoch
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=1024) if amp else None
        self.accumulate = int(accumulate)
        self.losses, self.lr, self.updated = {}, 0.0, False
        self.batch_size, self.batch_cost, self.data_cost = 0, 0.0, 0.0
        self.stop_reason = None
        self.storage = TrainingStorage()
        self.hooks = []
        for hook in hooks:
            hook.trainer = self
            self.hooks.append(hook)

    def _call(self, stage):
        for hook in self.hooks:
            getattr(hook, stage)()

    def stop(self, reason):
        """End the loop after the current epoch's hooks (early stopping); ``reason`` is
        logged by the hook that asks."""
        self.stop_reason = reason

    def last_epoch(self):
        """True in the epoch training ends with: the schedule's last, or one a hook stopped."""
        return self.epoch + 1 == self.epochs or self.stop_reason is not None

    def hook_states(self):
        """{hook class name: state} of the hooks that have one, for a snapshot."""
        states = {type(hook).__name__: hook.state_dict() for hook in self.hooks}
        return {name: state for name, state in states.items() if state is not None}

    def load_hook_states(self, states):
        """Give each hook its state from a snapshot's ``hook_states()`` (hooks absent from
        ``states`` keep theirs)."""
        for hook in self.hooks:
            if type(hook).__name__ in states:
                hook.load_state_dict(states[type(hook).__name__])

    def train(self):
        """Run the remaining epochs. Every hook's ``after_train`` runs however the loop
        ends; an exception (TrainingDiverged, KeyboardInterrupt, ...) then propagates."""
        self.model.train()
        try:
            self._call("before_train")
            for self.epoch in range(self.start_epoch, self.epochs):
                self.loader.set_epoch(self.epoch)
                self._call("before_epoch")
                start = time.perf_counter()
                for batch in self.loader:
                    self.data_cost = time.perf_counter() - start
                    self.run_step(batch)
                    self.batch_cost = time.perf_counter() - start
                    self._call("after_step")
                    start = time.perf_counter()
                self._call("after_epoch")
                if self.stop_reason is not None:
                    break
        finally:
            self._call("after_train")

    def accumulation_window(self):
        """(batches in the current accumulation window, whether this batch ends it)."""
        step = self.iter - self.epoch * self.steps_per_epoch    # 0-based within the epoch
        start = step - step % self.accumulate
        size = min(self.accumulate, self.steps_per_epoch - start)
        return size, step + 1 == start + size

    def run_step(self, batch):
        """One batch: forward, backward and (at the end of an accumulation window) the
        update; raises TrainingDiverged (before any update) on a non-finite loss."""
        self.lr = self.optimizer.get_lr()
        self.batch_size = int(batch["image"].shape[0])
        if self.scaler is not None:
            with paddle.amp.auto_cast(level="O1"):
                outputs = self.model(batch)
        else:
            outputs = self.model(batch)
        self.losses = {name: float(value) for name, value in outputs.items()}
        check_finite(self.losses, self.iter)
        window, self.updated = self.accumulation_window()
        loss = outputs["loss"] / window if window > 1 else outputs["loss"]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.updated:
                self.scaler.minimize(self.optimizer, loss)
        else:
            loss.backward()
            if self.updated:
                self.optimizer.step()
        if self.updated:
            self.optimizer.clear_grad()
        self.schedule.step()
        self.iter += 1


def check_finite(losses, iteration):
    """Raise TrainingDiverged when any loss (on any rank) is NaN or Inf."""
    bad = not all(math.isfinite(v) for v in losses.values())
    if dist.get_world_size() > 1:
        flag = paddle.to_tensor([int(bad)], dtype="int32")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        bad = bool(flag.item())
    if bad:
        shown = ", ".join(f"{name} {value:.6g}" for name, value in losses.items())
        raise TrainingDiverged(
            f"non-finite loss at iteration {iteration + 1} ({shown} on this rank); training "
            f"stopped before the update, so the last checkpoint is intact. Lower "
            f"LearningRate.base_lr, lengthen the warmup or check the data")
