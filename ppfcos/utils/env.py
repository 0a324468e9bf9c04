"""Where and how a run executes: device, CPU threads, distributed ranks, seeds, logging.

The tools call these before any tensor work; the library itself leaves the
process environment alone.
"""
import logging
import os
import random
import sys

import numpy as np
import paddle
import paddle.distributed as dist
from ppfcos_runtime.machine import use_mkl_avx2_on_amd

from .. import USER_OMP_NUM_THREADS

logger = logging.getLogger("ppfcos")


def setup_logging(rank=0):
    """Log INFO lines ``[time] ppfcos: message`` to stdout on rank 0, warnings only elsewhere."""
    if logger.handlers:
        return logger
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s",
                                           "%m/%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    return logger


def gpu_available():
    return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0


# The devices this process has set up ('gpu', 'cpu'): each is set up and logged once.
_SET_UP = set()


def setup_device(use_gpu=True):
    """Set this process up to run Paddle as the tools do; returns 'gpu' or 'cpu'.

    Selects the GPU when the build and machine have one (and ``use_gpu``), else the
    CPU. On CPU, Paddle's dygraph uses one thread unless told otherwise: this gives it
    `cpu_threads` threads (every core unless OMP_NUM_THREADS is set) and, on AMD
    CPUs, MKL's AVX2 kernels (see `use_mkl_avx2_on_amd`; call this before any
    tensor work, since MKL reads that switch once, at its first BLAS call). Logs one
    line saying what it set (with a stdout handler on the ``ppfcos`` logger when no
    logging is configured, so a library user sees it too).

    Once per process: a later call selects the device again (``paddle.set_device``)
    but sets and logs nothing more. ``import ppfcos`` never calls it; the tools and
    ``ppfcos.Detector`` do, and library code that builds models itself can
    (``ppfcos.setup_device()``).
    """
    device = "gpu" if use_gpu and gpu_available() else "cpu"
    paddle.set_device(f"gpu:{dist.ParallelEnv().dev_id}" if device == "gpu" else "cpu")
    if device in _SET_UP:
        return device
    _SET_UP.add(device)
    if not logger.hasHandlers():
        setup_logging()
    if device == "gpu":
        logger.info("running on GPU %d", dist.ParallelEnv().dev_id)
        return device
    mkl_avx2 = use_mkl_avx2_on_amd()
    reason = "use_gpu is false" if not use_gpu else "no GPU in this Paddle build or machine"
    threads = cpu_threads()
    if USER_OMP_NUM_THREADS is None:
        paddle.base.core.set_num_threads(threads)
        source = "all cores; set OMP_NUM_THREADS to change"
    else:
        source = "OMP_NUM_THREADS"
    mkl = "; MKL's AVX2 kernels on this AMD CPU (MKL_DEBUG_CPU_TYPE=5)" if mkl_avx2 else ""
    logger.info("running on CPU (%s) with %s threads (%s)%s", reason, threads, source, mkl)
    return device


def cpu_threads():
    """The CPU threads a run uses: OMP_NUM_THREADS as the user set it before Paddle's
    import set it to 1 (a positive integer), else `cpu_threads_per_process`."""
    if USER_OMP_NUM_THREADS is not None and USER_OMP_NUM_THREADS.strip().isdigit() \
            and int(USER_OMP_NUM_THREADS) > 0:
        return int(USER_OMP_NUM_THREADS)
    return cpu_threads_per_process()


def cpu_threads_per_process():
    """The machine's cores shared among the processes of a distributed CPU run."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores // max(1, dist.get_world_size()))


def init_distributed():
    """Join the process group when launched with several ranks; returns (rank, world_size)."""
    world = dist.get_world_size()
    if world > 1:
        dist.init_parallel_env()
    return dist.get_rank(), world


def set_seed(seed):
    """Seed Python, NumPy and Paddle (weights init) identically on every rank."""
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def use_sync_bn(model, device):
    """Convert BatchNorm to SyncBatchNorm for multi-GPU runs of models that ask for it.

    A model asks through ``norm_type: sync_bn`` (its layers then carry
    ``sync_bn=True``). Paddle has no SyncBatchNorm kernel on CPU: plain BN there.
    """
    wanted = any(getattr(layer, "sync_bn", False) for layer in model.sublayers())
    if not wanted:
        return model
    if device != "gpu":
        logger.info("norm_type sync_bn: using plain BatchNorm on CPU (Paddle has no CPU "
                    "SyncBatchNorm kernel)")
        return model
    if dist.get_world_size() > 1:
        return paddle.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model
