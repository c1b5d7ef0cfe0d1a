"""The report's figures (PNG, matplotlib's Agg backend), each written atomically.

Every function takes plain numbers (None: not applicable; NaN or inf: measured but not
finite) and the path to write; none reads records, so that the report's sections decide
what is drawn and the registry (``reusebench.report.registry``) links exactly what it draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from reusebench.files import atomic_write  # noqa: E402

DPI = 110
DAMAGE_LABEL = "damage (0 harmless, 1 as bad as untrained)"
MISSING_COLOUR = "#d9d9d9"  # cells that do not apply
LINE_STYLES = ("-", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))  # one per seed; "--" marks the target


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically, and release it."""
    try:
        atomic_write(Path(path), lambda fh: fig.savefig(fh, format="png", dpi=DPI, bbox_inches="tight"), binary=True)
    finally:
        plt.close(fig)
    return Path(path)


def _finite(value: float | None) -> float:
    """NaN for anything that is not a finite number (matplotlib leaves a gap there)."""
    return value if value is not None and math.isfinite(value) else math.nan


def layer_map(
    path: Path, *, title: str, rows: Sequence[str], columns: Sequence[str], panels: dict[str, list[list[float | None]]]
) -> Path:
    """Heatmaps side by side, one per panel (donor): rows x columns of damage on a fixed 0..1 scale.

    None: the cell does not apply (grey, blank); a non-finite number is written ``n/f``.
    """
    n_rows, n_cols = len(rows), len(columns)
    fig, axes = plt.subplots(
        1, len(panels), sharey=True, squeeze=False,
        figsize=(1.2 + 0.55 * n_cols * len(panels), 3.4 + 0.28 * n_rows), layout="constrained",
    )
    cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad=MISSING_COLOUR)
    for ax, (name, grid) in zip(axes[0], panels.items()):
        values = np.array([[math.nan if v is None else v for v in row] for row in grid], dtype=float).reshape(n_rows, n_cols)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        for (i, j), v in np.ndenumerate(values):
            if grid[i][j] is None:
                continue
            text, dark = ("n/f", False) if not math.isfinite(v) else (f"{v:.2f}", v >= 0.6)
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
        ax.set_title(name)
        ax.set_xticks(range(n_cols), columns, rotation=50, ha="right", rotation_mode="anchor")
        ax.set_xlabel("parameter group")
        ax.set_yticks(range(n_rows), rows)
    axes[0][0].set_ylabel("layer (forward order)")
    fig.colorbar(image, ax=axes[0].tolist(), label=DAMAGE_LABEL, extend="both", location="bottom", aspect=40, shrink=0.8)
    fig.suptitle(title)
    return save_figure(fig, path)


def learning_curves(
    path: Path, *, title: str, metric: str, runs: Sequence[tuple[str, int, Sequence[tuple[float, float]]]],
    target: float | None, xlabel: str = "fine-tune step", legend: str = "variant (seed)",
    marks: Sequence[tuple[str, int, float]] = (),
) -> Path:
    """Validation metric against step: one colour per variant (or dataset), one line style per
    seed; ``marks``: (variant, seed, step) where a run stopped, drawn as a cross. With more
    seeds than line styles, the legend has one entry per variant (its seed count), not per run."""
    variants = list(dict.fromkeys(v for v, _, _ in runs))
    seeds = sorted({s for _, s, _ in runs}, key=str)
    per_variant = {v: sum(1 for w, _, _ in runs if w == v) for v in variants}
    many = len(seeds) > len(LINE_STYLES)
    colours = matplotlib.colormaps["tab10"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    labelled: set[str] = set()
    for variant, seed, curve in runs:
        steps, values = zip(*curve) if curve else ((), ())
        if not many:
            label = f"{variant} (seed {seed})"
        elif variant not in labelled:
            label = f"{variant} ({per_variant[variant]} runs)"
            labelled.add(variant)
        else:
            label = "_nolegend_"
        ax.plot(steps, [_finite(v) for v in values], marker="." if not many else None, markersize=4,
                linewidth=1.5 if not many else 0.8, alpha=1.0 if not many else 0.6,
                color=colours(variants.index(variant) % 10), linestyle=LINE_STYLES[seeds.index(seed) % len(LINE_STYLES)],
                label=label)
    curves = {(v, s): dict(c) for v, s, c in runs}
    for variant, seed, step in marks:
        if step in curves.get((variant, seed), {}):
            ax.plot([step], [_finite(curves[(variant, seed)][step])], marker="x", markersize=8, linestyle="none",
                    color=colours(variants.index(variant) % 10))
    if target is not None and math.isfinite(target):
        ax.axhline(target, color="black", linestyle="--", linewidth=1, label="fully trained target (test)")
    ax.set(title=title, xlabel=xlabel, ylabel=f"{metric} (validation split)")
    ax.grid(alpha=0.3)
    title_ = legend if not many else f"{legend.split(' (')[0]} (runs; a line per seed)"
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title=title_)
    return save_figure(fig, path)


def rmse_scatter(
    path: Path, *, title: str, series: Sequence[tuple[str, Sequence[float], Sequence[float]]], xlabel: str = "kernel RMSE, donor vs target (per layer)"
) -> Path:
    """Layer damage against a kernel distance (donor vs target), one marker and colour per series (donor)."""
    markers = "os^DvP*X"
    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    xs_all = []
    for k, (label, xs, ys) in enumerate(series):
        points = [(x, y) for x, y in zip(xs, ys) if math.isfinite(_finite(x)) and math.isfinite(_finite(y))]
        xs_all += [x for x, _ in points]
        ax.scatter([x for x, _ in points], [y for _, y in points], marker=markers[k % len(markers)], s=28, alpha=0.8,
                   label=f"{label}, {len(points)} layers")
    if xs_all and min(xs_all) > 0 and max(xs_all) / min(xs_all) > 50:
        ax.set_xscale("log")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel=DAMAGE_LABEL)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="donor (Spearman ρ)")
    return save_figure(fig, path)


def threshold_sensitivity(
    path: Path, *, title: str, op: str, threshold: float, intervals: Sequence[tuple[float, float]], unit: str
) -> Path:
    """The share of cells that hold / do not hold / are inconclusive as the threshold moves,
    from the cells' intervals; the chosen threshold is marked."""
    finite = [(lo, hi) for lo, hi in intervals if math.isfinite(_finite(lo)) and math.isfinite(_finite(hi))]
    lows, highs = np.array([lo for lo, _ in finite]), np.array([hi for _, hi in finite])
    span = [threshold, *(lows if len(finite) else []), *(highs if len(finite) else [])]
    pad = 0.1 * (max(span) - min(span) or 1.0)
    grid = np.linspace(min(span) - pad, max(span) + pad, 200)
    n = max(len(finite), 1)
    if op == ">=":
        holds = (lows[None, :] >= grid[:, None]).sum(1) / n
        fails = (highs[None, :] < grid[:, None]).sum(1) / n
    else:
        holds = (highs[None, :] <= grid[:, None]).sum(1) / n
        fails = (lows[None, :] > grid[:, None]).sum(1) / n
    fig, ax = plt.subplots(figsize=(6.0, 3.6), layout="constrained")
    ax.plot(grid, holds, label="holds", color="tab:green")
    ax.plot(grid, fails, label="does not hold", color="tab:red")
    ax.plot(grid, 1 - holds - fails, label="inconclusive", color="tab:grey", linestyle=":")
    ax.axvline(threshold, color="black", linewidth=1.0, linestyle="--", label=f"threshold {op} {threshold:g}")
    ax.set(title=title, xlabel=f"threshold ({unit})", ylabel=f"share of {len(finite)} cells", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
