"""PaddleDetection compatibility: configs build, parameter names match, numbers match."""
import glob
import json
import os

import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.modeling.seeded_weights import seed_weights

from conftest import CONFIGS, FIXTURES, PPDET_CONFIGS, ZOO, fixture


def schema(name):
    with open(os.path.join(FIXTURES, "schemas", f"{name}.json")) as f:
        return [(n, list(s)) for n, s in json.load(f)]


def state_schema(model):
    return [(n, list(t.shape)) for n, t in model.state_dict().items()]


PPDET_FILES = sorted(glob.glob(os.path.join(PPDET_CONFIGS, "*", "fcos", "*.yml")))
OUR_FILES = sorted(p for p in glob.glob(os.path.join(CONFIGS, "*.yml")) + glob.glob(
    os.path.join(CONFIGS, "demo", "*.yml")) if not p.endswith("runtime.yml"))


def test_every_reference_and_project_config_is_listed():
    assert len(PPDET_FILES) == 8 and len(OUR_FILES) >= 12


@pytest.mark.parametrize("path", PPDET_FILES, ids=lambda p: os.path.relpath(p, PPDET_CONFIGS))
def test_paddledetection_config_builds_with_its_schema(path):
    model = ppfcos.build_model(ppfcos.load_config(path))
    assert state_schema(model) == schema(os.path.splitext(os.path.basename(path))[0])


@pytest.mark.parametrize("name", ZOO)
def test_project_zoo_config_has_paddledetection_schema(name):
    model = ppfcos.build_model(ppfcos.load_config(os.path.join(CONFIGS, f"{name}.yml")))
    assert state_schema(model) == schema(name)


@pytest.mark.parametrize("path", OUR_FILES, ids=os.path.basename)
def test_project_config_builds(path):
    cfg = ppfcos.load_config(path)
    model = ppfcos.build_model(cfg)
    assert sum(int(np.prod(p.shape)) for p in model.parameters()) > 0


def test_all_data_layout_files_load():
    for path in glob.glob(os.path.join(PPDET_CONFIGS, "*", "datasets", "*.yml")) + glob.glob(
            os.path.join(CONFIGS, "datasets", "*.yml")):
        cfg = ppfcos.load_config(path)
        assert cfg["TrainDataset"]["name"] in ("COCODataSet", "VOCDataSet")


@pytest.fixture(scope="module")
def zoo_model():
    cfg = ppfcos.load_config(os.path.join(PPDET_CONFIGS, "develop", "fcos",
                                          "fcos_r50_fpn_1x_coco.yml"))
    return seed_weights(ppfcos.build_model(cfg))


def _by_image_and_class(bbox, bbox_num):
    groups, start = {}, 0
    for image, count in enumerate(bbox_num):
        for row in bbox[start:start + count]:
            groups.setdefault((image, int(row[0])), []).append(row[1:])
        start += count
    return {k: np.array(sorted(v, key=lambda r: (-r[0], r[1], r[2]))) for k, v in groups.items()}


def test_eval_outputs_match_paddledetection(zoo_model):
    data = fixture("fcos_r50_fpn_1x_coco_eval.npz")
    zoo_model.eval()
    with paddle.no_grad():
        out = zoo_model({k: paddle.to_tensor(data[k])
                         for k in ("image", "im_shape", "scale_factor")})
    assert out["bbox_num"].numpy().tolist() == data["bbox_num"].tolist()
    ours = _by_image_and_class(out["bbox"].numpy(), out["bbox_num"].numpy())
    ref = _by_image_and_class(data["bbox"], data["bbox_num"])
    assert ours.keys() == ref.keys()
    for key in ref:
        np.testing.assert_allclose(ours[key][:, 0], ref[key][:, 0], atol=1e-4)
        np.testing.assert_allclose(ours[key][:, 1:], ref[key][:, 1:], atol=1e-2)


def test_training_losses_match_paddledetection(zoo_model):
    data = fixture("fcos_r50_fpn_1x_coco_train.npz")
    inputs = {"image": paddle.to_tensor(data["image"])}
    for level in range(5):
        for key in ("labels", "reg_target", "centerness"):
            inputs[f"{key}{level}"] = np.stack([data[f"s{i}_{key}{level}"] for i in range(2)])
    zoo_model.train()
    losses = zoo_model(inputs)
    for key in ("loss_cls", "loss_box", "loss_quality", "loss"):
        np.testing.assert_allclose(float(losses[key]), float(data[f"loss__{key}"]), rtol=1e-4)
    losses["loss"].backward()
    grads = [p.grad for p in zoo_model.parameters() if not p.stop_gradient]
    assert grads and all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
