"""A custom hook for the tests, attached by import path (custom_hooks): holds training still
at a given iteration so that a test can kill the process at a known point."""
import pathlib
import time

from ppfcos.engine.trainer import HookBase


class PauseAt(HookBase):
    """After iteration ``at_iter`` (1-based: ``trainer.iter`` once the step is done) writes
    the file ``marker`` and sleeps ``seconds``, long enough for the test to kill the
    process; it keeps no state, so the run's numbers are those of a run without it."""

    def __init__(self, at_iter, marker, seconds=600):
        self.at_iter = int(at_iter)
        self.marker = marker
        self.seconds = seconds

    def after_step(self):
        if self.trainer.iter == self.at_iter:
            pathlib.Path(self.marker).write_text(str(self.at_iter))
            time.sleep(self.seconds)
