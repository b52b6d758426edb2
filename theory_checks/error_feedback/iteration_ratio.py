"""error_feedback.iteration-ratio: the iterations to ||∇f||² <= 1e-6 ||∇f(x0)||² of EF21 at
γ_QM over EF21 at γ_AM equal ρ = (L + L_QM ξ)/(L + L_AM ξ) within 5% at every h ∈ {1, 10, 100}
(mean over client draws with a bootstrap CI; ρ from constants recomputed in NumPy and ξ by
numeric minimisation). Richtárik, Gasanov, Burlachenko 2024 (abstract) [text]; ρ as the
iteration ratio while progress ∝ γ [derived] (NOTES.md)."""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.error_feedback import instances as I
from theory_checks.error_feedback import theory as T
from theory_checks.verdict import Verdict

ID, KIND = "error_feedback.iteration-ratio", "slope"
CITATION = I.CITE_W
STATEMENT = ("iterations to ||∇f||² <= 1e-6 ||∇f(x0)||², EF21 @ γ_QM / EF21 @ γ_AM = ρ = "
             "(L + L_QM ξ)/(L + L_AM ξ) ± 5% at h = 1, 10, 100 (n = 20, d = 30, Top-3; CI over "
             "client draws)")
SIZES = {"quick": dict(draws=4, steps=10000), "full": dict(draws=12, steps=14000)}
TOL = 0.05   # the "~5%": the model "iterations ∝ 1/γ" is exact only as γλ -> 0


@dataclasses.dataclass(frozen=True)
class Evidence:
    hs: np.ndarray             # per instance
    iterations: np.ndarray     # [2 (γ_QM, γ_AM), instance], inf = not reached
    rho: np.ndarray            # predicted, independent constants, per instance
    qm_over_am: np.ndarray     # L_QM/L_AM, independent
    l_over_am: np.ndarray      # L/L_AM, independent
    xi: float                  # ξ by numeric minimisation
    steps: int


def measure(*, draws: int, steps: int) -> Evidence:
    batch = I.quadratics(draws, 31)
    gammas = I.theory_steps(batch, I.alpha())
    iters = []
    for j, step in enumerate(("qm", "am")):
        out = I.run_batch(I.method(False), batch, gammas[step], steps=steps, salt=40 + j)
        iters.append(I.iterations_to(out["k"], out["g"]))
    c = I.independent_constants(batch)
    xi, _ = T.xi_numeric(I.alpha())
    rho = (c["L"] + c["L_QM"] * xi) / (c["L"] + c["L_AM"] * xi)
    return Evidence(np.repeat(np.asarray(I.HS), draws), np.asarray(iters), rho,
                    c["L_QM"] / c["L_AM"], c["L"] / c["L_AM"], xi, steps)


def relative(ev: Evidence) -> np.ndarray:
    """Measured ratio / predicted ρ per instance."""
    with np.errstate(invalid="ignore"):
        return ev.iterations[0] / ev.iterations[1] / ev.rho


def judge(ev: Evidence) -> Verdict:
    rel = relative(ev)
    parts = {}
    for h in np.unique(ev.hs):
        values = rel[ev.hs == h]
        if not np.all(np.isfinite(ev.iterations[:, ev.hs == h])):   # censored: never holds
            fit = kinds.mean_fit(np.where(np.isfinite(values), values, 0.0))._replace(
                ci_low=float("nan"), ci_high=float("nan"))
        else:
            fit = kinds.mean_fit(values)
        parts[f"h={h:g}"] = kinds.slope(fit, 1.0, TOL, what="iteration ratio / ρ")
    verdict = kinds.combine(parts, f"h={np.unique(ev.hs)[-1]:g}")
    verdict.details["mean_ratio"] = {f"h={h:g}": float(np.mean(ev.iterations[0][ev.hs == h]
                                                            / ev.iterations[1][ev.hs == h]))
                                     for h in np.unique(ev.hs)}
    verdict.details["mean_rho"] = {f"h={h:g}": float(ev.rho[ev.hs == h].mean()) for h in np.unique(ev.hs)}
    verdict.details["mean_qm_over_am"] = {f"h={h:g}": float(ev.qm_over_am[ev.hs == h].mean())
                                          for h in np.unique(ev.hs)}
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    ratio = ev.iterations[0] / ev.iterations[1]
    r = np.linspace(1.0, max(3.2, ev.qm_over_am.max() * 1.05), 100)
    for h in np.unique(ev.hs):
        sel = ev.hs == h
        ax.plot(ev.qm_over_am[sel], ratio[sel], "o", ms=4, label=f"measured, h = {h:g}")
    lam = np.median(ev.l_over_am)
    ax.plot(r, (lam + r * ev.xi) / (lam + ev.xi), "k-", lw=1,
            label=f"ρ = (L + L_QM ξ)/(L + L_AM ξ), L/L_AM = {lam:.2f}")
    ax.plot(r, r, "k:", lw=0.8, label="L_QM/L_AM")
    ax.fill_between(r, (1 - TOL) * (lam + r * ev.xi) / (lam + ev.xi),
                    (1 + TOL) * (lam + r * ev.xi) / (lam + ev.xi), color="0.85", label="±5%")
    ax.set_xlabel("L_QM / L_AM")
    ax.set_ylabel("iterations EF21(γ_QM) / EF21(γ_AM)")
    ax.legend(fontsize=6)
    ax.set_title(f"iteration ratio vs ρ: {verdict.status}", fontsize=9)


def negative_controls(ev: Evidence):
    """Predictions with ξ -> 0 (ρ = 1: 'no gain') and ρ replaced by (L_QM/L_AM)² (a wrong
    level); the γ_QM run's counts swapped with the γ_AM run's."""
    yield "ρ = 1", dataclasses.replace(ev, rho=np.ones_like(ev.rho))
    yield "ρ = (L_QM/L_AM)²", dataclasses.replace(ev, rho=ev.qm_over_am ** 2)
    yield "runs swapped", dataclasses.replace(ev, iterations=ev.iterations[::-1])
