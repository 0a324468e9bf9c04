"""Shared test helpers: fixture paths, the Paddle device for tests, YAML files and tools."""
import importlib.util
import os

import numpy as np

import ppfcos.compat  # noqa: F401  (before paddle: see ppfcos.compat.bind_system_zlib)
import paddle  # noqa: E402
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CONFIGS = os.path.join(REPO, "configs")
PPDET_CONFIGS = os.path.join(FIXTURES, "ppdet_configs")
ZOO = ["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco", "fcos_r50_fpn_iou_1x_coco",
       "fcos_r50_fpn_multiscale_2x_coco", "fcos_r50_fpn_iou_multiscale_2x_coco"]

paddle.set_device("cpu")
paddle.base.core.set_num_threads(2)


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


def load_tool(name):
    """tools/<name>.py as a module (named tool_<name>: deploy has a benchmark module too)."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}",
                                                  os.path.join(REPO, "tools", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
