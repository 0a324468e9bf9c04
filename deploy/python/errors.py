"""The exception for problems the user can fix (a bad model directory, config, input or option).

``infer.py`` prints its message as ``error: ...`` on stderr and exits with status 1,
without a traceback.
"""


class DeployError(Exception):
    """A problem the user can fix; the message says what is wrong and where."""


class ImageReadError(DeployError):
    """An image file that cannot be read or decoded; a run skips it and goes on."""
