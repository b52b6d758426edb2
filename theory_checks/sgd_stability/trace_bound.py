"""sgd_stability.trace-bound: with equal per-sample gradient norms, η*(1) = 2/Tr(H) exactly and
η*(B) ≤ 2B/Tr(H) for every B (Tr H ≤ 2B/η at every minimum SGD can stay at); simulated SGD at
1.1·2B/Tr H blows up. Wu & Su 2023 (Tr H ≤ 2/η); PAPERS-wave2.md §11 [derived]."""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T
from theory_checks.verdict import Verdict

ID, KIND = "sgd_stability.trace-bound", "certificate"
CITATION = I.CITE_WU_SU
STATEMENT = ("equal row norms: η*(1)·Tr H = 2 exactly; η*(B)·Tr H/B ≤ 2 for B = 1, 2, 5, 10 (with "
             "and without replacement); SGD at η = 1.1·2B/Tr H blows up in mean square (B = 1, 2, 5)")
SIZES = {"quick": dict(seeds=4, runs=100, steps=300), "full": dict(seeds=16, runs=1000, steps=1000)}
RUN_BATCHES = (1, 2, 5)
FACTOR = 1.1


@dataclasses.dataclass(frozen=True)
class Evidence:
    rows: str
    batches: tuple
    eta_trace_over_b: np.ndarray   # η*(B)·Tr H / B, [seed, sampling, B]
    run_batches: tuple
    final: np.ndarray              # ||δ_T||²/||δ_0||² at η = 1.1·2B/Tr H, [B, run]
    steps: int


def _measure(*, seeds: int, runs: int, steps: int, rows: str = "equal",
             threshold=T.eta_star) -> Evidence:
    values = np.zeros((seeds, len(I.SAMPLINGS), len(I.BATCHES)))
    for s in range(seeds):
        A = I.projected(I.regression(s, rows))
        tr = T.trace_h(A)
        for j, replace in enumerate(I.SAMPLINGS):
            for b, B in enumerate(I.BATCHES):
                values[s, j, b] = threshold(A, I.kappa(B, A.shape[0], replace)) * tr / B
    p = I.regression(0, rows)
    A = I.projected(p)
    r0 = float(np.sum(np.asarray(p.x0 - p.x_star) ** 2))
    finals = [I.final_distance_sq(p, np.array([FACTOR * 2 * B / T.trace_h(A)]), runs=runs,
                                  steps=steps, batch_size=B, replace=True, salt=40 + B)[0] / r0
              for B in RUN_BATCHES]
    return Evidence(rows, I.BATCHES, values, RUN_BATCHES, np.stack(finals), steps)


def measure(*, seeds: int, runs: int, steps: int) -> Evidence:
    return _measure(seeds=seeds, runs=runs, steps=steps)


def judge(ev: Evidence) -> Verdict:
    parts = {
        "B = 1: η*·Tr H = 2": kinds.certificate(ev.eta_trace_over_b[:, :, 0], 2.0, relation="==",
                                                tol=2 * I.EXACT, predicted="η*(1) = 2/Tr H"),
        "η*·Tr H/B ≤ 2": kinds.certificate(ev.eta_trace_over_b, 2.0, relation="<=", tol=2 * I.EXACT,
                                           predicted="Tr H ≤ 2B/η*"),
    }
    for b, B in enumerate(ev.run_batches):
        parts[f"B = {B}: blows up at 1.1·2B/Tr H"] = kinds.ordering(
            np.ones(ev.final.shape[-1]), ev.final[b], names=("||δ_0||²", "||δ_T||² at 1.1·2B/Tr H"),
            what="mean square")
    return kinds.combine(parts, "B = 1: η*·Tr H = 2")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    B = np.array(ev.batches)
    for j, replace in enumerate(I.SAMPLINGS):
        v = ev.eta_trace_over_b[:, j, :]
        ax.errorbar(B * (1.0 + 0.03 * j), v.mean(axis=0), yerr=v.std(axis=0), marker="o",
                    capsize=3, label=f"η*(B)·Tr H/B, {I.sampling_name(replace)}")
    ax.axhline(2.0, color="k", linestyle="--", label="2 (Wu–Su: Tr H ≤ 2B/η)")
    ax.set_xscale("log")
    ax.set_xlabel("batch size B (n = 10, unit rows)")
    ax.set_ylabel("η*(B)·Tr(H)/B")
    ax.set_ylim(0, 2.3)
    ax.set_title(f"trace bound, equal gradient norms: {verdict.status}", fontsize=9)
    ax.legend(fontsize=7)


def _gd_threshold(A, kappa):
    """η* with the noise term forgotten: GD's 2/λ_max for every batch."""
    return T.eta_star(A, 0.0)


def negative_controls(ev: Evidence):
    """Rows of unequal norms (the generator's normalisation skipped): η*(1)·Tr H ≠ 2; the GD
    threshold 2/λ_max used for SGD: η*·Tr H/B far above 2."""
    seeds, runs = ev.eta_trace_over_b.shape[0], ev.final.shape[-1]
    yield "unequal row norms", _measure(seeds=seeds, runs=runs, steps=ev.steps, rows="unequal")
    yield "threshold without the noise term", _measure(seeds=seeds, runs=runs, steps=ev.steps,
                                                       threshold=_gd_threshold)
