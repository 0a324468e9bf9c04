"""TrainingStorage: the one place where a training run's hooks share results.

As detectron2's ``EventStorage``, the trainer owns one (``trainer.storage``) and hooks
talk through it, never through each other's attributes: a hook that produces a result
``put``s it under a documented name with the epoch it belongs to; a hook that uses it
asks for that name. Only the latest value of each name is kept.

Names written by ppfcos's hooks (a hook of your own may add others):

    ``"eval"`` (`EVAL_RESULTS`)  the metric's results dict of the last evaluation,
        ``{"mAP": float, ...}`` (COCO adds its 12 ``stats`` and per-class rows, see
        `ppfcos.evaluation.metrics`); put by ``EvalHook``, read by
        ``BestCheckpointHook``, ``EarlyStoppingHook`` and the loggers
        (``ppfcos.engine.loggers``).
    ``"eval_images"`` (`EVAL_IMAGES`)  [(file name, RGB array [H, W, 3] uint8)]:
        the first few validation images of the last evaluation drawn with their
        detections; put by ``EvalHook`` when the run logs images, read by the loggers.
    ``"training_weights"`` (``TRAINING_WEIGHTS``)  {name: numpy array}: the raw
        model's state dict while the network holds the EMA weights (from the end of a
        snapshot epoch to the start of the next); put by ``EMAHook``, read by the hooks
        that save snapshots (written as ``.pdema``, which training resumes from).

Hooks run in the order they were given to the trainer, so a reader of a name comes after
the hook that puts it.
"""
EVAL_RESULTS = "eval"
EVAL_IMAGES = "eval_images"
TRAINING_WEIGHTS = "training_weights"


class TrainingStorage:
    """The latest value put under each name, with the (0-based) epoch it was put in."""

    def __init__(self):
        self._latest = {}   # name -> (epoch, value)

    def put(self, name, value, epoch):
        """Record ``value`` under ``name`` for ``epoch``, replacing what was there."""
        self._latest[name] = (epoch, value)

    def latest(self, name):
        """``(epoch, value)`` last put under ``name``, or None if nothing was."""
        return self._latest.get(name)

    def of_epoch(self, name, epoch):
        """The value put under ``name`` in ``epoch``, or None (nothing put in that epoch)."""
        entry = self._latest.get(name)
        return entry[1] if entry is not None and entry[0] == epoch else None
