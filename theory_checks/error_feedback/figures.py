"""Figure groups of ``convlab figures error_feedback``: ``||∇f(x_t)||²`` against rounds and
against floats sent (``t·n·k``) for EF21 @ γ_QM, EF21 @ γ_AM and EF21-W @ γ_AM (h = 10, 100);
the iteration ratio against L_QM/L_AM with the ρ curve; EF21-W against EF21 for Top-k,
Rand-k and natural compression; the logistic variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convlab import plots
from theory_checks.claim_figure import save_claim_figure
from theory_checks.error_feedback import FAMILY
from theory_checks.error_feedback import instances as I
from theory_checks.error_feedback import iteration_ratio, logistic_ordering, weighted_equals_plain

CASES = ((False, "qm"), (False, "am"), (True, "am"))


def run_curves(hs=(10.0, 100.0), *, draws: int, steps: int) -> dict[float, dict[str, Any]]:
    """Median ``||∇f||²/||∇f(x0)||²`` per run and h, and the floats sent per round."""
    out = {}
    for h in hs:
        batch = I.quadratics(draws, 401, (h,))
        gammas = I.theory_steps(batch, I.alpha())
        curves = []
        for j, (weighted, step) in enumerate(CASES):
            r = I.run_batch(I.method(weighted), batch, gammas[step], steps=steps, salt=410 + j)
            curves.append(np.median(r["g"] / r["g"][:, :1], axis=0))
        out[h] = {"k": r["k"], "curves": np.asarray(curves), "floats_per_round": I.N * I.K}
    return out


def draw_runs(data: dict[float, dict[str, Any]], fig: Any) -> None:
    fig.clear()
    axes = fig.subplots(2, len(data), squeeze=False)
    for col, (h, d) in enumerate(data.items()):
        for r, name in enumerate(I.RUNS):
            y = np.maximum(d["curves"][r], 1e-300)
            style = dict(color=f"C{r}", ls="--" if r == 2 else "-", label=name)
            axes[0, col].semilogy(d["k"], y, **style)
            axes[1, col].semilogy(d["k"] * d["floats_per_round"], y, **style)
        for row in range(2):
            axes[row, col].axhline(I.EPS, color="k", ls=":", lw=0.8)
            axes[row, col].set_ylim(1e-12, 2.0)
        axes[0, col].set_title(f"h = {h:g} (n = {I.N}, d = {I.DIM}, Top-{I.K})", fontsize=9)
        axes[0, col].set_xlabel("rounds t")
        axes[1, col].set_xlabel("floats sent by all clients (t·n·k)")
    for row in range(2):
        axes[row, 0].set_ylabel("median ||∇f||² / ||∇f(x0)||²")
    axes[0, 0].legend(fontsize=6)


def make_runs(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/error_feedback.grad_norm_rounds_bits.png``."""
    draws, steps = (3, 8000) if quick else (8, 12000)
    fig, _ = plots.new_figure(width=10.0, height=7.0)
    draw_runs(run_curves(draws=draws, steps=steps), fig)
    return [str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.grad_norm_rounds_bits.png"))]


def make_ratio(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/error_feedback.iteration_ratio.png`` (the iteration-ratio claim's runs)."""
    path = Path(out_dir) / f"{FAMILY}.iteration_ratio.png"
    return [save_claim_figure(iteration_ratio, path, quick=quick, width=6.5)]


def make_weighted(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/error_feedback.weighted_vs_plain.png`` (Top-k, Rand-k, natural compression)."""
    path = Path(out_dir) / f"{FAMILY}.weighted_vs_plain.png"
    return [save_claim_figure(weighted_equals_plain, path, quick=quick, width=10.0)]


def make_logistic(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/error_feedback.logistic.png``."""
    path = Path(out_dir) / f"{FAMILY}.logistic.png"
    return [save_claim_figure(logistic_ordering, path, quick=quick, width=6.5)]


FIGURES = {"grad_norm_rounds_bits": make_runs, "iteration_ratio": make_ratio,
           "weighted_vs_plain": make_weighted, "logistic": make_logistic}
