"""Trainer hooks: logging, checkpoints, evaluation, best-model saving, VisualDL.

Hooks that write (logs, checkpoints, the best model, VisualDL) are registered on rank 0
only; the evaluation hook runs on every rank, since each evaluates its shard. Results
pass between hooks through ``trainer.storage`` (:mod:`ppfcos.engine.storage`): EvalHook
puts the results under ``"eval"``; BestCheckpointHook and VisualDLHook, given after it,
read them.
"""
import datetime
import os
import time

import paddle.distributed as dist

from ..checkpoint.snapshot import save_snapshot
from ..utils.env import logger
from .storage import EVAL_RESULTS
from .trainer import HookBase


def snapshot_due(trainer, period):
    """True after every ``period``-th epoch and after the last one."""
    done = trainer.epoch + 1
    return done % period == 0 or done == trainer.epochs


class LoggerHook(HookBase):
    """Every ``log_iter`` iterations: epoch/iter, ETA, lr, each loss, batch_cost, data_cost, ips.

    Costs are averages over the window since the last line (seconds per step);
    ips counts the images of all ranks.
    """

    def __init__(self, log_iter=20):
        self.log_iter = max(int(log_iter), 1)
        self._window = []          # (batch_cost, data_cost, batch_size) since the last line
        self._train_start = self._start_iter = None   # set before_train, for the ETA

    def before_train(self):
        self._train_start = time.perf_counter()
        self._start_iter = self.trainer.iter

    def after_step(self):
        t = self.trainer
        self._window.append((t.batch_cost, t.data_cost, t.batch_size))
        step = t.iter - t.epoch * t.steps_per_epoch
        if t.iter % self.log_iter and step != t.steps_per_epoch:
            return
        steps = len(self._window)
        batch_time = sum(w[0] for w in self._window)
        data_cost = sum(w[1] for w in self._window) / steps
        images = sum(w[2] for w in self._window) * dist.get_world_size()
        self._window = []
        elapsed = time.perf_counter() - self._train_start
        eta = elapsed / max(t.iter - self._start_iter, 1) * (t.max_iters - t.iter)
        losses = ", ".join(f"{name}: {value:.6f}" for name, value in t.losses.items())
        logger.info("Epoch: [%d] [%*d/%d] eta: %s lr: %.6f %s batch_cost: %.4f s data_cost: "
                    "%.4f s ips: %.2f images/s", t.epoch, len(str(t.steps_per_epoch)), step,
                    t.steps_per_epoch, datetime.timedelta(seconds=int(eta)), t.lr, losses,
                    batch_time / steps, data_cost, images / max(batch_time, 1e-9))


class CheckpointHook(HookBase):
    """Save ``save_dir/epoch_N`` every ``period`` epochs and ``model_final`` after the last.

    ``last_saved``: the prefix of the last snapshot written completely (None before).
    """

    def __init__(self, save_dir, period=1):
        self.save_dir = save_dir
        self.period = max(int(period), 1)
        self.last_saved = None

    def after_epoch(self):
        t = self.trainer
        if not snapshot_due(t, self.period):
            return
        name = "model_final" if t.epoch + 1 == t.epochs else f"epoch_{t.epoch + 1}"
        prefix = os.path.join(self.save_dir, name)
        save_snapshot(prefix, t.network, t.optimizer, t.epoch + 1, t.iter)
        self.last_saved = prefix
        logger.info("saved checkpoint %s.pdparams (+ .pdopt)", prefix)


class EvalHook(HookBase):
    """Evaluate after each snapshot epoch and put the results in ``trainer.storage``
    under ``"eval"``.

    ``evaluate()`` returns the metric's results dict (``mAP`` on every rank); it puts
    the network in eval mode, and the hook gives the model back in the mode it had.
    """

    def __init__(self, evaluate, period):
        self.evaluate = evaluate
        self.period = max(int(period), 1)

    def after_epoch(self):
        t = self.trainer
        if not snapshot_due(t, self.period):
            return
        training = t.model.training
        results = self.evaluate()
        if training:
            t.model.train()
        t.storage.put(EVAL_RESULTS, results, t.epoch)


class BestCheckpointHook(HookBase):
    """Save ``save_dir/best_model`` whenever an evaluation's ``metric`` beats every earlier
    one; give it after the EvalHook whose results (``"eval"`` in the storage) it reads.

    ``best``: the best value so far (None before the first evaluation).
    """

    def __init__(self, save_dir, metric="mAP"):
        self.save_dir = save_dir
        self.metric = metric
        self.best = None

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is None or (self.best is not None and results[self.metric] <= self.best):
            return
        self.best = results[self.metric]
        prefix = os.path.join(self.save_dir, "best_model")
        save_snapshot(prefix, t.network, t.optimizer, t.epoch + 1, t.iter)
        logger.info("best %s so far %.4f at epoch %d: saved %s.pdparams", self.metric,
                    self.best, t.epoch + 1, prefix)


class VisualDLHook(HookBase):
    """VisualDL scalars: each loss and the lr every ``log_iter`` steps, and the mAP of each
    evaluation (``"eval"`` in the storage: give it after the EvalHook)."""

    def __init__(self, log_dir, log_iter=20):
        try:
            from visualdl import LogWriter
        except ImportError as e:
            raise RuntimeError("--use_vdl needs VisualDL: pip install visualdl") from e
        self.writer = LogWriter(log_dir)
        self.log_iter = max(int(log_iter), 1)

    def after_step(self):
        t = self.trainer
        if t.iter % self.log_iter:
            return
        for name, value in t.losses.items():
            self.writer.add_scalar(f"train/{name}", value, t.iter)
        self.writer.add_scalar("train/lr", t.lr, t.iter)

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is not None:
            self.writer.add_scalar("eval/mAP", results["mAP"], t.epoch + 1)

    def after_train(self):
        self.writer.close()
