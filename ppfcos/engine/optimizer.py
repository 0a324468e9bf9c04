"""Learning rate and optimizer from the ``LearningRate`` and ``OptimizerBuilder`` sections.

The schedule follows PaddleDetection's definitions, evaluated per iteration
``it`` (0-based, the iteration about to run):

* ``LinearWarmup`` (steps, start_factor; or epochs): for ``it < steps`` the
  learning rate is ``base_lr * (start_factor + (1 - start_factor) * it / steps)``;
  the decay takes over from ``it = steps``.
* ``PiecewiseDecay`` (milestones in epochs, gamma): ``base_lr * gamma**k``
  after ``k`` milestones (a list ``gamma`` gives the factor of each stage).
* ``CosineDecay`` (max_epochs, min_lr_ratio, last_plateau_epochs): cosine from
  ``base_lr`` at the end of warmup down to ``base_lr * min_lr_ratio`` at
  ``max_epochs - last_plateau_epochs``, then flat.

Per-parameter learning-rate multipliers and regularizers come from the
parameters' ``ParamAttr`` (Paddle's optimizers apply them): the optimizer-wide
regularizer covers only parameters that set none (BN/GN use ``L2Decay(0)``).
"""
import math

import paddle

from ..core.builder import create_spec
from ..core.config import ConfigError, register_section, section_settings, validate_spec
from ..core.messages import excerpt
from ..core.registry import register

# The total batch (GPUs x images per GPU) PaddleDetection's learning rates assume.
DEFAULT_TOTAL_BATCH = 16


@register
class PiecewiseDecay:
    """Step decay at ``milestones`` (epochs) by ``gamma`` (float, or one factor per stage).

    ``use_warmup: false`` drops the schedule's LinearWarmup (PaddleDetection's key, set by
    its DenseTeacher configs when starting from a trained supervised model)."""

    def __init__(self, milestones=(8, 11), gamma=0.1, use_warmup=True):
        self.milestones = [int(m) for m in milestones]
        self.use_warmup = bool(use_warmup)
        if isinstance(gamma, (list, tuple)):
            if len(gamma) != len(self.milestones):
                raise ValueError(f"PiecewiseDecay needs one gamma per milestone, got "
                                 f"{len(gamma)} for {len(self.milestones)}")
            self.factors = [float(g) for g in gamma]
        else:
            self.factors = [float(gamma) ** (k + 1) for k in range(len(self.milestones))]

    def factor(self, it, steps_per_epoch, warmup_steps):
        passed = sum(it >= m * steps_per_epoch for m in self.milestones)
        return self.factors[passed - 1] if passed else 1.0


@register
class CosineDecay:
    """Cosine from base_lr (after warmup) to ``min_lr_ratio * base_lr`` over ``max_epochs``."""

    def __init__(self, max_epochs=1000, min_lr_ratio=0.0, last_plateau_epochs=0):
        self.max_epochs = max_epochs
        self.min_lr_ratio = min_lr_ratio
        self.last_plateau_epochs = last_plateau_epochs

    def factor(self, it, steps_per_epoch, warmup_steps):
        end = (self.max_epochs - self.last_plateau_epochs) * steps_per_epoch
        progress = min(max(it - warmup_steps, 0) / max(end - warmup_steps, 1), 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine


@register
class LinearWarmup:
    """Linear ramp from ``start_factor * base_lr`` over ``steps`` iterations (or ``epochs``)."""

    def __init__(self, steps=500, start_factor=1.0 / 3, epochs=None):
        self.steps = steps
        self.start_factor = start_factor
        self.epochs = epochs

    def num_steps(self, steps_per_epoch):
        return self.epochs * steps_per_epoch if self.epochs is not None else self.steps

    def factor(self, it, steps_per_epoch):
        steps = self.num_steps(steps_per_epoch)
        return self.start_factor + (1.0 - self.start_factor) * it / steps


class Schedule(paddle.optimizer.lr.LRScheduler):
    """Paddle LR scheduler stepping once per iteration: lr = base_lr * warmup or decay factor.

    ``decay`` is a PiecewiseDecay/CosineDecay (or None: constant), ``warmup`` a
    LinearWarmup or None. ``lr_at(it)`` is the learning rate of iteration ``it``.
    """

    def __init__(self, base_lr, decay, warmup, steps_per_epoch):
        self.base = float(base_lr)
        self.decay = decay
        self.warmup = warmup
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_steps = warmup.num_steps(self.steps_per_epoch) if warmup else 0
        super().__init__(learning_rate=self.base)

    def lr_at(self, it):
        if it < self.warmup_steps:
            return self.base * self.warmup.factor(it, self.steps_per_epoch)
        if self.decay is None:
            return self.base
        return self.base * self.decay.factor(it, self.steps_per_epoch, self.warmup_steps)

    def get_lr(self):
        return self.lr_at(self.last_epoch)


LEARNING_RATE_KEYS = ("base_lr", "schedulers", "total_batch_size")
OPTIMIZER_BUILDER_KEYS = ("optimizer", "regularizer", "clip_grad_by_norm", "clip_grad_by_value",
                          "accumulative_counts")


def check_schedulers(cfg, section):
    """ConfigError for an inline scheduler spec (``!PiecewiseDecay {...}``) of
    ``section.schedulers`` with an unknown name or argument (load_config runs this)."""
    schedulers = cfg[section].get("schedulers") or []
    if not isinstance(schedulers, list):
        raise ConfigError(f"{cfg.origin(section, 'schedulers')}: {section}.schedulers must be a "
                          f"list such as [!PiecewiseDecay {{...}}, !LinearWarmup {{...}}], got "
                          f"{excerpt(schedulers)}")
    for i, spec in enumerate(schedulers):
        if isinstance(spec, dict):
            validate_spec(cfg, (section, "schedulers", str(i)), spec)


register_section("LearningRate", LEARNING_RATE_KEYS, check_schedulers)
register_section("OptimizerBuilder", OPTIMIZER_BUILDER_KEYS)


def build_schedule(cfg, steps_per_epoch):
    """The config's ``LearningRate`` section -> Schedule.

    ``LearningRate: {base_lr, schedulers: [!PiecewiseDecay {...}, !LinearWarmup {...}],
    total_batch_size: 16}`` (the last is ppfcos's: the total batch base_lr is meant for).
    """
    section = section_settings(cfg, "LearningRate", LEARNING_RATE_KEYS)
    if section.get("base_lr") is None:
        raise ConfigError(f"{cfg.origin('LearningRate')}: LearningRate must set base_lr")
    decay = warmup = None
    for i, spec in enumerate(section.get("schedulers") or []):
        scheduler = create_spec(cfg, spec, ("LearningRate", "schedulers", str(i)))
        if isinstance(scheduler, LinearWarmup):
            warmup = scheduler
        else:
            decay = scheduler
    if not getattr(decay, "use_warmup", True):
        warmup = None
    return Schedule(section["base_lr"], decay, warmup, steps_per_epoch)


def linear_scaling_warning(section, total_batch):
    """A warning when ``total_batch`` differs from what the config's base_lr assumes, else None."""
    assumed = section.get("total_batch_size", DEFAULT_TOTAL_BATCH)
    if total_batch == assumed:
        return None
    base_lr = section["base_lr"]
    return (f"base_lr {base_lr} assumes a total batch of {assumed} (GPUs x batch_size); this run "
            f"uses {total_batch}. The linear-scaling rule gives base_lr "
            f"{base_lr * total_batch / assumed:.6g} (-o LearningRate.base_lr=...)")


def _regularizer(spec):
    if not spec:
        return None
    kinds = {"L2": paddle.regularizer.L2Decay, "L1": paddle.regularizer.L1Decay}
    kind = spec.get("type", "L2")
    if kind not in kinds:
        raise ConfigError(f"OptimizerBuilder.regularizer.type must be L1 or L2, "
                          f"got {excerpt(kind)}")
    return kinds[kind](spec["factor"])


def gradient_clip(section):
    """Paddle's gradient clipping for the ``OptimizerBuilder`` section, or None:
    ``clip_grad_by_norm: c`` scales all gradients together so that their global L2 norm is
    at most c; ``clip_grad_by_value: c`` clips each gradient element to [-c, c]."""
    by_norm, by_value = section.get("clip_grad_by_norm"), section.get("clip_grad_by_value")
    if by_norm and by_value:
        raise ConfigError("OptimizerBuilder sets both clip_grad_by_norm and "
                          "clip_grad_by_value: keep one (Paddle clips gradients one way)")
    if by_norm:
        return paddle.nn.ClipGradByGlobalNorm(by_norm)
    if by_value:
        return paddle.nn.ClipGradByValue(max=by_value, min=-by_value)
    return None


def accumulative_counts(section):
    """``OptimizerBuilder.accumulative_counts`` (mmdetection's name): batches whose
    gradients make one update (default 1: none accumulated)."""
    return int(section.get("accumulative_counts", 1))


def build_optimizer(section, schedule, parameters):
    """``OptimizerBuilder`` section -> a Paddle optimizer over the trainable ``parameters``.

    section: ``{optimizer: {type: Momentum|SGD|Adam|AdamW, ...its arguments},
    regularizer: {type: L2|L1, factor}, clip_grad_by_norm: float, clip_grad_by_value:
    float, accumulative_counts: int}``; ``accumulative_counts`` is the trainer's (see
    ``accumulative_counts()``).
    """
    options = dict(section.get("optimizer", {"type": "Momentum", "momentum": 0.9}))
    kind = options.pop("type", "Momentum")
    types = ("Momentum", "SGD", "Adam", "AdamW")
    if kind not in types:
        raise ConfigError(f"OptimizerBuilder.optimizer.type must be one of {', '.join(types)}, "
                          f"got {excerpt(kind)}")
    if kind != "AdamW":  # AdamW decays by its own weight_decay option
        options["weight_decay"] = _regularizer(section.get("regularizer"))
    grad_clip = gradient_clip(section)
    trainable = [p for p in parameters if not p.stop_gradient]
    return getattr(paddle.optimizer, kind)(learning_rate=schedule, parameters=trainable,
                                           grad_clip=grad_clip, **options)
