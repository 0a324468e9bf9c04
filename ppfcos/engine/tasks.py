"""What the tools run: train, evaluate and infer from a config (build, wire, call).

Each function sets up the process (ranks, logging, device), builds the model
and readers from ``cfg`` and hands them to the engine parts.
"""
import os

import paddle

from ..core.config import ConfigError
from ..data import create_reader
from ..data.reader import build_dataset
from ..export import export_model
from ..export.calibration import DEFAULT_CALIB_NUM, calibration_inputs, check_calib_dir
from ..export.predictor import PredictorDetector, check_backend
from ..modeling import build_model
from .checkpoint import load_weights
from .env import (cpu_threads_per_process, init_distributed, logger, set_seed, setup_device,
                  setup_logging, use_sync_bn)
from .evaluator import build_metric, evaluate
from .hooks import CheckpointHook, EvalHook, LoggerHook, VisualDLHook
from .infer import infer_images
from .optimizer import build_optimizer, build_schedule, linear_scaling_warning
from .snapshot import resume_snapshot
from .trainer import Trainer


def predictor_on(device, requested):
    """Whether to evaluate through the CPU predictor (``--predictor``; CPU runs only)."""
    if requested and device != "cpu":
        logger.info("--predictor runs Paddle Inference on CPU: evaluating in dygraph on %s",
                    device.upper())
    return requested and device == "cpu"


def setup(cfg):
    """Ranks, logging and device for a run of ``cfg``; returns (rank, world_size, device)."""
    rank, world = init_distributed()
    setup_logging(rank)
    device = setup_device(cfg.get("use_gpu", True))
    return rank, world, device


def save_dir_of(cfg):
    """``save_dir/<config name>``: where a config's checkpoints and outputs go."""
    return os.path.join(cfg.get("save_dir", "output"), cfg.name)


def model_with_weights(cfg, key="weights"):
    """Build the model and load ``cfg[key]`` strictly (evaluation, inference)."""
    if not cfg.get(key):
        raise ConfigError(f"set the weights to use: -o {key}=PATH_OR_URL")
    model = build_model(cfg)
    load_weights(model, cfg[key], strict=True)
    logger.info("loaded weights %s", cfg[key])
    return model


def check_classes(cfg, dataset):
    """ConfigError when the model predicts classes the EvalDataset has no category for."""
    names = getattr(dataset, "class_names", None)
    if names and cfg.get("num_classes", len(names)) > len(names):
        raise ConfigError(f"num_classes is {cfg['num_classes']} but the EvalDataset has "
                          f"{len(names)} categories ({', '.join(map(str, names[:6]))}"
                          f"{', ...' if len(names) > 6 else ''}): evaluate on a dataset with "
                          f"the model's classes, or set num_classes to match when training")


def make_evaluator(cfg, model, rank, output_dir=None, classwise=False, predictor=False,
                   runtime=None):
    """A callable running the config's metric on its EvalDataset -> results dict.

    ``predictor``: run the model's current weights through Paddle Inference with
    oneDNN (CPU) instead of dygraph: the same detections, several times faster.
    ``runtime``: PredictorDetector's backend, precision and calibration (default:
    Paddle Inference, fp32).
    """
    loader = create_reader(cfg, "eval")
    check_classes(cfg, loader.dataset)
    metric = build_metric(cfg.get("metric", "COCO"), loader.dataset,
                          output_dir=output_dir if rank == 0 else None, classwise=classwise,
                          map_type=cfg.get("map_type", "11point"))

    def run():
        detector = (PredictorDetector(model, cpu_threads_per_process(), **(runtime or {}))
                    if predictor else model)
        results = evaluate(detector, loader, metric)
        for line in metric.log_lines():
            logger.info("%s", line)
        return results
    return run


def train(cfg, resume=None, eval_snapshots=False, amp=False, use_vdl=False, vdl_log_dir=None,
          seed=0, predictor=False):
    """Run the config's schedule; returns the trained (unwrapped) model."""
    rank, world, device = setup(cfg)
    set_seed(seed)
    model = use_sync_bn(build_model(cfg), device)
    loader = create_reader(cfg, "train", seed=seed)
    schedule = build_schedule(cfg, len(loader))
    optimizer = build_optimizer(cfg.get("OptimizerBuilder") or {}, schedule, model.parameters())
    warning = linear_scaling_warning(cfg["LearningRate"], world * cfg["TrainReader"]["batch_size"])
    if warning:
        logger.warning("%s", warning)

    start_epoch = start_iter = 0
    if resume:
        start_epoch, start_iter = resume_snapshot(resume, model, optimizer)
        logger.info("resumed from %s: %d epochs, %d iterations done", resume, start_epoch,
                    start_iter)
    elif cfg.get("pretrain_weights"):
        report = load_weights(model, cfg["pretrain_weights"], strict=False)
        logger.info("pretrain weights %s: %s", cfg["pretrain_weights"], report.summary())

    save_dir = save_dir_of(cfg)
    period = cfg.get("snapshot_epoch", 1)
    hooks = [CheckpointHook(save_dir, period)] if rank == 0 else []
    if eval_snapshots:
        hooks.append(EvalHook(make_evaluator(cfg, model, rank, save_dir,
                                             predictor=predictor_on(device, predictor)),
                              period, save_dir if rank == 0 else None))
    if rank == 0:
        hooks.append(LoggerHook(cfg.get("log_iter", 20)))
        if use_vdl:
            hooks.append(VisualDLHook(vdl_log_dir or os.path.join(save_dir, "vdl"),
                                      cfg.get("log_iter", 20)))
    if amp and device != "gpu":
        logger.info("--amp needs a GPU: training in float32 on CPU")
    network = paddle.DataParallel(model) if world > 1 else model
    Trainer(network, optimizer, schedule, loader, cfg["epoch"], hooks, start_epoch, start_iter,
            amp=amp and device == "gpu").train()
    return model


def evaluate_weights(cfg, classwise=False, output_dir=None, predictor=False, backend="paddle",
                     precision="fp32", calib_dir=None, calib_num=DEFAULT_CALIB_NUM):
    """Evaluate ``cfg['weights']`` on the EvalDataset; returns the metric's results.
    With ``predictor``: through ``backend`` at ``precision`` (int8: calibrated on up to
    ``calib_num`` images of ``calib_dir`` through the TestReader)."""
    rank, _, device = setup(cfg)
    check_backend(backend, precision)
    if precision == "int8":
        check_calib_dir(calib_dir, "--precision int8")
    model = model_with_weights(cfg)
    calibration = (calibration_inputs(cfg, calib_dir, calib_num, normalize_in_graph=False)
                   if precision == "int8" else None)
    return make_evaluator(cfg, model, rank, output_dir or save_dir_of(cfg), classwise,
                          predictor_on(device, predictor),
                          dict(backend=backend, precision=precision, calibration=calibration))()


def infer(cfg, images, output_dir="output", draw_threshold=0.5, save_results=False):
    """Detect in ``images`` (files/directories) with ``cfg['weights']``; returns written files."""
    setup(cfg)
    model = model_with_weights(cfg)
    dataset = build_dataset(cfg, "TestDataset")
    dataset.set_images(images)
    loader = create_reader(cfg, "test", dataset=dataset, num_replicas=1, rank=0)
    return infer_images(model, loader, dataset.class_names, output_dir, draw_threshold,
                        save_results)


def export(cfg, output_dir="output_inference"):
    """Export ``cfg['weights']`` to ``output_dir/<config name>``; returns that directory."""
    setup(cfg)
    model = model_with_weights(cfg)
    return export_model(model, cfg, os.path.join(output_dir, cfg.name))
