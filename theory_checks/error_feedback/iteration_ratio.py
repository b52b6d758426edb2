"""error_feedback.iteration-ratio: the iterations to ||∇f||² <= 1e-6 ||∇f(x0)||² of EF21 at
γ_QM over EF21 at γ_AM equal ρ = (L + L_QM ξ)/(L + L_AM ξ) within 5% (mean over client draws
with a bootstrap CI) for Top-3 at h ∈ {1, 10, 100} and for Top-15 at h ∈ {10, 100}, where ρ and
L_QM/L_AM are told apart; ρ from constants recomputed in NumPy and ξ by numeric minimisation.
Richtárik, Gasanov, Burlachenko 2024 (abstract) [text]; ρ as the iteration ratio while
progress ∝ γ [derived] (NOTES.md)."""

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
             "(L + L_QM ξ)/(L + L_AM ξ) ± 5% (n = 20, d = 30; Top-3, ξ = 18.5, h = 1, 10, 100; "
             "Top-15, ξ = 2.41, h = 10, 100, where ρ is 8-18% below L_QM/L_AM; CI over client draws)")
SIZES = {"quick": dict(draws=4, steps=10000), "full": dict(draws=12, steps=14000)}
TOL = 0.05   # the "~5%": the model "iterations ∝ 1/γ" is exact only as γλ -> 0
SETTINGS = ((I.K, I.HS), (15, (10.0, 100.0)))   # (k, hs); Top-15 runs take steps // 4
TOP15_STEPS = 4


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray              # Top-k's k per instance
    hs: np.ndarray             # h per instance
    iterations: np.ndarray     # [2 (γ_QM, γ_AM), instance], inf = not reached
    rho: np.ndarray            # predicted, independent constants, per instance
    qm_over_am: np.ndarray     # L_QM/L_AM, independent
    l_over_am: np.ndarray      # L/L_AM, independent
    xi: np.ndarray             # ξ by numeric minimisation, per instance
    steps: int


def measure(*, draws: int, steps: int) -> Evidence:
    cols = {name: [] for name in ("k", "hs", "it", "rho", "qa", "la", "xi")}
    for j, (k, hs) in enumerate(SETTINGS):
        batch = I.quadratics(draws, 31, hs)
        a = I.alpha("top_k", k)
        gammas = I.theory_steps(batch, a)
        horizon = steps if k == I.K else steps // TOP15_STEPS
        iters = []
        for i, step in enumerate(("qm", "am")):
            out = I.run_batch(I.method(False, k=k), batch, gammas[step], steps=horizon,
                              salt=40 + 2 * j + i)
            iters.append(I.iterations_to(out["k"], out["g"]))
        c = I.independent_constants(batch)
        xi, _ = T.xi_numeric(a)
        size = len(hs) * draws
        cols["k"].append(np.full(size, k))
        cols["hs"].append(np.repeat(np.asarray(hs), draws))
        cols["it"].append(np.asarray(iters))
        cols["rho"].append((c["L"] + c["L_QM"] * xi) / (c["L"] + c["L_AM"] * xi))
        cols["qa"].append(c["L_QM"] / c["L_AM"])
        cols["la"].append(c["L"] / c["L_AM"])
        cols["xi"].append(np.full(size, xi))
    cat = {name: np.concatenate(v, axis=-1) for name, v in cols.items()}
    return Evidence(cat["k"], cat["hs"], cat["it"], cat["rho"], cat["qa"], cat["la"], cat["xi"],
                    steps)


def relative(ev: Evidence) -> np.ndarray:
    """Measured ratio / predicted ρ per instance."""
    with np.errstate(invalid="ignore"):
        return ev.iterations[0] / ev.iterations[1] / ev.rho


def groups(ev: Evidence):
    """``(name, mask)`` per (k, h) setting."""
    for k in np.unique(ev.k):
        for h in np.unique(ev.hs[ev.k == k]):
            yield f"Top-{k:d}, h={h:g}", (ev.k == k) & (ev.hs == h)


def judge(ev: Evidence) -> Verdict:
    rel = relative(ev)
    parts, ratio_, rho_, qa_ = {}, {}, {}, {}
    for name, sel in groups(ev):
        values = rel[sel]
        if not np.all(np.isfinite(ev.iterations[:, sel])):   # censored: never holds
            fit = kinds.mean_fit(np.where(np.isfinite(values), values, 0.0))._replace(
                ci_low=float("nan"), ci_high=float("nan"))
        else:
            fit = kinds.mean_fit(values)
        parts[name] = kinds.slope(fit, 1.0, TOL, what="iteration ratio / ρ")
        with np.errstate(invalid="ignore"):
            ratio_[name] = float(np.mean(ev.iterations[0][sel] / ev.iterations[1][sel]))
        rho_[name] = float(ev.rho[sel].mean())
        qa_[name] = float(ev.qm_over_am[sel].mean())
    verdict = kinds.combine(parts, f"Top-{I.K}, h={max(I.HS):g}")
    verdict.details.update(mean_ratio=ratio_, mean_rho=rho_, mean_qm_over_am=qa_)
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    ratio = ev.iterations[0] / ev.iterations[1]
    r = np.linspace(1.0, max(3.2, ev.qm_over_am.max() * 1.05), 100)
    for i, (name, sel) in enumerate(groups(ev)):
        ax.plot(ev.qm_over_am[sel], ratio[sel], "os"[int(ev.k[sel][0] != I.K)], ms=4,
                color=f"C{i}", label=f"measured, {name}")
    for k in np.unique(ev.k):
        sel = ev.k == k
        lam, xi = np.median(ev.l_over_am[sel]), float(ev.xi[sel][0])
        curve = (lam + r * xi) / (lam + xi)
        ax.plot(r, curve, "k-" if k == I.K else "k--", lw=1,
                label=f"ρ, Top-{k:d} (ξ = {xi:.2f}, L/L_AM = {lam:.2f})")
        ax.fill_between(r, (1 - TOL) * curve, (1 + TOL) * curve, color="0.85", alpha=0.6)
    ax.plot(r, r, "k:", lw=0.8, label="L_QM/L_AM")
    ax.set_xlabel("L_QM / L_AM")
    ax.set_ylabel("iterations EF21(γ_QM) / EF21(γ_AM)")
    ax.legend(fontsize=6)
    ax.set_title(f"iteration ratio vs ρ (bands ±5%): {verdict.status}", fontsize=9)


def negative_controls(ev: Evidence):
    """Predictions ρ = 1 ('no gain'), ρ = L_QM/L_AM (its α -> 0 limit: wrong for Top-15) and
    (L_QM/L_AM)²; the γ_QM run's counts swapped with the γ_AM run's."""
    yield "ρ = 1", dataclasses.replace(ev, rho=np.ones_like(ev.rho))
    yield "ρ = L_QM/L_AM", dataclasses.replace(ev, rho=ev.qm_over_am)
    yield "ρ = (L_QM/L_AM)²", dataclasses.replace(ev, rho=ev.qm_over_am ** 2)
    yield "runs swapped", dataclasses.replace(ev, iterations=ev.iterations[::-1])
