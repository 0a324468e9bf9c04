"""Trainer hooks: log lines, checkpoint schedule, evaluation, best model, early stopping, EMA,
VisualDL (its scalars: the other loggers are tested in test_loggers.py), and their states
across a resume."""
import logging
import re
import sys
import types

import numpy as np
import paddle
import pytest

from ppfcos.checkpoint.snapshot import resume_snapshot
from ppfcos.engine.ema import ModelEMA
from ppfcos.engine.hooks import (BestCheckpointHook, CheckpointHook, EarlyStoppingHook, EMAHook,
                                 EvalHook, LoggerHook, snapshot_due)
from ppfcos.core.config import ConfigError
from ppfcos.engine.loggers import VisualDLHook
from ppfcos.engine.storage import EVAL_RESULTS
from ppfcos.engine.trainer import HookBase

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
    # iteration 4 ends epoch 2, iteration 6 epoch 3; a results dict with only an mAP is
    # VOC's (at IoU 0.5)
    assert [(tag, step) for tag, _, step in writer.scalars] == [
        ("train/loss_cls", 4), ("train/loss", 4), ("train/lr", 4), ("train/step_time", 4),
        ("eval/bbox_mAP_50", 4), ("eval/bbox_mAP_50", 6)]
    assert [value for tag, value, _ in writer.scalars if tag.startswith("eval")] == [0.25, 0.5]


def test_visualdl_hook_without_visualdl_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "visualdl", None)
    with pytest.raises(ConfigError, match="--use_vdl needs the visualdl package: pip install "
                                          "visualdl"):
        VisualDLHook(str(tmp_path))


class RecordingEMA(ModelEMA):
    """A ModelEMA that keeps a numpy copy of what each ``apply()`` returned."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.applied = []

    def apply(self):
        applied = super().apply()
        self.applied.append({k: np.array(v) for k, v in applied.items()})
        return applied


def test_ema_hook_gives_the_later_hooks_the_ema_weights_and_training_its_own(tmp_path):
    model = TinyDetector()
    ema = RecordingEMA(model, decay=0.9, ema_decay_type="normal")
    evaluation = ScriptedEvaluation(model, [0.1, 0.2])
    own = []

    class OwnWeights(HookBase):
        def before_epoch(self):
            own.append(weights(model))

    trainer = make_trainer(model, epochs=3, hooks=[
        EMAHook(ema, period=2), OwnWeights(), EvalHook(evaluation, 2),
        CheckpointHook(str(tmp_path), 2)])
    trainer.train()
    applied = ema.applied
    assert ema.step == 6 and len(applied) == 2               # after epochs 2 and 3
    for name in weights(model):
        np.testing.assert_array_equal(evaluation.scored[0][name], applied[0][name])
        np.testing.assert_array_equal(evaluation.scored[1][name], applied[1][name])
        assert not np.array_equal(own[2][name], applied[0][name])   # own weights back
    for prefix, ema_weights in (("epoch_2", applied[0]), ("model_final", applied[1])):
        saved = paddle.load(str(tmp_path / f"{prefix}.pdparams"))
        raw = paddle.load(str(tmp_path / f"{prefix}.pdema"))
        for name, value in ema_weights.items():
            np.testing.assert_array_equal(saved[name].numpy(), value)
        assert set(raw) == set(saved)
    for name, value in weights(model).items():              # training ends with the EMA's
        np.testing.assert_array_equal(value, applied[1][name])


def train_with_snapshots(model, epochs, save_dir, hooks, resume=None):
    """A trainer of ``model`` with ``hooks`` + CheckpointHook(save_dir) every epoch, resumed
    from the snapshot ``resume`` (its weights, optimizer, progress and hook states)."""
    trainer = make_trainer(model, epochs, hooks=[*hooks, CheckpointHook(save_dir, 1)])
    if resume:
        progress = resume_snapshot(resume, model, trainer.optimizer)
        trainer.epoch = trainer.start_epoch = progress.epoch
        trainer.iter = progress.iteration
        trainer.load_hook_states(progress.hook_states)
    trainer.train()
    return trainer


def test_a_run_with_ema_resumed_from_a_snapshot_ends_as_one_left_alone(tmp_path):
    def ema_hook(model):
        return EMAHook(ModelEMA(model, decay=0.5, ema_decay_type="threshold", cycle_epoch=2),
                       period=1)

    straight = TinyDetector()
    start = weights(straight)
    train_with_snapshots(straight, 4, str(tmp_path / "a"), [ema_hook(straight)])
    first = TinyDetector()
    first.set_state_dict(start)
    train_with_snapshots(first, 1, str(tmp_path / "b"), [ema_hook(first)])
    resumed = TinyDetector()
    train_with_snapshots(resumed, 4, str(tmp_path / "b"), [ema_hook(resumed)],
                         resume=str(tmp_path / "b" / "model_final"))
    for suffix in (".pdparams", ".pdema"):
        expected = paddle.load(str(tmp_path / "a" / ("model_final" + suffix)))
        got = paddle.load(str(tmp_path / "b" / ("model_final" + suffix)))
        for name, value in expected.items():
            np.testing.assert_array_equal(got[name].numpy(), value.numpy(), err_msg=name)


def test_early_stopping_ends_training_after_patience_evaluations_without_improvement(
        tmp_path, caplog):
    model = TinyDetector()
    evaluation = ScriptedEvaluation(model, [0.3, 0.5, 0.5, 0.4, 0.9])
    stopping = EarlyStoppingHook(patience=2)
    trainer = make_trainer(model, epochs=5, hooks=[
        EvalHook(evaluation, 1), stopping, CheckpointHook(str(tmp_path), 2)])
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        trainer.train()
    assert trainer.iter == 8 and len(evaluation.scored) == 4      # stopped after epoch 4
    assert (stopping.best, stopping.bad_evaluations) == (0.5, 2)
    lines = [r.getMessage() for r in caplog.records if "early stopping" in r.getMessage()]
    assert lines == ["early stopping at epoch 4: mAP has not improved on 0.5000 in 2 "
                     "evaluations (early_stop_patience 2)"]
    assert sorted(p.name for p in tmp_path.glob("*.pdparams")) == [
        "epoch_2.pdparams", "model_final.pdparams"]              # the stopped epoch's is final
    final = paddle.load(str(tmp_path / "model_final.pdparams"))
    for name, value in evaluation.scored[3].items():
        np.testing.assert_array_equal(final[name].numpy(), value)


def test_best_score_and_patience_count_survive_a_resume(tmp_path):
    """Without them in the snapshot, the resumed run's first (worse) evaluation would
    overwrite best_model and the count would start again."""
    model = TinyDetector()
    before = [EvalHook(ScriptedEvaluation(model, [0.5, 0.4]), 1), EarlyStoppingHook(3),
              BestCheckpointHook(str(tmp_path))]
    train_with_snapshots(model, 2, str(tmp_path), before)
    best_bytes = (tmp_path / "best_model.pdparams").read_bytes()
    resumed = TinyDetector()
    stopping, best = EarlyStoppingHook(3), BestCheckpointHook(str(tmp_path))
    after = [EvalHook(ScriptedEvaluation(resumed, [0.45, 0.3, 0.9]), 1), stopping, best]
    trainer = train_with_snapshots(resumed, 5, str(tmp_path), after,
                                   resume=str(tmp_path / "model_final"))
    assert (tmp_path / "best_model.pdparams").read_bytes() == best_bytes
    assert best.best == 0.5 and stopping.bad_evaluations == 3
    assert trainer.epoch == 3 and trainer.stop_reason is not None   # 2 + 2 more evaluations
