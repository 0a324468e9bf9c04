"""The CPU a run measures on: model, cores, the flags bf16 and int8 speed depends on, and
the instruction set oneDNN picks (speed figures mean little without them); and MKL's
switch to its AVX2 kernels on AMD CPUs.

Linux reads /proc/cpuinfo; elsewhere the fields are "unknown" and no flag is listed.
"""
import os

# The flags that decide CPU inference speed, in the order they are printed.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
# oneDNN's ISA levels (its ONEDNN_MAX_CPU_ISA names), best first, with the flags each needs.
ONEDNN_ISAS = (("AVX512_CORE_AMX", ("amx_bf16", "amx_int8", "avx512_bf16")),
               ("AVX512_CORE_BF16", ("avx512_bf16", "avx512_vnni")),
               ("AVX512_CORE_VNNI", ("avx512_vnni",)),
               ("AVX512_CORE", ("avx512f", "avx512bw", "avx512vl", "avx512dq")),
               ("AVX2", ("avx2",)))
# What each precision needs to run natively (else oneDNN/OpenVINO emulate it, slower).
# The environment variable that selects MKL's code path (use_mkl_avx2_on_amd).
MKL_SWITCH = "MKL_DEBUG_CPU_TYPE"
PRECISION_FLAGS = {"bf16": ("avx512_bf16", "amx_bf16"),
                   "int8": ("avx512_vnni", "avx_vnni", "amx_int8")}


def cpu_info(path="/proc/cpuinfo"):
    """-> {"model": str, "cores": int, "flags": set of str} of this machine."""
    model, flags = "unknown", set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"model": model, "cores": cores or 1, "flags": flags}


def onednn_isa(flags, cap=None):
    """The ISA oneDNN dispatches to on a CPU with ``flags``, at most ``cap`` (the
    ONEDNN_MAX_CPU_ISA value; default: that environment variable)."""
    cap = (cap if cap is not None else os.environ.get("ONEDNN_MAX_CPU_ISA", "")).upper()
    names = [name for name, _ in ONEDNN_ISAS]
    allowed = names[names.index(cap):] if cap in names else names
    return next((name for name, needs in ONEDNN_ISAS
                 if name in allowed and all(flag in flags for flag in needs)), "SSE41")


def describe(info):
    """One line: CPU model, cores, the FLAGS it has and lacks, oneDNN's ISA."""
    flags = " ".join(flag if flag in info["flags"] else f"-{flag}" for flag in FLAGS)
    return (f"CPU: {info['model']}, {info['cores']} cores; flags {flags}; oneDNN ISA "
            f"{onednn_isa(info['flags'])}")


def load_line(when):
    """'load average <when>: 1-, 5- and 15-minute figures': how busy the machine was
    around a measurement (a benchmark prints it before and after)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f}"


def missing_instructions(precision, flags):
    """A one-line notice when the CPU lacks native ``precision`` instructions, else None."""
    needs = PRECISION_FLAGS.get(precision)
    if not needs or any(flag in flags for flag in needs):
        return None
    return (f"this CPU has none of {', '.join(needs)}: {precision} runs emulated, slower than "
            f"fp32 and with {precision}'s rounding; rerun with --precision fp32 if you want "
            f"fp32 speed and numbers")


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
    """Set MKL_DEBUG_CPU_TYPE=5 on AMD CPUs unless the user set it; True when set here.

    Intel MKL (Paddle's CPU BLAS, used by dygraph and by Paddle Inference with oneDNN
    off) takes a generic, slow code path on non-Intel CPUs; this debug switch selects its
    AVX2 kernels instead (docs/benchmarks.md has the figures). The MKL Paddle ships
    (mklml 2019.0.5) reads the variable at its first BLAS call, not at import: with
    MKL_VERBOSE=1 its first SGEMM reports the AVX2 path when the variable was set after
    ``import paddle`` and before any matmul or convolution, and the default path when set
    after one.
    Intel CPUs are left alone: the switch would cap them at AVX2. ``amd``: the CPU's
    vendor, if already known.
    """
    if MKL_SWITCH in environ or not (is_amd_cpu() if amd is None else amd):
        return False
    environ[MKL_SWITCH] = "5"
    return True
