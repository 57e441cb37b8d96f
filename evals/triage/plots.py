"""Confusion-matrix plot for the triage benchmark (matplotlib, Agg backend)."""

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
