"""SSODFCOSLoss against PaddleDetection's numbers (fixtures/ssod_loss.npz), and its floors."""
import os

import numpy as np
import paddle
import pytest
from conftest import FIXTURES

from ppfcos.modeling.losses.ssod_fcos_loss import ssod_fcos_loss

FIXTURE = os.path.join(FIXTURES, "ssod_loss.npz")
LEVELS = 5
PARTS = ("logits", "deltas", "quality")
LOSSES = ("distill_loss_cls", "distill_loss_box", "distill_loss_quality")
WEIGHTS = {"distill_loss_cls": 4.0, "distill_loss_box": 1.0, "distill_loss_quality": 1.0}


def _outputs(data, prefix, who, grad):
    """(logits, deltas, quality) level lists of tensors from the fixture."""
    parts = []
    for part in PARTS:
        tensors = [paddle.to_tensor(data[f"{prefix}/{who}_{part}{l}"], stop_gradient=not grad)
                   for l in range(LEVELS)]
        parts.append(tensors)
    return parts


@pytest.fixture(scope="module")
def fixture():
    return np.load(FIXTURE)


@pytest.mark.parametrize("ratio", ["0.01", "0.05"])
def test_losses_mask_and_gradients_match_paddledetection(fixture, ratio):
    prefix = f"r{ratio}"
    for target in LOSSES + ("weighted_total",):
        student = _outputs(fixture, prefix, "student", grad=True)
        losses, mask = ssod_fcos_loss(student, _outputs(fixture, prefix, "teacher", False),
                                      float(fixture[f"{prefix}/ratio"]))
        np.testing.assert_array_equal(mask.numpy(), fixture[f"{prefix}/mask"])
        for name in LOSSES + ("fg_sum",):
            np.testing.assert_allclose(losses[name].numpy(), fixture[f"{prefix}/loss__{name}"],
                                       rtol=1e-5)
        total = (sum(WEIGHTS[n] * losses[n] for n in LOSSES) if target == "weighted_total"
                 else losses[target])
        total.backward()
        for part, tensors in zip(PARTS, student):
            for l, tensor in enumerate(tensors):
                expected = fixture[f"{prefix}/grad__{target}__student_{part}{l}"]
                got = tensor.grad.numpy() if tensor.grad is not None else np.zeros_like(expected)
                np.testing.assert_allclose(got, expected, rtol=1e-4,
                                           atol=1e-7 * max(np.abs(expected).max(), 1e-30))


def _random_outputs(rng, shapes, logit_mean):
    return ([paddle.to_tensor(rng.normal(logit_mean, 0.1, (1, 3) + s).astype("float32"))
             for s in shapes],
            [paddle.to_tensor(rng.uniform(1, 20, (1, 4) + s).astype("float32")) for s in shapes],
            [paddle.to_tensor(rng.normal(0, 1, (1, 1) + s).astype("float32")) for s in shapes])


def test_unconfident_teacher_and_tiny_maps_stay_finite():
    """A teacher at probability ~1e-4 on a map of 10 rows (int(10 * 0.01) == 0): PaddleDetection
    gives NaN; here one row is selected and the cls sum is divided by 1."""
    rng = np.random.default_rng(0)
    shapes = [(2, 3), (1, 2), (1, 1), (1, 1), (1, 1)]
    losses, mask = ssod_fcos_loss(_random_outputs(rng, shapes, 0.0),
                                  _random_outputs(rng, shapes, -9.0), 0.01)
    assert int(mask.sum()) == 1
    for name, value in losses.items():
        assert np.isfinite(float(value)), name
    assert float(losses["fg_sum"]) < 1e-3
    assert float(losses["distill_loss_cls"]) < 100
