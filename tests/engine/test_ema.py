"""ModelEMA and SimpleModelEMA against PaddleDetection's (fixtures/ema.npz, every case)."""
import json
import os

import numpy as np
import paddle
import pytest

from conftest import FIXTURES
from ppfcos.engine.ema import ModelEMA, SimpleModelEMA

FIXTURE = np.load(os.path.join(FIXTURES, "ema.npz"))
META = json.loads(str(FIXTURE["meta_json"]))
KEYS = META["state_keys"]
STEPS = range(1, META["steps"] + 1)
MODEL_EMA_CASES = [c for c in META["cases"] if not c.startswith("simple")]
SIMPLE_CASES = [c for c in META["cases"] if c.startswith("simple")]


class FixtureModel(paddle.nn.Layer):
    """The fixture's model: conv -> bn -> spatial mean -> fc, plus a frozen parameter."""

    def __init__(self):
        super().__init__()
        self.frozen = self.create_parameter([3])
        self.frozen.stop_gradient = True
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.bn = paddle.nn.BatchNorm2D(4)
        self.fc = paddle.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean(axis=[2, 3]))


def weights_of(prefix):
    return {key: paddle.to_tensor(FIXTURE[f"{prefix}/{key}"]) for key in KEYS}


def fixture_model():
    model = FixtureModel()
    assert list(model.state_dict()) == KEYS
    assert [[n, p.stop_gradient] for n, p in model.named_parameters()] == META["parameters"]
    model.set_state_dict(weights_of("init"))
    return model


def assert_matches(actual, case, name):
    for key in KEYS:
        np.testing.assert_allclose(np.asarray(actual[key]), FIXTURE[f"{case}/{name}/{key}"],
                                   rtol=1e-6, atol=1e-7, err_msg=f"{case} {name} {key}")


@pytest.mark.parametrize("case", MODEL_EMA_CASES)
def test_model_ema_reproduces_paddledetection(case):
    expected = META["cases"][case]
    model = fixture_model()
    ema = ModelEMA(model, **expected["kwargs"])
    assert sorted(ema.black_list) == expected["black_list"]
    decays, steps, epochs = [], [], []
    for t in STEPS:
        model.set_state_dict(weights_of(f"w{t}"))
        decays.append(ema.current_decay())
        ema.update()
        steps.append(ema.step)
        assert_matches({k: np.array(v) for k, v in ema.averages.items()}, case, f"state{t}")
        if t in META["apply_after"]:
            assert_matches({k: np.array(v) for k, v in ema.apply().items()}, case, f"apply{t}")
            epochs.append([ema.epoch, ema.step])
    np.testing.assert_allclose(decays, expected["decays"], rtol=1e-12)
    assert steps == expected["step_after"] and epochs == expected["epoch_after_apply"]


def run_updates(ema, model, steps, case):
    """Updates ``steps`` with the fixture's weights and applies, checking each against
    ``case``."""
    for t in steps:
        model.set_state_dict(weights_of(f"w{t}"))
        ema.update()
        assert_matches({k: np.array(v) for k, v in ema.averages.items()}, case, f"state{t}")
        if t in META["apply_after"]:
            assert_matches({k: np.array(v) for k, v in ema.apply().items()}, case, f"apply{t}")


@pytest.mark.parametrize("case", ["threshold_0.99", "cycle2_threshold_0.99",
                                  "black_list_bn_weight_0.99", "exponential_0.99"])
def test_a_model_ema_restored_from_its_state_continues_identically(case):
    """Stop after update 3 (one apply done), restore into a new ModelEMA, go on to 6."""
    kwargs = META["cases"][case]["kwargs"]
    model = fixture_model()
    ema = ModelEMA(model, **kwargs)
    run_updates(ema, model, (1, 2, 3), case)
    restored = ModelEMA(model, **kwargs)
    restored.load_state_dict(ema.state_dict())
    run_updates(restored, model, (4, 5, 6), case)
    assert [restored.epoch, restored.step] == META["cases"][case]["epoch_after_apply"][-1]


def test_a_model_ema_applied_before_any_update_gives_the_model_its_own_weights():
    model = fixture_model()
    ema = ModelEMA(model, decay=0.99)
    applied = ema.apply()
    for key in KEYS:
        np.testing.assert_array_equal(np.array(applied[key]), FIXTURE[f"init/{key}"])
    assert (ema.step, ema.epoch) == (0, 0)


def test_a_model_ema_state_of_another_model_is_refused():
    ema = ModelEMA(fixture_model())
    state = ema.state_dict()
    del state["averages"]["fc.bias"]
    with pytest.raises(ValueError, match="does not fit this model .*'fc.bias'"):
        ModelEMA(fixture_model()).load_state_dict(state)


@pytest.mark.parametrize("case", SIMPLE_CASES)
def test_simple_model_ema_reproduces_paddledetection(case):
    expected = META["cases"][case]
    model = fixture_model()
    teacher = SimpleModelEMA(model, decay=expected["decay"])
    for t in STEPS:
        model.set_state_dict(weights_of(f"w{t}"))
        first = t == 1 and expected["first_update_decay"] is not None
        teacher.update(model, expected["first_update_decay"] if first else None)
        assert_matches({k: v.numpy() for k, v in teacher.model.state_dict().items()}, case,
                       f"state{t}")
