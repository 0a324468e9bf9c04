"""Shared test helpers: fixture paths, PaddleDetection's deterministic weight recipe,
and small models for fast module tests."""
import os
import zlib

import numpy as np
import paddle
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CONFIGS = os.path.join(REPO, "configs")
PPDET_CONFIGS = os.path.join(FIXTURES, "ppdet_configs")
ZOO = ["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco", "fcos_r50_fpn_iou_1x_coco",
       "fcos_r50_fpn_multiscale_2x_coco", "fcos_r50_fpn_iou_multiscale_2x_coco"]

paddle.set_device("cpu")
paddle.base.core.set_num_threads(2)


def deterministic_value(name, shape):
    """The reference's name-seeded weight recipe (see tests/fixtures/README.md)."""
    noise = np.random.default_rng(zlib.crc32(name.encode("utf-8"))).standard_normal(shape)
    if name.endswith("_variance"):
        return 1.0 + 0.2 * np.abs(noise)
    if name.endswith("_mean"):
        return 0.1 * noise
    if name.endswith("scale_reg"):
        return 1.0 + 0.1 * noise
    if len(shape) <= 1:
        if name.endswith("fcos_head_cls.bias"):
            return -2.0 + 0.1 * noise
        return 0.1 * noise if name.endswith(".bias") else 1.0 + 0.1 * noise
    return noise / np.sqrt(np.prod(shape[1:]))


def set_deterministic_weights(model):
    model.set_state_dict({name: deterministic_value(name, tuple(t.shape)).astype("float32")
                          for name, t in model.state_dict().items()})
    return model


def fixture(name):
    return np.load(os.path.join(FIXTURES, name))


@pytest.fixture
def write_yaml(tmp_path):
    """write_yaml('a.yml', text) -> path of the written file under tmp_path."""
    def write(relpath, text):
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)
    return write
