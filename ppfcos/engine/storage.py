"""TrainingStorage: the one place where a training run's hooks share results.

As detectron2's ``EventStorage``, the trainer owns one (``trainer.storage``) and hooks
talk through it, never through each other's attributes: a hook that produces a result
``put``s it under a documented name with the epoch it belongs to; a hook that uses it
asks for that name. Only the latest value of each name is kept.

Names written by ppfcos's hooks (a hook of your own may add others):

    ``"eval"`` (:data:`EVAL_RESULTS`)  the metric's results dict of the last evaluation,
        ``{"mAP": float, ...}`` (COCO adds its 12 ``stats`` and per-class rows, see
        :mod:`ppfcos.evaluation.metrics`); put by ``EvalHook``, read by
        ``BestCheckpointHook`` and ``VisualDLHook``.

Hooks run in the order they were given to the trainer, so a reader of a name comes after
the hook that puts it.
"""
EVAL_RESULTS = "eval"


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
