"""A custom hook for the tests, attached by import path (custom_hooks) or instance
(extra_hooks): counts optimizer steps across resumes and writes the count at the end."""
import json

from ppfcos.engine.trainer import HookBase


class StepCounter(HookBase):
    """Counts the steps it saw (kept in snapshots); ``after_train`` writes
    ``{"steps": n, "resumed_from": m}`` to ``out`` (m: the count a snapshot gave back)."""

    def __init__(self, out, priority="NORMAL"):
        self.out = out
        self.priority = priority
        self.steps = 0
        self.resumed_from = None

    def after_step(self):
        self.steps += 1

    def after_train(self):
        with open(self.out, "w") as f:
            json.dump({"steps": self.steps, "resumed_from": self.resumed_from}, f)

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = self.resumed_from = int(state["steps"])
