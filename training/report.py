"""Pictures and the closing summary table of a training run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the client draws pictures too, and must not import scikit-learn for it
    from training.select import Scores


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Counts of (true, predicted) label pairs."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def confusion_figure(matrix: np.ndarray, title: str):
    """The confusion matrix with counts in each cell, its title shortened in the middle until it fits the width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > matrix.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(len(matrix)), yticks=range(len(matrix)))
    text = ax.set_title(title)
    renderer = fig.canvas.get_renderer()
    # A long dataset name (a user's file) would run off both edges: keep its start and end, drop the middle.
    while text.get_window_extent(renderer).width > 0.95 * fig.bbox.width and len(title) > 12:
        middle = len(title) // 2
        title = title[: middle - 2] + "…" + title[middle + 2 :].lstrip("…")
        text.set_text(title)
    fig.tight_layout()
    return fig


def save_confusion_png(matrix: np.ndarray, path: Path, title: str) -> None:
    """Draw the confusion matrix with counts in each cell."""
    import matplotlib.pyplot as plt

    fig = confusion_figure(matrix, title)
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def most_confused(matrix: np.ndarray, top: int = 2) -> list[tuple[int, int, int]]:
    """The most frequent (true, predicted, count) mistakes, largest first."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    return [(int(i), int(j), int(off[i, j])) for i, j in zip(*np.unravel_index(order, off.shape)) if off[i, j] > 0]


def save_confused_pairs_png(X: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, matrix: np.ndarray, path: Path) -> None:
    """Show up to six misclassified examples for each of the most-confused digit pairs (e.g. 4 read as 9)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = most_confused(matrix) or [(0, 0, 0)]
    side = int(round(np.sqrt(X.shape[1])))
    fig, axes = plt.subplots(len(pairs), 6, figsize=(9, 1.8 * len(pairs)), squeeze=False)
    for row, (true, pred, count) in enumerate(pairs):
        examples = np.flatnonzero((y_true == true) & (y_pred == pred))[:6] if count else []
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col < len(examples) and side * side == X.shape[1]:
                ax.imshow(X[examples[col]].reshape(side, side), cmap="gray_r")
        axes[row][0].set_title(f"true {true} read as {pred} ({count}x)" if count else "no mistakes", fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(reference: "Scores", served: "Scores", served_label: str) -> str:
    """A short side-by-side table of the reference and the served model."""
    rows = [
        ("CV accuracy", f"{reference.cv_mean:.4f} ± {reference.cv_std:.4f}", f"{served.cv_mean:.4f} ± {served.cv_std:.4f}"),
        ("test accuracy", f"{reference.test_accuracy:.4f}", f"{served.test_accuracy:.4f}"),
        ("artifact bytes", f"{reference.artifact_bytes:,}", f"{served.artifact_bytes:,}"),
        ("predict ms/row", f"{reference.predict_ms_per_row:.4f}", f"{served.predict_ms_per_row:.4f}"),
    ]
    header = ("", "reference: raw KNN k=4", f"served: {served_label}")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
