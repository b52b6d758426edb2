"""Figure groups of ``convlab figures sgd_stability``: η*(B) against B with 2B/Tr H and 2/λ_max;
Tr H and λ_max at the minima SGD and GD reach against η with 2/η (diagonal linear network); the
sharpness–non-uniformity (a, s) diagram at the exact threshold with the recalled region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convlab import plots
from theory_checks.claim_figure import save_claim_figure
from theory_checks.sgd_stability import FAMILY
from theory_checks.sgd_stability import diagonal_network, nonuniformity
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T


def thresholds_by_batch(rows: str, seed: int = 0) -> dict[str, Any]:
    """η*(B) for B = 1..n, both samplings, and the two reference lines, on one instance."""
    A = I.projected(I.regression(seed, rows))
    n = A.shape[0]
    batches = np.arange(1, n + 1)
    star = {r: np.array([T.eta_star(A, I.kappa(B, n, r)) for B in batches]) for r in I.SAMPLINGS}
    suf = {r: np.array([T.eta_sufficient(A, I.kappa(B, n, r)) for B in batches]) for r in I.SAMPLINGS}
    return {"B": batches, "star": star, "suf": suf, "trace": T.trace_h(A), "lmax": T.sharpness(A)}


def draw_thresholds(data: dict[str, dict[str, Any]], fig: Any) -> None:
    fig.clear()
    axes = fig.subplots(1, len(data), squeeze=False)[0]
    for ax, (rows, d) in zip(axes, data.items()):
        B = d["B"]
        for j, r in enumerate(I.SAMPLINGS):
            ax.plot(B, d["star"][r], "o-", color=f"C{j}", label=f"η*(B), {I.sampling_name(r)}")
            ax.plot(B, d["suf"][r], ":", color=f"C{j}", label=f"sufficient step, {I.sampling_name(r)}")
        ax.plot(B, 2.0 * B / d["trace"], "k--", label="2B/Tr H")
        ax.axhline(2.0 / d["lmax"], color="C3", linestyle="--", label="2/λ_max (GD)")
        ax.set_xlabel("batch size B (n = 10, d = 40)")
        ax.set_ylabel("step size")
        ax.set_ylim(0, 1.15 * 2.0 / d["lmax"])
        ax.set_title(f"{rows} row norms", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("exact mean-square threshold η*(B) of linearised SGD", fontsize=10)


def make_thresholds(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/sgd_stability.eta_star_vs_batch.png``."""
    del quick  # exact computations, the same either way
    fig, _ = plots.new_figure(width=10.0, height=4.0)
    draw_thresholds({rows: thresholds_by_batch(rows) for rows in ("equal", "unequal")}, fig)
    return [str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.eta_star_vs_batch.png"))]


def make_sharpness_vs_eta(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/sgd_stability.sharpness_vs_eta.png`` (the diagonal-network claim's runs)."""
    path = Path(out_dir) / f"{FAMILY}.sharpness_vs_eta.png"
    return [save_claim_figure(diagonal_network, path, quick=quick, width=10.0)]


def make_diagram(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/sgd_stability.sharpness_nonuniformity.png`` (the nonuniformity claim's instances)."""
    path = Path(out_dir) / f"{FAMILY}.sharpness_nonuniformity.png"
    return [save_claim_figure(nonuniformity, path, quick=quick, width=6.5)]


FIGURES = {"eta_star_vs_batch": make_thresholds, "sharpness_vs_eta": make_sharpness_vs_eta,
           "sharpness_nonuniformity": make_diagram}
