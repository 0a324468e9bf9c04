"""Data loaders built from a config's dataset and reader sections.

``create_reader(cfg, 'train')`` builds ``TrainDataset`` and ``TrainReader``
(``sample_transforms``, ``batch_transforms``, ``batch_size``, ``shuffle``,
``drop_last``, ``use_shared_memory``) into a :class:`DetLoader` running
``worker_num`` worker processes. Per epoch the trainer calls::

    loader.set_epoch(epoch)          # shuffle order of this epoch (all ranks agree)
    for batch in loader:             # dict of paddle Tensors (+ lists for ground truth)
        ...
    loader.skipped                   # images skipped this epoch (already logged)

A batch stacks fixed-shape fields (``image``, ``im_shape``, ``scale_factor``,
``im_id``, FCOS targets) along a new first axis and keeps variable-length
ground truth (``gt_bbox``, ``gt_class``, ``is_crowd``, ``difficult``) as a
list with one entry per image. Unreadable images are dropped from their batch
by the collate (in the worker), travel to the main process as the batch's
``skipped`` file list, and are logged there, one warning per file plus an
end-of-epoch summary; a batch whose images were all unreadable is left out.
"""
import difflib
import logging
import shutil

import numpy as np

import ppfcos.data.transforms  # noqa: F401  (registers the transform ops)
from ppfcos.core import registry
from ppfcos.core.config import ConfigError, unknown_key_message, validate_spec
from ppfcos.data.datasets import SKIPPED_KEY, DatasetError
from ppfcos.data.datasets.base import GT_FIELDS
from ppfcos.data.sampler import DistributedBatchSampler

logger = logging.getLogger(__name__)

MODES = {"train": ("TrainDataset", "TrainReader"),
         "eval": ("EvalDataset", "EvalReader"),
         "test": ("TestDataset", "TestReader")}

# Reader keys and their defaults (PaddleDetection's). fuse_normalize and
# inputs_def.image_shape are read by export; collate_batch has no effect because ground
# truth always stays a list.
READER_DEFAULTS = {"sample_transforms": [], "batch_transforms": [], "batch_size": 1,
                   "shuffle": False, "drop_last": False, "use_shared_memory": False,
                   "fuse_normalize": False, "collate_batch": False, "inputs_def": {}}

# Per-sample keys that are not model inputs (PaddleDetection removes them too).
DROPPED_KEYS = ("h", "w", "flipped")
EMPTY_KEY = "empty_batch"
MIN_SHARED_MEMORY = 1 << 30
_shm_warned = []


class Compose:
    """Apply ``ops`` in order to one sample."""

    def __init__(self, ops):
        self.ops = list(ops)

    def __call__(self, sample):
        for op in self.ops:
            sample = op(sample)
        return sample


class BatchCollator:
    """``collate_fn``: drop skipped samples, run the batch ops, stack into numpy arrays.

    Returns a dict of arrays (and lists for ground truth) plus ``skipped``, the
    list of "file: reason" strings of this batch's unreadable images. A batch
    whose images were all unreadable is ``{skipped: [...], EMPTY_KEY: array}``
    (the paddle DataLoader ends the epoch on a batch without arrays).
    """

    def __init__(self, batch_ops):
        self.batch_ops = list(batch_ops)

    def __call__(self, samples):
        skipped = [s[SKIPPED_KEY] for s in samples if SKIPPED_KEY in s]
        samples = [s for s in samples if SKIPPED_KEY not in s]
        batch = {EMPTY_KEY: np.zeros([1], dtype=np.int32)}
        if samples:
            for op in self.batch_ops:
                samples = op(samples)
            batch = stack_samples(samples)
        batch[SKIPPED_KEY] = skipped
        return batch


class ZeroSizeArray:
    """Stand-in for an empty ground-truth array (an image without boxes).

    Paddle's worker shared memory cannot carry zero-size tensors, so the
    collate sends this instead and :class:`DetLoader` turns it back into an
    empty Tensor of the same shape and dtype.
    """

    def __init__(self, array):
        self.shape, self.dtype = array.shape, array.dtype.str

    def to_tensor(self):
        import paddle
        return paddle.to_tensor(np.zeros(self.shape, dtype=self.dtype))


def stack_samples(samples):
    """Dict of per-key batches: numpy stacks, except lists for ground truth and strings."""
    batch = {}
    for key in samples[0]:
        if key in DROPPED_KEYS:
            continue
        values = [s[key] for s in samples]
        if key in GT_FIELDS:
            batch[key] = [ZeroSizeArray(v) if np.size(v) == 0 else v for v in values]
            continue
        if isinstance(values[0], str):
            batch[key] = values
            continue
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            raise ValueError(f"cannot batch {key!r}: shapes differ across the batch "
                             f"({sorted(shapes)}); pad images with PadBatch in batch_transforms")
        batch[key] = np.stack(values)
    return batch


class DetLoader:
    """A ``paddle.io.DataLoader`` plus epoch control and skipped-image reporting.

    Attributes: ``dataset``, ``batch_sampler``, ``dataloader`` and ``skipped``
    (the "file: reason" strings of the images skipped in the current or last epoch).

    A batch whose images are all unreadable is dropped, except in distributed
    training (``lockstep``): there every rank must run the same number of steps,
    so it is an error that names the files, instead of a hang in the next
    gradient all-reduce.
    """

    def __init__(self, dataloader, batch_sampler, dataset, lockstep=False):
        self.dataloader = dataloader
        self.batch_sampler = batch_sampler
        self.dataset = dataset
        self.lockstep = lockstep
        self.skipped = []

    def set_epoch(self, epoch):
        """Shuffle and augment the next epoch as ``epoch`` (call before iterating)."""
        self.batch_sampler.set_epoch(epoch)
        self.dataset.set_epoch(epoch, self.batch_sampler.seed)

    def __len__(self):
        return len(self.batch_sampler)

    def __iter__(self):
        self.skipped = []
        for batch in self.dataloader:
            for item in batch.pop(SKIPPED_KEY):
                logger.warning("skipped unreadable image; %s", item)
                self.skipped.append(item)
            if EMPTY_KEY not in batch:
                yield _restore_empty(batch)
            elif self.lockstep:
                raise RuntimeError(
                    f"every image of a training batch was unreadable ({'; '.join(self.skipped)}"
                    f"); with several ranks this rank would fall out of step. Fix or remove "
                    f"these files from the dataset")
        if self.skipped:
            shown = "; ".join(self.skipped[:5]) + ("; ..." if len(self.skipped) > 5 else "")
            logger.warning("epoch done: %d unreadable image(s) skipped: %s", len(self.skipped),
                           shown)


def _restore_empty(batch):
    for key in GT_FIELDS:
        if key in batch:
            batch[key] = [v.to_tensor() if isinstance(v, ZeroSizeArray) else v
                          for v in batch[key]]
    return batch


def _config_error(cfg, path, message):
    return ConfigError(f"{cfg.origin(*path)}: {'.'.join(path)}: {message}")


def build_dataset(cfg, section):
    """Build (unparsed) the dataset that ``cfg[section]`` (``{name: COCODataSet, ...}``) names."""
    spec = cfg.get(section)
    if not isinstance(spec, dict) or "name" not in spec:
        raise _config_error(cfg, (section,), "must be a mapping with 'name:' (e.g. name: "
                            "COCODataSet or the tag !COCODataSet), got " + repr(spec))
    cls = validate_spec(cfg, (section,), spec)
    try:
        return cls(**{k: v for k, v in spec.items() if k != "name"})
    except (TypeError, ValueError) as e:
        raise _config_error(cfg, (section,), f"cannot build {spec['name']}: {e}") from e


def parse_dataset(cfg, section, dataset):
    """Parse ``dataset``; its errors become ConfigErrors naming the file and ``section.key``."""
    try:
        dataset.parse_dataset()
    except DatasetError as e:
        raise _config_error(cfg, (section, e.key), e.detail) from None
    return dataset


def _transform_names():
    return [n for n in registry.registered_names()
            if ".transforms" in registry.lookup(n).__module__]


def build_ops(cfg, section, key):
    """Ops of ``cfg[section][key]``, a list of ``{OpName: {kwargs}}`` entries."""
    entries = (cfg.get(section) or {}).get(key) or []
    path = (section, key)
    if not isinstance(entries, list):
        raise _config_error(cfg, path, f"must be a list of {{OpName: {{args}}}}, got {entries!r}")
    ops = []
    for entry in entries:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise _config_error(cfg, path, f"each entry must be one {{OpName: {{args}}}} "
                                f"mapping, got {entry!r}")
        (name, kwargs), = entry.items()
        kwargs = {} if kwargs is None else kwargs
        if not registry.is_registered(name):
            close = difflib.get_close_matches(str(name), _transform_names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _config_error(cfg, path, f"unknown transform {name!r}.{hint} Available: "
                                f"{', '.join(_transform_names())}")
        cls = registry.lookup(name)
        accepted = registry.arguments(cls)
        bad = [k for k in kwargs if k not in accepted] if isinstance(kwargs, dict) else kwargs
        if bad:
            raise _config_error(cfg, path, f"{name}: bad arguments {bad!r}; "
                                f"{name} accepts: {', '.join(accepted) or 'no arguments'}")
        try:
            ops.append(cls(**kwargs))
        except (TypeError, ValueError) as e:
            raise _config_error(cfg, path, f"{name}({kwargs}): {e}; {name} accepts: "
                                f"{', '.join(accepted) or 'no arguments'}") from e
    return ops


def reader_options(cfg, section):
    """The reader section's settings with defaults; unknown keys are a ConfigError."""
    values = cfg.get(section) or {}
    for key in values:
        if key not in READER_DEFAULTS:
            raise ConfigError(unknown_key_message(cfg, (section,), key, READER_DEFAULTS))
    options = {**READER_DEFAULTS, **values}
    if not isinstance(options["batch_size"], int) or options["batch_size"] < 1:
        raise _config_error(cfg, (section, "batch_size"), f"must be a positive integer, got "
                            f"{options['batch_size']!r}")
    return options


def shared_memory_free():
    """Free bytes in /dev/shm (0 if it does not exist)."""
    try:
        return shutil.disk_usage("/dev/shm").free
    except OSError:
        return 0


def use_shared_memory(requested, num_workers):
    """Whether workers can pass batches through shared memory; warns once if too small."""
    if not requested or num_workers == 0:
        return False
    free = shared_memory_free()
    if free >= MIN_SHARED_MEMORY:
        return True
    if not _shm_warned:
        _shm_warned.append(True)
        logger.warning("use_shared_memory: /dev/shm has only %.0f MiB free (< %d MiB), so the "
                       "data loader passes batches without shared memory (slower); enlarge "
                       "/dev/shm (docker run --shm-size=8g) to use it", free / 2 ** 20,
                       MIN_SHARED_MEMORY >> 20)
    return False


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
        num_replicas, rank: distributed sharding (default: from paddle.distributed).
        seed: base of the per-epoch shuffle seed.
        worker_num: overrides the config's top-level ``worker_num``.
    Returns:
        DetLoader.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    import paddle

    data_section, reader_section = MODES[mode]
    options = reader_options(cfg, reader_section)
    if dataset is None:
        dataset = build_dataset(cfg, data_section)
    parse_dataset(cfg, data_section, dataset)
    dataset.set_transform(Compose(build_ops(cfg, reader_section, "sample_transforms")))
    collate = BatchCollator(build_ops(cfg, reader_section, "batch_transforms"))

    sampler = DistributedBatchSampler(len(dataset), options["batch_size"], options["shuffle"],
                                      options["drop_last"], num_replicas, rank, seed,
                                      same_size_groups(dataset) if mode == "eval" else None)
    workers = cfg.get("worker_num", 0) if worker_num is None else worker_num
    if not isinstance(workers, int) or workers < 0:
        raise _config_error(cfg, ("worker_num",), f"must be an integer >= 0, got {workers!r}")
    loader = paddle.io.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
        use_shared_memory=use_shared_memory(options["use_shared_memory"], workers),
        return_list=True)
    return DetLoader(loader, sampler, dataset,
                     lockstep=mode == "train" and sampler.num_replicas > 1)
