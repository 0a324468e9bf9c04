"""Where the Paddle releases deploy runs on differ (2.6 and 3.0 to 3.3; import this module
before paddle).

Deploy runs without ppfcos, so it keeps its own zlib binding and version reading beside
ppfcos.compat's; the bf16 refusal is only here (ppfcos's --predictor and benchmarks ask
`paddle_bf16_unsupported` too). The tools install `print_unsupported_paddle_in_one_line`
from here before they import ppfcos, whose import refuses an unsupported Paddle.
"""
import re
import sys
import zlib


def bind_system_zlib():
    """Paddle 2.6's libpaddle.so exports the functions of the zlib 1.2.8 it carries, and a
    newer system zlib (Python's ``zlib`` module's) then calls into them and crashes
    ("Segmentation fault ... inflateReset2", Paddle issue 70538). A round trip through zlib
    before Paddle is loaded binds those calls inside the system library."""
    zlib.decompress(zlib.compress(b"deploy"))


bind_system_zlib()

import paddle  # noqa: E402


class UnsupportedPaddleError(ImportError):
    """The installed Paddle is not one ppfcos supports (``import ppfcos`` raises it); the
    message says which are."""


def print_unsupported_paddle_in_one_line():
    """Make an uncaught UnsupportedPaddleError print as one ``error:`` line, not a
    traceback. The tools call it before they import ppfcos; importing ppfcos itself leaves
    ``sys.excepthook`` alone (a library changes no process setting)."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        if issubclass(kind, UnsupportedPaddleError):
            print(f"error: {value}", file=sys.stderr)
        else:
            previous(kind, value, traceback)

    sys.excepthook = hook


def paddle_version():
    """(major, minor) of the installed Paddle; develop builds (0.0) count as the newest."""
    major, minor = (int(n) for n in re.match(r"(\d+)\.(\d+)", paddle.__version__).groups())
    return (99, 0) if (major, minor) == (0, 0) else (major, minor)


def paddle_bf16_unsupported():
    """Why Paddle Inference cannot run ppfcos's bf16 here, or None.

    Paddle 3's PIR oneDNN bf16 pass leaves the float64 decoding of ppfcos's exports alone;
    Paddle 2.6's pass on a ProgramDesc inserts quantize/dequantize ops its CPU build has no
    kernel for ("no kernels ... registered in the dequantize operator")."""
    if paddle_version() < (3, 0):
        return (f"--precision bf16 with --backend paddle needs Paddle 3.0 or newer (this is "
                f"Paddle {paddle.__version__}); use --backend openvino --precision bf16")
    return None
