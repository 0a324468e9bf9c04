"""``ppfcos.train`` and ``ppfcos.evaluate``: the tools' runs from Python, returning results.

They run what ``tools/train.py`` and ``tools/eval.py`` run (``ppfcos.engine.tasks``) on a
config file with overrides spelled as ``-o`` takes them (``epoch=1``,
``**{"TrainDataset.dataset_dir": path}``), and suit a notebook or a hyper-parameter
search: errors raise (ConfigError, DatasetError, ... with the tools' one-line messages),
nothing calls ``sys.exit``, and a second call in the same process runs afresh.
"""
import json
import os
from dataclasses import dataclass, field

from ..core.config import load_config
from ..evaluation.metric_names import named_metrics
from . import tasks
from .storage import EVAL_RESULTS
from .trainer import HookBase


def override_strings(overrides):
    """``{"a.b": value}`` -> ``["a.b=<value as YAML>"]`` (JSON, which YAML reads alike)."""
    return [f"{key}={json.dumps(value)}" for key, value in overrides.items()]


@dataclass
class EvaluationResult:
    """``metrics``: {name: float} as mmdetection names them (``bbox_mAP``, ``bbox_mAP_50``,
    ``bbox_mAP_75``, ``bbox_mAP_s``, ``bbox_mAP_m``, ``bbox_mAP_l``; VOC:
    ``bbox_mAP_50``); ``results``: the metric's own results dict."""
    metrics: dict
    results: dict


@dataclass
class TrainingResult:
    """``metrics``: the last evaluation's (as EvaluationResult's; empty without
    ``eval=True``); ``final_weights``, ``best_weights`` (None without evaluation): the
    ``.pdparams`` paths; ``log_dir``: save_dir/<config name>, which holds them, the
    snapshots and the loggers' files."""
    metrics: dict
    final_weights: str
    best_weights: str
    log_dir: str
    history: list = field(default_factory=list)


class EvaluationRecorder(HookBase):
    """Keeps ``(epoch, named metrics)`` of each evaluation of a run, for TrainingResult."""
    priority = "LOWEST"

    def __init__(self):
        self.history = []

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is not None:
            self.history.append((t.epoch + 1, named_metrics(results)))


def train(config, *, eval=True, resume=None, seed=0, extra_hooks=(), loggers=None,
          **overrides):
    """Train ``config`` (a YAML path) with ``overrides``; returns a TrainingResult.

    ``eval``: evaluate every ``snapshot_epoch`` and keep ``best_model`` (the tools'
    ``--eval``); ``resume``: a snapshot prefix (``-r``); ``extra_hooks``: HookBase
    instances run with the config's ``custom_hooks``; ``loggers``: the experiment
    loggers, e.g. ``{"tensorboard": True}`` (``ppfcos.engine.loggers.experiment_loggers``).
    """
    cfg = load_config(config, override_strings(overrides))
    recorder = EvaluationRecorder()
    tasks.train(cfg, resume=resume, eval_snapshots=eval, seed=seed, loggers=loggers,
                extra_hooks=[*extra_hooks, recorder])
    log_dir = tasks.save_dir_of(cfg)
    best = os.path.join(log_dir, "best_model.pdparams")
    return TrainingResult(metrics=recorder.history[-1][1] if recorder.history else {},
                          final_weights=os.path.join(log_dir, "model_final.pdparams"),
                          best_weights=best if eval and os.path.isfile(best) else None,
                          log_dir=log_dir, history=recorder.history)


def evaluate(config, weights, **overrides):
    """Evaluate ``weights`` (a path or URL, as ``-o weights=``) on ``config``'s
    EvalDataset with ``overrides``; returns an EvaluationResult."""
    cfg = load_config(config, override_strings({**overrides, "weights": weights}))
    results = tasks.evaluate_weights(cfg)
    return EvaluationResult(metrics=named_metrics(results), results=results)
