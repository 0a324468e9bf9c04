"""Name-seeded weights: every parameter's value follows from its name and shape alone.

The reference fixtures in ``tests/fixtures`` (eval outputs and training losses
made with PaddleDetection's own FCOS code) were made with these weights, so a
model with PaddleDetection's parameter names can be compared with them number
for number without shipping a weights file. The benchmark uses them too, so
decoding and NMS see as many candidates as in those fixtures.

The recipe: crc32 of the UTF-8 name seeds ``numpy.random.default_rng``, one
``standard_normal(shape)`` draw ``n``, then by the parameter's role:

=====================================  ====================
name / shape                           value
=====================================  ====================
ends with ``_variance``                1 + 0.2 |n|
ends with ``_mean``                    0.1 n
ends with ``scale_reg``                1 + 0.1 n
0-d/1-d, ends ``fcos_head_cls.bias``   -2 + 0.1 n
other 0-d/1-d ending ``.bias``         0.1 n
other 0-d/1-d (norm scales)            1 + 0.1 n
2-d and more                           n / sqrt(fan_in)
=====================================  ====================
"""
import zlib

import numpy as np


def seeded_value(name, shape, role=None):
    """The value of parameter ``name`` of ``shape`` -> float32 array of that shape.

    ``role`` is the PaddleDetection-style name whose ending gives the role (default:
    ``name``); another framework's names pass their counterpart's (mmdetection's
    ``running_var`` plays ``_variance``, for instance), the seed staying their own name."""
    role = name if role is None else role
    noise = np.random.default_rng(zlib.crc32(name.encode("utf-8"))).standard_normal(shape)
    if role.endswith("_variance"):
        value = 1.0 + 0.2 * np.abs(noise)
    elif role.endswith("_mean"):
        value = 0.1 * noise
    elif role.endswith("scale_reg"):
        value = 1.0 + 0.1 * noise
    elif len(shape) <= 1:
        if role.endswith("fcos_head_cls.bias"):
            value = -2.0 + 0.1 * noise
        else:
            value = 0.1 * noise if role.endswith(".bias") else 1.0 + 0.1 * noise
    else:
        value = noise / np.sqrt(np.prod(shape[1:]))
    return np.asarray(value, dtype=np.float32)


# mmdetection's name endings -> the PaddleDetection ending whose role they play.
MMDET_ROLES = (("running_var", "_variance"), ("running_mean", "_mean"),
               (".scale", "scale_reg"), ("conv_cls.bias", "fcos_head_cls.bias"))


def mmdet_seeded_state(keys):
    """The recipe on mmdetection's names: keys [[name, shape], ...] -> {name: array};
    BN's ``num_batches_tracked`` counters are int64 zeros. The mmdetection fixtures
    (tests/fixtures/make_mmdet_fixtures.py, which loads this file by path) use it."""
    state = {}
    for name, shape in keys:
        if name.endswith("num_batches_tracked"):
            state[name] = np.zeros(shape, np.int64)
            continue
        role = next((ours for theirs, ours in MMDET_ROLES if name.endswith(theirs)), name)
        state[name] = seeded_value(name, tuple(shape), role)
    return state


def seed_weights(model):
    """Give every tensor of ``model``'s state_dict its `seeded_value`; returns model."""
    model.set_state_dict({name: seeded_value(name, tuple(t.shape))
                          for name, t in model.state_dict().items()})
    return model
