"""Learning-rate schedules (PaddleDetection's definitions) and the optimizer builder."""
import os

import numpy as np
import paddle
import pytest

import ppfcos
from conftest import CONFIGS
from ppfcos.engine.optimizer import (CosineDecay, LinearWarmup, PiecewiseDecay, Schedule,
                                     build_optimizer, build_schedule, linear_scaling_warning)

BASE = 0.01
ZOO_CONFIG = os.path.join(CONFIGS, "fcos_r50_fpn_1x_coco.yml")


def test_piecewise_with_warmup_at_given_iterations():
    # 10 iterations per epoch, milestones at epochs 2 and 3, 5 warmup steps from 1/3.
    schedule = Schedule(BASE, PiecewiseDecay([2, 3], 0.1), LinearWarmup(5, 1 / 3), 10)
    expected = {0: BASE / 3, 4: BASE * (1 / 3 + 2 / 3 * 4 / 5), 5: BASE, 19: BASE,
                20: BASE * 0.1, 29: BASE * 0.1, 30: BASE * 0.01, 1000: BASE * 0.01}
    for it, lr in expected.items():
        assert schedule.lr_at(it) == pytest.approx(lr, rel=1e-12), it


def test_gamma_list_and_warmup_by_epochs():
    schedule = Schedule(BASE, PiecewiseDecay([1, 2], [0.5, 0.2]), LinearWarmup(epochs=1,
                                                                               start_factor=0.0),
                        4)
    assert [schedule.lr_at(i) for i in (0, 2, 4, 8)] == pytest.approx(
        [0.0, BASE / 2, BASE * 0.5, BASE * 0.2])


def test_cosine_after_warmup_reaches_min_lr():
    schedule = Schedule(BASE, CosineDecay(max_epochs=10, min_lr_ratio=0.1), LinearWarmup(20, 0.1),
                        10)
    assert schedule.lr_at(20) == pytest.approx(BASE)
    middle = 20 + (100 - 20) // 2
    assert schedule.lr_at(middle) == pytest.approx(BASE * (0.1 + 0.9 * 0.5))
    assert schedule.lr_at(100) == pytest.approx(BASE * 0.1)
    assert schedule.lr_at(150) == pytest.approx(BASE * 0.1)
    values = [schedule.lr_at(i) for i in range(20, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_optimizer_uses_the_schedule_per_step():
    layer = paddle.nn.Linear(2, 2)
    schedule = Schedule(BASE, PiecewiseDecay([1], 0.1), LinearWarmup(3, 0.5), 4)
    optimizer = build_optimizer({"optimizer": {"type": "Momentum", "momentum": 0.9}}, schedule,
                                layer.parameters())
    seen = []
    for _ in range(6):
        seen.append(optimizer.get_lr())
        layer(paddle.ones([1, 2])).sum().backward()
        optimizer.step()
        optimizer.clear_grad()
        schedule.step()
    assert seen == pytest.approx([schedule.lr_at(i) for i in range(6)])


def test_param_attr_lr_multiplier_and_regularizer_are_honoured():
    plain = paddle.nn.Linear(1, 1, bias_attr=False)
    doubled = paddle.nn.Linear(1, 1, bias_attr=False,
                               weight_attr=paddle.ParamAttr(learning_rate=2.0))
    no_decay = paddle.nn.Linear(1, 1, bias_attr=False, weight_attr=paddle.ParamAttr(
        regularizer=paddle.regularizer.L2Decay(0.0)))
    layers = (plain, doubled, no_decay)
    for layer in layers:
        layer.weight.set_value(np.ones((1, 1), "float32"))
    params = [p for layer in layers for p in layer.parameters()]
    optimizer = build_optimizer({"optimizer": {"type": "SGD"},
                                 "regularizer": {"type": "L2", "factor": 0.5}},
                                Schedule(0.1, None, None, 1), params)
    x = paddle.ones([1, 1])
    sum(layer(x).sum() for layer in layers).backward()
    optimizer.step()
    # grad 1 plus L2 0.5 * w (w = 1): plain moves 0.1 * 1.5, doubled 0.2 * 1.5, no_decay 0.1 * 1.
    moved = [1.0 - float(layer.weight.numpy().item()) for layer in layers]
    assert moved == pytest.approx([0.15, 0.30, 0.10], rel=1e-5)


def test_clip_and_unknown_optimizer():
    layer = paddle.nn.Linear(1, 1)
    opt = build_optimizer({"clip_grad_by_norm": 35.0}, Schedule(0.1, None, None, 1),
                          layer.parameters())
    assert isinstance(opt._grad_clip, paddle.nn.ClipGradByGlobalNorm)
    assert opt._grad_clip.clip_norm == 35.0
    with pytest.raises(ppfcos.ConfigError, match="Momentum, SGD, Adam, AdamW"):
        build_optimizer({"optimizer": {"type": "Lamb"}}, Schedule(0.1, None, None, 1),
                        layer.parameters())


def test_clip_grad_by_value_clips_each_element_and_excludes_norm_clipping():
    layer = paddle.nn.Linear(2, 1, bias_attr=False)
    layer.weight.set_value(paddle.zeros([2, 1]))
    opt = build_optimizer({"optimizer": {"type": "SGD"}, "clip_grad_by_value": 0.5},
                          Schedule(1.0, None, None, 1), layer.parameters())
    x = paddle.to_tensor([[3.0, 0.2]])
    layer(x).sum().backward()                  # gradient [3.0, 0.2]: the first is clipped
    opt.step()
    np.testing.assert_allclose(layer.weight.numpy().ravel(), [-0.5, -0.2], rtol=1e-6)
    with pytest.raises(ppfcos.ConfigError, match="both clip_grad_by_norm and "
                                                 "clip_grad_by_value: keep one"):
        build_optimizer({"clip_grad_by_norm": 1.0, "clip_grad_by_value": 1.0},
                        Schedule(0.1, None, None, 1), layer.parameters())


def test_linear_scaling_warning_names_the_scaled_lr():
    assert linear_scaling_warning({"base_lr": 0.01}, 16) is None
    message = linear_scaling_warning({"base_lr": 0.01}, 4)
    assert "0.0025" in message and "16" in message and "LearningRate.base_lr" in message
    assert linear_scaling_warning({"base_lr": 0.02, "total_batch_size": 8}, 8) is None


def test_zoo_schedule_from_config():
    cfg = ppfcos.load_config(ZOO_CONFIG)
    schedule = build_schedule(cfg, steps_per_epoch=100)
    assert schedule.lr_at(0) == pytest.approx(0.01 / 3)
    assert schedule.lr_at(799) == pytest.approx(0.01)
    assert schedule.lr_at(800) == pytest.approx(0.001)
    assert schedule.lr_at(1100) == pytest.approx(0.0001)


@pytest.mark.parametrize("section, hint", [
    ("{base_lr: 0.01, schedulrs: []}", "schedulers"),
    ("{base_lr: 0.01, schedulers: [!PiecewiseDecay {milestone: [8]}]}", "milestones"),
    ("{base_lr: null}", "base_lr"),
])
def test_schedule_config_errors(write_yaml, section, hint):
    path = write_yaml("bad.yml", f"_BASE_: '{ZOO_CONFIG}'\nLearningRate: {section}\n")
    with pytest.raises(ppfcos.ConfigError, match=hint):
        build_schedule(ppfcos.load_config(path), 10)
