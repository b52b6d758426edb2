"""Figure group of ``convlab figures monotone``: residual vs epochs, every method on every
problem (median over seeds, 10-90% band)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from convlab import plots
from theory_checks.monotone.instances import ROWS, seed_keys
from theory_checks.monotone.methods import figure_methods, run_for_epochs
from theory_checks.generators import load

problems = load("monotone")

SIZES = {"quick": dict(n=256, epochs=400, seeds=3, dim=20, dim_game=30),
         "full": dict(n=1024, epochs=1000, seeds=5, dim=40, dim_game=50)}
COLORS = {name: f"C{i}" for i, name in enumerate(
    ("halpern", "vr_halpern", "eg", "eag", "vr_eg", "inexact_halpern"))}


def figure_problems(*, n: int, dim: int, dim_game: int) -> list[tuple[str, Any]]:
    """The five problems of the figure, one key for all."""
    key = jax.random.key(7)
    return [
        ("cocoercive quadratic", problems.make_cocoercive_sum(key, n_components=n, dim=dim)),
        ("Huber regression", problems.make_cocoercive_sum(key, n_components=n, dim=dim,
                                                          kind="huber", rows=ROWS)),
        ("policeman-burglar game", problems.make_matrix_game(key, n_components=n, dim=dim_game)),
        ("bilinear, unconstrained", problems.make_quadratic_minmax(key, n_components=n,
                                                                   dim=dim // 2)),
        ("quadratic min-max on a box", problems.make_quadratic_minmax(
            key, n_components=n, dim=dim // 2, kind="quadratic", box=1.0)),
    ]


def epoch_grid_curve(traces: list, n: int, grid: np.ndarray) -> np.ndarray:
    """Residuals of each run interpolated (in log) at the epochs of ``grid``: ``[runs, grid]``."""
    rows = []
    for t in traces:
        epochs = np.asarray(t.oracle_calls) / n
        res = np.log(np.maximum(np.asarray(t["residual"]), 1e-300))
        rows.append(np.exp(np.interp(grid, epochs, res, right=np.nan)))
    return np.asarray(rows)


def residual_vs_epochs(out_dir: Any, quick: bool) -> list[str]:
    """Residual vs epochs for every method on every problem (median over seeds, 10-90% band)."""
    s = SIZES["quick" if quick else "full"]
    fig, axes = plots.new_figure(ncols=3, nrows=2, width=4.6, height=3.6)
    axes = axes.ravel()
    grid = np.linspace(0.0, s["epochs"], 201)
    labels = {}
    for ax, (title, p) in zip(axes, figure_problems(n=s["n"], dim=s["dim"],
                                                    dim_game=s["dim_game"])):
        n = p.n_components
        for i, (name, entry) in enumerate(figure_methods(p).items()):
            keys = seed_keys(s["seeds"] if entry["stochastic"] else 1, 61 + i)
            traces = [run_for_epochs(entry, p, k, s["epochs"]) for k in keys]
            plots.error_curves(ax, grid, epoch_grid_curve(traces, n, grid), color=COLORS[name])
            labels[name] = entry["label"]
        ax.set_title(f"{title} (n = {n}, L = {float(p.L):.3g})", fontsize=9)
        ax.set_xlabel("epochs (oracle calls / n)")
        ax.set_ylabel("operator residual")
        ax.set_xlim(0, s["epochs"])
    axes[-1].axis("off")
    for name, label in labels.items():
        axes[-1].plot([], [], color=COLORS[name], label=label)
    axes[-1].legend(loc="center", fontsize=9, title="methods (median, 10-90% band)")
    fig.suptitle("Operator residual of F + G vs epochs, every method on every problem",
                 fontsize=10)
    return [str(plots.save_figure(fig, Path(out_dir) / "monotone.residual_vs_epochs.png"))]


FIGURES = {"residual_vs_epochs": residual_vs_epochs}
