"""Importing ppfcos leaves the process as it found it, even on an AMD CPU: no environment
variable, no thread count, no sys.excepthook changes, and ppfcos.Detector is not imported. Process settings
are ppfcos.setup_device's job (the tools and Detector call it): once, with one log line."""
import json
import os
import subprocess
import sys

import paddle
import pytest

import ppfcos

from conftest import REPO

PADDLE_LIBS = os.path.join(os.path.dirname(paddle.__file__), "libs")
# Run in a fresh interpreter: /proc/cpuinfo reads as an AMD CPU's, and paddle and
# OpenCV (which set OMP_NUM_THREADS and Qt paths on import) are imported first, so
# that only ppfcos's own changes remain. MKL's and OpenMP's thread counts are read
# from the libraries Paddle loaded (absent from some builds: then null).
CHECK = """
import builtins, ctypes, io, json, os, sys
real_open = builtins.open

def amd_cpuinfo(path, *args, **kwargs):
    if path == "/proc/cpuinfo":
        return io.StringIO("processor\\t: 0\\nvendor_id\\t: AuthenticAMD\\n")
    return real_open(path, *args, **kwargs)

builtins.open = amd_cpuinfo
import cv2, paddle
libs = os.path.join(os.path.dirname(paddle.__file__), "libs")

def threads():
    try:
        mkl = ctypes.CDLL(os.path.join(libs, "libmklml_intel.so"))
        omp = ctypes.CDLL(os.path.join(libs, "libiomp5.so"))
    except OSError:
        return None
    return [mkl.MKL_Get_Max_Threads(), omp.omp_get_max_threads()]

before, threads_before, hook_before = dict(os.environ), threads(), sys.excepthook
import ppfcos, ppfcos.engine.tasks, ppfcos.export
after, threads_after = dict(os.environ), threads()
api_imported, hook_kept = "ppfcos.api" in sys.modules, sys.excepthook is hook_before
devices = [ppfcos.setup_device(), ppfcos.setup_device()]
print(json.dumps({
    "changed": {k: [before.get(k), after.get(k)] for k in set(before) | set(after)
                if before.get(k) != after.get(k)},
    "threads": [threads_before, threads_after, threads()], "api_imported": api_imported,
    "excepthook_kept": hook_kept,
    "devices": devices, "mkl_switch": os.environ.get("MKL_DEBUG_CPU_TYPE")}))
"""


def run_check(omp_num_threads=None):
    """CHECK's findings and its whole output (stdout + stderr), in a process started with
    OMP_NUM_THREADS=``omp_num_threads`` (unset for None)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DEBUG_CPU_TYPE",
                                                            "OMP_NUM_THREADS")}
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stdout + run.stderr


@pytest.fixture(scope="module")
def fresh_process():
    return run_check()


def test_import_changes_no_environment_variable(fresh_process):
    found, _ = fresh_process
    assert found["changed"] == {}
    assert not found["api_imported"]
    assert found["excepthook_kept"]


def mkl_and_omp_threads_readable():
    return all(os.path.isfile(os.path.join(PADDLE_LIBS, name))
               for name in ("libmklml_intel.so", "libiomp5.so"))


@pytest.mark.skipif(not mkl_and_omp_threads_readable(),
                    reason="this Paddle build has no libmklml_intel.so / libiomp5.so to ask")
def test_import_changes_no_thread_count_and_setup_device_sets_them_once(fresh_process):
    """...also when paddle is imported before ppfcos (paddle then set OMP_NUM_THREADS=1)."""
    found, output = fresh_process
    before, after, after_setup = found["threads"]
    cores = len(os.sched_getaffinity(0))
    assert before == after == [1, 1]
    assert after_setup == [cores, cores]
    assert found["devices"] == ["cpu", "cpu"] and found["mkl_switch"] == "5"
    assert output.count("running on CPU") == 1
    assert f"with {cores} threads (all cores" in output and "MKL's AVX2 kernels" in output


@pytest.mark.skipif(not mkl_and_omp_threads_readable(),
                    reason="this Paddle build has no libmklml_intel.so / libiomp5.so to ask")
def test_a_process_started_with_omp_num_threads_keeps_it():
    found, output = run_check("1")
    assert found["threads"] == [[1, 1]] * 3
    assert "with 1 threads (OMP_NUM_THREADS)" in output


def test_the_users_omp_num_threads_is_told_from_paddles(tmp_path):
    launched_with, launched_without = tmp_path / "with", tmp_path / "without"
    launched_with.write_bytes(b"HOME=/root\0OMP_NUM_THREADS=1\0")
    launched_without.write_bytes(b"HOME=/root\0")
    for environ, paddle_imported, launch, user in [
            ({}, False, launched_without, None),
            ({"OMP_NUM_THREADS": "1"}, False, launched_without, "1"),   # before paddle: the user's
            ({"OMP_NUM_THREADS": "1"}, True, launched_without, None),   # paddle's default
            ({"OMP_NUM_THREADS": "1"}, True, launched_with, "1"),
            ({"OMP_NUM_THREADS": "4"}, True, launched_without, "4"),    # paddle keeps a user's
            ({"OMP_NUM_THREADS": "1"}, True, tmp_path / "missing", None)]:
        assert ppfcos.user_omp_num_threads(environ, paddle_imported, str(launch)) == user
