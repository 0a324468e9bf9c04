"""The semi-supervised reader (``SemiTrainReader``): labelled and unlabelled batches, each
as a weak and a strong view of the same images.

Per image, ``sample_transforms`` run first (decode, resize, flip), then ``weak_aug``
(the weak view) or ``strong_aug`` (the strong view: colour jitter, erasing, blur, grey).
Both views of an image are the same geometry: they are two loaders over the same records
whose ops draw from the image's own generators, seeded from (seed, epoch, index) (see
``ppfcos.data.transforms.draws``), so the shared ops draw the same numbers in both. The
views are batched by ``sup_batch_transforms`` (labelled: FCOS targets) or
``unsup_batch_transforms``.

One step takes ``sup_batch_size`` labelled images and ``unsup_batch_size`` unlabelled ones;
an epoch is one pass over the labelled set (``drop_last``, ``shuffle`` apply to both sets).
The unlabelled batches of epoch ``e`` come from shuffles seeded with
``e * UNLABELLED_CYCLES + c`` for c = 0, 1, ... (a new shuffle each time the unlabelled set
runs out within the epoch), so they depend only on the seed and the epoch, and a run resumed
at an epoch boundary sees the same unlabelled batches as one left alone.
"""
import copy

from ppfcos.core.config import ConfigError, section_settings
from ppfcos.data.collate import BatchCollator
from ppfcos.data.loader import DetLoader
from ppfcos.data.reader import (Compose, build_dataset, build_ops, check_positive_int,
                                check_worker_num, parse_dataset)
from ppfcos.data.sampler import DistributedBatchSampler

SECTION = "SemiTrainReader"
# PaddleDetection's SemiTrainReader keys and defaults (collate_batch has no effect here:
# ground truth always stays a list).
SEMI_READER_DEFAULTS = {"sample_transforms": [], "weak_aug": [], "strong_aug": [],
                        "sup_batch_transforms": [], "unsup_batch_transforms": [],
                        "sup_batch_size": 1, "unsup_batch_size": 1, "shuffle": True,
                        "drop_last": True, "use_shared_memory": False,
                        "collate_batch": True}
# Shuffles of the unlabelled set one epoch may use (see the module docstring).
UNLABELLED_CYCLES = 1000


class ViewPair:
    """Two DetLoaders over one dataset, the weak and the strong view, iterated together:
    yields (weak batch, strong batch) of the same images."""

    def __init__(self, weak, strong):
        self.weak, self.strong = weak, strong
        self.dataset = weak.dataset

    def set_epoch(self, epoch):
        self.weak.set_epoch(epoch)
        self.strong.set_epoch(epoch)

    def __len__(self):
        return len(self.weak)

    def __iter__(self):
        return zip(self.weak, self.strong)


class SemiLoader:
    """Steps of (labelled weak, labelled strong, unlabelled weak, unlabelled strong)
    batches; ``len`` is the labelled set's batches, ``dataset`` the labelled dataset."""

    def __init__(self, labelled, unlabelled):
        self.labelled, self.unlabelled = labelled, unlabelled
        self.dataset = labelled.dataset
        self.epoch = 0

    def set_epoch(self, epoch):
        """Shuffle and augment the next epoch as ``epoch`` (both sets)."""
        self.epoch = epoch
        self.labelled.set_epoch(epoch)

    def __len__(self):
        return len(self.labelled)

    def _unlabelled_batches(self):
        for cycle in range(UNLABELLED_CYCLES):
            self.unlabelled.set_epoch(self.epoch * UNLABELLED_CYCLES + cycle)
            yield from self.unlabelled
        raise RuntimeError(f"the unlabelled set ran out {UNLABELLED_CYCLES} times in one "
                           f"epoch: add unlabelled images or lower sup_batch_size")

    def __iter__(self):
        unlabelled = self._unlabelled_batches()
        for weak, strong in self.labelled:
            unlabelled_weak, unlabelled_strong = next(unlabelled)
            yield weak, strong, unlabelled_weak, unlabelled_strong


def semi_reader_options(cfg):
    """SemiTrainReader's settings with defaults; unknown keys are a ConfigError."""
    options = {**SEMI_READER_DEFAULTS, **section_settings(cfg, SECTION, SEMI_READER_DEFAULTS)}
    for key in ("sup_batch_size", "unsup_batch_size"):
        check_positive_int(cfg, (SECTION, key), options[key])
    return options


def _view_pair(cfg, dataset, section, batch_key, batch_size, options, seed, workers):
    """ViewPair of ``dataset`` (parsed) with ``batch_key``'s batch ops; a ConfigError when
    the set fills no batch."""
    sample_ops = build_ops(cfg, SECTION, "sample_transforms")
    batch_ops = build_ops(cfg, SECTION, batch_key)
    loaders = []
    for view in ("weak_aug", "strong_aug"):
        view_dataset = copy.copy(dataset)
        view_dataset.set_transform(Compose(sample_ops + build_ops(cfg, SECTION, view)))
        sampler = DistributedBatchSampler(len(dataset), batch_size, options["shuffle"],
                                          options["drop_last"], seed=seed)
        loaders.append(DetLoader(view_dataset, sampler, BatchCollator(batch_ops), workers,
                                 options["use_shared_memory"],
                                 lockstep=sampler.num_replicas > 1))
    if len(loaders[0]) == 0:
        raise ConfigError(f"{cfg.origin(section)}: {section} has {len(dataset)} image(s) per "
                          f"process, fewer than {SECTION}'s batch size {batch_size} with "
                          f"drop_last: add images or lower the batch size")
    return ViewPair(*loaders)


def create_semi_reader(cfg, seed=0):
    """The SemiLoader of ``TrainDataset`` (labelled) and ``UnsupTrainDataset`` (unlabelled)
    through ``SemiTrainReader``: four DetLoaders (two sets, two views), each with the
    config's ``worker_num`` worker processes."""
    options = semi_reader_options(cfg)
    workers = check_worker_num(cfg, cfg.get("worker_num", 0))
    pairs = []
    for section, batch_key, size_key in (("TrainDataset", "sup_batch_transforms",
                                          "sup_batch_size"),
                                         ("UnsupTrainDataset", "unsup_batch_transforms",
                                          "unsup_batch_size")):
        dataset = parse_dataset(cfg, section, build_dataset(cfg, section))
        pairs.append(_view_pair(cfg, dataset, section, batch_key, options[size_key], options,
                                seed, workers))
    return SemiLoader(*pairs)
