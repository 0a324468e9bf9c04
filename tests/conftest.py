"""Shared test helpers: fixture paths, the name-seeded weight recipe (on PaddleDetection's
and on mmdetection's names), and the mmdetection fixtures' images and detection checks."""
import importlib.util
import os

import numpy as np
import paddle
import pytest

from ppfcos.data.reader import build_ops
from ppfcos.data.transforms import Resize
from ppfcos.engine.benchmark import seed_weights, seeded_value

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CONFIGS = os.path.join(REPO, "configs")
PPDET_CONFIGS = os.path.join(FIXTURES, "ppdet_configs")
MMDET_FIXTURES = os.path.join(FIXTURES, "mmdet")
ZOO = ["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco", "fcos_r50_fpn_iou_1x_coco",
       "fcos_r50_fpn_multiscale_2x_coco", "fcos_r50_fpn_iou_multiscale_2x_coco"]

paddle.set_device("cpu")
paddle.base.core.set_num_threads(2)


def set_deterministic_weights(model):
    """The reference's name-seeded weight recipe (see tests/fixtures/README.md)."""
    return seed_weights(model)


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


# mmdetection names -> the PaddleDetection-style name whose role they play in the recipe.
MMDET_ROLES = (("running_var", "_variance"), ("running_mean", "_mean"),
               (".scale", "scale_reg"), ("conv_cls.bias", "fcos_head_cls.bias"))


def mmdet_seeded_state(keys):
    """The recipe on mmdetection's names: keys [[name, shape], ...] -> {name: array}
    (``num_batches_tracked`` zeros, as make_mmdet_fixtures.py leaves them)."""
    state = {}
    for name, shape in keys:
        if name.endswith("num_batches_tracked"):
            state[name] = np.zeros(shape, np.int64)
            continue
        role = next((ours for theirs, ours in MMDET_ROLES if name.endswith(theirs)), name)
        state[name] = seeded_value(name, tuple(shape), role)
    return state


def eval_batch(cfg, indices, size):
    """The config's EvalReader on the fixture images ``indices``, resized into ``size``."""
    images = np.load(os.path.join(MMDET_FIXTURES, "images.npz"))
    ops = [Resize(size, op.keep_ratio, op.interp) if isinstance(op, Resize) else op
           for op in build_ops(cfg, "EvalReader", "sample_transforms")]
    samples = []
    for i in indices:
        sample = {"image": images[f"png{i}"].tobytes()}
        for op in ops:
            sample = op(sample)
        samples.append(sample)
    for op in build_ops(cfg, "EvalReader", "batch_transforms"):
        samples = op(samples)
    return {k: paddle.to_tensor(np.stack([s[k] for s in samples]))
            for k in ("image", "im_shape", "scale_factor")}


def assert_same_detections(out, ref, prefix=""):
    """Per image: the same detections, compared in (class, score) order (scores within
    1e-8 of each other may come out of NMS in either order): classes equal, scores to
    1e-4, boxes to 1e-2 px."""
    bbox, counts = out["bbox"].numpy(), out["bbox_num"].numpy()
    start = 0
    for i, count in enumerate(counts):
        ours = bbox[start:start + count]
        start += count
        labels, scores = ref[f"{prefix}labels{i}"], ref[f"{prefix}scores{i}"]
        assert len(ours) == len(labels)
        ours = ours[np.lexsort((-ours[:, 1], ours[:, 0]))]
        order = np.lexsort((-scores, labels))
        np.testing.assert_array_equal(ours[:, 0].astype(np.int64), labels[order])
        np.testing.assert_allclose(ours[:, 1], scores[order], rtol=0, atol=1e-4)
        np.testing.assert_allclose(ours[:, 2:], ref[f"{prefix}bboxes{i}"][order], rtol=0,
                                   atol=1e-2)
