"""DetLoader: a ``paddle.io.DataLoader`` plus epoch control and skipped-image reporting.

Per epoch the trainer calls::

    loader.set_epoch(epoch)          # shuffle order of this epoch (all ranks agree)
    for batch in loader:             # dict of paddle Tensors (+ lists for ground truth)
        ...
    loader.skipped                   # images skipped this epoch (already logged)

Unreadable images arrive as each collated batch's ``skipped`` list (see
`ppfcos.data.collate`) and are logged here, in the main process: one
warning per file plus an end-of-epoch summary. A batch whose images were all
unreadable is left out. A sample or batch op that raised (in this process's
fetching thread or in a worker) arrives as the batch's ``reader_error`` and is
raised here as `ReaderError`, so the run stops with its message.
"""
import logging
import shutil
import signal

import paddle

from .collate import EMPTY_KEY, restore_empty
from .datasets import READER_ERROR_KEY, SKIPPED_KEY

logger = logging.getLogger(__name__)

MIN_SHARED_MEMORY = 1 << 30
_shm_warned = []


class ReaderError(RuntimeError):
    """A transform failed on an image or batch; the message names it (one line)."""


class DetLoader:
    """Batches of ``dataset`` in the order of ``batch_sampler``, collated by ``collate_fn``.

    Args:
        dataset: a parsed DetDataset with its sample transforms set.
        batch_sampler: a DistributedBatchSampler (``set_epoch``, ``seed``, ``len``).
        collate_fn: a BatchCollator.
        num_workers: worker processes (0: load in this process).
        use_shared_memory: ask for shared memory between workers and this process
            (used only when /dev/shm is large enough: `shared_memory_usable`).
        lockstep: several ranks train in step (see below).

    Attributes: ``dataset``, ``batch_sampler``, ``dataloader`` (the paddle
    DataLoader) and ``skipped`` (the "file: reason" strings of the images skipped
    in the current or last epoch).

    A batch whose images are all unreadable is dropped, except in ``lockstep``
    (distributed training): there every rank must run the same number of steps,
    so it is an error that names the files, instead of a hang in the next
    gradient all-reduce.
    """

    def __init__(self, dataset, batch_sampler, collate_fn, num_workers=0,
                 use_shared_memory=False, lockstep=False):
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.dataloader = paddle.io.DataLoader(
            dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, num_workers=num_workers,
            use_shared_memory=shared_memory_usable(use_shared_memory, num_workers),
            return_list=True, worker_init_fn=leave_ctrl_c_to_the_main_process)
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
            if READER_ERROR_KEY in batch:
                raise ReaderError(f"the reader failed on {batch[READER_ERROR_KEY][0]}")
            for item in batch.pop(SKIPPED_KEY):
                logger.warning("skipped image; %s", item)
                self.skipped.append(item)
            if EMPTY_KEY not in batch:
                yield restore_empty(batch)
            elif self.lockstep:
                raise RuntimeError(
                    f"every image of a training batch was unreadable ({'; '.join(self.skipped)}"
                    f"); with several ranks this rank would fall out of step. Fix or remove "
                    f"these files from the dataset")
        if self.skipped:
            shown = "; ".join(self.skipped[:5]) + ("; ..." if len(self.skipped) > 5 else "")
            logger.warning("epoch done: %d image(s) skipped (unreadable, or not the size their "
                           "record declares): %s", len(self.skipped), shown)


def leave_ctrl_c_to_the_main_process(worker_id):
    """A worker process ignores Ctrl-C (SIGINT), which a terminal sends to the whole process
    group: the main process stops the run and ends its workers. A worker interrupted
    mid-batch would otherwise hand the main process an error in its place, or leave it
    waiting for the batch."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def shared_memory_free():
    """Free bytes in /dev/shm (0 if it does not exist)."""
    try:
        return shutil.disk_usage("/dev/shm").free
    except OSError:
        return 0


def shared_memory_usable(requested, num_workers):
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
