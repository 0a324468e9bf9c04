"""The training loop: epochs and iterations, the NaN guard, after_train in a finally."""
import os

import numpy as np
import paddle
import pytest

from ppfcos.engine.hooks import CheckpointHook
from ppfcos.engine.trainer import HookBase, TrainingDiverged

from tiny_training import TinyDetector, make_trainer, weights


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
