"""Plot learning curves of training logs (docs/semi_supervised.md): the total loss per
logged step and the evaluated mAP per snapshot epoch, one line per log.

    python docs/scripts/plot_semi_curves.py --out docs/images/semi_curves.png \\
        supervised=log_sup_s0.txt ema=log_ema_s0.txt denseteacher=log_dt_s0.txt
"""
import argparse
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STEP = re.compile(r"Epoch: \[(\d+)\] \[\s*(\d+)/(\d+)\].* loss: ([0-9.]+)")
MAP = re.compile(r"\(AP\) @\[ IoU=0\.50:0\.95 \| area=   all \| maxDets=100 \] = (-?[0-9.]+)")


def read_log(path):
    """([(step, loss)], [(epoch, mAP)]) of a training log."""
    losses, maps, epoch = [], [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            step = STEP.search(line)
            if step:
                epoch, done, per_epoch, loss = step.groups()
                epoch = int(epoch)
                losses.append((epoch * int(per_epoch) + int(done), float(loss)))
            found = MAP.search(line)
            if found:
                maps.append((epoch + 1, float(found.group(1))))
    return losses, maps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("logs", nargs="+", help="LABEL=PATH of each training log")
    args = parser.parse_args()
    fig, (loss_axis, map_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for item in args.logs:
        label, _, path = item.partition("=")
        losses, maps = read_log(path)
        loss_axis.plot(*zip(*losses), label=label, linewidth=0.8)
        if maps:
            map_axis.plot(*zip(*maps), marker="o", label=label)
    loss_axis.set(xlabel="step", ylabel="total loss (logged every log_iter steps)")
    map_axis.set(xlabel="epoch", ylabel="mAP (evaluated model)")
    for axis in (loss_axis, map_axis):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
