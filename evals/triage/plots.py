"""Plots for the triage benchmark (matplotlib, Agg backend): the level confusion matrix and the
safety scores side by side for the rules, the learned detector and their union."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def plot_confusion(matrix: list[list[int]], path: Path, title: str) -> None:
    """Gold level (rows) vs predicted level (columns); cells above the diagonal are under-triage."""
    figure, axes = plt.subplots(figsize=(4.6, 4.0))
    image = axes.imshow(matrix, cmap="Blues")
    labels = ["L1", "L2", "L3", "L4"]
    axes.set_xticks(range(4), labels)
    axes.set_yticks(range(4), labels)
    axes.set_xlabel("predicted level")
    axes.set_ylabel("gold level")
    axes.set_title(title)
    peak = max(max(row) for row in matrix) or 1
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            colour = "white" if count > peak / 2 else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


SCORE_METRICS = (
    "red_flag_sensitivity",
    "red_flag_specificity",
    "red_flag_code_recall",
    "under_triage_level12_rate",
    "level_accuracy",
    "department_accuracy",
)
"""The scores :func:`plot_scores` draws, in order (under-triage: lower is better)."""


def plot_scores(rows: dict[str, dict[str, float]], path: Path, title: str) -> None:
    """Grouped bars of :data:`SCORE_METRICS`, one group per metric and one bar per row (``rules``,
    ``model``, ``union``...); a metric a row lacks (the model decides no level) is left out."""
    figure, axes = plt.subplots(figsize=(8.0, 3.8))
    width = 0.8 / max(len(rows), 1)
    for index, (name, metrics) in enumerate(rows.items()):
        positions = [m + (index - (len(rows) - 1) / 2) * width for m, key in enumerate(SCORE_METRICS) if key in metrics]
        values = [metrics[key] for key in SCORE_METRICS if key in metrics]
        bars = axes.bar(positions, values, width, label=name)
        axes.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    axes.set_xticks(range(len(SCORE_METRICS)), [key.replace("_", "\n", 2) for key in SCORE_METRICS], fontsize=7)
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("rate")
    axes.set_title(title)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
