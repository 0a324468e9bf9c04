"""Experiment loggers as hooks: VisualDL, TensorBoard, Weights & Biases and MLflow.

Each writes the same things, under the same names, to its own files:

- every ``log_iter`` steps (at the step count ``trainer.iter``): ``train/<loss>`` for each
  loss, ``train/lr`` and ``train/step_time`` (seconds per step, averaged since the last
  write);
- after each evaluation (``"eval"`` in the storage: give the hook after the EvalHook):
  ``eval/<name>`` for the metric's numbers as mmdetection names them
  (``ppfcos.evaluation.metric_names``), and the validation images of
  ``"eval_images"`` (a few images drawn with their detections) as ``eval/<file name>``.

A backend subclass writes scalars and images and closes; the package it needs is an
optional extra (``pip install ppfcos[tensorboard]``, ``[wandb]``, ``[mlflow]``), and a
missing one is a one-line error naming it. The tools register these hooks on rank 0
only.
"""
import os

from ..core.config import ConfigError
from ..evaluation.metric_names import named_metrics
from .storage import EVAL_IMAGES, EVAL_RESULTS
from .trainer import HookBase


def optional_import(module, flag, requirement):
    """Import ``module`` for ``flag``, or ConfigError saying to pip install
    ``requirement``."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ConfigError(f"{flag} needs the {module.split('.')[0]} package: pip install "
                          f"{requirement}") from None


class ExperimentLoggerHook(HookBase):
    """The scalars and images every logger writes; subclasses say how (``write_scalars``,
    ``write_image``, ``close``)."""

    def __init__(self, log_iter=20):
        self.log_iter = max(int(log_iter), 1)
        self._step_times = []    # seconds of the steps since the last write

    def after_step(self):
        t = self.trainer
        self._step_times.append(t.batch_cost)
        if t.iter % self.log_iter:
            return
        scalars = {f"train/{name}": value for name, value in t.losses.items()}
        scalars["train/lr"] = t.lr
        scalars["train/step_time"] = sum(self._step_times) / len(self._step_times)
        self._step_times = []
        self.write_scalars(scalars, t.iter)

    def after_epoch(self):
        t = self.trainer
        results = t.storage.of_epoch(EVAL_RESULTS, t.epoch)
        if results is None:
            return
        metrics = named_metrics(results)
        if metrics:
            self.write_scalars({f"eval/{name}": v for name, v in metrics.items()}, t.iter)
        for name, image in t.storage.of_epoch(EVAL_IMAGES, t.epoch) or []:
            self.write_image(f"eval/{name}", image, t.iter)

    def after_train(self):
        self.close()

    def write_scalars(self, scalars, step):
        """Write ``{name: float}`` at ``step``."""
        raise NotImplementedError

    def write_image(self, name, image, step):
        """Write ``image`` (RGB [H, W, 3] uint8) as ``name`` at ``step``."""
        raise NotImplementedError

    def close(self):
        """Flush and release the backend's files."""


class VisualDLHook(ExperimentLoggerHook):
    """VisualDL event files in ``log_dir`` (``--use_vdl``, ``--vdl_log_dir``)."""

    def __init__(self, log_dir, log_iter=20):
        super().__init__(log_iter)
        self.writer = optional_import("visualdl", "--use_vdl", "visualdl").LogWriter(log_dir)

    def write_scalars(self, scalars, step):
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def write_image(self, name, image, step):
        self.writer.add_image(name, image, step)

    def close(self):
        self.writer.close()


class TensorBoardHook(ExperimentLoggerHook):
    """TensorBoard event files in ``log_dir`` (``--use_tensorboard``), written by
    tensorboardX (no TensorFlow or PyTorch needed); view with ``tensorboard --logdir``."""

    def __init__(self, log_dir, log_iter=20):
        super().__init__(log_iter)
        writer_module = optional_import("tensorboardX", "--use_tensorboard",
                                        "'ppfcos[tensorboard]'")
        self.writer = writer_module.SummaryWriter(log_dir)

    def write_scalars(self, scalars, step):
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, step)

    def write_image(self, name, image, step):
        self.writer.add_image(name, image, step, dataformats="HWC")

    def close(self):
        self.writer.close()


class WandbHook(ExperimentLoggerHook):
    """A Weights & Biases run (``--use_wandb``). ``params``: wandb.init's arguments, from
    the config's ``wandb`` section and its ``wandb_<key>`` keys as PaddleDetection reads
    them (``project``, ``entity``, ``name``, ``mode`` ("offline" writes only local
    files, synced later with ``wandb sync``), ...); ``dir`` defaults to ``save_dir``.
    ``config``: the resolved config, recorded with the run."""

    def __init__(self, save_dir, params, config=None, log_iter=20):
        super().__init__(log_iter)
        self.wandb = optional_import("wandb", "--use_wandb", "'ppfcos[wandb]'")
        params = dict(params)
        params.setdefault("dir", save_dir)
        os.makedirs(params["dir"], exist_ok=True)
        self.run = self.wandb.init(config=config, reinit="create_new", **params)

    def write_scalars(self, scalars, step):
        self.run.log(scalars, step=step)

    def write_image(self, name, image, step):
        self.run.log({name: self.wandb.Image(image)}, step=step)

    def close(self):
        self.run.finish()


def wandb_params(cfg):
    """wandb.init's arguments from ``cfg``: its ``wandb`` section, then its ``wandb_<key>``
    keys (PaddleDetection's two spellings)."""
    params = dict(cfg.get("wandb") or {})
    params.update({key[len("wandb_"):]: value for key, value in cfg.items()
                   if key.startswith("wandb_")})
    return params


class MLflowHook(ExperimentLoggerHook):
    """An MLflow run (``--use_mlflow``) in ``tracking_uri`` (a server, or a local file
    store such as ``file:///path/mlruns``), in ``experiment`` (created when missing),
    named ``run_name``; images go to the run's artifacts as ``eval/<step>/<file name>``.
    ``run_id``: the run, for reading it back.

    MLflow 3 refuses a file store unless ``MLFLOW_ALLOW_FILE_STORE`` is true: given a
    ``file:`` URI, the hook sets it (when unset) for this process, since the user asked
    for that store."""

    def __init__(self, tracking_uri, experiment, run_name=None, log_iter=20):
        super().__init__(log_iter)
        tracking = optional_import("mlflow.tracking", "--use_mlflow", "'ppfcos[mlflow]'")
        if tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = tracking.MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = (found.experiment_id if found is not None
                         else self.client.create_experiment(experiment))
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id

    def write_scalars(self, scalars, step):
        for name, value in scalars.items():
            self.client.log_metric(self.run_id, name, float(value), step=step)

    def write_image(self, name, image, step):
        folder, file_name = os.path.split(name)
        self.client.log_image(self.run_id, image, f"{folder}/{step}/{file_name}")

    def close(self):
        self.client.set_terminated(self.run_id)


def experiment_loggers(cfg, save_dir, *, vdl=False, vdl_log_dir=None, tensorboard=False,
                       wandb=False, mlflow=False):
    """The logger hooks a training run of ``cfg`` asked for, writing under ``save_dir``:
    VisualDL in ``vdl_log_dir`` (default ``save_dir/vdl``), TensorBoard in
    ``save_dir/tensorboard``, W&B as ``wandb_params(cfg)`` says, MLflow as the config's
    ``mlflow`` section says (``tracking_uri``, default the file store
    ``save_dir/mlruns``; ``experiment_name``, default the config's name; ``run_name``)."""
    log_iter = cfg.get("log_iter", 20)
    hooks = []
    if vdl:
        hooks.append(VisualDLHook(vdl_log_dir or os.path.join(save_dir, "vdl"), log_iter))
    if tensorboard:
        hooks.append(TensorBoardHook(os.path.join(save_dir, "tensorboard"), log_iter))
    if wandb:
        hooks.append(WandbHook(save_dir, wandb_params(cfg), dict(cfg), log_iter))
    if mlflow:
        section = cfg.get("mlflow") or {}
        uri = section.get("tracking_uri") or "file://" + os.path.abspath(
            os.path.join(save_dir, "mlruns"))
        hooks.append(MLflowHook(uri, section.get("experiment_name") or cfg.name,
                                section.get("run_name"), log_iter))
    return hooks
