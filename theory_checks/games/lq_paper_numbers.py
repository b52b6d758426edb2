"""games.lq-paper-numbers: at λ = 1 the pipeline gives α = 0.2929, β = 1.7071, Euler step
2α/β² = 0.2010, true Euler limit 1.1716, RK4 guideline 2.5/β = 1.4645 and band (34.31, 1165.69),
to the printed digits. Sharma, arXiv 2512.06791 (2025), LQ game at λ = 1 (PAPERS.md §5). [text]"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from theory_checks import kinds
from theory_checks.games import instances as I
from theory_checks.games.certificate import certify, timescale_band
from theory_checks.games.stability import (euler_stability_limit, metric_lipschitz,
                                           rk4_amplification, rk4_stability_limit, true_margin)
from theory_checks.verdict import Verdict

ID, KIND = "games.lq-paper-numbers", "certificate"
CITATION = I.CITE + ", LQ game at λ = 1"
STATEMENT = ("at λ = 1: α = 0.2929, β = 1.7071, Euler step 2α/β² = 0.2010, true Euler limit "
             "1.1716, RK4 guideline 2.5/β = 1.4645, band (34.31, 1165.69)")
SIZES = {"quick": dict(plane_lambdas=51, plane_steps=110),
         "full": dict(plane_lambdas=126, plane_steps=440)}
PAPER_NUMBERS = {  # PAPERS.md §5, λ = 1, a = 10, b = 0.05: value and unit of the last digit
    "alpha": (0.2929, 1e-4), "beta": (1.7071, 1e-4), "euler_step_sgn": (0.2010, 1e-4),
    "euler_limit_true": (1.1716, 1e-4), "rk4_guideline": (1.4645, 1e-4),
    "band_r_minus": (34.31, 1e-2), "band_r_plus": (1165.69, 1e-2),
}


@dataclasses.dataclass(frozen=True)
class Evidence:
    measured: dict[str, float]        # the PAPER_NUMBERS quantities
    extra: dict[str, Any]             # further λ = 1 numbers (true limits, best step, ...)
    planes: dict[str, np.ndarray]     # the (λ, h) stability planes of the figure
    certificate: dict[str, Any]       # Certificate.summary() at λ = 1, w = (b/a, 1)


def stability_planes(lambdas: np.ndarray, num_steps: int) -> dict[str, np.ndarray]:
    """Spectral radii of Euler (h up to 2.2) and RK4 (h up to 3.2) on (λ, h) grids, and the
    bounds along λ."""
    steps_e = np.linspace(0.0, 2.2, num_steps + 1)[1:]
    steps_r = np.linspace(0.0, 3.2, num_steps + 1)[1:]
    rho_e = np.empty((lambdas.size, num_steps))
    rho_r = np.empty_like(rho_e)
    curves = {k: np.zeros(lambdas.size) for k in
              ("euler_sgn", "euler_true", "rk4_guideline", "rk4_sgn", "rk4_true")}
    for i, lam in enumerate(lambdas):
        H = np.asarray(I.lq_game(lam).H)
        eig = np.linalg.eigvals(H)
        rho_e[i] = np.max(np.abs(1.0 - steps_e[:, None] * eig[None, :]), axis=1)
        rho_r[i] = np.max(np.abs(rk4_amplification(-steps_r[:, None] * eig[None, :])), axis=1)
        cert = certify(I.lq_game(lam), I.lq_region(), weights=I.W_BALANCED)
        curves["euler_sgn"][i] = cert.euler_step
        curves["rk4_guideline"][i] = cert.rk4_guideline
        curves["rk4_sgn"][i] = cert.rk4_step
        curves["euler_true"][i] = euler_stability_limit(H)
        curves["rk4_true"][i] = rk4_stability_limit(H)
    return {"lambdas": lambdas, "steps_euler": steps_e, "steps_rk4": steps_r, "rho_euler": rho_e,
            "rho_rk4": rho_r, **curves}


def measure(*, plane_lambdas: int, plane_steps: int) -> Evidence:
    game = I.lq_game(1.0)
    H = np.asarray(game.H)
    cert = certify(game, I.lq_region(), weights=I.W_BALANCED)
    opt = certify(game, I.lq_region())
    measured = {"alpha": cert.alpha, "beta": cert.beta, "euler_step_sgn": cert.euler_step,
                "euler_limit_true": euler_stability_limit(H), "rk4_guideline": cert.rk4_guideline,
                "band_r_minus": cert.band[0], "band_r_plus": cert.band[1]}
    extra = {"alpha_true": true_margin(H, cert.metric_diag()),
             "beta_true": metric_lipschitz(H, cert.metric_diag()),
             "rk4_limit_true": rk4_stability_limit(H), "rk4_step_certified_linear": cert.rk4_step,
             "euler_best_step": cert.euler_best_step,
             "euler_best_factor": float(cert.euler_factor(cert.euler_best_step)),
             "optimized_weights": opt.weights.tolist(), "optimized_alpha": opt.alpha,
             "spectral_radius_euler_at_limit_minus": float(np.max(np.abs(
                 1 - (measured["euler_limit_true"] - 1e-9) * np.linalg.eigvals(H))))}
    planes = stability_planes(np.linspace(0.0, 2.5, plane_lambdas), plane_steps)
    return Evidence(measured, extra, planes, cert.summary())


def judge(ev: Evidence) -> Verdict:
    names = list(PAPER_NUMBERS)
    measured = np.array([ev.measured[n] for n in names])
    paper = np.array([PAPER_NUMBERS[n][0] for n in names])
    unit = np.array([PAPER_NUMBERS[n][1] for n in names])
    verdict = kinds.certificate(measured / unit, paper / unit, relation="==", tol=0.5,
                                predicted="PAPERS.md §5 at λ=1 to the printed digits "
                                          "(|Δ| <= half a unit of the last digit)")
    details = {**verdict.details, "unit": "last printed digit",
               **{f"measured.{n}": float(ev.measured[n]) for n in names},
               **{f"paper.{n}": PAPER_NUMBERS[n][0] for n in names},
               **{f"extra.{n}": v for n, v in ev.extra.items()}}
    return dataclasses.replace(verdict, details=details)


def draw_plane(ax: Any, planes: dict[str, np.ndarray], which: str) -> None:
    """One stability plane (``which`` = ``"euler"`` or ``"rk4"``) with its bounds along λ."""
    lam, steps = planes["lambdas"], planes[f"steps_{which}"]
    rho = planes[f"rho_{which}"]
    stable = np.where(rho < 1.0, 1.0, np.nan)
    ax.pcolormesh(lam, steps, stable.T, cmap="Greens", vmin=0.0, vmax=2.5, shading="nearest")
    true = planes[f"{which}_true"]
    ax.plot(lam, np.where(true > 0, true, np.nan), "k-", linewidth=1.5, label="true spectral limit")
    if which == "euler":
        sgn = planes["euler_sgn"]
        ax.plot(lam, np.where(sgn > 0, sgn, np.nan), color="C1", linewidth=2, label="SGN bound 2α/β²")
    else:
        g, s = planes["rk4_guideline"], planes["rk4_sgn"]
        ax.plot(lam, np.where(g > 0, g, np.nan), color="C1", linewidth=2, label="guideline 2.5/β")
        ax.plot(lam, np.where(s > 0, s, np.nan), color="C4", linewidth=2, linestyle="--",
                label="certified (linear) e^{-hα}+tail(hβ)<1")
    ax.axvline(1.0, color="0.4", linestyle=":", linewidth=0.8)
    i = int(np.argmin(np.abs(lam - 1.0)))
    marks = [true[i], sgn[i]] if which == "euler" else [true[i], g[i], s[i]]
    ax.plot([lam[i]] * len(marks), marks, "ko", markersize=4, markerfacecolor="none")
    for value in marks:
        ax.annotate(f"{value:.4f}", (lam[i], value), textcoords="offset points", xytext=(5, 3),
                    fontsize=7)
    ax.set_xlabel("coupling λ")
    ax.set_ylabel("step h")
    ax.set_ylim(0.0, steps[-1])
    ax.set_title(f"{'projected Euler' if which == 'euler' else 'RK4'}: green = spectrally stable",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    fig.set_size_inches(11.0, 4.2)
    axes = fig.subplots(1, 2)
    for ax, which in zip(axes, ("euler", "rk4")):
        draw_plane(ax, ev.planes, which)
    m = ev.measured
    fig.suptitle(f"{verdict.status} at λ=1: α={m['alpha']:.4f} β={m['beta']:.4f} "
                 f"h_Euler,SGN={m['euler_step_sgn']:.4f} h_Euler,true={m['euler_limit_true']:.4f} "
                 f"RK4 2.5/β={m['rk4_guideline']:.4f} band=({m['band_r_minus']:.2f}, "
                 f"{m['band_r_plus']:.2f})", fontsize=9)


def negative_controls(ev: Evidence):
    """The Euler step mistaken for α/β² (a factor 2); the band computed at α = ½α* instead of
    α = 0 (the band where the margin exceeds α shrinks towards a point)."""
    yield "Euler step α/β²", dataclasses.replace(
        ev, measured={**ev.measured, "euler_step_sgn": ev.extra["euler_best_step"]})
    cert = certify(I.lq_game(1.0), I.lq_region(), weights=I.W_BALANCED)
    lo, hi = timescale_band(cert.mu, cert.L, 0.5 * cert.alpha)
    yield "band at α = ½α*", dataclasses.replace(
        ev, measured={**ev.measured, "band_r_minus": lo, "band_r_plus": hi})
