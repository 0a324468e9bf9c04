"""Trainer hooks: log lines, checkpoint schedule, evaluation, best model, VisualDL."""
import logging
import re
import sys
import types

import numpy as np
import paddle
import pytest

from ppfcos.engine.hooks import (BestCheckpointHook, CheckpointHook, EvalHook, LoggerHook,
                                 VisualDLHook, snapshot_due)
from ppfcos.engine.storage import EVAL_RESULTS

from tiny_training import TinyDetector, make_trainer, weights


def test_snapshots_are_due_every_period_and_after_the_last_epoch():
    trainer = make_trainer(TinyDetector(), epochs=5)
    due = []
    for trainer.epoch in range(5):
        due.append(snapshot_due(trainer, 2))
    assert due == [False, True, False, True, True]


def test_logger_writes_a_line_every_log_iter_steps_and_at_each_epoch_end(caplog):
    trainer = make_trainer(TinyDetector(), epochs=3, hooks=[LoggerHook(log_iter=3)])
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        trainer.train()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
    # 2 steps per epoch: iterations 2 (epoch end), 3, 4 (epoch end), 6 (both)
    assert [line.split(" eta")[0] for line in lines] == [
        "Epoch: [0] [2/2]", "Epoch: [1] [1/2]", "Epoch: [1] [2/2]", "Epoch: [2] [2/2]"]
    last = lines[-1]
    assert f"loss: {trainer.losses['loss']:.6f}" in last
    assert f"lr: {trainer.lr:.6f}" in last and "eta: 0:00:00" in last
    ips = float(re.search(r"ips: ([0-9.]+) images/s", last).group(1))
    assert ips > 0


def test_checkpoints_follow_the_period_and_end_with_model_final(tmp_path):
    model = TinyDetector()
    trainer = make_trainer(model, epochs=3, hooks=[CheckpointHook(str(tmp_path), period=2)])
    trainer.train()
    assert sorted(p.name for p in tmp_path.glob("*.pdparams")) == [
        "epoch_2.pdparams", "model_final.pdparams"]
    final = paddle.load(str(tmp_path / "model_final.pdparams"))
    for name, value in weights(model).items():
        np.testing.assert_array_equal(final[name].numpy(), value)


class ScriptedEvaluation:
    """``evaluate`` for EvalHook: returns the next mAP, switching the model to eval mode as
    the real evaluator does; remembers the weights it scored."""

    def __init__(self, model, maps):
        self.model, self.maps, self.scored = model, list(maps), []

    def __call__(self):
        self.model.eval()
        self.scored.append(weights(self.model))
        return {"mAP": self.maps.pop(0)}


def test_best_checkpoint_hook_keeps_the_weights_of_the_best_evaluation(tmp_path, caplog):
    model = TinyDetector()
    evaluation = ScriptedEvaluation(model, [0.3, 0.5, 0.4])
    best_hook = BestCheckpointHook(str(tmp_path))
    trainer = make_trainer(model, epochs=3, hooks=[EvalHook(evaluation, 1), best_hook])
    assert trainer.storage.latest(EVAL_RESULTS) is None
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        trainer.train()
    assert trainer.storage.latest(EVAL_RESULTS) == (2, {"mAP": 0.4}) and best_hook.best == 0.5
    best = paddle.load(str(tmp_path / "best_model.pdparams"))
    for name, value in evaluation.scored[1].items():       # the weights of epoch 2
        np.testing.assert_array_equal(best[name].numpy(), value)
    saves = [r.getMessage() for r in caplog.records if r.getMessage().startswith("best mAP")]
    assert [line.split(":")[0] for line in saves] == [
        "best mAP so far 0.3000 at epoch 1", "best mAP so far 0.5000 at epoch 2"]
    assert model.modes == [True] * 6                         # every step trained in train mode
    assert model.training


def test_eval_hook_alone_saves_nothing_and_follows_the_period(tmp_path):
    """As on ranks other than 0, which evaluate their shard but get no BestCheckpointHook."""
    model = TinyDetector()
    evaluation = ScriptedEvaluation(model, [0.1, 0.2])
    trainer = make_trainer(model, epochs=3, hooks=[EvalHook(evaluation, 2)])
    trainer.train()
    assert len(evaluation.scored) == 2
    assert trainer.storage.latest(EVAL_RESULTS) == (2, {"mAP": 0.2})
    assert trainer.storage.of_epoch(EVAL_RESULTS, 1) is None   # epoch 2's results replaced it
    assert list(tmp_path.iterdir()) == []


def test_best_checkpoint_hook_without_evaluations_saves_nothing(tmp_path):
    trainer = make_trainer(TinyDetector(), epochs=2, hooks=[BestCheckpointHook(str(tmp_path))])
    trainer.train()
    assert trainer.hooks[0].best is None and list(tmp_path.iterdir()) == []


class FakeWriter:
    """Stands in for visualdl.LogWriter: records scalars and whether it was closed."""

    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.closed = log_dir, [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, round(float(value), 6), step))

    def close(self):
        self.closed = True


def test_visualdl_gets_losses_lr_and_the_map_of_evaluated_epochs(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "visualdl", types.SimpleNamespace(LogWriter=FakeWriter))
    model = TinyDetector()
    vdl = VisualDLHook(str(tmp_path), log_iter=4)
    hooks = [EvalHook(ScriptedEvaluation(model, [0.25, 0.5]), 2), vdl]
    trainer = make_trainer(model, epochs=3, hooks=hooks)
    trainer.train()
    writer = vdl.writer
    assert writer.log_dir == str(tmp_path) and writer.closed
    assert [(tag, step) for tag, _, step in writer.scalars] == [
        ("train/loss_cls", 4), ("train/loss", 4), ("train/lr", 4),   # iteration 4 ends epoch 2
        ("eval/mAP", 2), ("eval/mAP", 3)]
    assert [value for tag, value, _ in writer.scalars if tag == "eval/mAP"] == [0.25, 0.5]


def test_visualdl_hook_without_visualdl_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "visualdl", None)
    with pytest.raises(RuntimeError, match="pip install visualdl"):
        VisualDLHook(str(tmp_path))
