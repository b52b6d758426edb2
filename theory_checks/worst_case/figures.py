"""Figure groups of ``convlab figures worst_case``: per method, analytic bound / PEP / measured
run vs N (log–log; GD, FGM, OGM, proximal point, Halpern, EAG in one panel each); GD on its h
grid; the heavy-ball limit cycle on the Lessard–Recht–Packard function next to the quadratics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convlab import plots
from theory_checks.claim_figure import save_claim_figure
from theory_checks.worst_case import (FAMILY, eag_pep, fgm_attained, gd_attained, halpern_attained,
                                      heavy_ball_cycle, ogm_attained, ppm_attained)

PANELS = (("GD, h = 1", gd_attained, 1), ("FGM", fgm_attained, 0), ("OGM", ogm_attained, 0),
          ("proximal point, γ = 0.5", ppm_attained, 0), ("Halpern", halpern_attained, 0),
          ("EAG-C, step 1/(8L)", eag_pep, 0))


def _measure(module: Any, quick: bool):
    ev = module.measure(**module.SIZES["quick" if quick else "full"])
    return ev, module.judge(ev)


def make_per_method(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/worst_case.analytic_pep_measured.png``: one panel per method."""
    fig, _ = plots.new_figure(width=13.0, height=7.5)
    fig.clear()
    axes = fig.subplots(2, 3).ravel()
    for ax, (title, module, row) in zip(axes, PANELS):
        ev, verdict = _measure(module, quick)
        N = ev.N.astype(float)
        ax.plot(N, ev.bound[row], "k--", label="analytic bound")
        if ev.pep_available:
            ax.plot(N, ev.pep[row], "o", mfc="none", ms=10, color="C3", label="PEP (CLARABEL)")
        ax.plot(N, ev.measured[row], "x", ms=7, color="C0", label="measured run (convlab)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("N")
        ax.set_title(f"{title}: {verdict.status}", fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("tight worst cases: analytic bound, PEP value, and a run attaining it", fontsize=10)
    return [str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.analytic_pep_measured.png"))]


def make_gd_grid(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/worst_case.gd_h_grid.png``: GD's runs, PEP and bound on the h grid."""
    path = Path(out_dir) / f"{FAMILY}.gd_h_grid.png"
    return [save_claim_figure(gd_attained, path, quick=quick, width=6.5)]


def make_heavy_ball(out_dir: Any, quick: bool) -> list[str]:
    """``<out>/worst_case.heavy_ball_cycle.png``."""
    path = Path(out_dir) / f"{FAMILY}.heavy_ball_cycle.png"
    return [save_claim_figure(heavy_ball_cycle, path, quick=quick, width=11.0)]


FIGURES = {"analytic_pep_measured": make_per_method, "gd_h_grid": make_gd_grid,
           "heavy_ball_cycle": make_heavy_ball}
