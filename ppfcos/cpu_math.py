"""Make Intel MKL (Paddle's CPU BLAS) use its fast kernels on AMD processors.

MKL dispatches to a generic, slow code path on non-Intel CPUs. Its debug switch
``MKL_DEBUG_CPU_TYPE=5`` selects the AVX2 kernels instead: on this project's
2-core AMD EPYC machines a 256x2304x15200 float32 GEMM in Paddle goes from 68 to
176 GFLOP/s, and FCOS R50 training steps become ~2x faster. MKL reads the
variable when it first runs, so setting it before any tensor work is enough.
Intel CPUs are left alone (the switch would cap them at AVX2).
"""
import os

MKL_SWITCH = "MKL_DEBUG_CPU_TYPE"


def is_amd_cpu(cpuinfo_path="/proc/cpuinfo"):
    """True when the first CPU's vendor_id is AuthenticAMD (False where unknown)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return "AuthenticAMD" in line
    except OSError:
        pass
    return False


def use_mkl_avx2_on_amd(environ=os.environ, amd=None):
    """Set MKL_DEBUG_CPU_TYPE=5 on AMD CPUs unless the user set it; True when set here."""
    if MKL_SWITCH in environ or not (is_amd_cpu() if amd is None else amd):
        return False
    environ[MKL_SWITCH] = "5"
    return True
