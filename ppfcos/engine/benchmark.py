"""Speed and memory figures of a config on the current device (``benchmarks/benchmark.py``).

Each ``measure_*`` function returns a dict of plain numbers. The tool gives the
network the name-seeded weights of `ppfcos.modeling.seeded_weights`.
"""
import os
import resource
import tempfile
import time

import numpy as np
import paddle
from ppfcos_runtime.errors import DeployError
from ppfcos_runtime.exported_model import load_exported_model
from ppfcos_runtime.predictor import BACKENDS, RunOptions, check_options, create_predictor

from ..core.config import Config
from ..data.reader import build_ops, create_reader
from ..data.synthetic import make_synthetic_coco
from ..data.transforms.fcos_target import Gt2FCOSTarget
from ..export.quantize import quantize_int8


def peak_rss_mb():
    """The process's peak resident memory so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb():
    """The process's current resident memory, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def timed(run, warmup, iters):
    """Seconds per call of ``run()`` (mean over ``iters`` calls after ``warmup`` calls)."""
    for _ in range(warmup):
        run()
    start = time.perf_counter()
    for _ in range(iters):
        run()
    return (time.perf_counter() - start) / iters


def train_batch(cfg, batch_size, height, width, boxes=8, seed=0):
    """A training batch of random images [B, 3, H, W] with ``boxes`` random boxes each and
    the config's FCOS targets (its TrainReader's Gt2FCOSTarget) -> dict of tensors."""
    target_op = next((op for op in build_ops(cfg, "TrainReader", "batch_transforms")
                      if isinstance(op, Gt2FCOSTarget)), None)
    if target_op is None:
        raise ValueError("the config's TrainReader has no Gt2FCOSTarget batch transform")
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(batch_size):
        size = rng.uniform(16, min(height, width) / 2, (boxes, 2))
        corner = rng.uniform(0, 1, (boxes, 2)) * ([width, height] - size)
        samples.append({"image": rng.standard_normal((3, height, width)).astype(np.float32),
                        "gt_bbox": np.hstack([corner, corner + size]).astype(np.float32),
                        "gt_class": rng.integers(0, cfg["num_classes"], (boxes, 1)).astype(
                            np.int32)})
    samples = target_op(samples)
    return {key: paddle.to_tensor(np.stack([s[key] for s in samples])) for key in samples[0]
            if key == "image" or key.startswith(("labels", "reg_target", "centerness"))}


def train_step(model, optimizer, batch):
    """One forward + backward + update; returns the total loss as a float."""
    loss = model(batch)["loss"]
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    return float(loss)


def measure_train_step(model, optimizer, batch, warmup=1, iters=3):
    """Seconds per training step, images/s and the process's peak memory."""
    model.train()
    seconds = timed(lambda: train_step(model, optimizer, batch), warmup, iters)
    images = int(batch["image"].shape[0])
    return {"step_s": seconds, "images_per_s": images / seconds, "peak_rss_mb": peak_rss_mb()}


def measure_memory_growth(model, optimizer, batch, iters=100, settle=10):
    """Resident memory after ``settle`` steps and after ``iters`` steps: a leak shows as
    growth (allocator caches settle within the first steps)."""
    model.train()
    for _ in range(settle):
        train_step(model, optimizer, batch)
    start = rss_mb()
    for _ in range(iters - settle):
        train_step(model, optimizer, batch)
    end = rss_mb()
    return {"steps": iters, "rss_after_settle_mb": start, "rss_end_mb": end,
            "growth_mb": end - start}


def measure_eval_forward(model, height, width, warmup=1, iters=3):
    """Seconds per dygraph eval forward (network, decoding, NMS) of one image."""
    model.eval()
    image = paddle.to_tensor(np.random.default_rng(0).standard_normal(
        (1, 3, height, width)).astype(np.float32))

    def forward():
        with paddle.no_grad():
            model({"image": image})["bbox"].numpy()
    return {"latency_s": timed(forward, warmup, iters)}


def exported_model_inputs(height, width, batch=1, seed=0):
    """``batch`` random 0-255 images [B, 3, H, W] with their im_shape and scale_factor."""
    return {"image": np.random.default_rng(seed).uniform(0, 255, (batch, 3, height, width))
            .astype(np.float32),
            "im_shape": np.array([[height, width]] * batch, np.float32),
            "scale_factor": np.ones((batch, 2), np.float32)}


def backend_runner(model_dir, backend, options):
    """run(inputs) -> (bbox, bbox_num) of ppfcos_runtime's ``backend`` (RunOptions
    ``options``) on the export in ``model_dir``."""
    model = load_exported_model(model_dir, backend, options.precision)
    return create_predictor(backend, model, options).run


def measure_backend(model_dir, backend, options, height, width, warmup=1, iters=3):
    """Seconds per run of one image of the export in ``model_dir`` by ppfcos_runtime's
    ``backend`` with ``options`` (RunOptions)."""
    run = backend_runner(model_dir, backend, options)
    inputs = exported_model_inputs(height, width)
    return {"threads": options.cpu_threads,
            "latency_s": timed(lambda: run(inputs), warmup, iters)}


def measure_predictor(model_dir, height, width, threads, onednn, warmup=1, iters=3):
    """Seconds per Paddle Inference run of one image with the given CPU settings."""
    options = RunOptions(cpu_threads=threads, enable_mkldnn=onednn)
    return {**measure_backend(model_dir, "paddle", options, height, width, warmup, iters),
            "onednn": onednn}


def measure_onnxruntime(model_dir, height, width, threads, warmup=1, iters=3):
    """Seconds per ONNX Runtime (CPU, ``threads`` intra-op threads) run of one image of
    the export's model.onnx (ppfcos.export.onnx); needs the onnx extra."""
    return measure_backend(model_dir, "onnxruntime", RunOptions(cpu_threads=threads), height,
                           width, warmup, iters)


def runtime_runners(model_dir, threads, height, width, calib_images=4):
    """({(title, precision): run(inputs)}, {(title, precision): why it does not run here})
    for every backend and precision of ppfcos_runtime's capability table (BACKENDS), on
    CPU with ``threads`` threads, of the export in ``model_dir`` with its model.onnx;
    model_int8.onnx is written first (NNCF, calibrated on ``calib_images`` random images:
    timing only). Needs the onnx, openvino and quantize extras."""
    quantize_int8(model_dir, [exported_model_inputs(height, width, seed=seed)
                              for seed in range(calib_images)])
    runners, skipped = {}, {}
    for backend, row in BACKENDS.items():
        for precision in row.precisions:
            options = RunOptions(cpu_threads=threads, precision=precision)
            try:
                check_options(backend, options)
            except DeployError as e:   # Paddle 2.6's bf16: a figure it cannot have
                skipped[row.title, precision] = str(e)
                continue
            runners[row.title, precision] = backend_runner(model_dir, backend, options)
    return runners, skipped


def measure_runtimes(runners, height, width, batch_sizes, warmup=1, iters=3):
    """Seconds per image of each runner, per batch size. The runners take turns in
    every round, so a change in the machine's load touches them alike."""
    rows = []
    for batch in batch_sizes:
        inputs = exported_model_inputs(height, width, batch)
        for run in runners.values():
            for _ in range(warmup):
                run(inputs)
        seconds = {key: 0.0 for key in runners}
        for _ in range(iters):
            for key, run in runners.items():
                start = time.perf_counter()
                run(inputs)
                seconds[key] += time.perf_counter() - start
        rows += [{"runtime": runtime, "precision": precision, "batch": batch,
                  "latency_s": total / iters / batch}
                 for (runtime, precision), total in seconds.items()]
    return rows


def measure_reader(cfg, num_images=64, image_size=(480, 640), epochs=2):
    """Images/s of the config's TrainReader over generated synthetic JPEGs (after a
    warm-up epoch that starts the workers and fills the page cache)."""
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_coco(tmp, num_train=num_images, num_val=1, image_size=image_size)
        dataset = {"name": "COCODataSet", "dataset_dir": tmp, "image_dir": "train",
                   "anno_path": "annotations/instances_train.json",
                   "data_fields": ["image", "gt_bbox", "gt_class", "is_crowd"]}
        cfg = Config({**cfg, "TrainDataset": dataset}, cfg.origins, cfg.path)
        loader = create_reader(cfg, "train", num_replicas=1, rank=0)
        for _ in loader:
            pass
        images, start = 0, time.perf_counter()
        for epoch in range(1, epochs + 1):
            loader.set_epoch(epoch)
            for batch in loader:
                images += int(batch["image"].shape[0])
        seconds = time.perf_counter() - start
    return {"images": images, "workers": cfg.get("worker_num", 0),
            "images_per_s": images / seconds}
