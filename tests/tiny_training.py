"""A tiny stand-in detector and loader for tests of the trainer and its hooks."""
import paddle

from ppfcos.engine.optimizer import Schedule, build_optimizer
from ppfcos.engine.trainer import Trainer


class TinyDetector(paddle.nn.Layer):
    """Stands in for FCOS: batch dict -> losses; the loss is NaN from ``nan_at`` on.
    ``modes`` records, per call, whether the model was in train mode."""

    def __init__(self, nan_at=None):
        super().__init__()
        self.fc = paddle.nn.Linear(2, 1)
        self.calls = 0
        self.nan_at = nan_at
        self.modes = []

    def forward(self, batch):
        self.calls += 1
        self.modes.append(self.training)
        loss = (self.fc(batch["image"]) ** 2).mean()
        if self.nan_at is not None and self.calls >= self.nan_at:
            loss = loss * float("nan")
        return {"loss_cls": loss, "loss": loss}


class ListLoader:
    """Two batches per epoch; records the epochs it was set to."""

    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __len__(self):
        return 2

    def __iter__(self):
        for i in range(2):
            yield {"image": paddle.full([2, 2], float(i + 1))}


def make_trainer(model, epochs, hooks=(), start_epoch=0, start_iter=0, accumulate=1):
    schedule = Schedule(0.1, None, None, 2)
    optimizer = build_optimizer({"optimizer": {"type": "Momentum", "momentum": 0.9}}, schedule,
                                model.parameters())
    return Trainer(model, optimizer, schedule, ListLoader(), epochs, hooks, start_epoch,
                   start_iter, accumulate=accumulate)


def weights(model):
    """A copy of ``model``'s state dict as numpy arrays."""
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}
