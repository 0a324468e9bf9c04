"""Run setup: device choice on a CPU-only machine, threads, sync_bn on CPU (MKL on AMD:
tests/deploy/test_deploy_precision.py, with the rest of ppfcos_runtime.machine)."""
import logging
import os

import paddle
import pytest
from ppfcos_runtime import machine

from ppfcos.utils import env
from ppfcos.modeling.layers import build_norm


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test sees setup_device as a new process does (it acts once per process)."""
    monkeypatch.setattr(env, "_SET_UP", set())


def test_use_gpu_true_runs_on_cpu_with_all_cores_set_once_per_process(monkeypatch, caplog):
    monkeypatch.setattr(env, "gpu_available", lambda: False)
    monkeypatch.setattr(env, "USER_OMP_NUM_THREADS", None)
    seen = []
    monkeypatch.setattr(paddle.base.core, "set_num_threads", seen.append)
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        assert [env.setup_device(use_gpu=u) for u in (True, False, True)] == ["cpu"] * 3
    assert seen == [env.cpu_threads_per_process()]
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "running on CPU" in message and f"{seen[0]} threads" in message


def test_on_amd_cpus_the_device_setup_selects_mkl_avx2_kernels(monkeypatch, caplog):
    monkeypatch.setattr(env, "gpu_available", lambda: False)
    monkeypatch.setattr(env, "USER_OMP_NUM_THREADS", "2")
    monkeypatch.setattr(machine, "is_amd_cpu", lambda: True)
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "4")                 # the user's choice stays
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        env.setup_device(use_gpu=False)
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "4"
    assert "MKL" not in caplog.records[-1].getMessage()
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE")
    monkeypatch.setattr(env, "_SET_UP", set())                       # another process
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        env.setup_device(use_gpu=False)
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "5"
    assert "MKL's AVX2 kernels" in caplog.records[-1].getMessage()


@pytest.mark.parametrize("user, threads", [(None, None), ("3", 3), ("0", None), ("x", None)])
def test_cpu_threads_follow_a_valid_omp_num_threads(monkeypatch, user, threads):
    monkeypatch.setattr(env, "USER_OMP_NUM_THREADS", user)
    assert env.cpu_threads() == (threads or env.cpu_threads_per_process())


def test_user_thread_count_is_kept(monkeypatch, caplog):
    monkeypatch.setattr(env, "USER_OMP_NUM_THREADS", "1")
    monkeypatch.setattr(paddle.base.core, "set_num_threads",
                        lambda n: (_ for _ in ()).throw(AssertionError("must not override")))
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        env.setup_device(use_gpu=False)
    assert "1 threads (OMP_NUM_THREADS)" in caplog.records[-1].getMessage()


def test_sync_bn_stays_plain_bn_on_cpu_with_a_notice(caplog):
    model = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), build_norm("sync_bn", 4))
    with caplog.at_level(logging.INFO, logger="ppfcos"):
        converted = env.use_sync_bn(model, "cpu")
    assert converted is model and isinstance(model[1], paddle.nn.BatchNorm2D)
    assert "sync_bn" in caplog.records[-1].getMessage()
    plain = paddle.nn.Sequential(build_norm("bn", 4))
    assert env.use_sync_bn(plain, "gpu") is plain
