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
from ppfcos_deploy.machine import use_mkl_avx2_on_amd

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


def setup_device(use_gpu=True):
    """Select the GPU when the build and machine have one (and ``use_gpu``), else the CPU.

    On CPU, Paddle's dygraph uses one thread unless told otherwise: use every
    core unless OMP_NUM_THREADS is set; on AMD CPUs, MKL's AVX2 kernels (see
    :func:`use_mkl_avx2_on_amd`). Returns 'gpu' or 'cpu'.
    """
    if use_gpu and gpu_available():
        paddle.set_device(f"gpu:{dist.ParallelEnv().dev_id}")
        return "gpu"
    paddle.set_device("cpu")
    mkl_avx2 = use_mkl_avx2_on_amd()
    reason = "use_gpu is false" if not use_gpu else "no GPU in this Paddle build or machine"
    threads = USER_OMP_NUM_THREADS
    if threads is None:
        threads = cpu_threads_per_process()
        paddle.base.core.set_num_threads(threads)
        source = "all cores; set OMP_NUM_THREADS to change"
    else:
        source = "OMP_NUM_THREADS"
    mkl = "; MKL's AVX2 kernels on this AMD CPU (MKL_DEBUG_CPU_TYPE=5)" if mkl_avx2 else ""
    logger.info("running on CPU (%s) with %s threads (%s)%s", reason, threads, source, mkl)
    return "cpu"


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
