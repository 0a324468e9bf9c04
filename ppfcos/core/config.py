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
where to fix them. `validate` checks the result: unknown top-level keys
and unknown keys inside component sections fail with the file, the section,
the key and the accepted keys.

Loading is bounded, whatever the files hold: a file over ``MAX_CONFIG_BYTES``
is refused before it is parsed; values may nest ``MAX_NESTING`` levels deep;
YAML aliases (``*name``) may repeat at most
``MAX_ALIAS_VALUES`` values in all (the readers' shared transform lists repeat
a few dozen; nested aliases of mappings would repeat billions); each
``_BASE_`` file is read and resolved once however often it is listed or
reached, and a cycle is refused. Errors quote values through
``ppfcos.core.messages.excerpt`` (at most 80 characters).
"""
import copy
import os

import yaml

from . import registry
from .messages import close_matches, excerpt, shortened
from .values import value_errors

OVERRIDE_ORIGIN = "command line (-o)"

# A config file (or -o override) larger than this is refused unread: the zoo's are
# under 8 KB, and PyYAML's Python parser takes seconds per 100 KB of short list items.
MAX_CONFIG_BYTES = 256 * 1024
# Values that YAML aliases may repeat in one file (each alias counts the values it
# stands for, nested aliases multiplied out).
MAX_ALIAS_VALUES = 10_000
# Levels of nesting of a config's values (the zoo's reach 6; printing or copying a value
# hundreds of levels deep exhausts Python's recursion limit).
MAX_NESTING = 32

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
    "custom_hooks": "training hooks of your own: [{type: Name, priority: NORMAL, arg: "
                    "value, ...}] (ppfcos.engine.custom_hooks)",
    "log_images": "validation images drawn per evaluation for the loggers (default 4; 0: none)",
    "wandb": "Weights & Biases: wandb.init's arguments (project, entity, name, mode, ...); "
             "wandb_<key> top-level keys set one each",
    "mlflow": "MLflow: tracking_uri, experiment_name, run_name",
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

# Top-level sections that are not components (LearningRate, OptimizerBuilder, the
# readers): name -> (accepted keys, extra check or None), registered by the module
# that reads the section (register_section), so that load_config refuses what the
# run would, in every tool.
_SECTIONS = {}


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
            None, None, f"tag !{shortened(tag_suffix)} must be followed by a mapping of its "
            f"arguments",
            node.start_mark)
    return {"name": tag_suffix, **value}


_TagLoader.add_multi_constructor("!", _tag_as_named_dict)


def _node_children(node):
    """The nodes directly under a composed YAML node (keys and values of a mapping)."""
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return []


def _measure(node, measures, unfinished):
    """(values, depth) of ``node`` with every alias copied out: how many nodes, and how
    many levels of nesting. Memoized by ``id`` in ``measures``, so a node shared through
    aliases is walked once; ConfigError if a node contains itself."""
    key = id(node)
    if key in measures:
        return measures[key]
    if key in unfinished:
        raise ConfigError("a YAML alias (*name) stands for a value that contains it: the "
                          "value would be endless")
    unfinished.add(key)
    children = [_measure(child, measures, unfinished) for child in _node_children(node)]
    measures[key] = (1 + sum(size for size, _ in children),
                     1 + max((depth for _, depth in children), default=0))
    unfinished.discard(key)
    return measures[key]


def _check_composed(where, root):
    """ConfigError when the document ``root`` nests deeper than MAX_NESTING levels, or its
    aliases repeat over MAX_ALIAS_VALUES values."""
    measures = {}
    try:
        size, depth = _measure(root, measures, set())
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    if depth > MAX_NESTING:
        raise ConfigError(f"{where}: its values nest {depth} levels deep, over the limit of "
                          f"{MAX_NESTING} for a config")
    repeated = size - len(measures)
    if repeated > MAX_ALIAS_VALUES:
        raise ConfigError(f"{where}: its YAML aliases (*name) repeat {repeated} values, over "
                          f"the limit of {MAX_ALIAS_VALUES}: write the repeated parts out "
                          f"once each, or share them through _BASE_ files")


def _parse_yaml(text, where):
    """The value of the YAML string ``text``, its nesting and aliases bounded; errors are
    ConfigErrors starting with ``where`` (a file, or an override)."""
    loader = None
    try:
        loader = _TagLoader(text)   # refuses unprintable characters
        loader.name = where         # what the marks of later errors name
        root = loader.get_single_node()
        if root is None:
            return None
        _check_composed(where, root)
        return loader.construct_document(root)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{where}: its values nest hundreds of levels deep, over the limit "
                          f"of {MAX_NESTING} for a config") from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_yaml(path):
    """The mapping of sections in the YAML file ``path`` (size and aliases bounded)."""
    size = os.path.getsize(path)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: the config file is {size} bytes, over the limit of "
                          f"{MAX_CONFIG_BYTES} bytes for a config: give the YAML config "
                          f"file (sections and their keys), not a data file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (byte {e.start} is not UTF-8): give the "
                          f"YAML config file") from None
    data = _parse_yaml(text, path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections, "
                          f"got {type(data).__name__}")
    return data


def _paths(value, path):
    """``path`` and the path of every key nested in ``value``'s dicts, depth first."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, path + (key,))


def _same_kind(old, value):
    """Both dicts, and not two components of different ``name`` (merge them key by key)."""
    return (isinstance(old, dict) and isinstance(value, dict)
            and old.get("name", value.get("name")) == value.get("name", old.get("name")))


def _merge(base, override, origins, override_origins, path=()):
    """Merge ``override`` into ``base`` in place; ``origins`` (path -> file, of ``base``)
    takes the entries of ``override_origins`` (of ``override``) for the values replaced.
    The work is linear in the sizes of the values merged and replaced."""
    for key, value in override.items():
        here = path + (key,)
        old = base.get(key)
        if _same_kind(old, value):
            _merge(old, value, origins, override_origins, here)
            continue
        for stale in _paths(old, here):
            origins.pop(stale, None)
        base[key] = copy.deepcopy(value)
        origins.update((p, override_origins[p]) for p in _paths(value, here)
                       if p in override_origins)


def _base_paths(path, bases):
    """The files a ``_BASE_`` entry (a path or a list of paths, relative to ``path``) names."""
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: _BASE_ must be a file path or a list of file paths, "
                          f"got {excerpt(bases)}")
    found = []
    for base in bases:
        base_path = os.path.join(os.path.dirname(path), base)
        if not os.path.isfile(base_path):
            raise ConfigError(f"{path}: _BASE_ entry {excerpt(base)} not found "
                              f"(resolved to {os.path.abspath(base_path)})")
        found.append(base_path)
    return found


def _resolve_file(path, resolved, chain):
    """(data, origins) of the file ``path`` with its ``_BASE_`` files merged under it.

    Each base is resolved on its own and merged in the order listed, then the file's
    keys go on top (as PaddleDetection does). ``resolved`` maps real paths to results:
    a file listed many times, or reached through many others, is read and resolved
    once. ``chain``: the real paths of the files whose ``_BASE_`` led here (a cycle).
    """
    path = os.path.abspath(path)
    real = os.path.realpath(path)
    if real in chain:
        raise ConfigError("_BASE_ cycle: " + " -> ".join(chain + [real]))
    if real not in resolved:
        content = _read_yaml(path)
        data, origins = {}, {}
        for base_path in _base_paths(path, content.pop("_BASE_", [])):
            base_data, base_origins = _resolve_file(base_path, resolved, chain + [real])
            _merge(data, base_data, origins, base_origins)
        _merge(data, content, origins, dict.fromkeys(_paths(content, ()), path))
        resolved[real] = data, origins
    return resolved[real]


def parse_overrides(overrides):
    """``['a.b=4', 'c=[1,2]']`` -> ``{'a': {'b': 4}, 'c': [1, 2]}`` with YAML-typed values."""
    result = {}
    for item in overrides or []:
        if len(item) > MAX_CONFIG_BYTES:
            raise ConfigError(f"override {excerpt(item)} is {len(item)} characters, over the "
                              f"limit of {MAX_CONFIG_BYTES} for a config")
        if "=" not in item:
            raise ConfigError(f"override {excerpt(item)} must look like key=value (e.g. epoch=1 "
                              f"or TrainReader.batch_size=4)")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise ConfigError(f"override {excerpt(item)}: empty key in {excerpt(dotted)}")
        value = _parse_yaml(raw, f"override {excerpt(item)}") if raw.strip() else None
        node = result
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {excerpt(item)} conflicts with an earlier override "
                                  f"of {excerpt(k)}")
        node[keys[-1]] = value
    return result


def _apply_overrides(data, origins, overrides):
    def walk(target, patch, path):
        for key, value in patch.items():
            here = path + (key,)
            if isinstance(value, dict) and key in target and not isinstance(target[key], dict) \
                    and target[key] is not None:
                dotted = excerpt(".".join(map(str, here)))
                raise ConfigError(f"override {dotted}: {dotted} is {excerpt(target[key])} in the "
                                  f"config, not a section")
            if _same_kind(target.get(key), value):
                walk(target[key], value, here)
            else:
                target[key] = value
                origins.update(dict.fromkeys(_paths(value, here), OVERRIDE_ORIGIN))
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
    data, origins = _resolve_file(path, {}, [])
    _apply_overrides(data, origins, overrides)
    cfg = Config(data, origins, os.path.abspath(path))
    validate(cfg)
    return cfg


def unknown_key_message(cfg, section_path, key, accepted):
    """The error text for a key that ``section_path`` does not accept."""
    close = close_matches(key, accepted, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    where = ".".join(map(str, section_path)) or "top level"
    return (f"{cfg.origin(*section_path, key)}: section {where}: unknown key {excerpt(key)}."
            f"{hint} Accepted keys: {', '.join(sorted(map(str, accepted)))}")


def register_section(name, accepted, check=None):
    """Declare the keys of the plain top-level section ``name`` (``accepted``: names)
    and an optional ``check(cfg, name)`` of its entries raising ConfigError: from then
    on ``validate`` refuses any other key in that section, with the message the run
    would give."""
    _SECTIONS[name] = (tuple(accepted), check)


def section_settings(cfg, name, accepted):
    """The plain section ``name`` of ``cfg`` ({} when absent); ConfigError unless it is a
    mapping whose keys are all in ``accepted``."""
    values = cfg.get(name)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{cfg.origin(name)}: section {name} must be a mapping of its "
                          f"settings ({', '.join(accepted)}), got {excerpt(values)}")
    for key in values:
        if key not in accepted:
            raise ConfigError(unknown_key_message(cfg, (name,), key, accepted))
    return values


def validate(cfg):
    """Check every top-level key, every component section's keys, and the keys of the
    plain sections registered with ``register_section``.

    Raises ConfigError naming the file, section, key and accepted keys.
    """
    for key, value in cfg.items():
        if registry.is_registered(key):
            if value is not None and not isinstance(value, dict):
                raise ConfigError(f"{cfg.origin(key)}: section {key} must be a mapping of "
                                  f"arguments, got {excerpt(value)}")
            validate_section(cfg, (key,), registry.lookup(key), value or {})
        elif key in DATASET_KEYS and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{cfg.origin(key)}: {key} must be a dataset spec such as "
                                  f"{{name: COCODataSet, ...}} or !COCODataSet, "
                                  f"got {excerpt(value)}")
            validate_spec(cfg, (key,), value)
        elif key not in GLOBAL_KEYS and not key.startswith("wandb_"):
            accepted = list(GLOBAL_KEYS) + registry.registered_names()
            raise ConfigError(unknown_key_message(cfg, (), key, accepted))
        elif key in _SECTIONS:
            accepted, check = _SECTIONS[key]
            section_settings(cfg, key, accepted)
            if check is not None:
                check(cfg, key)
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
