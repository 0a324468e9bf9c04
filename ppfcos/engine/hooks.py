"""Trainer hooks: EMA, logging, checkpoints, evaluation, best-model saving, early stopping
(the experiment loggers, VisualDL among them, are in ``ppfcos.engine.loggers``).

Hooks that write (logs, checkpoints, the best model, the experiment loggers) are registered on rank 0
only; the EMA, evaluation and early-stopping hooks run on every rank (each evaluates its
shard, and every rank must stop together). Results pass between hooks through
``trainer.storage`` (``ppfcos.engine.storage``). At an epoch's end the order is:
EMAHook (loads the averaged weights), EvalHook (puts ``"eval"``), EarlyStoppingHook and
BestCheckpointHook (read it), CheckpointHook (saves what they decided, their states
included, so that a resumed run continues from the evaluation it had done).
"""
import datetime
import os
import time

import paddle.distributed as dist

from ..checkpoint.snapshot import save_snapshot
from ..utils.env import logger
from .storage import EVAL_IMAGES, EVAL_RESULTS, TRAINING_WEIGHTS
from .trainer import HookBase


def snapshot_due(trainer, period):
    """True after every ``period``-th epoch and after the last one (also one a hook
    stopped training at)."""
    return (trainer.epoch + 1) % period == 0 or trainer.last_epoch()


def save_trainer_snapshot(trainer, prefix):
    """Save the network, optimizer, progress and hook states as the snapshot ``prefix``;
    while the network holds the EMA weights, the raw ones go to ``prefix.pdema``."""
    t = trainer
    save_snapshot(prefix, t.network, t.optimizer, t.epoch + 1, t.iter,
                  training_weights=t.storage.of_epoch(TRAINING_WEIGHTS, t.epoch),
                  hook_states=t.hook_states())


def improves(value, best):
    """Whether a metric ``value`` (higher is better) beats ``best`` (None: nothing yet)."""
    return best is None or value > best


class AveragedWeightsHook(HookBase):
    """Base of the hooks whose network holds averaged weights at snapshot epochs (the EMA,
    the DenseTeacher teacher): ``hold(averaged)`` at the end of such an epoch keeps the
    network's own weights aside (and in the storage as ``"training_weights"``, for the
    snapshots' ``.pdema``) and loads ``averaged``; the next epoch starts from the own
    weights again. ``period``: snapshot epochs."""

    def __init__(self, period):
        self.period = max(int(period), 1)
        self._own_weights = None   # {name: numpy array} while the network holds averaged ones

    def before_epoch(self):
        if self._own_weights is not None:
            self.trainer.network.set_state_dict(self._own_weights)
            self._own_weights = None

    def hold(self, averaged):
        t = self.trainer
        self._own_weights = {k: v.numpy().copy() for k, v in t.network.state_dict().items()}
        t.network.set_state_dict(averaged)
        t.storage.put(TRAINING_WEIGHTS, self._own_weights, t.epoch)


class EMAHook(AveragedWeightsHook):
    """Train with an exponential moving average of the weights (``use_ema``), as
    PaddleDetection: ``ema`` (a ModelEMA of the trainer's network) folds in the weights
    after every optimizer update; at the end of each snapshot epoch (every ``period``-th
    and the last) the network takes ``ema.apply()``'s weights, so the hooks given after
    this one evaluate and save them, and gets its own weights back when the next epoch
    starts. The own weights are put in the storage (``"training_weights"``) meanwhile, for
    the snapshots' ``.pdema``. Give it first. After training the network keeps the EMA
    weights, as ``model_final`` does.
    """

    def __init__(self, ema, period):
        super().__init__(period)
        self.ema = ema

    def after_step(self):
        if self.trainer.updated:
            self.ema.update()

    def after_epoch(self):
        if snapshot_due(self.trainer, self.period):
            self.hold(self.ema.apply())

    def state_dict(self):
        return self.ema.state_dict()

    def load_state_dict(self, state):
        self.ema.load_state_dict(state)


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
    """Save ``save_dir/epoch_N`` every ``period`` epochs and ``model_final`` after the last
    (the schedule's, or the one early stopping ended training with). Give it after the
    hooks whose decisions the snapshot should hold (evaluation, best model, early stopping).

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
        name = "model_final" if t.last_epoch() else f"epoch_{t.epoch + 1}"
        prefix = os.path.join(self.save_dir, name)
        save_trainer_snapshot(t, prefix)
        self.last_saved = prefix
        logger.info("saved checkpoint %s.pdparams (+ .pdopt%s)", prefix,
                    ", .pdema" if t.storage.of_epoch(TRAINING_WEIGHTS, t.epoch) else "")


class EvalHook(HookBase):
    """Evaluate after each snapshot epoch and put the results in ``trainer.storage``
    under ``"eval"``, and the drawn images of ``images`` (a ValidationImages the
    evaluation fills, or None) under ``"eval_images"``.

    ``evaluate()`` returns the metric's results dict (``mAP`` on every rank); it puts
    the network in eval mode, and the hook gives the model back in the mode it had.
    """

    def __init__(self, evaluate, period, images=None):
        self.evaluate = evaluate
        self.period = max(int(period), 1)
        self.images = images

    def after_epoch(self):
        t = self.trainer
        if not snapshot_due(t, self.period):
            return
        training = t.model.training
        results = self.evaluate()
        if training:
            t.model.train()
        t.storage.put(EVAL_RESULTS, results, t.epoch)
        if self.images is not None:
            t.storage.put(EVAL_IMAGES, self.images.images, t.epoch)


class BestCheckpointHook(HookBase):
    """Save ``save_dir/best_model`` whenever an evaluation's ``metric`` beats every earlier
    one; give it after the EvalHook whose results (``"eval"`` in the storage) it reads.

    ``best``: the best value so far (None before the first evaluation); snapshots keep it,
    so a resumed run overwrites ``best_model`` only with a better score.
    """

    def __init__(self, save_dir, metric="mAP"):
        self.save_dir = save_dir
        self.metric = metric
        self.best = None

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is None or not improves(results[self.metric], self.best):
            return
        self.best = results[self.metric]
        prefix = os.path.join(self.save_dir, "best_model")
        save_trainer_snapshot(t, prefix)
        logger.info("best %s so far %.4f at epoch %d: saved %s.pdparams", self.metric,
                    self.best, t.epoch + 1, prefix)

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state):
        self.best = state["best"]


class EarlyStoppingHook(HookBase):
    """Stop training after ``patience`` evaluations in a row without a better ``metric``
    (``"eval"`` in the storage: give it after the EvalHook), with one log line; training
    then ends as after the last epoch (``model_final`` is saved).

    ``best`` (the best value so far) and ``bad_evaluations`` (evaluations since it) are
    kept in snapshots, so a resumed run counts on from where the snapshot was taken.
    """

    def __init__(self, patience, metric="mAP"):
        self.patience = int(patience)
        self.metric = metric
        self.best = None
        self.bad_evaluations = 0

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is None:
            return
        if improves(results[self.metric], self.best):
            self.best, self.bad_evaluations = results[self.metric], 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            plural = "s" if self.bad_evaluations > 1 else ""
            t.stop(f"{self.metric} has not improved on {self.best:.4f} in "
                   f"{self.bad_evaluations} evaluation{plural}")
            logger.info("early stopping at epoch %d: %s (early_stop_patience %d)",
                        t.epoch + 1, t.stop_reason, self.patience)

    def state_dict(self):
        return {"best": self.best, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state):
        self.best, self.bad_evaluations = state["best"], int(state["bad_evaluations"])
