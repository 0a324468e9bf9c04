"""Plots of a dataset check (`ppfcos.data.check`): one PNG per split and
figure, titled with the split and file, axes labelled, classes named.

Needs matplotlib: ``pip install ppfcos[analysis]``.
"""
import os

import numpy as np

from ..core.config import ConfigError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("the plots need matplotlib: pip install 'ppfcos[analysis]' (or "
                          "pip install matplotlib), or pass --no_plots") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _plain_log_axis(plt, ax):
    """A log x axis labelled 10, 20, 50 instead of 10^1, 2x10^1."""
    ax.set_xscale("log")
    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis(plt.FuncFormatter(lambda value, _: f"{value:g}"))


def _log_bins(low, high, count=40):
    """``count`` log-spaced bin edges from ``low`` to ``high`` (> 0); a range around
    ``low`` when ``high == low`` (every box the same size or shape)."""
    if high <= low:
        low, high = low / 1.5, high * 1.5
    return np.geomspace(low, high, count)


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def plot_split(split, report, out_dir):
    """Class histogram, box size and aspect-ratio histograms of one SplitReport -> paths."""
    plt = _pyplot()
    title = f"{split} ({report.section}): {os.path.basename(report.source)}"
    paths = []
    names = list(report.class_counts)
    fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(names) + 1.5)))
    ax.barh(names, [report.class_counts[n] for n in names], color="tab:blue")
    ax.invert_yaxis()
    ax.set(title=f"boxes per class, {title}", xlabel="boxes", ylabel="class")
    paths.append(_save(fig, os.path.join(out_dir, f"{split}_classes.png")))
    plt.close(fig)

    sizes = np.sqrt(report.widths * report.heights)
    fig, ax = plt.subplots(figsize=(8, 4))
    if len(sizes):
        bins = _log_bins(max(sizes.min(), 1.0), max(sizes.max(), 2.0))
        ax.hist(sizes, bins=bins, color="tab:green")
        _plain_log_axis(plt, ax)
        for edge, label in ((32, "small | medium"), (96, "medium | large")):
            ax.axvline(edge, color="grey", linestyle="--")
            ax.text(edge, ax.get_ylim()[1] * 0.95, f" {label}", color="grey", fontsize=8)
    ax.set(title=f"box sizes, {title}", xlabel="sqrt(width x height), pixels (log scale)",
           ylabel="boxes")
    paths.append(_save(fig, os.path.join(out_dir, f"{split}_box_sizes.png")))
    plt.close(fig)

    aspect = np.clip(report.widths / np.maximum(report.heights, 1e-9), 1e-2, 1e2)
    fig, ax = plt.subplots(figsize=(8, 4))
    if len(aspect):
        ax.hist(aspect, bins=_log_bins(aspect.min(), aspect.max()), color="tab:orange")
        _plain_log_axis(plt, ax)
    ax.set(title=f"box aspect ratios, {title}", xlabel="width / height (log scale)",
           ylabel="boxes")
    paths.append(_save(fig, os.path.join(out_dir, f"{split}_aspect_ratios.png")))
    plt.close(fig)
    return paths
