"""Snapshots: atomic writes, portable optimizer state, training weights (.pdema) and hook
states, refused pairs and files."""
import glob
import os

import numpy as np
import paddle
import pytest

from ppfcos.checkpoint import snapshot
from ppfcos.checkpoint.errors import WeightsError
from ppfcos.checkpoint.snapshot import resume_snapshot, save_snapshot

from hostile import evil_pickle
from tiny_training import TinyDetector, make_trainer, weights


def trained_snapshot(tmp_path, name="model_final"):
    """A TinyDetector trained one epoch and saved as ``tmp_path/name`` (epoch 1, iter 2);
    returns (model, trainer, prefix)."""
    model = TinyDetector()
    trainer = make_trainer(model, epochs=1)
    trainer.train()
    prefix = str(tmp_path / name)
    save_snapshot(prefix, model, trainer.optimizer, 1, 2)
    return model, trainer, prefix


def test_crash_during_save_leaves_the_previous_snapshot_whole(tmp_path, monkeypatch):
    model, trainer, prefix = trained_snapshot(tmp_path)
    good = weights(model)
    model.fc.weight.set_value(np.full((2, 1), 7.0, "float32"))

    def crash(obj, path):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(snapshot.paddle, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(prefix, model, trainer.optimizer, 2, 4)
    monkeypatch.undo()
    assert glob.glob(str(tmp_path / "*tmp*")) == []
    fresh = TinyDetector()
    epoch, it, _ = resume_snapshot(prefix, fresh, make_trainer(fresh, 1).optimizer)
    assert (epoch, it) == (1, 2)
    for name, value in weights(fresh).items():
        np.testing.assert_array_equal(value, good[name])


def test_optimizer_state_survives_different_tensor_names(tmp_path):
    first = TinyDetector()
    trainer = make_trainer(first, epochs=1)
    trainer.train()
    save_snapshot(str(tmp_path / "s"), first, trainer.optimizer, 1, 2)
    paddle.nn.Linear(3, 3)  # shifts Paddle's global tensor-name counters
    second = TinyDetector()
    assert second.fc.weight.name != first.fc.weight.name
    resumed = make_trainer(second, epochs=2)
    epoch, it, _ = resume_snapshot(str(tmp_path / "s"), second, resumed.optimizer)
    resumed.start_epoch, resumed.epoch, resumed.iter = epoch, epoch, it
    # Paddle 2.6 holds restored accumulators aside until the first step creates them
    restored = {**getattr(resumed.optimizer, "_accumulators_holder", {}),
                **resumed.optimizer.state_dict()}
    mine = {k.split("_velocity")[0]: v for k, v in restored.items() if "velocity" in k}
    theirs = {k.split("_velocity")[0]: v for k, v in trainer.optimizer.state_dict().items()
              if "velocity" in k}
    np.testing.assert_array_equal(mine[second.fc.weight.name].numpy(),
                                  theirs[first.fc.weight.name].numpy())
    assert resumed.schedule.last_epoch == trainer.schedule.last_epoch


def test_resume_without_pdopt_says_what_to_do(tmp_path):
    model = TinyDetector()
    paddle.save(model.state_dict(), str(tmp_path / "w.pdparams"))
    with pytest.raises(Exception, match="pretrain_weights"):
        resume_snapshot(str(tmp_path / "w"), model, make_trainer(model, 1).optimizer)


def test_resume_refuses_a_pair_not_written_together(tmp_path):
    model, trainer, _ = trained_snapshot(tmp_path, "a")
    model.fc.weight.set_value(np.full((2, 1), 7.0, "float32"))
    save_snapshot(str(tmp_path / "b"), model, trainer.optimizer, 2, 4)
    os.replace(tmp_path / "b.pdparams", tmp_path / "a.pdparams")   # a.pdopt + b's weights
    fresh = TinyDetector()
    before = weights(fresh)
    with pytest.raises(WeightsError, match="a.pdparams is not the file .*a.pdopt was saved with"):
        resume_snapshot(str(tmp_path / "a"), fresh, make_trainer(fresh, 1).optimizer)
    assert all((weights(fresh)[k] == v).all() for k, v in before.items())   # nothing loaded


def test_kill_between_the_two_renames_is_detected(tmp_path, monkeypatch):
    """The .pdopt lands, the kill comes before the .pdparams rename: resume refuses."""
    model, trainer, prefix = trained_snapshot(tmp_path)
    real_replace = os.replace

    def killed_before_params(src, dst):
        if dst.endswith(".pdparams"):
            raise KeyboardInterrupt("killed")
        real_replace(src, dst)
    model.fc.weight.set_value(np.full((2, 1), 7.0, "float32"))
    monkeypatch.setattr(os, "replace", killed_before_params)
    with pytest.raises(KeyboardInterrupt):
        save_snapshot(prefix, model, trainer.optimizer, 2, 4)
    monkeypatch.undo()
    fresh = TinyDetector()
    with pytest.raises(WeightsError, match="not the file .* saved with"):
        resume_snapshot(prefix, fresh, make_trainer(fresh, 1).optimizer)


def test_optimizer_file_that_runs_code_is_refused(tmp_path):
    model, _, _ = trained_snapshot(tmp_path, "s")
    marker = tmp_path / "ran"
    (tmp_path / "s.pdopt").write_bytes(evil_pickle(marker, {"epoch": 1, "iter": 2}))
    with pytest.raises(WeightsError, match="refusing to load .*s.pdopt"):
        resume_snapshot(str(tmp_path / "s"), model, make_trainer(model, 1).optimizer)
    assert not marker.exists()


def test_a_snapshot_with_training_weights_resumes_from_them_with_its_hook_states(tmp_path):
    model, trainer, _ = trained_snapshot(tmp_path)
    own = weights(model)
    averaged = {k: v + 1.0 for k, v in own.items()}
    model.set_state_dict(averaged)                     # the network holds the EMA weights
    states = {"EMAHook": {"averages": {"fc.bias": np.ones(1, "float32")}, "step": 3,
                          "epoch": 1, "last_decay": 0.25}, "BestCheckpointHook": {"best": 0.5}}
    prefix = str(tmp_path / "s")
    save_snapshot(prefix, model, trainer.optimizer, 1, 2, training_weights=own,
                  hook_states=states)
    for name, value in paddle.load(prefix + ".pdparams").items():
        np.testing.assert_array_equal(value.numpy(), averaged[name])
    fresh = TinyDetector()
    progress = resume_snapshot(prefix, fresh, make_trainer(fresh, 1).optimizer)
    assert (progress.epoch, progress.iteration) == (1, 2)
    for name, value in weights(fresh).items():         # training continues from its own
        np.testing.assert_array_equal(value, own[name])
    assert progress.hook_states["BestCheckpointHook"] == {"best": 0.5}
    ema_state = progress.hook_states["EMAHook"]
    assert (ema_state["step"], ema_state["epoch"], ema_state["last_decay"]) == (3, 1, 0.25)
    np.testing.assert_array_equal(ema_state["averages"]["fc.bias"], [1.0])


def test_resume_refuses_training_weights_not_written_with_the_snapshot(tmp_path):
    model, trainer, _ = trained_snapshot(tmp_path)
    for name, scale in (("a", 1.0), ("b", 2.0)):
        own = {k: v * scale for k, v in weights(model).items()}
        save_snapshot(str(tmp_path / name), model, trainer.optimizer, 1, 2,
                      training_weights=own)
    os.replace(tmp_path / "b.pdema", tmp_path / "a.pdema")
    fresh = TinyDetector()
    with pytest.raises(WeightsError, match="a.pdema is not the file .*a.pdopt was saved with"):
        resume_snapshot(str(tmp_path / "a"), fresh, make_trainer(fresh, 1).optimizer)
