"""YAML configs in PaddleDetection's format.

Loading a file resolves, in this order:

1. ``_BASE_``: a path or a list of paths relative to the file that names them.
   Bases load recursively and merge in the order listed; the file's own keys
   go on top (later wins). Dicts merge key by key; anything else (lists,
   scalars) is replaced whole. A dict whose ``name`` changes (``COCODataSet``
   to ``VOCDataSet``) is replaced whole, so no stale keys leak across.
2. Tags: ``!COCODataSet {...}``, ``!PiecewiseDecay {...}`` and any other
   ``!Name`` become the plain dict ``{name: Name, ...}``, the same as writing
   ``name: Name`` inside the mapping, so both spellings behave alike.
3. Overrides ``-o a.b=c``: the value is parsed as YAML (``4`` is an int,
   ``[1,2]`` a list, ``true`` a bool), the dotted path creates dicts as needed.

Every value remembers the file (or ``-o``) that set it, so errors can say
where to fix them. :func:`validate` checks the result: unknown top-level keys
and unknown keys inside component sections fail with the file, the section,
the key and the accepted keys.
"""
import copy
import difflib
import os

import yaml

from . import registry
from .values import value_errors

OVERRIDE_ORIGIN = "command line (-o)"

# Top-level keys that are not component sections. The runtime reads them; the
# values they accept are checked where they are used.
GLOBAL_KEYS = {
    "architecture": "name of the model section (FCOS)",
    "num_classes": "number of object classes, shared by heads and post-processing",
    "metric": "COCO or VOC",
    "map_type": "VOC mAP: 11point or area",
    "weights": "weights to evaluate, infer or export with",
    "pretrain_weights": "weights to start training from (path or URL)",
    "epoch": "number of training epochs",
    "worker_num": "data loader worker processes",
    "use_gpu": "prefer GPU when the Paddle build and machine have one",
    "use_xpu": "accepted for PaddleDetection compatibility; ppfcos runs on CPU/GPU",
    "use_mlu": "accepted for PaddleDetection compatibility; ppfcos runs on CPU/GPU",
    "use_npu": "accepted for PaddleDetection compatibility; ppfcos runs on CPU/GPU",
    "log_iter": "log every N iterations",
    "save_dir": "checkpoint root directory",
    "snapshot_epoch": "checkpoint (and evaluate) every N epochs",
    "use_ema": "train with an exponential moving average of the weights",
    "ema_decay": "the EMA's decay (default 0.9998)",
    "ema_decay_type": "the EMA's decay schedule: threshold, exponential or normal",
    "cycle_epoch": "restart the EMA every N snapshot epochs (default -1: never)",
    "ema_black_list": "names (substrings) of weights the EMA does not average",
    "ema_filter_no_grad": "the EMA leaves alone weights that do not train",
    "early_stop_patience": "stop after N evaluations without a better mAP (0: never)",
    "print_flops": "accepted for PaddleDetection compatibility",
    "print_params": "accepted for PaddleDetection compatibility",
    "export": "export options (post_process, nms, benchmark, fuse_conv_bn)",
    "ssod_method": "semi-supervised method: DenseTeacher (UnsupTrainDataset, SemiTrainReader)",
    "semi_start_iters": "semi-supervised: supervised iterations before the unlabelled loss",
    "ema_start_iters": "semi-supervised: the iteration the teacher copies the student at",
    "use_simple_ema": "semi-supervised: the teacher is a SimpleModelEMA of the student",
    "DenseTeacher": "DenseTeacher's train_cfg (loss weights, ratio, ramp) and test_cfg",
    "epochs": "accepted for PaddleDetection compatibility (its configs anchor epoch on it)",
    "use_warmup": "accepted for PaddleDetection compatibility (its configs anchor "
                  "PiecewiseDecay.use_warmup on it)",
    "TrainDataset": "training dataset spec",
    "EvalDataset": "evaluation dataset spec",
    "TestDataset": "inference dataset spec",
    "UnsupTrainDataset": "semi-supervised: the unlabelled images (SemiCOCODataSet)",
    "TrainReader": "training transforms and batching",
    "SemiTrainReader": "semi-supervised: transforms, weak and strong views, sup/unsup batching",
    "EvalReader": "evaluation transforms and batching",
    "TestReader": "inference transforms and batching",
    "LearningRate": "base_lr and schedulers",
    "OptimizerBuilder": "optimizer and regularizer",
}


DATASET_KEYS = ("TrainDataset", "EvalDataset", "TestDataset", "UnsupTrainDataset")


class ConfigError(ValueError):
    """A config that cannot be loaded or built; the message says what to fix."""


class Config(dict):
    """A resolved config: a plain dict of sections plus where each value came from.

    ``cfg.origin('FCOSHead', 'fcos_loss', 'quality')`` names the file (or ``-o``)
    that set that value; ``cfg.path`` is the file that was loaded and
    ``cfg.name`` its stem (used for output directories).
    """

    def __init__(self, data, origins, path):
        super().__init__(data)
        self.origins = origins
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]

    def origin(self, *keys):
        """File that set ``keys`` (the deepest recorded prefix), or the loaded file."""
        for end in range(len(keys), 0, -1):
            if tuple(keys[:end]) in self.origins:
                return self.origins[tuple(keys[:end])]
        return self.path

    def dump(self):
        """The resolved config as YAML text (section order kept, short lists inline)."""
        return yaml.dump(dict(self), Dumper=_ReadableDumper, sort_keys=False,
                         default_flow_style=False, width=100)


class _ReadableDumper(yaml.SafeDumper):
    """Writes lists of scalars inline ([64, 128]) and everything else in block style."""


def _represent_list(dumper, items):
    flow = all(not isinstance(i, (dict, list)) for i in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_ReadableDumper.add_representer(list, _represent_list)


class _TagLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!Name`` tags as ``{name: Name, ...}``."""


def _tag_as_named_dict(loader, tag_suffix, node):
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.ScalarNode) and loader.construct_scalar(node) in ("", None):
        value = {}
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"tag !{tag_suffix} must be followed by a mapping of its arguments",
            node.start_mark)
    return {"name": tag_suffix, **value}


_TagLoader.add_multi_constructor("!", _tag_as_named_dict)


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.load(f, Loader=_TagLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, "
                          f"got {type(data).__name__}")
    return data


def _record(origins, path, value, source):
    origins[path] = source
    if isinstance(value, dict):
        for k, v in value.items():
            _record(origins, path + (k,), v, source)


def _same_kind(old, value):
    """Both dicts, and not two components of different ``name`` (merge them key by key)."""
    return (isinstance(old, dict) and isinstance(value, dict)
            and old.get("name", value.get("name")) == value.get("name", old.get("name")))


def _merge(base, override, origins, source, path=()):
    """Merge ``override`` into ``base`` in place, recording origins."""
    for key, value in override.items():
        old = base.get(key)
        if _same_kind(old, value):
            _merge(old, value, origins, source, path + (key,))
            continue
        for stale in [p for p in origins if p[:len(path) + 1] == path + (key,)]:
            del origins[stale]
        base[key] = copy.deepcopy(value)
        _record(origins, path + (key,), value, source)


def _load_file(path, data, origins, chain):
    path = os.path.abspath(path)
    if path in chain:
        raise ConfigError("_BASE_ cycle: " + " -> ".join(chain + [path]))
    content = _read_yaml(path)
    bases = content.pop("_BASE_", [])
    if isinstance(bases, str):
        bases = [bases]
    for base in bases:
        base_path = os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base_path):
            raise ConfigError(f"{path}: _BASE_ entry {base!r} not found "
                              f"(resolved to {os.path.abspath(base_path)})")
        _load_file(base_path, data, origins, chain + [path])
    _merge(data, content, origins, path)


def parse_overrides(overrides):
    """``['a.b=4', 'c=[1,2]']`` -> ``{'a': {'b': 4}, 'c': [1, 2]}`` with YAML-typed values."""
    result = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. epoch=1 "
                              f"or TrainReader.batch_size=4)")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise ConfigError(f"override {item!r}: empty key in {dotted!r}")
        try:
            value = yaml.load(raw, Loader=_TagLoader) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {e}") from None
        node = result
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier override of {k!r}")
        node[keys[-1]] = value
    return result


def _apply_overrides(data, origins, overrides):
    def walk(target, patch, path):
        for key, value in patch.items():
            here = path + (key,)
            if isinstance(value, dict) and key in target and not isinstance(target[key], dict) \
                    and target[key] is not None:
                raise ConfigError(f"override {'.'.join(here)}: {'.'.join(here)} is "
                                  f"{target[key]!r} in the config, not a section")
            if _same_kind(target.get(key), value):
                walk(target[key], value, here)
            else:
                target[key] = value
                _record(origins, here, value, OVERRIDE_ORIGIN)
    walk(data, parse_overrides(overrides), ())


def load_config(path, overrides=None):
    """Load a config file with its ``_BASE_`` chain and ``-o`` overrides, then validate it.

    Args:
        path: YAML file.
        overrides: list of ``"a.b=value"`` strings, applied last.
    Returns:
        Config (a dict of sections with ``origin()``, ``path`` and ``name``).
    """
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    data, origins = {}, {}
    _load_file(path, data, origins, [])
    _apply_overrides(data, origins, overrides)
    cfg = Config(data, origins, os.path.abspath(path))
    validate(cfg)
    return cfg


def unknown_key_message(cfg, section_path, key, accepted):
    """The error text for a key that ``section_path`` does not accept."""
    close = difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = ".".join(map(str, section_path)) or "top level"
    return (f"{cfg.origin(*section_path, key)}: section {where}: unknown key {key!r}.{hint} "
            f"Accepted keys: {', '.join(sorted(map(str, accepted)))}")


def validate(cfg):
    """Check every top-level key and every component section's keys.

    Raises ConfigError naming the file, section, key and accepted keys.
    """
    for key, value in cfg.items():
        if registry.is_registered(key):
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{cfg.origin(key)}: section {key} must be a mapping of "
                                  f"arguments, got {value!r}")
            validate_section(cfg, (key,), registry.lookup(key), value or {})
        elif key in DATASET_KEYS and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{cfg.origin(key)}: {key} must be a dataset spec such as "
                                  f"{{name: COCODataSet, ...}} or !COCODataSet, got {value!r}")
            validate_spec(cfg, (key,), value)
        elif key not in GLOBAL_KEYS:
            accepted = list(GLOBAL_KEYS) + registry.registered_names()
            raise ConfigError(unknown_key_message(cfg, (), key, accepted))
    errors = value_errors(cfg)
    if errors:
        raise ConfigError(errors[0])


def validate_section(cfg, section_path, cls, values):
    """Check that ``values`` only sets arguments of ``cls`` (recursing into inline specs)."""
    accepted = registry.arguments(cls)
    for key, value in values.items():
        if key not in accepted:
            raise ConfigError(unknown_key_message(cfg, section_path, key, accepted))
        if key in registry.inject_keys(cls) and isinstance(value, dict):
            validate_spec(cfg, section_path + (key,), value)


def validate_spec(cfg, path, spec):
    """Check an inline ``{name: Component, ...}`` spec; return the component's class."""
    name = spec.get("name")
    if name is None:
        raise ConfigError(f"{cfg.origin(*path)}: {'.'.join(path)} is a mapping without 'name:' "
                          f"(write e.g. name: {path[-1]} ... or the name of a section)")
    try:
        cls = registry.lookup(name)
    except KeyError as e:
        raise ConfigError(f"{cfg.origin(*path, 'name')}: {'.'.join(path)}: {e.args[0]}") from None
    validate_section(cfg, path, cls, {k: v for k, v in spec.items() if k != "name"})
    return cls
