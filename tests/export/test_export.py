"""Export: the static model's detections equal dygraph's (zoo configs, oneDNN on and off),
infer_cfg.yml holds PaddleDetection's fields, batch norm folding is exact, and a failed
export leaves the previous one intact."""
import json
import os

import cv2
import numpy as np
import paddle
import pytest
import yaml

import ppfcos
from ppfcos.core.config import ConfigError
from ppfcos.export import exporter, export_model
from ppfcos.export.calibration import calibration_inputs
from ppfcos.export.graph import inference_model
from ppfcos.export.program import load_program, static_mode
from ppfcos.modeling.backbones.resnet import ConvNorm
from ppfcos.modeling.seeded_weights import seed_weights
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.predictor import RunOptions, create_predictor

from conftest import CONFIGS, fixture_tmp, runtime

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
# Two raw RGB images resized to 200x300 and 256x384, padded to 256x384 (stride 128).
IM_SHAPE = np.array([[200, 300], [256, 384]], np.float32)
SCALE = np.array([[0.5, 0.5], [0.8, 0.75]], np.float32)


def raw_batch():
    """image [2, 3, 256, 384] of 0-255 pixels, zero beyond each image's im_shape."""
    image = np.random.default_rng(3).uniform(0, 255, (2, 3, 256, 384)).astype(np.float32)
    image[0, :, 200:, :] = 0
    image[0, :, :, 300:] = 0
    return image


def dygraph_detections(model, raw):
    """What tools/infer.py computes: normalized image, zero padding, the eval forward."""
    normalized = (raw / 255.0 - MEAN) / STD
    normalized[0, :, 200:, :] = 0
    normalized[0, :, :, 300:] = 0
    with paddle.no_grad():
        out = model({"image": paddle.to_tensor(normalized), "im_shape": paddle.to_tensor(IM_SHAPE),
                     "scale_factor": paddle.to_tensor(SCALE)})
    return out["bbox"].numpy(), out["bbox_num"].numpy()


def run_predictor(model_dir, inputs, onednn):
    return runtime("paddle", model_dir, enable_mkldnn=onednn)(inputs)


def assert_same_detections(actual, expected):
    """Same per-image counts and classes; scores and boxes within 1e-3 relative."""
    np.testing.assert_array_equal(actual[1], expected[1])
    np.testing.assert_array_equal(actual[0][:, 0], expected[0][:, 0])
    np.testing.assert_allclose(actual[0][:, 1:], expected[0][:, 1:], rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module", params=["fcos_r50_fpn_1x_coco", "fcos_dcn_r50_fpn_1x_coco"])
def exported_zoo_model(request):
    cfg = ppfcos.load_config(os.path.join(CONFIGS, request.param + ".yml"))
    model = seed_weights(ppfcos.build_model(cfg))
    model.eval()
    expected = dygraph_detections(model, raw_batch())
    out = str(fixture_tmp(request, "export") / request.param)
    export_model(model, cfg, out)
    return out, expected


@pytest.mark.parametrize("onednn", [True, False])
def test_predictor_detections_equal_dygraph(exported_zoo_model, onednn):
    model_dir, expected = exported_zoo_model
    assert expected[1].tolist() == [100, 100]      # deterministic weights: full NMS output
    inputs = {"image": raw_batch(), "im_shape": IM_SHAPE, "scale_factor": SCALE}
    assert_same_detections(run_predictor(model_dir, inputs, onednn), expected)


def test_predictor_takes_paddledetection_inputs(exported_zoo_model):
    model_dir, _ = exported_zoo_model
    predictor = create_predictor("paddle", load_exported_model(model_dir), RunOptions())
    assert predictor.input_names == ["image", "im_shape", "scale_factor"]


def test_zoo_infer_cfg_has_paddledetection_fields(exported_zoo_model):
    model_dir, _ = exported_zoo_model
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        infer_cfg = yaml.safe_load(f)
    assert list(infer_cfg) == ["mode", "draw_threshold", "metric", "use_dynamic_shape", "arch",
                               "min_subgraph_size", "Preprocess", "label_list", "category_ids",
                               "decode_dtype", "num_classes", "export_form", "outputs",
                               "files"]
    assert (infer_cfg["export_form"], infer_cfg["outputs"]) == ("full", ["bbox", "bbox_num"])
    assert infer_cfg["num_classes"] == 80
    assert infer_cfg["decode_dtype"] == "float64"
    assert (infer_cfg["mode"], infer_cfg["arch"], infer_cfg["metric"]) == ("paddle", "FCOS",
                                                                           "COCO")
    assert infer_cfg["use_dynamic_shape"] is True      # image input [-1, 3, -1, -1]
    # fuse_normalize: NormalizeImage runs inside the graph; PadBatch becomes PadStride
    assert infer_cfg["Preprocess"] == [
        {"type": "Resize", "target_size": [800, 1333], "keep_ratio": True, "interp": 1},
        {"type": "Permute"}, {"type": "PadStride", "stride": 128}]
    # no COCO annotations here: the standard COCO names and category ids
    assert len(infer_cfg["label_list"]) == len(infer_cfg["category_ids"]) == 80
    assert infer_cfg["label_list"][:3] == ["person", "bicycle", "car"]
    assert infer_cfg["category_ids"][9:13] == [10, 11, 13, 14]
    assert infer_cfg["category_ids"][-1] == 90


TINY = """
architecture: FCOS
metric: COCO
num_classes: 3
FCOS: {backbone: ResNet, neck: FPN, fcos_head: FCOSHead}
ResNet: {depth: 18, return_idx: [1, 2, 3], freeze_at: -1, freeze_norm: false}
FPN: {out_channel: 16, extra_stage: 0, has_extra_convs: false, use_c5: false}
FCOSHead:
  fcos_feat: {name: FCOSFeat, feat_out: 16, num_convs: 1, norm_type: gn}
TestDataset: {name: ImageFolder, anno_path: annotations.json}
TestReader:
  sample_transforms:
  - Decode: {}
  - Resize: {target_size: [96, 128], keep_ratio: true}
  - NormalizeImage: {mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], is_scale: false}
  - Permute: {}
  batch_transforms:
  - PadBatch: {pad_to_stride: 32}
"""


@pytest.fixture
def tiny_config(tmp_path):
    (tmp_path / "annotations.json").write_text(json.dumps(
        {"categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"},
                        {"id": 5, "name": "star"}]}))
    (tmp_path / "tiny.yml").write_text(TINY.replace("annotations.json",
                                                    str(tmp_path / "annotations.json")))
    return ppfcos.load_config(str(tmp_path / "tiny.yml"))


def test_unfused_normalization_stays_in_the_preprocess(tiny_config, tmp_path):
    out = export_model(ppfcos.build_model(tiny_config), tiny_config, str(tmp_path / "out"))
    with open(os.path.join(out, "infer_cfg.yml")) as f:
        infer_cfg = yaml.safe_load(f)
    assert infer_cfg["label_list"] == ["circle", "square", "star"]
    assert [step["type"] for step in infer_cfg["Preprocess"]] == [
        "Resize", "NormalizeImage", "Permute", "PadStride"]
    assert infer_cfg["Preprocess"][1]["is_scale"] is False
    assert infer_cfg["Preprocess"][3]["stride"] == 32


def test_fused_normalization_equals_the_reader_normalization(tiny_config, tmp_path):
    tiny_config["TestReader"]["fuse_normalize"] = True
    model = seed_weights(ppfcos.build_model(tiny_config))
    model.eval()
    raw = np.random.default_rng(0).uniform(0, 255, (1, 3, 96, 128)).astype(np.float32)
    with paddle.no_grad():
        expected = model({"image": paddle.to_tensor((raw - 0.5) / 0.25)})
    out = export_model(model, tiny_config, str(tmp_path / "out"))
    inputs = {"image": raw, "im_shape": np.array([[96, 128]], np.float32),
              "scale_factor": np.ones([1, 2], np.float32)}
    assert_same_detections(run_predictor(out, inputs, onednn=True),
                           (expected["bbox"].numpy(), expected["bbox_num"].numpy()))


def test_inference_model_folds_a_copy(tiny_config):
    model = seed_weights(ppfcos.build_model(tiny_config))
    before = {name: value.numpy() for name, value in model.state_dict().items()}
    folded = [layer.norm for layer in inference_model(model).backbone.sublayers()
              if isinstance(layer, ConvNorm)]
    assert folded and all(isinstance(norm, paddle.nn.Identity) for norm in folded)
    assert all(isinstance(layer.norm, paddle.nn.BatchNorm2D) for layer in model.sublayers()
               if isinstance(layer, ConvNorm))
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[name].numpy(), value) for name, value in before.items())


def test_failed_export_keeps_the_previous_one(tiny_config, tmp_path, monkeypatch):
    out = export_model(ppfcos.build_model(tiny_config), tiny_config, str(tmp_path / "out"))
    before = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-export")
    monkeypatch.setattr(exporter.paddle.jit, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        export_model(ppfcos.build_model(tiny_config), tiny_config, out)
    after = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}
    assert after == before
    assert sorted(os.listdir(tmp_path)) == ["annotations.json", "out", "tiny.yml"]


def test_export_refuses_a_folder_holding_other_files(tiny_config, tmp_path):
    """--output_dir pointed at a training save_dir: the checkpoints stay, nothing written."""
    out = tmp_path / "out"
    out.mkdir()
    owned = {"epoch_2.pdparams": b"weights", "epoch_2.pdopt": b"state", "notes.txt": b"mine"}
    for name, data in owned.items():
        (out / name).write_bytes(data)
    with pytest.raises(ConfigError, match=f"refusing to export into {out}: it holds files that "
                                          f"are not an export \\(epoch_2.pdopt, epoch_2.pdparams, "
                                          f"notes.txt\\)"):
        export_model(ppfcos.build_model(tiny_config), tiny_config, str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == owned
    assert sorted(os.listdir(tmp_path)) == ["annotations.json", "out", "tiny.yml"]


def test_export_replaces_an_earlier_export_with_its_extras(tiny_config, tmp_path):
    out = str(tmp_path / "out")
    export_model(ppfcos.build_model(tiny_config), tiny_config, out,
                 extras=[lambda d: open(os.path.join(d, "model.onnx"), "w").write("first")])
    export_model(ppfcos.build_model(tiny_config), tiny_config, out,
                 extras=[lambda d: open(os.path.join(d, "model_int8.onnx"), "w").write("2nd")])
    names = sorted(os.listdir(out))
    assert "model.onnx" not in names and "model_int8.onnx" in names   # the old one is gone whole
    assert "infer_cfg.yml" in names and "model.pdiparams" in names
    assert sorted(os.listdir(tmp_path)) == ["annotations.json", "out", "tiny.yml"]


def program_input_shapes(model_dir):
    """{input name: declared shape} of an exported program, read by Paddle's inference-model
    loader (Paddle Inference's predictor reports shapes only once fed)."""
    with static_mode():
        view, _ = load_program(model_dir)
        return view.input_shapes()


def static_config(tiny_config, image_shape, resize):
    tiny_config["TestReader"]["inputs_def"] = {"image_shape": image_shape}
    tiny_config["TestReader"]["sample_transforms"][1] = {"Resize": resize}
    return tiny_config


def test_static_image_shape_exports_a_fixed_input_and_pads_to_it(tiny_config, tmp_path):
    cfg = static_config(tiny_config, [3, 96, 96], {"target_size": [64, 64], "keep_ratio": True})
    model = seed_weights(ppfcos.build_model(cfg))
    model.eval()
    out = export_model(model, cfg, str(tmp_path / "out"))
    with open(os.path.join(out, "infer_cfg.yml")) as f:
        infer_cfg = yaml.safe_load(f)
    assert infer_cfg["use_dynamic_shape"] is False
    assert infer_cfg["Preprocess"] == [   # Resize targets image_shape, Pad replaces PadStride
        {"type": "Resize", "target_size": [96, 96], "keep_ratio": True, "interp": 1},
        {"type": "NormalizeImage", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
         "is_scale": False},
        {"type": "Pad", "size": [96, 96], "fill_value": [0.0, 0.0, 0.0]}, {"type": "Permute"}]
    assert program_input_shapes(out) == {"image": [-1, 3, 96, 96], "im_shape": [-1, 2],
                                         "scale_factor": [-1, 2]}
    # a 64x96 image resized into the fixed input: rows 64..95 are padding
    image = np.zeros((2, 3, 96, 96), np.float32)
    image[:, :, :64] = np.random.default_rng(1).normal(size=(2, 3, 64, 96))
    inputs = {"image": image, "im_shape": np.array([[64, 96]] * 2, np.float32),
              "scale_factor": np.full([2, 2], 0.5, np.float32)}
    with paddle.no_grad():
        expected = model({key: paddle.to_tensor(value) for key, value in inputs.items()})
    assert_same_detections(run_predictor(out, inputs, onednn=True),
                           (expected["bbox"].numpy(), expected["bbox_num"].numpy()))


def test_calibration_images_take_the_static_input_shape(tiny_config, tmp_path):
    """int8 calibration feeds what the static export's preprocessing gives: resized into
    H x W (keeping the ratio: a wide image is shorter) and zero-padded to exactly H x W."""
    cfg = static_config(tiny_config, [3, 96, 96], {"target_size": [64, 64], "keep_ratio": True})
    calib_dir = tmp_path / "calib"
    calib_dir.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(calib_dir / "wide.jpg"), rng.integers(0, 255, (50, 100, 3), np.uint8))
    cv2.imwrite(str(calib_dir / "tall.jpg"), rng.integers(0, 255, (120, 60, 3), np.uint8))
    inputs = calibration_inputs(cfg, str(calib_dir), 4, normalize_in_graph=False)
    assert len(inputs) == 2
    for sample in inputs:
        assert sample["image"].shape == (1, 3, 96, 96)
        h, w = sample["im_shape"][0].astype(int)
        assert max(h, w) == 96 and min(h, w) == 48
        assert not sample["image"][:, :, h:].any() and not sample["image"][:, :, :, w:].any()


@pytest.mark.parametrize("image_shape,resize,message", [
    ([3, 64, 96], {"target_size": [64, 96], "keep_ratio": True}, "use a square H == W"),
    ([3, 64], {"target_size": [64, 64]}, r"must be \[3, H, W\]"),
    ([3, 0, 64], {"target_size": [64, 64]}, "positive integers")])
def test_bad_static_image_shape_is_a_config_error(tiny_config, tmp_path, image_shape, resize,
                                                   message):
    cfg = static_config(tiny_config, image_shape, resize)
    with pytest.raises(ConfigError, match=message):
        export_model(ppfcos.build_model(cfg), cfg, str(tmp_path / "out"))


def test_dynamic_image_shape_keeps_any_size(tiny_config, tmp_path):
    cfg = static_config(tiny_config, [3, -1, -1], {"target_size": [64, 96], "keep_ratio": True})
    out = export_model(ppfcos.build_model(cfg), cfg, str(tmp_path / "out"))
    with open(os.path.join(out, "infer_cfg.yml")) as f:
        infer_cfg = yaml.safe_load(f)
    assert infer_cfg["use_dynamic_shape"] is True
    assert [step["type"] for step in infer_cfg["Preprocess"]][-1] == "PadStride"
    assert program_input_shapes(out)["image"] == [-1, 3, -1, -1]
