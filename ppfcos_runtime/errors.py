"""The exception for problems the user can fix (a bad model directory, config, input or option).

``infer.py`` prints its message as ``error: ...`` on stderr and exits with status 1,
without a traceback (`exit_status`).
"""
import sys


class DeployError(Exception):
    """A problem the user can fix; the message says what is wrong and where."""


class ImageReadError(DeployError):
    """An image file that cannot be read or decoded; a run skips it and goes on."""


def one_line(error):
    """The first line of an exception's message (its type's name when it has none): C++
    runtimes raise messages of many lines, hints and stack frames."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def exit_status(run, *args):
    """Call ``run(*args)`` -> 0; or, for a DeployError, print it as one ``error:`` line on
    stderr -> 1 (a command's exit status)."""
    try:
        run(*args)
    except DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
