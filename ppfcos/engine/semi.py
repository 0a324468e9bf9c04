"""DenseTeacher: semi-supervised training of FCOS with an EMA teacher (``ssod_method:
DenseTeacher``, PaddleDetection's ``Trainer_DenseTeacher``).

A step (``curr`` = iterations done before it, ``semi_start_iters`` = S):

1. supervised: the student on the labelled strong and weak views concatenated (strong
   first; ``concat_sup_data: false`` averages the two views' losses instead), times
   ``sup_weight``; backward;
2. from ``curr > S``: the teacher (eval mode, no gradient) on the unlabelled weak view and
   the student on the strong view give dense maps; ``ssod_fcos_loss`` compares them, each
   term times ``loss_weight[name]``, the sum times ``unsup_weight`` ramped by ``suppress``
   (``linear``: ``(curr - S) / S`` up to ``curr = 2 S``; ``exp``: ``exp((curr - S - 2000) /
   1000)`` up to ``S + 2000``; ``step``: 0.25 up to ``2 S``); backward;
3. the optimizer update;
4. the teacher (a SimpleModelEMA) becomes a copy of the student at ``curr ==
   ema_start_iters`` and averages it with ``ema_decay`` after every later step.

Evaluation and ``model_final`` use the teacher (``test_cfg.inference_on: teacher``): at a
snapshot epoch's end the network takes the teacher's weights (``.pdparams``), the student's
go to ``.pdema`` (PaddleDetection's layout), and the student comes back at the next epoch's
start. With ``inference_on: student`` the snapshots hold the student and the teacher's
weights travel in the ``.pdopt``'s hook states.
"""
import math

import numpy as np
import paddle

from ..core.config import ConfigError, unknown_key_message
from ..modeling.losses.ssod_fcos_loss import ssod_fcos_loss
from ..utils.env import logger
from .ema import SimpleModelEMA
from .pseudo_labels import pseudo_label_quality, row_points
from .hooks import AveragedWeightsHook, snapshot_due
from .trainer import Trainer, check_finite

# DenseTeacher.train_cfg keys and PaddleDetection's values (gamma is read by nothing: QFLv2's
# exponent is fixed at 2, as in PaddleDetection).
TRAIN_CFG_DEFAULTS = {"sup_weight": 1.0, "unsup_weight": 1.0,
                      "loss_weight": {"distill_loss_cls": 1.0, "distill_loss_box": 1.0,
                                      "distill_loss_quality": 1.0},
                      "concat_sup_data": True, "suppress": "linear", "ratio": 0.01,
                      "gamma": 2.0}
SUPPRESS_TYPES = ("linear", "exp", "step")
INFERENCE_ON = ("teacher", "student")
DISTILL_LOSSES = ("distill_loss_cls", "distill_loss_box", "distill_loss_quality")


class DenseTeacherOptions:
    """The semi-supervised keys of a config, checked (ConfigError naming the key).

    Attributes: ``train_cfg`` (TRAIN_CFG_DEFAULTS updated by the config), ``inference_on``,
    ``semi_start_iters`` (default 5000), ``ema_start_iters`` (default 0), ``ema_decay``
    (default 0.9996), as PaddleDetection reads them.
    """

    def __init__(self, cfg):
        method = cfg.get("ssod_method")
        if method != "DenseTeacher":
            raise ConfigError(f"{cfg.origin('ssod_method')}: ssod_method {method!r} is not "
                              f"supported: ppfcos trains DenseTeacher")
        if cfg.get("use_simple_ema") is False or cfg.get("use_ema"):
            raise ConfigError(f"{cfg.origin('use_simple_ema')}: DenseTeacher's teacher is a "
                              f"SimpleModelEMA: set use_simple_ema: true and remove use_ema")
        section = cfg.get("DenseTeacher") or {}
        for key in section:
            if key not in ("train_cfg", "test_cfg"):
                raise ConfigError(unknown_key_message(cfg, ("DenseTeacher",), key,
                                                      ("train_cfg", "test_cfg")))
        train_cfg = section.get("train_cfg") or {}
        for key in train_cfg:
            if key not in TRAIN_CFG_DEFAULTS:
                raise ConfigError(unknown_key_message(cfg, ("DenseTeacher", "train_cfg"), key,
                                                      TRAIN_CFG_DEFAULTS))
        self.train_cfg = {**TRAIN_CFG_DEFAULTS, **train_cfg}
        weights = {**TRAIN_CFG_DEFAULTS["loss_weight"], **(train_cfg.get("loss_weight") or {})}
        for key in weights:
            if key not in DISTILL_LOSSES:
                raise ConfigError(unknown_key_message(
                    cfg, ("DenseTeacher", "train_cfg", "loss_weight"), key, DISTILL_LOSSES))
        self.train_cfg["loss_weight"] = weights
        if self.train_cfg["suppress"] not in SUPPRESS_TYPES:
            raise ConfigError(f"{cfg.origin('DenseTeacher', 'train_cfg', 'suppress')}: "
                              f"DenseTeacher.train_cfg.suppress must be one of "
                              f"{', '.join(SUPPRESS_TYPES)}, got {self.train_cfg['suppress']!r}")
        test_cfg = section.get("test_cfg") or {}
        self.inference_on = test_cfg.get("inference_on", "teacher")
        if set(test_cfg) - {"inference_on"} or self.inference_on not in INFERENCE_ON:
            raise ConfigError(f"{cfg.origin('DenseTeacher', 'test_cfg')}: DenseTeacher.test_cfg "
                              f"takes inference_on: teacher or student, got {test_cfg!r}")
        self.semi_start_iters = _non_negative_int(cfg, "semi_start_iters", 5000)
        self.ema_start_iters = _non_negative_int(cfg, "ema_start_iters", 0)
        self.ema_decay = float(cfg.get("ema_decay", 0.9996))


def _non_negative_int(cfg, key, default):
    value = cfg.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{cfg.origin(key)}: {key} must be an integer >= 0, got {value!r}")
    return value


def unsup_weight(weight, suppress, curr, start):
    """The unlabelled loss's weight at iteration ``curr`` (> ``start``), ramped by
    ``suppress`` (see the module docstring; PaddleDetection's formulas)."""
    if suppress == "linear" and curr <= 2 * start:
        return weight * (curr - start) / start
    if suppress == "exp" and curr <= start + 2000:
        return weight * math.exp((curr - start - 2000) / 1000)
    if suppress == "step" and curr <= 2 * start:
        return weight * 0.25
    return weight


def joined_views(strong, weak):
    """One batch of the strong then the weak view (tensors concatenated, lists joined)."""
    return {key: value + weak[key] if isinstance(value, list)
            else paddle.concat([value, weak[key]]) for key, value in strong.items()}


class DenseTeacherTrainer(Trainer):
    """Trainer whose steps are DenseTeacher's (module docstring); the loader yields
    (labelled weak, labelled strong, unlabelled weak, unlabelled strong) batches.

    Extra args: ``teacher`` (SimpleModelEMA of the network), ``options``
    (DenseTeacherOptions). ``losses`` of a step: ``loss``, ``loss_sup_sum``,
    ``loss_unsup_sum``, the supervised losses, the weighted ``distill_loss_*`` and
    ``fg_sum`` (zeros before the semi-supervised phase), and ``pseudo_precision`` /
    ``pseudo_recall`` when the unlabelled images have boxes (``pseudo_labels``).
    """

    def __init__(self, model, optimizer, schedule, loader, epochs, hooks=(), start_epoch=0,
                 start_iter=0, *, teacher, options):
        super().__init__(model, optimizer, schedule, loader, epochs, hooks, start_epoch,
                         start_iter)
        self.teacher = teacher
        self.options = options

    def _supervised_loss(self, weak, strong):
        """The student's supervised losses on both views (a dict with ``loss``)."""
        if self.options.train_cfg["concat_sup_data"]:
            return self.model(joined_views(strong, weak))
        strong_losses, weak_losses = self.model(strong), self.model(weak)
        return {k: (v + weak_losses[k]) * 0.5 for k, v in strong_losses.items()}

    def _unsupervised_losses(self, weak, strong):
        """Weighted distill losses and fg_sum (tensors) of the teacher on ``weak`` and the
        student on ``strong``, plus ``pseudo_precision`` and ``pseudo_recall`` (floats) when
        ``weak`` has ground truth (see ``pseudo_labels``)."""
        student = self.model({"image": strong["image"], "dense_outputs": True})
        self.teacher.model.eval()
        with paddle.no_grad():
            teacher = self.teacher.model({"image": weak["image"], "dense_outputs": True})
        parts = ("cls_logits", "distances", "quality")
        losses, mask = ssod_fcos_loss([student[p] for p in parts], [teacher[p] for p in parts],
                                      self.options.train_cfg["ratio"])
        weights = self.options.train_cfg["loss_weight"]
        losses = {k: v * weights[k] if k in weights else v for k, v in losses.items()}
        if "gt_bbox" in weak:
            losses.update(self._pseudo_label_quality(mask, teacher["cls_logits"], weak))
        return losses

    def _pseudo_label_quality(self, mask, teacher_logits, weak):
        """{pseudo_precision, pseudo_recall} of the selected rows against ``weak``'s boxes
        ({} when it has none)."""
        head = self.network.fcos_head
        points = row_points([(t.shape[0], t.shape[2], t.shape[3]) for t in teacher_logits],
                            head.fpn_stride, head.num_shift)
        classes = np.concatenate([t.transpose([0, 2, 3, 1]).reshape([-1, t.shape[1]])
                                  .argmax(axis=1).numpy() for t in teacher_logits])
        quality = pseudo_label_quality(mask.numpy() > 0, classes, points,
                                       [np.asarray(b) for b in weak["gt_bbox"]],
                                       [np.asarray(c) for c in weak["gt_class"]])
        if quality is None:
            return {}
        return {"pseudo_precision": quality[0], "pseudo_recall": quality[1]}

    def run_step(self, batch):
        sup_weak, sup_strong, unsup_weak, unsup_strong = batch
        cfg, curr = self.options.train_cfg, self.iter
        self.lr = self.optimizer.get_lr()
        self.batch_size = int(sup_weak["image"].shape[0]) + int(unsup_weak["image"].shape[0])
        sup = self._supervised_loss(sup_weak, sup_strong)
        losses = {k: float(v) for k, v in sup.items()}
        check_finite(losses, curr)
        (sup["loss"] * cfg["sup_weight"]).backward()
        losses["loss_sup_sum"] = losses["loss"] * cfg["sup_weight"]
        losses.update({name: 0.0 for name in DISTILL_LOSSES + ("fg_sum", "loss_unsup_sum")})
        start = self.options.semi_start_iters
        if curr == start:
            logger.info("iteration %d: the unlabelled loss starts after this one", curr + 1)
        if curr > start:
            unsup = self._unsupervised_losses(unsup_weak, unsup_strong)
            losses.update({k: unsup.pop(k) for k in ("pseudo_precision", "pseudo_recall")
                           if k in unsup})
            fg_sum = float(unsup.pop("fg_sum"))
            total = paddle.add_n(list(unsup.values())) * unsup_weight(
                cfg["unsup_weight"], cfg["suppress"], curr, start)
            losses.update({k: float(v) for k, v in unsup.items()}, fg_sum=fg_sum,
                          loss_unsup_sum=float(total))
            check_finite(losses, curr)
            total.backward()
        losses["loss"] = losses["loss_sup_sum"] + losses["loss_unsup_sum"]
        self.losses = losses
        self.updated = True
        self.optimizer.step()
        self.optimizer.clear_grad()
        self.schedule.step()
        self.iter += 1


class TeacherHook(AveragedWeightsHook):
    """Keeps the teacher (SimpleModelEMA ``teacher``) and swaps it in for evaluation and
    saving (module docstring). Give it first, as EMAHook.

    ``ema_start_iters``: the step (0-based) after which the teacher is copied from the
    student; ``decay``: its averaging decay after that; ``inference_on``: ``teacher`` or
    ``student``; ``period``: snapshot epochs.
    """

    def __init__(self, teacher, ema_start_iters, inference_on, period):
        super().__init__(period)
        self.teacher = teacher
        self.ema_start_iters = ema_start_iters
        self.inference_on = inference_on

    def after_step(self):
        curr = self.trainer.iter - 1
        if curr == self.ema_start_iters:
            logger.info("iteration %d: the teacher starts as a copy of the student", curr + 1)
            self.teacher.update(self.trainer.network, decay=0.0)
        elif curr > self.ema_start_iters:
            self.teacher.update(self.trainer.network)

    def after_epoch(self):
        if self.inference_on == "teacher" and snapshot_due(self.trainer, self.period):
            self.hold(self.teacher.model.state_dict())

    def state_dict(self):
        """The teacher's weights when the snapshots hold the student (else None: the
        ``.pdparams`` is the teacher)."""
        if self.inference_on == "teacher":
            return None
        return {k: v.numpy().copy() for k, v in self.teacher.model.state_dict().items()}

    def load_state_dict(self, state):
        self.teacher.model.set_state_dict({k: paddle.to_tensor(np.asarray(v))
                                           for k, v in state.items()})


def build_teacher(model, options):
    """The SimpleModelEMA teacher of ``model`` (a copy now: its weights as loaded), frozen."""
    teacher = SimpleModelEMA(model, decay=options.ema_decay)
    for param in teacher.model.parameters():
        param.stop_gradient = True
    teacher.model.eval()
    return teacher
