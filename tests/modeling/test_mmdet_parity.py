"""mmdetection compatibility: its FCOS zoo configs give mmdetection 3.3.0's own numbers.

The fixtures (tests/fixtures/mmdet/, made by tests/fixtures/make_mmdet_fixtures.py with
mmdetection 3.3.0) hold mmdetection's state-dict names and shapes, its preprocessed batch,
raw head outputs, detections and losses, for its name-seeded weights. Here the same
weights go through our converter into our model, and ours must give the same numbers.
The fixtures were made at test scale (224, 128) instead of (1333, 800) to stay small;
the tests set the same size in our Resize.
"""
import os

import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.checkpoint.conversion.mmdet import convert_mmdet_state
from ppfcos.data.reader import build_ops
from ppfcos.data.transforms import Gt2FCOSTarget

from conftest import CONFIGS
from mmdet_fixtures import (FULL, TEST_SIZE, TINY_INPUT, assert_same_detections, converted_model,
                            eval_batch, mmdet_fixture, mmdet_keys)


@pytest.mark.parametrize("config", sorted(mmdet_keys()))
def test_every_mmdet_tensor_maps_onto_our_model(config):
    """All 7 zoo rows: mmdetection's state dict converts with nothing missing, left over or
    mis-shaped (only BN's num_batches_tracked is dropped)."""
    cfg = ppfcos.load_config(os.path.join(CONFIGS, f"{config}.yml"))
    model = ppfcos.build_model(cfg)
    shapes = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    keys = mmdet_keys()[config]
    state = {name: np.zeros(shape, np.float32) for name, shape in keys}
    converted = convert_mmdet_state(shapes, state)
    assert list(converted) == list(shapes)
    assert len(keys) - len(converted) == sum(n.endswith("num_batches_tracked") for n, _ in keys)


def test_config_headers_name_the_mmdet_config():
    for config in mmdet_keys():
        with open(os.path.join(CONFIGS, f"{config}.yml")) as f:
            assert f.readline().startswith("# mmdetection 3.3.0: configs/fcos/fcos_")


@pytest.mark.parametrize("config", FULL)
def test_preprocessing_equals_mmdet(config):
    cfg, _ = converted_model(config)
    ref = mmdet_fixture(config)
    batch = eval_batch(cfg, [0, 1], TEST_SIZE["full"])
    np.testing.assert_allclose(batch["image"].numpy(), ref["inputs"], rtol=0, atol=1e-4)
    for i in range(2):
        np.testing.assert_array_equal(batch["im_shape"].numpy()[i], ref[f"img_shape{i}"])
        np.testing.assert_allclose(batch["scale_factor"].numpy()[i],
                                   ref[f"scale_factor{i}"][::-1], rtol=1e-6)


# Largest raw-output difference allowed (logits, and distances in strides). Measured:
# below 1e-5 for plain convolutions; up to 1.5e-4 with DCNv2, whose bilinear sampling
# Paddle and torchvision round differently.
HEAD_ATOL = {"fcos_r50_caffe_fpn_gn-head_tricks_dcn_1x_coco": 5e-4}


@pytest.mark.parametrize("config", FULL)
def test_head_outputs_equal_mmdet(config):
    cfg, model = converted_model(config)
    ref = mmdet_fixture(config)
    with paddle.no_grad():
        feats = model.neck(model.backbone(paddle.to_tensor(ref["inputs"])))
        outputs = model.fcos_head(feats)
        distances = model.fcos_head.distances_in_pixels(outputs.bbox_reg)
    atol = HEAD_ATOL.get(config, 5e-5)
    for l, stride in enumerate(model.fcos_head.fpn_stride):
        np.testing.assert_allclose(outputs.cls_logits[l].numpy(), ref[f"cls{l}"], rtol=0,
                                   atol=atol)
        np.testing.assert_allclose(outputs.quality[l].numpy(), ref[f"centerness{l}"], rtol=0,
                                   atol=atol)
        np.testing.assert_allclose(distances[l].numpy() / stride, ref[f"bbox{l}"] / stride,
                                   rtol=0, atol=atol)


@pytest.mark.parametrize("config", FULL)
def test_detections_equal_mmdet_for_a_batch_and_each_image(config):
    cfg, model = converted_model(config)
    ref = mmdet_fixture(config)
    with paddle.no_grad():
        assert_same_detections(model(eval_batch(cfg, [0, 1], TEST_SIZE["full"])), ref)
        for i in range(2):
            out = model(eval_batch(cfg, [i], TEST_SIZE["full"]))
            assert_same_detections(out, {f"single_{k}0": ref[f"single_{k}{i}"]
                                         for k in ("labels", "scores", "bboxes")}, "single_")


@pytest.mark.parametrize("config", FULL)
def test_losses_equal_mmdet(config):
    cfg, model = converted_model(config)
    ref = mmdet_fixture(config)
    target_op = next(op for op in build_ops(cfg, "TrainReader", "batch_transforms")
                     if isinstance(op, Gt2FCOSTarget))
    images = ref["inputs"]
    samples = target_op([{"image": images[i], "gt_bbox": ref[f"gt_bbox{i}"],
                          "gt_class": ref[f"gt_class{i}"]} for i in range(2)])
    batch = {"image": paddle.to_tensor(images)}
    for key in samples[0]:
        if key.startswith(("labels", "reg_target", "centerness")):
            batch[key] = paddle.to_tensor(np.stack([s[key] for s in samples]))
    model.train()
    try:
        with paddle.no_grad():
            losses = model(batch)
    finally:
        model.eval()
    for ours, theirs in (("loss_cls", "loss_cls"), ("loss_box", "loss_bbox"),
                         ("loss_quality", "loss_centerness")):
        np.testing.assert_allclose(float(losses[ours]), ref[f"loss_{theirs}"], rtol=1e-4)


@pytest.mark.parametrize("config", TINY_INPUT)
def test_deep_backbones_give_mmdet_detections_on_a_small_image(config):
    cfg, model = converted_model(config)
    with paddle.no_grad():
        assert_same_detections(model(eval_batch(cfg, [0], TEST_SIZE["tiny"])),
                               mmdet_fixture(config))
