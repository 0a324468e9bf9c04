"""Batch sampler that shards a dataset across distributed ranks, optionally repeating
images of rare classes (repeat-factor sampling)."""
import math

import numpy as np


def repeat_factors(image_classes, threshold):
    """LVIS's repeat factor of each image (Gupta et al. 2019, as detectron2's
    RepeatFactorTrainingSampler and mmdetection's ClassBalancedDataset compute it).

    A class c present in a fraction f_c of the images gets r_c = max(1, sqrt(threshold / f_c));
    an image gets the largest r_c of its classes, 1 when it has no box.

    Args:
        image_classes: per image, an integer array of its boxes' classes (any shape).
        threshold: the frequency below which a class is oversampled (``oversample_thr``).
    Returns:
        float64 array [num_images].
    """
    present = [np.unique(np.asarray(c, dtype=np.int64)) for c in image_classes]
    classes, images_with = np.unique(np.concatenate(present + [np.zeros(0, np.int64)]),
                                     return_counts=True)
    class_factor = np.maximum(1.0, np.sqrt(threshold / (images_with / max(len(present), 1))))
    by_class = dict(zip(classes.tolist(), class_factor.tolist()))
    return np.array([max((by_class[c] for c in p.tolist()), default=1.0) for p in present])


def repeated_indices(factors, rng):
    """One epoch's dataset indices with image i repeated floor(r_i) or ceil(r_i) times
    (ceil with probability frac(r_i): detectron2's stochastic rounding) -> int64 array.

    The k-th copy of image i is numbered ``i + k * len(factors)`` (k = 0 for the first),
    so each copy draws its own augmentations (see DetDataset.__getitem__)."""
    counts = np.floor(factors).astype(np.int64)
    counts += rng.random(len(factors)) < factors - counts
    images = np.repeat(np.arange(len(factors)), counts)
    copy = np.arange(len(images)) - np.repeat(np.cumsum(counts) - counts, counts)
    return images + copy * len(factors)


class DistributedBatchSampler:
    """Yields lists of dataset indices: this rank's batches for one epoch.

    Every epoch the index list is shuffled (if ``shuffle``) with
    ``seed + epoch``, the same on every rank, then padded by repeating its start
    so that its length divides by ``num_replicas`` (as torch's
    DistributedSampler does), and rank ``r`` takes every ``num_replicas``-th
    index from position ``r``. So each rank gets a disjoint shard of the same
    size (only the padding repeats indices) and the same number of batches.

    With ``group_keys`` (one hashable key per dataset index), a batch only
    holds images of the same key, e.g. the same original size for evaluation,
    so no image is padded more than it would be alone and batched evaluation
    gives exactly the detections of one image at a time. Groups are batched in
    the order their first image appears in the shard.

    With ``repeat_factors`` (one float >= 1 per index, see `repeat_factors`),
    each epoch first repeats the indices by stochastic rounding of their factors,
    from a generator seeded with (seed, epoch) that every rank shares, then shuffles
    and shards that list as above. Its length varies with the draws, so it is cut or
    extended (from its start) to ``round(sum of factors)`` to keep the number of
    steps per epoch, which the learning-rate schedule counts on, the same every epoch.

    Call `set_epoch` before each epoch for a resumable order; without it
    the epoch number advances by one on each iteration over the sampler.

    Args:
        num_samples: dataset length.
        batch_size: indices per batch.
        shuffle: reshuffle every epoch.
        drop_last: drop this rank's last batch if it is smaller than batch_size.
        num_replicas: number of ranks (default: ``paddle.distributed.get_world_size()``).
        rank: this rank (default: ``paddle.distributed.get_rank()``).
        seed: base of the per-epoch shuffle seed.
        group_keys: optional per-index keys; batches never mix keys.
        repeat_factors: optional per-index repeat factors (float array [num_samples]).
    """

    def __init__(self, num_samples, batch_size, shuffle=False, drop_last=False,
                 num_replicas=None, rank=None, seed=0, group_keys=None, repeat_factors=None):
        if num_replicas is None or rank is None:
            import paddle.distributed as dist
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, num_replicas={num_replicas})")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.group_keys = group_keys
        self.epoch = 0
        self.repeat_factors = repeat_factors
        self.epoch_length = (num_samples if repeat_factors is None
                             else int(round(float(np.sum(repeat_factors)))))
        self.per_rank = math.ceil(self.epoch_length / num_replicas) if num_samples else 0

    def set_epoch(self, epoch):
        """Use the shuffle order of ``epoch`` for the next iteration."""
        self.epoch = epoch

    def indices(self):
        """This rank's indices for the current epoch (before batching)."""
        order = np.arange(self.num_samples)
        if self.repeat_factors is not None:
            order = repeated_indices(self.repeat_factors,
                                     np.random.default_rng([self.seed, self.epoch]))
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(order)
        if self.repeat_factors is not None:
            order = np.resize(order, self.epoch_length)
        total = self.per_rank * self.num_replicas
        if total > len(order):
            order = np.resize(order, total)  # repeats from the start
        return order[self.rank:total:self.num_replicas].tolist()

    def _batches(self, shard):
        if self.group_keys is None:
            groups = [shard]
        else:
            by_key = {}
            for i in shard:
                by_key.setdefault(self.group_keys[i], []).append(i)
            groups = list(by_key.values())
        for group in groups:
            for start in range(0, len(group), self.batch_size):
                batch = group[start:start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    yield batch

    def __iter__(self):
        shard = self.indices()
        self.epoch += 1
        yield from self._batches(shard)

    def __len__(self):
        if self.group_keys is not None:
            return sum(1 for _ in self._batches(self.indices()))
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)
