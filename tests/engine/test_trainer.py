"""The training loop: epochs and iterations, the NaN guard, after_train in a finally, gradient
accumulation."""
import os

import numpy as np
import paddle
import pytest

from ppfcos.engine.hooks import CheckpointHook
from ppfcos.engine.trainer import HookBase, TrainingDiverged

from tiny_training import ListLoader, TinyDetector, make_trainer, weights


def test_loop_counts_epochs_and_iterations():
    trainer = make_trainer(TinyDetector(), epochs=3)
    trainer.train()
    assert trainer.iter == 6 and trainer.loader.epochs == [0, 1, 2]
    assert set(trainer.losses) == {"loss_cls", "loss"}


def test_nan_loss_stops_before_the_update_and_keeps_the_checkpoint(tmp_path):
    model = TinyDetector(nan_at=4)  # epoch 0 = calls 1-2 (saved), epoch 1 = calls 3-4
    trainer = make_trainer(model, epochs=3, hooks=[CheckpointHook(str(tmp_path), 1)])
    before_nan = {}

    class Spy(HookBase):
        def after_step(self):
            before_nan.update(weights(model))

    trainer.hooks.append(Spy())
    with pytest.raises(TrainingDiverged, match=r"iteration 4 \(loss_cls nan, loss nan"):
        trainer.train()
    assert trainer.iter == 3
    for name, value in weights(model).items():  # the NaN step changed nothing
        np.testing.assert_array_equal(value, before_nan[name])
    saved = paddle.load(str(tmp_path / "epoch_1.pdparams"))
    assert all(np.isfinite(v.numpy()).all() for v in saved.values())
    assert not os.path.exists(tmp_path / "epoch_2.pdparams")


class StageRecorder(HookBase):
    """Appends ``(name, stage)`` to ``calls`` at before_train and after_train."""

    def __init__(self, calls, name):
        self.calls, self.name = calls, name

    def before_train(self):
        self.calls.append((self.name, "before_train"))

    def after_train(self):
        self.calls.append((self.name, "after_train"))


def test_a_step_that_raises_still_runs_every_after_train_and_the_error_propagates():
    calls = []
    model = TinyDetector(nan_at=3)   # the first step of epoch 1 raises TrainingDiverged
    trainer = make_trainer(model, epochs=3, hooks=[StageRecorder(calls, "a"),
                                                   StageRecorder(calls, "b")])
    with pytest.raises(TrainingDiverged, match="iteration 3"):
        trainer.train()
    assert trainer.iter == 2 and trainer.epoch == 1
    assert calls == [("a", "before_train"), ("b", "before_train"),
                     ("a", "after_train"), ("b", "after_train")]


def test_an_interrupt_in_a_hook_runs_after_train_once_and_propagates():
    calls = []

    class Interrupt(HookBase):
        def after_step(self):
            raise KeyboardInterrupt("Ctrl-C")

    trainer = make_trainer(TinyDetector(), epochs=2, hooks=[StageRecorder(calls, "a"),
                                                            Interrupt()])
    with pytest.raises(KeyboardInterrupt, match="Ctrl-C"):
        trainer.train()
    assert trainer.iter == 1
    assert calls == [("a", "before_train"), ("a", "after_train")]


def test_a_finished_run_calls_after_train_once():
    calls = []
    make_trainer(TinyDetector(), epochs=2, hooks=[StageRecorder(calls, "a")]).train()
    assert calls == [("a", "before_train"), ("a", "after_train")]


class UpdateRecorder(HookBase):
    """Records the trainer's ``updated`` flag after every step."""

    def __init__(self):
        self.updates = []

    def after_step(self):
        self.updates.append(self.trainer.updated)


def test_accumulated_batches_make_the_update_of_their_concatenation():
    """Two batches of 2 with accumulate=2 = one step on the 4 images (mean losses)."""
    model, reference = TinyDetector(), TinyDetector()
    reference.set_state_dict(model.state_dict())
    recorder = UpdateRecorder()
    make_trainer(model, epochs=1, hooks=[recorder], accumulate=2).train()
    assert recorder.updates == [False, True]
    optimizer = make_trainer(reference, epochs=1).optimizer
    batches = [batch["image"] for batch in ListLoader()]
    reference({"image": paddle.concat(batches)})["loss"].backward()
    optimizer.step()
    for name, value in weights(reference).items():
        np.testing.assert_allclose(weights(model)[name], value, rtol=1e-6, atol=1e-7)


def test_an_accumulation_window_never_spans_two_epochs():
    recorder = UpdateRecorder()
    trainer = make_trainer(TinyDetector(), epochs=2, hooks=[recorder], accumulate=3)
    trainer.train()
    assert recorder.updates == [False, True, False, True] and trainer.iter == 4
