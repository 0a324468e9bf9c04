"""Importing ppfcos leaves the process environment as it found it, even on an AMD CPU
(process settings such as MKL's kernels are the tools' device setup's job)."""
import json
import os
import subprocess
import sys

from conftest import REPO

# Run in a fresh interpreter: /proc/cpuinfo reads as an AMD CPU's, and paddle and
# OpenCV (which set OMP_NUM_THREADS and Qt paths on import) are imported first, so
# that only ppfcos's own changes remain.
CHECK = """
import builtins, io, json, os
real_open = builtins.open

def amd_cpuinfo(path, *args, **kwargs):
    if path == "/proc/cpuinfo":
        return io.StringIO("processor\\t: 0\\nvendor_id\\t: AuthenticAMD\\n")
    return real_open(path, *args, **kwargs)

builtins.open = amd_cpuinfo
import cv2, paddle
before = dict(os.environ)
import ppfcos, ppfcos.engine.tasks, ppfcos.export
after = dict(os.environ)
print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after)
                  if before.get(k) != after.get(k)}))
"""


def test_import_changes_no_environment_variable():
    env = {k: v for k, v in os.environ.items() if k != "MKL_DEBUG_CPU_TYPE"}
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {}
