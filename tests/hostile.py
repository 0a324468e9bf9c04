"""Files and processes that hostile or careless input is made of, for the tests."""
import os
import pickle
import subprocess


class RunsCommand:
    """Unpickles by running ``command`` in a shell (what a malicious weights file does)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def evil_pickle(marker, state=None, protocol=4):
    """Pickle bytes of ``state`` (default {}) plus one entry that runs ``touch marker``."""
    payload = dict(state or {})
    payload["__evil__"] = RunsCommand(f"touch {marker}")
    return pickle.dumps(payload, protocol=protocol)


def dead_pid():
    """The id of a process that has just exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
