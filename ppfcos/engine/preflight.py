"""Checks that run before the first training step, so a mistake costs seconds, not an epoch.

Each check raises ConfigError with one line naming what to change (and where it
was set: the config file or ``-o``), or returns a hint to log.
"""
import contextlib
import os
import tempfile

from ..core.config import ConfigError
from ..core.files import DirectoryBusy, exclusive_lock, remove_stale_temporaries
from ..data.reader import build_ops
from ..data.transforms.fcos_target import Gt2FCOSTarget

# A training image whose long side exceeds the reader's largest target size by more
# than this factor is worth resizing once, offline.
OVERSIZE_FACTOR = 4


def check_save_dir(cfg, save_dir):
    """ConfigError unless ``save_dir`` can be created and written to."""
    try:
        os.makedirs(save_dir, exist_ok=True)
        tempfile.TemporaryFile(dir=save_dir).close()
    except OSError as e:
        raise ConfigError(f"{cfg.origin('save_dir')}: checkpoints cannot be written to "
                          f"{save_dir} ({e.strerror}): set save_dir (or -o save_dir=DIR) to a "
                          f"writable folder") from None


@contextlib.contextmanager
def holding_save_dir(save_dir):
    """Hold ``save_dir`` for the block and remove temporaries of killed saves in it;
    ConfigError if another run holds it."""
    try:
        with exclusive_lock(save_dir):
            remove_stale_temporaries(save_dir)
            yield
    except DirectoryBusy as e:
        raise ConfigError(f"{e}: two runs writing one save_dir would mix their checkpoints; "
                          f"wait for it to end, or set another save_dir "
                          f"(-o save_dir=DIR)") from None


def fcos_targets(cfg):
    """The Gt2FCOSTarget ops of the config's TrainReader.batch_transforms, built."""
    return [op for op in build_ops(cfg, "TrainReader", "batch_transforms")
            if isinstance(op, Gt2FCOSTarget)]


def check_targets_match_head(head, targets):
    """ConfigError when the TrainReader's Gt2FCOSTarget ops (``targets``) make targets
    that ``head`` (an FCOSHead) does not predict: other strides, or box distances divided
    by the stride where the head predicts pixels (or the reverse). Either trains without
    an error and detects nothing useful."""
    units = {True: "divided by the stride", False: "in pixels"}
    for target in targets:
        if target.downsample_ratios != head.fpn_stride:
            raise ConfigError(f"TrainReader: Gt2FCOSTarget.downsample_ratios is "
                              f"{target.downsample_ratios} but FCOSHead predicts at strides "
                              f"{head.fpn_stride} (the neck's levels): set downsample_ratios: "
                              f"{head.fpn_stride}")
        if target.distances_in_strides != head.distances_in_strides:
            raise ConfigError(f"TrainReader: Gt2FCOSTarget makes box distances "
                              f"{units[target.distances_in_strides]} but FCOSHead predicts them "
                              f"{units[head.distances_in_strides]}: set norm_reg_targets (and "
                              f"multiply_strides_reg_targets) to the same values in FCOSHead "
                              f"and Gt2FCOSTarget")


def listed_categories(names):
    """'N categories (a, b, ..., f, ...)': a dataset's category count and its first six."""
    more = ", ..." if len(names) > 6 else ""
    return f"{len(names)} categories ({', '.join(map(str, names[:6]))}{more})"


def check_training_classes(cfg, dataset):
    """ConfigError when the dataset has more categories than the model has classes."""
    names = dataset.class_names or []
    if names and len(names) > cfg["num_classes"]:
        raise ConfigError(f"{cfg.origin('num_classes')}: num_classes is {cfg['num_classes']} "
                          f"but the TrainDataset has {listed_categories(names)}: set "
                          f"num_classes: {len(names)}")


def check_training_steps(cfg, sampler):
    """ConfigError when an epoch of ``sampler`` (the TrainReader's DistributedBatchSampler)
    holds no batch: with drop_last, a batch_size over each process's share of the
    TrainDataset would run no step and save an untrained model_final. Without drop_last
    the last, partial batch trains, so any non-empty dataset gives a step."""
    if len(sampler) > 0:
        return
    if sampler.num_replicas > 1:
        share = (f"each of the {sampler.num_replicas} processes gets {sampler.per_rank} of the "
                 f"TrainDataset's {sampler.num_samples} images")
    else:
        share = f"the TrainDataset has {sampler.num_samples} images"
    raise ConfigError(f"{cfg.origin('TrainReader', 'batch_size')}: TrainReader.batch_size is "
                      f"{sampler.batch_size} but {share} and drop_last is true: an epoch would "
                      f"run no training step; set TrainReader.batch_size to {sampler.per_rank} "
                      f"or less (-o TrainReader.batch_size={sampler.per_rank}), or "
                      f"TrainReader.drop_last: false to train on the partial batch")


def _target_sizes(value):
    """Every number in a ``target_size`` argument (an int, [h, w] or a list of them)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _target_sizes(item)]
    return []


def largest_target_size(reader):
    """The largest ``target_size`` of a reader section's sample transforms, or None."""
    sizes = []
    for entry in reader.get("sample_transforms") or []:
        for args in (entry or {}).values():
            sizes += _target_sizes((args or {}).get("target_size"))
    return max(sizes, default=None)


def oversized_images_hint(cfg, dataset):
    """A warning text when training images are far larger than the reader ever needs."""
    largest = largest_target_size(cfg.get("TrainReader") or {})
    if largest is None:
        return None
    oversized = [r for r in dataset.records
                 if max(r.get("h", 0), r.get("w", 0)) > OVERSIZE_FACTOR * largest]
    if not oversized:
        return None
    biggest = max(oversized, key=lambda r: r["h"] * r["w"])
    return (f"{len(oversized)} training image(s) are over {OVERSIZE_FACTOR}x the largest size "
            f"the TrainReader resizes to ({largest} px), up to {biggest['im_file']} at "
            f"{int(biggest['w'])}x{int(biggest['h'])}: each is decoded (and normalized, if that "
            f"comes before Resize) at full size, which costs memory and time (MemoryError with "
            f"several workers); resize them once, offline, to about {2 * largest} px")
