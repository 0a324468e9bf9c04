"""What the tools run: train, evaluate and infer from a config (build, wire, call).

Each function sets up the process (ranks, logging, device), builds the model
and readers from ``cfg`` and hands them to the engine parts.
"""
import contextlib
import os
import time

import paddle

from ..analysis import AnalysisOptions, analyze
from ..analysis.report import summary_lines
from ..checkpoint.loading import load_weights
from ..checkpoint.errors import WeightsError
from ..checkpoint.snapshot import resume_snapshot, snapshot_prefix
from ..core.config import ConfigError
from ..core.files import DiskFull
from ..data import create_reader
from ..data.class_labels import inference_labels
from ..data.reader import build_dataset, parse_dataset
from ..data.semi_reader import create_semi_reader
from ..evaluation.evaluator import build_metric, evaluate, predict
from ..export import export_model
from ..export.calibration import DEFAULT_CALIB_NUM, calibration_inputs, check_calib_dir
from ..export.exporter import check_export_dir
from ..export.runtime_eval import RuntimeEvalModel, check_backend
from ..modeling import build_model, build_tta
from ..utils.env import (cpu_threads_per_process, init_distributed, logger, set_seed,
                         setup_device, setup_logging, use_sync_bn)
from .ema import ModelEMA
from .auto_annotate import DatasetWriter, check_dataset_dir, parse_class_thresholds
from .custom_hooks import build_custom_hooks
from .eval_images import ValidationImages
from .hooks import (BestCheckpointHook, CheckpointHook, EarlyStoppingHook, EMAHook, EvalHook,
                    LoggerHook)
from .loggers import experiment_loggers
from .infer import check_inputs, infer_images
from .slicing import SlicedEvalModel, predict_sliced
from .optimizer import (accumulative_counts, build_optimizer, build_schedule,
                        linear_scaling_warning)
from .preflight import (check_save_dir, check_targets_match_head, check_training_classes,
                        check_training_steps, fcos_targets, holding_save_dir,
                        listed_categories, oversized_images_hint)
from .semi import DenseTeacherOptions, DenseTeacherTrainer, TeacherHook, build_teacher
from .trainer import PeerStopped, Trainer


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


def model_with_weights(cfg, *, key="weights"):
    """Build the model and load ``cfg[key]`` strictly (evaluation, inference)."""
    if not cfg.get(key):
        raise ConfigError(f"set the weights to use: -o {key}=PATH_OR_URL")
    model = build_model(cfg)
    load_weights(model, cfg[key], strict=True)
    logger.info("loaded weights %s", cfg[key])
    return model


def check_classes(cfg, dataset):
    """ConfigError when the model predicts classes the EvalDataset has no category for."""
    names = dataset.class_names
    if names and cfg.get("num_classes", len(names)) > len(names):
        raise ConfigError(f"num_classes is {cfg['num_classes']} but the EvalDataset has "
                          f"{listed_categories(names)}: evaluate on a dataset with the "
                          f"model's classes, or set num_classes to match when training")


def predictions_of(model, loader, cfg, reader_section, *, slicing=None, desc="eval"):
    """``(batch, detections)`` pairs of ``model`` over ``loader``: whole images, or
    windows of each (``slicing``: SliceOptions) through ``cfg[reader_section]``'s ops."""
    if slicing is None:
        return predict(model, loader, desc)
    detector = SlicedEvalModel.from_config(model, cfg, reader_section, slicing)
    return predict_sliced(detector, loader, desc)


def check_tta(tta, *, predictor=False, slicing=None):
    """ConfigError when ``--tta`` comes with an option that runs the model another way."""
    if tta and predictor:
        raise ConfigError("--tta runs the dygraph model on several views; an exported program "
                          "(--predictor) has one: drop one of the two flags")
    if tta and slicing:
        raise ConfigError("--tta and --slice_infer do not combine: drop one of the two")


def make_evaluator(cfg, model, rank, *, output_dir=None, classwise=False, predictor=False,
                   slicing=None, save_prediction_only=False, runtime=None, tta=False,
                   drawn=None):
    """A callable running the config's metric on its EvalDataset -> results dict.

    ``predictor``: run the model's current weights through Paddle Inference with
    oneDNN (CPU) instead of dygraph: the same detections, several times faster.
    ``slicing``: sliced inference (SliceOptions). ``save_prediction_only``: write
    ``output_dir/bbox.json`` and score nothing.
    ``runtime``: RuntimeEvalModel's backend, precision and calibration (default:
    Paddle Inference, fp32).
    ``tta``: test-time augmentation with the config's ``TTA`` views (dygraph).
    ``drawn``: a ValidationImages drawing the first few images of each evaluation.
    """
    loader = create_reader(cfg, "eval")
    check_classes(cfg, loader.dataset)
    metric = build_metric(cfg.get("metric", "COCO"), loader.dataset,
                          output_dir=output_dir if rank == 0 else None, classwise=classwise,
                          map_type=cfg.get("map_type", "11point"),
                          save_prediction_only=save_prediction_only)

    def run():
        detector = (RuntimeEvalModel(model, cpu_threads_per_process(), **(runtime or {}))
                    if predictor else build_tta(cfg, model) if tta else model)
        images = sum(len(indices) for indices in loader.batch_sampler)
        start = time.perf_counter()
        predictions = predictions_of(detector, loader, cfg, "EvalReader", slicing=slicing)
        if drawn is not None:
            predictions = drawn.collect(predictions, getattr(loader.dataset, "class_names",
                                                              None) or [])
        results = evaluate(predictions, metric)
        seconds = time.perf_counter() - start
        logger.info("%d images predicted and scored in %.1f s: %.3f s per image%s", images,
                    seconds, seconds / max(images, 1), " (sliced)" if slicing else "")
        for line in metric.log_lines():
            logger.info("%s", line)
        return results
    return run


def train(cfg, *, resume=None, eval_snapshots=False, amp=False, loggers=None, seed=0,
          predictor=False, extra_hooks=()):
    """Run the config's schedule; returns the trained (unwrapped) model.

    ``extra_hooks``: HookBase instances run with the config's ``custom_hooks``
    (``custom_hooks.build_custom_hooks``: after evaluation, before the checkpoint).

    ``loggers``: the experiment loggers to write, as keyword arguments of
    ``loggers.experiment_loggers`` (``vdl``, ``vdl_log_dir``, ``tensorboard``, ``wandb``,
    ``mlflow``); with ``eval_snapshots`` they also get the first ``log_images`` (config
    key, default 4) validation images of each evaluation drawn.

    Rank 0 checks that save_dir is writable and holds it for the whole run (a
    second run on it is refused) before anything is built.
    """
    rank, world, device = setup(cfg)
    if cfg.get("early_stop_patience") and not eval_snapshots:
        raise ConfigError(f"{cfg.origin('early_stop_patience')}: early_stop_patience counts "
                          f"evaluations: train with --eval, or remove it")
    semi = DenseTeacherOptions(cfg) if cfg.get("ssod_method") else None
    if semi and (accumulative_counts(cfg.get("OptimizerBuilder") or {}) > 1 or amp):
        raise ConfigError("DenseTeacher training updates after every step in float32: "
                          "remove OptimizerBuilder.accumulative_counts and --amp")
    custom = build_custom_hooks(cfg.get("custom_hooks"), extra_hooks)   # refused at once
    save_dir = save_dir_of(cfg)
    if rank == 0:
        check_save_dir(cfg, save_dir)
    with holding_save_dir(save_dir) if rank == 0 else contextlib.nullcontext():
        set_seed(seed)
        model = use_sync_bn(build_model(cfg), device)
        if semi:   # refuses sets that fill no batch itself
            loader = create_semi_reader(cfg, seed=seed)
        else:
            loader = create_reader(cfg, "train", seed=seed)
            check_training_steps(cfg, loader.batch_sampler)
            check_targets_match_head(model.fcos_head, fcos_targets(cfg))
        check_training_classes(cfg, loader.dataset)
        hint = oversized_images_hint(cfg, loader.dataset)
        if hint:
            logger.warning("%s", hint)
        schedule = build_schedule(cfg, len(loader))
        optimizer = build_optimizer(cfg.get("OptimizerBuilder") or {}, schedule,
                                    model.parameters())
        accumulate = accumulative_counts(cfg.get("OptimizerBuilder") or {})
        warning = linear_scaling_warning(cfg["LearningRate"],
                                         world * train_batch_size(cfg, semi) * accumulate)
        if warning:
            logger.warning("%s", warning)

        progress = None
        if resume:
            progress = resume_snapshot(resume, model, optimizer, averaged=bool(semi))
            logger.info("resumed from %s: %d epochs, %d iterations done", resume,
                        progress.epoch, progress.iteration)
        elif cfg.get("pretrain_weights"):
            report = load_weights(model, cfg["pretrain_weights"], strict=False)
            logger.info("pretrain weights %s: %s", cfg["pretrain_weights"], report.summary())

        teacher = build_teacher(model, semi) if semi else None
        if teacher is not None and resume and semi.inference_on == "teacher":
            load_weights(teacher.model, snapshot_prefix(resume) + ".pdparams", strict=True)
        checkpoints = CheckpointHook(save_dir, cfg.get("snapshot_epoch", 1))
        evaluate_on = predictor_on(device, predictor) if eval_snapshots else None
        hooks = training_hooks(cfg, model, rank, checkpoints, evaluate_on=evaluate_on,
                               teacher=teacher, semi=semi, custom=custom,
                               loggers=experiment_loggers(cfg, save_dir, **(loggers or {}))
                               if rank == 0 else [])
        if amp and device != "gpu":
            logger.info("--amp needs a GPU: training in float32 on CPU")
        network = paddle.DataParallel(model) if world > 1 else model
        start_epoch, start_iter = (progress.epoch, progress.iteration) if progress else (0, 0)
        if semi:
            trainer = DenseTeacherTrainer(network, optimizer, schedule, loader, cfg["epoch"],
                                          hooks, start_epoch, start_iter, teacher=teacher,
                                          options=semi)
        else:
            trainer = Trainer(network, optimizer, schedule, loader, cfg["epoch"], hooks,
                              start_epoch, start_iter, amp=amp and device == "gpu",
                              accumulate=accumulate)
        if progress:
            restore_hook_states(trainer, progress.hook_states, resume)
        with stop_says(lambda cause: stopped_message(trainer, checkpoints.last_saved or resume,
                                                     cause, rank), world):
            trainer.train()
    return model


def training_hooks(cfg, model, rank, checkpoints, *, evaluate_on, teacher, semi, custom,
                   loggers):
    """The hooks of a training run, in the order they run: the weights' average (the
    DenseTeacher teacher, or the EMA with ``use_ema``), evaluation with early stopping and
    best-model saving (``evaluate_on``: None without --eval, else whether through the CPU
    predictor), the ``custom`` hooks, then on rank 0 the ``checkpoints`` (saved after
    the evaluation, so snapshots hold its outcome), the log and the experiment
    ``loggers``."""
    period = checkpoints.period
    hooks = ([TeacherHook(teacher, semi.ema_start_iters, semi.inference_on, period)]
             if semi else [EMAHook(ema_of(cfg, model), period)] if cfg.get("use_ema") else [])
    if evaluate_on is not None:
        images = (ValidationImages(cfg.get("log_images", 4))
                  if loggers and cfg.get("log_images", 4) else None)
        hooks.append(EvalHook(make_evaluator(cfg, model, rank, output_dir=checkpoints.save_dir,
                                             predictor=evaluate_on, drawn=images),
                              period, images))
        if cfg.get("early_stop_patience"):
            hooks.append(EarlyStoppingHook(cfg["early_stop_patience"]))
        if rank == 0:
            hooks.append(BestCheckpointHook(checkpoints.save_dir))
    hooks += custom
    if rank == 0:
        hooks += [checkpoints, LoggerHook(cfg.get("log_iter", 20)), *loggers]
    return hooks


def train_batch_size(cfg, semi):
    """Labelled images per step and process: TrainReader's batch_size, or SemiTrainReader's
    sup_batch_size in a semi-supervised run."""
    if semi:
        return (cfg.get("SemiTrainReader") or {}).get("sup_batch_size", 1)
    return (cfg.get("TrainReader") or {}).get("batch_size", 1)


def ema_of(cfg, model):
    """The ModelEMA of ``model`` with the config's ``ema_*`` and ``cycle_epoch`` keys
    (PaddleDetection's names and defaults)."""
    return ModelEMA(model, decay=cfg.get("ema_decay", 0.9998),
                    ema_decay_type=cfg.get("ema_decay_type", "threshold"),
                    cycle_epoch=cfg.get("cycle_epoch", -1),
                    ema_black_list=cfg.get("ema_black_list"),
                    ema_filter_no_grad=cfg.get("ema_filter_no_grad", False))


def restore_hook_states(trainer, states, snapshot):
    """Give the trainer's hooks their states from ``snapshot``; a snapshot without an EMA
    state resumed with ``use_ema`` starts the average there (logged)."""
    if any(type(h) is EMAHook for h in trainer.hooks) and "EMAHook" not in states:
        logger.warning("%s holds no EMA state (saved without use_ema): the EMA starts from "
                       "the resumed weights", snapshot)
    try:
        trainer.load_hook_states(states)
    except ValueError as e:
        raise WeightsError(f"cannot resume from {snapshot}: {e}") from None


COLLECTIVE_LIBRARIES = ("gloo", "nccl")   # named in the errors of a failed collective


@contextlib.contextmanager
def stop_says(describe, world=1):
    """Re-raise an interrupt of the block (Ctrl-C's KeyboardInterrupt, SIGTERM's
    Terminated) or a DiskFull as one of the same kind whose message is
    ``describe(cause)``: what stopped and what was kept (``cause``: the DiskFull's
    message, None for an interrupt). This also drops the dozens of lines of transformed
    code that Paddle's program tracing (``paddle.jit.to_static``) puts into an interrupt
    raised inside it. In a distributed run (``world`` > 1), a collective's RuntimeError
    (its peer rank stopped) becomes a PeerStopped saying ``describe`` likewise."""
    try:
        yield
    except KeyboardInterrupt as e:
        raise type(e)(describe(None)) from None
    except DiskFull as e:
        raise DiskFull(describe(str(e))) from None
    except RuntimeError as e:
        first_line = (str(e).strip().splitlines() or [""])[0]
        if world == 1 or not any(lib in first_line.lower() for lib in COLLECTIVE_LIBRARIES):
            raise
        raise PeerStopped(describe(f"another rank stopped ({first_line})")) from None


def stopped(what, cause):
    """``what`` stopped, with its ``cause`` after a colon when there is one."""
    return f"{what}: {cause}" if cause else what


def stopped_message(trainer, last_snapshot, cause=None, rank=0):
    """Where a stopped run stopped (and why: ``cause``) and which snapshot resumes it
    (rank 0 saves the snapshots: the other ranks point to its log)."""
    where = stopped(f"training stopped in epoch {trainer.epoch + 1} after {trainer.iter} "
                    f"iterations", cause)
    if rank != 0:
        return f"{where}; rank 0's log names the last complete checkpoint"
    if not last_snapshot:
        return f"{where}; no checkpoint was written yet"
    return (f"{where}; the last complete checkpoint is {last_snapshot} (intact): resume with "
            f"-r {last_snapshot}")


def evaluate_weights(cfg, *, classwise=False, output_dir=None, predictor=False, slicing=None,
                     save_prediction_only=False, backend="paddle", precision="fp32",
                     calib_dir=None, calib_num=DEFAULT_CALIB_NUM, tta=False):
    """Evaluate ``cfg['weights']`` on the EvalDataset; returns the metric's results.
    With ``predictor``: through ``backend`` at ``precision`` (int8: calibrated on up to
    ``calib_num`` images of ``calib_dir`` through the TestReader). ``slicing``,
    ``save_prediction_only``, ``tta``: see `make_evaluator`."""
    rank, _, device = setup(cfg)
    check_tta(tta, predictor=predictor, slicing=slicing)
    check_backend(backend, precision)
    if precision == "int8":
        check_calib_dir(calib_dir, "--precision int8")
    with stop_says(lambda cause: stopped("evaluation stopped", cause)):
        model = model_with_weights(cfg)
        predictor = predictor_on(device, predictor)
        calibration = (calibration_inputs(cfg, calib_dir, calib_num, normalize_in_graph=False)
                       if predictor and precision == "int8" else None)
        return make_evaluator(cfg, model, rank, output_dir=output_dir or save_dir_of(cfg),
                              classwise=classwise, predictor=predictor, slicing=slicing,
                              save_prediction_only=save_prediction_only,
                              runtime=dict(backend=backend, precision=precision,
                                           calibration=calibration), tta=tta)()


def saved_results(cfg, *, output_dir=None, classwise=False, verb="scores"):
    """(EvalDataset, COCOMetric holding the ``bbox.json`` of ``output_dir``, default
    save_dir/<config>): the detections a previous evaluation saved. ``verb``: what
    ``--json_eval`` does with them, for the error messages."""
    dataset = parse_dataset(cfg, "EvalDataset", build_dataset(cfg, "EvalDataset"))
    if cfg.get("metric", "COCO") != "COCO":
        raise ConfigError(f"--json_eval {verb} COCO's bbox.json: it needs metric COCO")
    metric = build_metric("COCO", dataset, classwise=classwise)
    path = os.path.join(output_dir or save_dir_of(cfg), "bbox.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--json_eval {verb} {path}, which does not exist: give the "
                                f"directory holding bbox.json with --output_eval DIR")
    try:
        metric.load_results(path)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return dataset, metric


def check_analyzable(cfg):
    """ConfigError unless the config's metric is COCO (the analysis reads bbox.json), so
    ``tools/eval.py --analyze`` refuses before evaluating rather than after."""
    if cfg.get("metric", "COCO") != "COCO":
        raise ConfigError("the analysis reads COCO's bbox.json: it needs metric COCO (convert "
                          "a VOC dataset with tools/x2coco.py --from voc)")


def evaluate_json(cfg, *, output_dir=None, classwise=False):
    """Score the ``bbox.json`` in ``output_dir`` (default save_dir/<config>) against the
    EvalDataset, as PaddleDetection's ``--json_eval``; returns the metric's results."""
    setup(cfg)
    _, metric = saved_results(cfg, output_dir=output_dir, classwise=classwise)
    results = metric.accumulate()
    for line in metric.log_lines():
        logger.info("%s", line)
    return results


def analyze_saved(cfg, *, eval_dir=None, output_dir=None, options=None):
    """Analyse the ``bbox.json`` in ``eval_dir`` (default save_dir/<config>) against the
    EvalDataset into ``output_dir`` (default ``eval_dir/analysis``); returns the summary
    (see `ppfcos.analysis.analyze`). The analysis is numpy work on one process:
    in a distributed run (after evaluating), ranks other than 0 return None."""
    rank = paddle.distributed.get_rank()
    setup_logging(rank)
    if rank != 0:
        return None
    dataset, metric = saved_results(cfg, output_dir=eval_dir, verb="analyses")
    output_dir = output_dir or os.path.join(eval_dir or save_dir_of(cfg), "analysis")
    try:
        summary = analyze(metric.coco_gt, metric.results, dataset.class_names,
                          dataset.clsid2catid,
                          os.path.join(dataset.dataset_dir or "", dataset.image_dir or ""),
                          output_dir, options or AnalysisOptions())
    except ValueError as e:
        raise ConfigError(str(e)) from None
    for line in summary_lines(summary):
        logger.info("%s", line)
    logger.info("analysis written to %s", output_dir)
    return summary


def infer(cfg, images, *, output_dir="output", draw_threshold=0.5, save_results=False,
          save_threshold=0.5, visualize=True, slicing=None, tta=False, save_dataset=None,
          class_thresholds=None):
    """Detect in ``images`` (files/directories) with ``cfg['weights']``; returns written files.

    Classes are named, and bbox.json's ``category_id`` given, by the TestDataset's
    ``anno_path``; without it, COCO's for an 80-class COCO model, else the class index
    (see `ppfcos.data.class_labels.inference_labels`). ``tta``: over the config's ``TTA``
    views. ``save_dataset``: a new or empty folder the detections scoring
    ``save_threshold`` or more (``class_thresholds``: "name=score,..." per class) are
    written into as a dataset (``auto_annotate``), the image folder being ``images``'
    common folder."""
    setup(cfg)
    check_tta(tta, slicing=slicing)
    if save_dataset:
        check_dataset_dir(save_dataset)
    model = model_with_weights(cfg)
    model = build_tta(cfg, model) if tta else model
    dataset = build_dataset(cfg, "TestDataset")
    dataset.set_images(images)
    loader = create_reader(cfg, "test", dataset=dataset, num_replicas=1, rank=0)
    output_names = check_inputs([r["im_file"] for r in dataset.records], output_dir,
                                visualize, save_results)
    class_names, category_ids = inference_labels(dataset, cfg["num_classes"],
                                                 cfg.get("metric", "COCO"))
    predictions = predictions_of(model, loader, cfg, "TestReader", slicing=slicing,
                                 desc="infer")
    writer = None
    if save_dataset:
        files = [r["im_file"] for r in dataset.records]
        writer = DatasetWriter(class_names, category_ids,
                               os.path.commonpath([os.path.dirname(f) for f in files]),
                               save_threshold, parse_class_thresholds(class_thresholds,
                                                                      class_names))
        predictions = writer.collect(predictions)
    written = infer_images(predictions, class_names, output_dir, output_names,
                           draw_threshold=draw_threshold, save_threshold=save_threshold,
                           save_results=save_results, visualize=visualize,
                           clsid2catid=dict(enumerate(category_ids)))
    if writer is not None:
        logger.info("%d images and their detections written as a dataset: %s",
                    len(writer.samples), writer.write(save_dataset))
    return written


def export(cfg, *, output_dir="output_inference", extras=(), edge_size=None):
    """Export ``cfg['weights']`` to ``output_dir/<config name>``; returns that directory.

    extras, edge_size: see `ppfcos.export.export_model`.
    """
    setup(cfg)
    model_dir = os.path.join(output_dir, cfg.name)
    check_export_dir(model_dir)   # before the weights load: a refusal comes at once
    model = model_with_weights(cfg)
    kept = (f"the previous export in {model_dir} is intact" if os.path.exists(model_dir)
            else f"nothing was written to {model_dir}")
    with stop_says(lambda cause: f"{stopped('export stopped', cause)}; {kept}"):
        return export_model(model, cfg, model_dir, extras, edge_size)
