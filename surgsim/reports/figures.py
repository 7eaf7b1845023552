"""The reports' figures, drawn with matplotlib's Agg backend (no display needed).

Each function returns a :class:`matplotlib.figure.Figure`; :func:`png_bytes` turns one into PNG bytes for embedding.
Figures are made with ``Figure()`` directly rather than pyplot, so nothing global is touched and a report can be built
inside a long-running process.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 110
GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
PASS_COLOUR, FAIL_COLOUR = "#2ca02c", "#d62728"


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


# -- one session -------------------------------------------------------------------------------------------------------
def force_over_time(
    times_s: np.ndarray, forces_n: Mapping[str, np.ndarray], force_limit_n: float, steps: Sequence[tuple[str, float]]
) -> Figure:
    """Force magnitude on each instrument's tip over time, the procedure's force limit, and step completions."""
    figure = Figure(figsize=(8, 3.2))
    axes = figure.add_subplot()
    for colour, (name, force) in zip(GROUP_COLOURS, forces_n.items()):
        axes.plot(times_s, force, label=name, color=colour, linewidth=1.2)
    axes.axhline(force_limit_n, color="black", linestyle="--", linewidth=1, label=f"limit {force_limit_n:g} N")
    for name, time_s in steps:
        axes.axvline(time_s, color="grey", linestyle=":", linewidth=1)
        axes.annotate(name, (time_s, axes.get_ylim()[1]), rotation=90, va="top", ha="right", fontsize=7,
                      color="grey")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("tip force (N)")
    axes.set_title("Force on the instrument tips")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def tip_paths(tips_mm: Mapping[str, np.ndarray]) -> Figure:
    """Each instrument tip's path (N x 3, mm) in three projections: top (x-y), front (x-z) and side (y-z)."""
    figure = Figure(figsize=(10, 3.6))
    projections = (("top", 0, 1), ("front", 0, 2), ("side", 1, 2))
    labels = ("x (mm, right)", "y (mm, anterior)", "z (mm, superior)")
    for k, (title, first, second) in enumerate(projections):
        axes = figure.add_subplot(1, 3, k + 1)
        for colour, (name, path) in zip(GROUP_COLOURS, tips_mm.items()):
            axes.plot(path[:, first], path[:, second], color=colour, linewidth=1, label=name)
            axes.plot(path[:1, first], path[:1, second], "o", color=colour, markersize=4)  # where it started
            axes.plot(path[-1:, first], path[-1:, second], "s", color=colour, markersize=4)  # where it ended
        axes.set_xlabel(labels[first])
        axes.set_ylabel(labels[second])
        axes.set_title(title)
        axes.set_aspect("equal", adjustable="datalim")
        axes.grid(alpha=0.3)
    figure.axes[0].legend(fontsize=7, loc="best")
    figure.suptitle("Instrument tip paths (circle: start, square: end)", fontsize=10)
    return figure


# -- one trainee -------------------------------------------------------------------------------------------------------
def learning_curve(scores: Sequence[float], passed: Sequence[bool], proficient_at: int | None) -> Figure:
    """Score over attempts, coloured by verdict, with the attempt that completed proficiency marked."""
    figure = Figure(figsize=(7, 3.2))
    axes = figure.add_subplot()
    attempts = np.arange(1, len(scores) + 1)
    axes.plot(attempts, scores, color="grey", linewidth=1)
    colours = [PASS_COLOUR if ok else FAIL_COLOUR for ok in passed]
    axes.scatter(attempts, scores, c=colours, zorder=3, s=30)
    if proficient_at is not None:
        axes.axvline(proficient_at, color=PASS_COLOUR, linestyle="--", linewidth=1, label="proficient")
        axes.legend(loc="lower right", fontsize=8)
    axes.set_ylim(0, 105)
    axes.set_xlabel("attempt")
    axes.set_ylabel("score (0-100)")
    axes.set_title("Learning curve (green: pass, red: fail)")
    axes.set_xticks(attempts)
    axes.grid(alpha=0.3)
    return figure


def metric_curves(series: Mapping[str, tuple[Sequence[float | None], float | None]]) -> Figure:
    """Each benchmarked metric over attempts, with its expert benchmark: {metric: (values, expert)}."""
    count = max(1, len(series))
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(3.4 * columns, 2.6 * rows))
    for k, (metric, (values, expert)) in enumerate(series.items()):
        axes = figure.add_subplot(rows, columns, k + 1)
        attempts = np.arange(1, len(values) + 1)
        measured = np.array([np.nan if value is None else value for value in values], dtype=float)
        axes.plot(attempts, measured, "o-", markersize=3, linewidth=1)
        if expert is not None:
            axes.axhline(expert, color=PASS_COLOUR, linestyle="--", linewidth=1)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(metric, fontsize=9)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    figure.suptitle("Metrics over attempts (dashed: expert benchmark)", fontsize=10)
    figure.tight_layout()
    return figure


def cusum_charts(charts: Sequence) -> Figure:
    """CUSUM and LC-CUSUM (:class:`surgsim.history.learning.Chart`) with their decision limits."""
    figure = Figure(figsize=(8, 3.2))
    for k, chart in enumerate(charts):
        axes = figure.add_subplot(1, len(charts), k + 1)
        attempts = np.arange(1, len(chart.values) + 1)
        axes.step(attempts, chart.values, where="mid", color=GROUP_COLOURS[k])
        axes.plot(attempts, chart.values, "o", color=GROUP_COLOURS[k], markersize=3)
        axes.axhline(chart.limit, color="black", linestyle="--", linewidth=1, label=f"h = {chart.limit:.2f}")
        if chart.signal_at is not None:
            axes.axvline(chart.signal_at, color="grey", linestyle=":", label=f"signal at {chart.signal_at}")
        axes.set_title(chart.name)
        axes.set_xlabel("attempt")
        axes.legend(fontsize=7, loc="upper left")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


# -- a cohort ----------------------------------------------------------------------------------------------------------
def group_distributions(metrics: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """Box plots with the individual sessions over them: {metric: {group: values}}."""
    count = max(1, len(metrics))
    columns = min(3, count)
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(3.4 * columns, 2.8 * rows))
    rng = np.random.default_rng(0)  # fixed jitter: the same data draws the same figure
    for k, (metric, groups) in enumerate(metrics.items()):
        axes = figure.add_subplot(rows, columns, k + 1)
        names = list(groups)
        data = [np.asarray(groups[name], dtype=float) for name in names]
        axes.boxplot([values if values.size else [np.nan] for values in data], showfliers=False)
        axes.set_xticks(range(1, len(names) + 1), names)
        for position, (values, colour) in enumerate(zip(data, GROUP_COLOURS), start=1):
            axes.scatter(position + rng.uniform(-0.12, 0.12, values.size), values, s=12, color=colour, zorder=3)
        axes.set_title(metric, fontsize=9)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3, axis="y")
    figure.suptitle("Metrics by group", fontsize=10)
    figure.tight_layout()
    return figure


def roc_curve(false_positive: Sequence[float], true_positive: Sequence[float], auc: float,
              pass_mark: tuple[float, float, float] | None) -> Figure:
    """ROC of the score separating experts from novices; ``pass_mark`` = (score, 1 - specificity, sensitivity)."""
    figure = Figure(figsize=(4.2, 4.2))
    axes = figure.add_subplot()
    axes.plot(false_positive, true_positive, color=GROUP_COLOURS[0], linewidth=1.5, label=f"score, AUC {auc:.2f}")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    if pass_mark is not None:
        mark, fpr, tpr = pass_mark
        axes.plot([fpr], [tpr], "o", color=FAIL_COLOUR, label=f"pass mark {mark:g}")
    axes.set_xlim(-0.02, 1.02)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("1 - specificity (novices passing)")
    axes.set_ylabel("sensitivity (experts passing)")
    axes.set_title("Expert vs novice: ROC of the score")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    return figure
