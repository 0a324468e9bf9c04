"""Types and ranges of the config values every run depends on, checked at load time.

A wrong value (``epoch: "one"``, ``base_lr: fast``, ``-o num_classes=two``,
``epoch=-1``) is reported in one line that names where it was set (the file,
or ``-o``), before anything is built or trained.
"""
import numbers

from .messages import excerpt


def _integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


POSITIVE_INTEGER = ("a positive integer", lambda v: _integer(v) and v >= 1)
NON_NEGATIVE_INTEGER = ("an integer >= 0", lambda v: _integer(v) and v >= 0)
POSITIVE_NUMBER = ("a positive number", lambda v: _number(v) and v > 0)
INTEGER = ("an integer", _integer)
BOOLEAN = ("true or false", lambda v: isinstance(v, bool))
FRACTION = ("a number between 0 and 1 (exclusive)", lambda v: _number(v) and 0 < v < 1)
EMA_DECAY_TYPE = ("one of threshold, exponential, normal",
                  lambda v: v in ("threshold", "exponential", "normal"))
STRINGS = ("a list of strings", lambda v: isinstance(v, list)
           and all(isinstance(item, str) for item in v))

# (section, ..., key) -> (what it must be, test); absent keys are not checked here.
RULES = {
    ("epoch",): POSITIVE_INTEGER,
    ("num_classes",): POSITIVE_INTEGER,
    ("snapshot_epoch",): POSITIVE_INTEGER,
    ("log_iter",): POSITIVE_INTEGER,
    ("log_images",): NON_NEGATIVE_INTEGER,
    ("worker_num",): NON_NEGATIVE_INTEGER,
    ("use_ema",): BOOLEAN,
    ("ema_decay",): FRACTION,
    ("ema_decay_type",): EMA_DECAY_TYPE,
    ("cycle_epoch",): INTEGER,
    ("ema_black_list",): STRINGS,
    ("ema_filter_no_grad",): BOOLEAN,
    ("early_stop_patience",): NON_NEGATIVE_INTEGER,
    ("OptimizerBuilder", "clip_grad_by_norm"): POSITIVE_NUMBER,
    ("OptimizerBuilder", "clip_grad_by_value"): POSITIVE_NUMBER,
    ("OptimizerBuilder", "accumulative_counts"): POSITIVE_INTEGER,
    ("LearningRate", "base_lr"): POSITIVE_NUMBER,
    ("TrainReader", "batch_size"): POSITIVE_INTEGER,
    ("EvalReader", "batch_size"): POSITIVE_INTEGER,
    ("TestReader", "batch_size"): POSITIVE_INTEGER,
}


def _lookup(cfg, path):
    node = cfg
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def value_errors(cfg):
    """One message per value of `RULES` that is set and wrong."""
    errors = []
    for path, (expected, ok) in RULES.items():
        present, value = _lookup(cfg, path)
        if present and not ok(value):
            errors.append(f"{cfg.origin(*path)}: {'.'.join(path)} must be {expected}, "
                          f"got {excerpt(value)}")
    return errors
