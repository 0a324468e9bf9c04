"""The analysis figures as PNG files (matplotlib, without pyplot's global state).

Every figure has a title stating its thresholds, labelled axes and class names.
"""
import numpy as np

from ..core.config import ConfigError

DPI = 100


def new_figure(width, height):
    """A matplotlib Figure of width x height inches on the Agg canvas; ConfigError naming
    the extra when matplotlib is not installed."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the analysis plots need matplotlib: pip install -e .[analysis] "
                          "(or pip install matplotlib tidecv)") from None
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def save(figure, path):
    figure.tight_layout()
    figure.savefig(path)


def plot_confusion(matrix, labels, title, path, fmt):
    """A heat map of ``matrix`` [C + 1, C + 1] (rows true, columns predicted), each cell
    written with ``fmt`` (e.g. "{:d}", "{:.2f}")."""
    size = 2.5 + 0.55 * len(labels)
    figure = new_figure(size + 1, size)
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = matrix.max() if matrix.size and matrix.max() > 0 else 1
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=8,
                    color="white" if value > 0.5 * peak else "black")
    save(figure, path)


def plot_curves(x, curves, title, xlabel, ylabel, path, legend_values=None):
    """One line per entry of ``curves`` ({name: y [N]} against ``x`` [N]); "all" drawn
    thick and black. ``legend_values``: {name: number} appended to the legend labels."""
    figure = new_figure(6.4, 4.8)
    ax = figure.add_subplot()
    for name, y in curves.items():
        label = name if legend_values is None else f"{name} {legend_values[name]:.3f}"
        if name == "all":
            ax.plot(x, y, color="black", linewidth=2.5, label=label)
        else:
            ax.plot(x, y, linewidth=1.2, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    save(figure, path)


def plot_score_curves(thresholds, curves, best, iou_threshold, path):
    """Precision, recall and F1 against the score threshold ({name: (P, R, F1)}), with
    the best-F1 threshold of "all" (``best``: score_curves.best_f1) marked."""
    figure = new_figure(13, 4.2)
    for column, metric in enumerate(("precision", "recall", "F1")):
        ax = figure.add_subplot(1, 3, column + 1)
        for name, values in curves.items():
            style = dict(color="black", linewidth=2.5) if name == "all" else dict(linewidth=1.2)
            ax.plot(thresholds, values[column], label=name, **style)
        ax.axvline(best["threshold"], color="red", linestyle="--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("score threshold")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.set_title(f"{metric} vs score (IoU {iou_threshold:g})")
    figure.axes[2].legend(fontsize=8, loc="best")
    figure.suptitle(f"best F1 {best['f1']:.3f} at score {best['threshold']:.2f} "
                    f"(P {best['precision']:.3f}, R {best['recall']:.3f})", color="red")
    save(figure, path)


def plot_errors(breakdown, path):
    """Bars of TIDE's dAP per error type (main and special), with the AP in the title."""
    figure = new_figure(8, 4)
    ax = figure.add_subplot()
    names = list(breakdown["main"]) + list(breakdown["special"])
    values = list(breakdown["main"].values()) + list(breakdown["special"].values())
    colors = ["tab:blue"] * len(breakdown["main"]) + ["tab:gray"] * len(breakdown["special"])
    bars = ax.bar(names, values, color=colors)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylabel("AP gained if fixed (dAP, points)")
    ax.set_xlabel("error type")
    ax.set_title(f"TIDE error breakdown at IoU {breakdown['iou_threshold']:g} "
                 f"(AP {breakdown['ap']:.2f})")
    ax.grid(axis="y", alpha=0.3)
    save(figure, path)
