"""error_feedback.equal-constants: when every L_i is equal (heterogeneous data, Hessians
rescaled to one λ_max), L_QM = L_AM, ρ = 1 and EF21-W at γ_AM takes the iterations of EF21 at
γ_QM (ratio 1 ± 5%, CI over draws): no gain without heterogeneous constants, the negative
control of iteration-ratio's premise. [derived] (NOTES.md)."""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.error_feedback import instances as I
from theory_checks.error_feedback import theory as T
from theory_checks.error_feedback.iteration_ratio import TOL
from theory_checks.verdict import Verdict

ID, KIND = "error_feedback.equal-constants", "certificate"
CITATION = I.CITE_W
STATEMENT = ("every L_i equal (A_i rescaled to λ_max(A_i) = L_AM, h = 10, 100 before rescaling): "
             "L_QM = L_AM, ρ = 1, iterations EF21 @ γ_QM / EF21-W @ γ_AM = 1 ± 5%")
SIZES = {"quick": dict(draws=3, steps=4000), "full": dict(draws=8, steps=8000)}
HS = (10.0, 100.0)
ROUNDING = 1e-12


@dataclasses.dataclass(frozen=True)
class Evidence:
    qm_over_am: np.ndarray      # independent, per instance
    rho: np.ndarray
    spread: np.ndarray          # max ||A_i - Ā|| / ||Ā||: the data stay heterogeneous
    iterations: np.ndarray      # [2 (EF21 @ γ_QM, EF21-W @ γ_AM), instance]


def measure(*, draws: int, steps: int) -> Evidence:
    batch = I.quadratics(draws, 71, HS, equal=True)
    gammas = I.theory_steps(batch, I.alpha())
    iters = [I.iterations_to(**_kg(I.run_batch(I.method(w), batch, gammas[s], steps=steps,
                                                     salt=80 + j)))
             for j, (w, s) in enumerate(((False, "qm"), (True, "am")))]
    c = I.independent_constants(batch)
    xi, _ = T.xi_numeric(I.alpha())
    A = np.asarray(batch.A)
    A_bar = A.mean(axis=1, keepdims=True)
    spread = (np.linalg.norm(A - A_bar, ord=2, axis=(-2, -1)).max(axis=-1)
              / np.linalg.norm(A_bar[:, 0], ord=2, axis=(-2, -1)))
    rho = (c["L"] + c["L_QM"] * xi) / (c["L"] + c["L_AM"] * xi)
    return Evidence(c["L_QM"] / c["L_AM"], rho, spread, np.asarray(iters))


def _kg(out):
    return {"k": out["k"], "g": out["g"]}


def judge(ev: Evidence) -> Verdict:
    finite = np.all(np.isfinite(ev.iterations))
    fit = kinds.mean_fit(ev.iterations[0] / ev.iterations[1])
    if not finite:
        fit = fit._replace(ci_low=float("nan"), ci_high=float("nan"))
    parts = {
        "L_QM = L_AM": kinds.certificate(ev.qm_over_am, 1.0, relation="==", tol=ROUNDING,
                                         predicted="L_QM / L_AM = 1"),
        "ρ = 1": kinds.certificate(ev.rho, 1.0, relation="==", tol=ROUNDING, predicted="ρ = 1"),
        "no gain": kinds.slope(fit, 1.0, TOL, what="iterations EF21 @ γ_QM / EF21-W @ γ_AM"),
    }
    verdict = kinds.combine(parts, "no gain")
    verdict.details["data_spread_min"] = float(ev.spread.min())
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    x = np.arange(ev.iterations.shape[1])
    ax.bar(x - 0.2, ev.iterations[0], 0.4, label="EF21 @ γ_QM")
    ax.bar(x + 0.2, ev.iterations[1], 0.4, label="EF21-W @ γ_AM")
    ax.set_xlabel("instance (equal L_i, heterogeneous data)")
    ax.set_ylabel("iterations to 1e-6")
    ax.legend(fontsize=7)
    ax.set_title(f"equal L_i: no gain: {verdict.status}", fontsize=9)


def negative_controls(ev: Evidence):
    """Heterogeneous constants' values (L_QM/L_AM = 1.75, as at h = 10) substituted; EF21-W's
    count halved (a 'gain' where none is possible)."""
    yield "L_QM/L_AM = 1.75", dataclasses.replace(ev, qm_over_am=np.full_like(ev.qm_over_am, 1.75))
    it = ev.iterations.copy()
    it[1] = it[1] / 2
    yield "EF21-W twice as fast", dataclasses.replace(ev, iterations=it)
