"""Figure groups of ``convlab figures robust_recovery``: error vs iteration for several outlier
fractions and Gaussian noise levels (``noise``), and SubGM against the baselines a reader needs
for contrast (``baselines``: constant and 1/t steps, large initialization, ℓ2-GD)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convlab import plots
from theory_checks.robust_recovery import instances as I

L2_STEP = 0.02


def _sizes(quick: bool) -> dict[str, Any]:
    """The claims' run sizes, on 2 operators."""
    mode = "quick" if quick else "full"
    return dict(I.RUN_SIZES[mode], instances=2, alpha=I.ALPHA[mode], p=I.P)


def figure_noise(out_dir: Any, quick: bool) -> list:
    """Error vs iteration for several outlier fractions and Gaussian noise levels (r' = r)."""
    s = _sizes(quick)
    fractions = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    noises = np.array([1e-4, 1e-3, 1e-2, 1e-1])
    out = I.sweep(salt=6, vary={"p": fractions}, **s)
    noisy = I.sweep(salt=6, vary={"noise": noises}, **dict(s, p=0.0))
    fig, (ax1, ax2) = plots.new_figure(2, 1, width=5.0, height=4.0)
    for i, p in enumerate(fractions):
        plots.error_curves(ax1, out["k"], out["error"][i], label=f"p = {p:g}", color=f"C{i}")
    for i, nu in enumerate(noises):
        plots.error_curves(ax2, noisy["k"], noisy["error"][i], label=f"noise std {nu:g}",
                           color=f"C{i}")
    ax1.set_title(f"outliers (Gaussian, magnitude ~{I.OUTLIER_SCALE:g}), fraction p", fontsize=9)
    ax2.set_title("dense Gaussian noise on every measurement (p = 0)", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xlabel("iteration t")
        ax.set_ylabel(I.ERROR_LABEL)
        ax.legend(fontsize=7)
    fig.suptitle(f"SubGM, d = {s['dim']}, r = r' = {s['rank']}, m = {s['m']}, α = {s['alpha']:g}",
                 fontsize=10)
    return [plots.save_figure(fig, Path(out_dir) / "robust_recovery.noise.png")]


def figure_baselines(out_dir: Any, quick: bool) -> list:
    """SubGM (small init, geometric steps) against the baselines, over-parameterized r' = d."""
    s = _sizes(quick)
    rp = s["dim"]
    sweep = lambda **changed: I.sweep(salt=7, search_rank=rp, **{**s, **changed})
    runs = [
        ("SubGM, α = %g, η_0ρ^t (the method)" % s["alpha"], sweep()),
        ("SubGM, constant step 0.02", sweep(step0=0.02, decay=1.0)),
        ("SubGM, step 0.5/(1 + 0.005 t)", sweep(method="subgm_inverse_t", step0=0.5, decay=0.005)),
        ("SubGM, large init α = 1", sweep(alpha=1.0)),
        (f"GD on ℓ2, step {L2_STEP:g}", sweep(method="gd_l2", step0=L2_STEP)),
    ]
    fig, ax = plots.new_figure(width=6.5, height=4.5)
    for i, (label, res) in enumerate(runs):
        plots.error_curves(ax, res["k"], res["error"], label=label, color=f"C{i}")
    ax.set_xlabel("iteration t")
    ax.set_ylabel(I.ERROR_LABEL)
    ax.set_title(f"r' = d = {rp}, p = {s['p']:g} outliers: SubGM vs baselines", fontsize=9)
    ax.legend(fontsize=7)
    return [plots.save_figure(fig, Path(out_dir) / "robust_recovery.baselines.png")]


FIGURES = {"noise": figure_noise, "baselines": figure_baselines}
