"""End to end: synthetic COCO data -> TrainReader/EvalReader from a config -> FCOS."""
import numpy as np
import paddle
import pytest

import ppfcos
from ppfcos.data.synthetic import make_synthetic_coco

from conftest import CONFIGS

CONFIG = """
_BASE_: ['{configs}/datasets/coco_detection.yml']
architecture: FCOS
num_classes: 6
worker_num: 0
FCOS: {{backbone: ResNet, neck: FPN, fcos_head: FCOSHead}}
ResNet: {{depth: 18, return_idx: [1, 2, 3]}}
FPN: {{out_channel: 32, extra_stage: 2, has_extra_convs: true, use_c5: false}}
FCOSHead:
  fcos_feat: {{name: FCOSFeat, feat_out: 32, num_convs: 2, norm_type: gn}}
  fcos_loss: {{name: FCOSLoss}}
  nms: {{name: MultiClassNMS, keep_top_k: 20, score_threshold: 0.0}}
TrainDataset: {{dataset_dir: {data}, image_dir: train, anno_path: annotations/instances_train.json}}
EvalDataset: {{dataset_dir: {data}, image_dir: val, anno_path: annotations/instances_val.json}}
TrainReader:
  sample_transforms:
  - Decode: {{}}
  - Resize: {{target_size: [256, 320], keep_ratio: true, interp: 1}}
  - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
  - RandomFlip: {{}}
  batch_transforms:
  - Permute: {{}}
  - PadBatch: {{pad_to_stride: 128}}
  - Gt2FCOSTarget:
      object_sizes_boundary: [64, 128, 256, 512]
      center_sampling_radius: 1.5
      downsample_ratios: [8, 16, 32, 64, 128]
      norm_reg_targets: true
  batch_size: 2
  shuffle: true
EvalReader:
  sample_transforms:
  - Decode: {{}}
  - Resize: {{target_size: [256, 320], keep_ratio: true, interp: 1}}
  - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
  - Permute: {{}}
  batch_transforms:
  - PadBatch: {{pad_to_stride: 128}}
  batch_size: 1
"""


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    make_synthetic_coco(str(root / "data"), num_train=4, num_val=2, seed=3)
    (root / "tiny.yml").write_text(CONFIG.format(configs=CONFIGS, data=root / "data"))
    return ppfcos.load_config(str(root / "tiny.yml"))


def test_train_batch_gives_finite_losses_and_gradients(cfg):
    model = ppfcos.build_model(cfg)
    model.train()
    batch = next(iter(ppfcos.create_reader(cfg, "train")))
    assert list(batch["image"].shape)[:2] == [2, 3] and len(batch["gt_bbox"]) == 2
    losses = model(batch)
    assert all(np.isfinite(float(v)) for v in losses.values())
    losses["loss"].backward()
    weight = model.fcos_head.fcos_head_cls.weight
    grad = weight.grad.numpy()
    assert grad.shape == tuple(weight.shape) and np.isfinite(grad).all() and np.abs(grad).max() > 0


def test_eval_batch_gives_detections_in_original_pixels(cfg):
    model = ppfcos.build_model(cfg)
    model.eval()
    batch = next(iter(ppfcos.create_reader(cfg, "eval")))
    with paddle.no_grad():
        out = model(batch)
    assert out["bbox_num"].numpy().tolist() == [20]
    with paddle.no_grad():
        doubled = model(dict(batch, scale_factor=batch["scale_factor"] * 2))
    np.testing.assert_allclose(doubled["bbox"].numpy()[:, 2:], out["bbox"].numpy()[:, 2:] / 2,
                               rtol=1e-5, atol=1e-4)


def test_dataset_keys_are_checked_at_load(write_yaml):
    with pytest.raises(ppfcos.ConfigError) as err:
        ppfcos.load_config(write_yaml("d.yml", "TrainDataset: {name: COCODataSet, "
                                               "anno_pth: x.json}\n"))
    assert "TrainDataset" in str(err.value) and "'anno_path'" in str(err.value)
    with pytest.raises(ppfcos.ConfigError, match="COCODataSet"):
        ppfcos.load_config(write_yaml("e.yml", "EvalDataset: !COCODataset {}\n"))
