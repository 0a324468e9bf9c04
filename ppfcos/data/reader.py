"""Build a config's data loader: dataset, transform ops, sampler (what ``create_reader`` does).

``create_reader(cfg, 'train')`` builds ``TrainDataset`` and ``TrainReader``
(``sample_transforms``, ``batch_transforms``, ``batch_size``, ``shuffle``,
``drop_last``, ``use_shared_memory``, ``oversample_thr``) into a
`DetLoader` running ``worker_num`` worker processes; the
batches it yields are described in `ppfcos.data.collate`.

Datasets and ops are built by `ppfcos.core.builder`, like every other
component: a dataset spec ``{name: COCODataSet, ...}`` and an op entry
``{Resize: {target_size: ...}}`` get the same argument checks and error
messages as a model section, and a component's ``__shared__`` keys fall back
to the config's top level.
"""
import logging

import numpy as np

from ppfcos.core import registry
from ppfcos.core.builder import create_spec
from ppfcos.core.config import (ConfigError, register_section, section_settings,
                                validate_spec)
from ppfcos.core.messages import close_matches, excerpt
from ppfcos.data.collate import BatchCollator
from ppfcos.data.datasets import DatasetError
from ppfcos.data.datasets.base import check_provides
from ppfcos.data.loader import DetLoader
from ppfcos.data.sampler import DistributedBatchSampler, repeat_factors
from ppfcos.data.transforms.mixing import Mixup

logger = logging.getLogger(__name__)

MODES = {"train": ("TrainDataset", "TrainReader"),
         "eval": ("EvalDataset", "EvalReader"),
         "test": ("TestDataset", "TestReader")}

# Reader keys and their defaults (PaddleDetection's). fuse_normalize and
# inputs_def.image_shape are read by export; collate_batch has no effect because ground
# truth always stays a list; mixup_epoch pairs each image with another for a Mixup op
# while epoch < mixup_epoch (always with 0, never with -1: see DetDataset).
# oversample_thr (TrainReader only; mmdetection's ClassBalancedDataset name) turns on
# repeat-factor sampling: images of classes in fewer than that fraction of the images
# are repeated (see sampler.repeat_factors).
READER_DEFAULTS = {"sample_transforms": [], "batch_transforms": [], "batch_size": 1,
                   "shuffle": False, "drop_last": False, "use_shared_memory": False,
                   "fuse_normalize": False, "collate_batch": False, "inputs_def": {},
                   "mixup_epoch": -1, "oversample_thr": None}


class Compose:
    """Apply ``ops`` in order to one sample."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, sample):
        for op in self.ops:
            sample = op(sample)
        return sample


def _config_error(cfg, path, message):
    return ConfigError(f"{cfg.origin(*path)}: {'.'.join(path)}: {message}")


def build_dataset(cfg, section):
    """Build (unparsed) the dataset that ``cfg[section]`` (``{name: COCODataSet, ...}``)
    names, checked against what DetDataset declares a dataset provides."""
    spec = cfg.get(section)
    if not isinstance(spec, dict) or "name" not in spec:
        raise _config_error(cfg, (section,), "must be a mapping with 'name:' (e.g. name: "
                            "COCODataSet or the tag !COCODataSet), got " + excerpt(spec))
    dataset = create_spec(cfg, spec, (section,))
    try:
        check_provides(dataset)
    except DatasetError as e:
        raise _config_error(cfg, (section, e.key), e.detail) from None
    return dataset


def parse_dataset(cfg, section, dataset):
    """Parse ``dataset`` and check again what it provides; its errors become ConfigErrors
    naming the file and ``section.key``."""
    try:
        check_provides(dataset.parse_dataset())
    except DatasetError as e:
        raise _config_error(cfg, (section, e.key), e.detail) from None
    return dataset


def _transform_names():
    return [n for n in registry.registered_names()
            if ".transforms" in registry.lookup(n).__module__]


def op_specs(cfg, section, key):
    """``(spec, path)`` of each entry of ``cfg[section][key]``, a list of ``{OpName: {kwargs}}``
    entries: ``spec`` is ``{name: OpName, **kwargs}``, checked (a known transform taking
    these arguments) but not built."""
    entries = (cfg.get(section) or {}).get(key) or []
    path = (section, key)
    if not isinstance(entries, list):
        raise _config_error(cfg, path, f"must be a list of {{OpName: {{args}}}}, "
                            f"got {excerpt(entries)}")
    specs = []
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise _config_error(cfg, path, f"each entry must be one {{OpName: {{args}}}} "
                                f"mapping, got {excerpt(entry)}")
        (name, kwargs), = entry.items()
        if not registry.is_registered(name):
            close = close_matches(name, _transform_names())
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _config_error(cfg, path, f"unknown transform {excerpt(name)}.{hint} Available: "
                                f"{', '.join(_transform_names())}")
        kwargs = {} if kwargs is None else kwargs
        if not isinstance(kwargs, dict) or "name" in kwargs:
            raise _config_error(cfg, path, f"{name}: the arguments must be a mapping of "
                                f"{', '.join(registry.arguments(registry.lookup(name)))}, "
                                f"got {excerpt(kwargs)}")
        spec = {"name": name, **kwargs}
        validate_spec(cfg, path + (name,), spec)
        specs.append((spec, path + (name,)))
    return specs


def build_ops(cfg, section, key):
    """Ops of ``cfg[section][key]``, a list of ``{OpName: {kwargs}}`` entries."""
    return [create_spec(cfg, spec, path) for spec, path in op_specs(cfg, section, key)]


def check_transforms(cfg, section):
    """ConfigError for a transform entry of the reader ``section`` that is not a known
    transform with its arguments (load_config runs this: see register_section)."""
    for key in ("sample_transforms", "batch_transforms"):
        op_specs(cfg, section, key)


for _, _reader_section in MODES.values():
    register_section(_reader_section, READER_DEFAULTS, check_transforms)


def check_positive_int(cfg, path, value):
    """ConfigError naming ``path`` unless ``value`` is a positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _config_error(cfg, path, f"must be a positive integer, got {excerpt(value)}")


def check_worker_num(cfg, workers):
    """``workers`` (the loader's worker processes), or a ConfigError unless an int >= 0."""
    if not isinstance(workers, int) or workers < 0:
        raise _config_error(cfg, ("worker_num",), f"must be an integer >= 0, got "
                            f"{excerpt(workers)}")
    return workers


def reader_options(cfg, section):
    """The reader section's settings with defaults; unknown keys are a ConfigError."""
    options = {**READER_DEFAULTS, **section_settings(cfg, section, READER_DEFAULTS)}
    check_positive_int(cfg, (section, "batch_size"), options["batch_size"])
    if not isinstance(options["mixup_epoch"], int) or options["mixup_epoch"] < -1:
        raise _config_error(cfg, (section, "mixup_epoch"), f"must be an integer >= -1, got "
                            f"{excerpt(options['mixup_epoch'])}")
    return options


def _mixup_epoch(cfg, section, mixup_epoch, sample_ops):
    """``mixup_epoch``, refused when it pairs images for a pipeline without a Mixup op."""
    if mixup_epoch != -1 and not any(isinstance(op, Mixup) for op in sample_ops):
        raise _config_error(cfg, (section, "mixup_epoch"), "pairs images for Mixup, but "
                            "sample_transforms has no Mixup; add one or remove mixup_epoch")
    return mixup_epoch


def class_balance(cfg, section, threshold, dataset):
    """Repeat factors of ``dataset``'s images for ``oversample_thr`` (None: off), logged once."""
    if threshold is None:
        return None
    if section != "TrainReader":
        raise _config_error(cfg, (section, "oversample_thr"), "repeats images of rare classes "
                            "in training: set it under TrainReader only")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold <= 1:
        raise _config_error(cfg, (section, "oversample_thr"), f"must be a class frequency in "
                            f"(0, 1], e.g. 0.001 as in LVIS, got {threshold!r}")
    empty = np.zeros(0, np.int64)
    factors = repeat_factors([r.get("gt_class", empty) for r in dataset.records], threshold)
    logger.info("oversample_thr %g: %d of %d images repeated (factors up to %.2f), %d images "
                "per epoch", threshold, int(np.sum(factors > 1)), len(factors),
                float(factors.max(initial=1.0)), int(round(float(factors.sum()))))
    return factors


def same_size_groups(dataset):
    """Per-record (h, w) keys, so evaluation batches only images of one size (see sampler)."""
    records = dataset.records
    if not all("h" in r and "w" in r for r in records):
        return None
    return [(r["h"], r["w"]) for r in records]


def create_reader(cfg, mode, dataset=None, num_replicas=None, rank=None, seed=0,
                  worker_num=None):
    """Build the data loader of ``mode`` ('train', 'eval' or 'test') from ``cfg``.

    Args:
        cfg: a Config (dict of sections with ``origin``).
        dataset: use this dataset instead of building ``{Train,Eval,Test}Dataset``
            (e.g. an ImageFolder after ``set_images``).
        num_replicas: processes sharing the data (default: from paddle.distributed).
        rank: this process's shard (default: from paddle.distributed).
        seed: base of the per-epoch shuffle seed.
        worker_num: overrides the config's top-level ``worker_num``.
    Returns:
        DetLoader.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    data_section, reader_section = MODES[mode]
    options = reader_options(cfg, reader_section)
    if dataset is None:
        dataset = build_dataset(cfg, data_section)
    parse_dataset(cfg, data_section, dataset)
    sample_ops = build_ops(cfg, reader_section, "sample_transforms")
    dataset.set_transform(Compose(sample_ops))
    dataset.mixup_epoch = _mixup_epoch(cfg, reader_section, options["mixup_epoch"], sample_ops)
    collate = BatchCollator(build_ops(cfg, reader_section, "batch_transforms"))

    factors = class_balance(cfg, reader_section, options["oversample_thr"], dataset)
    sampler = DistributedBatchSampler(len(dataset), options["batch_size"], options["shuffle"],
                                      options["drop_last"], num_replicas, rank, seed,
                                      same_size_groups(dataset) if mode == "eval" else None,
                                      factors)
    workers = check_worker_num(cfg, cfg.get("worker_num", 0) if worker_num is None
                               else worker_num)
    return DetLoader(dataset, sampler, collate, workers, options["use_shared_memory"],
                     lockstep=mode == "train" and sampler.num_replicas > 1)
