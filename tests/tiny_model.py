"""The tiny FCOS of the deploy and API tests: its configs (name-seeded weights, 4 classes),
test images, its export, and deploy/python/infer.py run as a user runs it."""
import os
import subprocess
import sys

import cv2
import numpy as np
import paddle

import ppfcos
from conftest import REPO
from ppfcos.data.reader import build_dataset
from ppfcos.export import export_model
from ppfcos.modeling.seeded_weights import seed_weights

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LABELS = ["cat", "dog", "car", "tree"]
TINY = """
architecture: FCOS
num_classes: 4
FCOS: {{backbone: ResNet, neck: FPN, fcos_head: FCOSHead}}
ResNet: {{depth: 18, return_idx: [1, 2, 3], dcn_v2_stages: [2]}}
FPN: {{out_channel: 32, extra_stage: 2, has_extra_convs: true, use_c5: false}}
FCOSHead:
  fcos_feat: {{name: FCOSFeat, feat_out: 32, num_convs: 2, norm_type: gn}}
  nms: {{name: MultiClassNMS, score_threshold: 0.1, keep_top_k: 100, nms_top_k: 200}}
TestDataset: {{name: ImageFolder, anno_path: label_list.txt, dataset_dir: {root}}}
TestReader:
  fuse_normalize: {fuse}
  sample_transforms:
  - Decode: {{}}
  - Resize: {{target_size: [128, 192], keep_ratio: true, interp: 1}}
  - NormalizeImage: {{mean: {mean}, std: {std}, is_scale: true}}
  - Permute: {{}}
  batch_transforms:
  - PadBatch: {{pad_to_stride: 32}}
  batch_size: 1
"""
# The same without DCN (OpenVINO reads no ONNX DeformConv, Paddle 2.6's paddle2onnx writes none).
TINY_PLAIN = TINY.replace(", dcn_v2_stages: [2]", "")
assert TINY_PLAIN != TINY
# Mixed sizes (three share a preprocessed shape), and two files named a.jpg.
IMAGES = {"a.jpg": (60, 90), "b.png": (60, 90), "c.jpg": (80, 80), "d.jpg": (60, 90),
          "sub/a.jpg": (50, 120)}
THRESHOLD = 0.15  # the deterministic weights score ~0.1-0.2: a threshold keeping part



def cli(*args):
    """Run deploy/python/infer.py (PaddleDetection's command) -> CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "deploy/python/infer.py", *map(str, args)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def write_images(root):
    """IMAGES (random pixels) and an undecodable broken.jpg under ``root``; returns it."""
    rng = np.random.default_rng(0)
    for name, (h, w) in IMAGES.items():
        (root / name).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(root / name), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    (root / "broken.jpg").write_bytes(b"not an image")
    return root


def write_video(path, frames, fps):
    """An .avi (mp4v) of ``frames`` random 64x96 frames at ``fps``; returns ``path`` as str."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (96, 64))
    rng = np.random.default_rng(1)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    writer.release()
    return str(path)


def read_frames(path):
    """The BGR frames of the video at ``path``, and its cv2.VideoCapture."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    return frames, capture


def image_paths(root):
    return [str(root / name) for name in sorted(IMAGES)]


def write_tiny_config(root, fuse, config=TINY):
    """root/tiny.yml from ``config`` (a TINY-like template) and its root/label_list.txt
    -> the config's path."""
    (root / "label_list.txt").write_text("\n".join(LABELS) + "\n")
    (root / "tiny.yml").write_text(config.format(root=root, fuse=str(fuse).lower(), mean=MEAN,
                                               std=STD))
    return str(root / "tiny.yml")


def seeded_tiny_model(root, fuse, config=TINY):
    """(config, the tiny model with seeded weights in eval mode) of root/tiny.yml, written
    from ``config`` (a TINY-like template)."""
    cfg = ppfcos.load_config(write_tiny_config(root, fuse, config))
    model = seed_weights(ppfcos.build_model(cfg))
    model.eval()
    return cfg, model


def export_seeded_tiny(root, fuse=True):
    """Export the seeded tiny model to root/model -> the export's directory."""
    cfg, model = seeded_tiny_model(root, fuse)
    return export_model(model, cfg, str(root / "model"))


def export_tiny(root, fuse, images, config=TINY):
    """Export the tiny model (``config``, a TINY-like template) to root/model -> (model_dir,
    ppfcos's TestReader tensors and the dygraph model's detections for each of ``images``)."""
    cfg, model = seeded_tiny_model(root, fuse, config)
    dataset = build_dataset(cfg, "TestDataset")
    dataset.set_images(images)
    loader = ppfcos.create_reader(cfg, "test", dataset=dataset, num_replicas=1, rank=0)
    batches, detections = [], []
    with paddle.no_grad():
        for batch in loader:
            batches.append({k: batch[k].numpy()[0] for k in ("image", "im_shape", "scale_factor")})
            detections.append(model(batch)["bbox"].numpy())
    return export_model(model, cfg, str(root / "model")), batches, detections
