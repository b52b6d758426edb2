"""sgd_stability.nonuniformity-forms: Wu–Ma–E's condition s ≤ √B/η (s² = λ_max((1/n)ΣH_i² - H²))
holds only in its valid forms: the one-step sufficient step η_suf ≤ η* satisfies it; for commuting
H_i (1-D) η* = η_suf and a ≤ 2/η*, s ≤ √B/η* are necessary; in several dimensions the exact η*
violates s ≤ √B/η* (a counterexample to its necessity). Wu, Ma & E 2018; PAPERS-wave2.md §11
[check] (the recalled condition) / [derived] (its valid forms)."""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T
from theory_checks.verdict import Verdict

ID, KIND = "sgd_stability.nonuniformity-forms", "certificate"
CITATION = I.CITE_WU_MA_E
STATEMENT = ("η_suf ≤ η* and η_suf·s·√κ ≤ 1 (sufficient form); commuting H_i: η* = η_suf, "
             "η*·a ≤ 2, η*·s·√κ ≤ 1 (1-D necessary form); unit rows in 40 dimensions, B = 5, 10 "
             "with replacement: max η*·s/√B > 1 (s ≤ √B/η is not necessary); κ = 1/B or "
             "(n-B)/(B(n-1))")
SIZES = {"quick": dict(seeds=4), "full": dict(seeds=32)}
ROWS = ("equal", "unequal", "parallel")
COUNTER_BATCHES = (5, 10)
MARGIN = 1e-6   # the counterexample must exceed 1 by far more than the eigensolver's rounding


@dataclasses.dataclass(frozen=True)
class Evidence:
    rows: tuple
    batches: tuple
    eta_star: np.ndarray     # [rows, seed, sampling, B]
    eta_suf: np.ndarray      # [rows, seed, sampling, B]
    a: np.ndarray            # λ_max(H), [rows, seed]
    s: np.ndarray            # non-uniformity, [rows, seed]
    kappa: np.ndarray        # [sampling, B]


def _measure(*, seeds: int, rows: tuple = ROWS, threshold=T.eta_star) -> Evidence:
    shape = (len(rows), seeds, len(I.SAMPLINGS), len(I.BATCHES))
    star, suf = np.zeros(shape), np.zeros(shape)
    a, s_ = np.zeros(shape[:2]), np.zeros(shape[:2])
    kap = np.array([[I.kappa(B, I.NUM_SAMPLES, r) for B in I.BATCHES] for r in I.SAMPLINGS])
    for r, kind in enumerate(rows):
        for s in range(seeds):
            A = I.projected(I.regression(200 + s, kind))
            a[r, s], s_[r, s] = T.sharpness(A), T.nonuniformity(A)
            for j in range(len(I.SAMPLINGS)):
                for b in range(len(I.BATCHES)):
                    star[r, s, j, b] = threshold(A, kap[j, b])
                    suf[r, s, j, b] = T.eta_sufficient(A, kap[j, b])
    return Evidence(tuple(ROWS), I.BATCHES, star, suf, a, s_, kap)


def measure(*, seeds: int) -> Evidence:
    return _measure(seeds=seeds)


def judge(ev: Evidence) -> Verdict:
    s_root_kappa = ev.s[:, :, None, None] * np.sqrt(ev.kappa)[None, None]
    one_d = ev.rows.index("parallel")
    several = [i for i, r in enumerate(ev.rows) if r == "equal"]
    counter_b = [ev.batches.index(B) for B in COUNTER_BATCHES]
    counter = (ev.eta_star * s_root_kappa)[several][:, :, 0][..., counter_b]  # with replacement
    return kinds.combine({
        "counterexample: η*·s/√B > 1": kinds.certificate(
            np.array([1.0 + MARGIN]), np.array([counter.max()]), relation="<=", tol=0.0,
            predicted=f"max η*·s/√B ≥ 1 + {MARGIN:g} (unit rows, B = 5, 10)"),
        "sufficient: η_suf ≤ η*": kinds.certificate(ev.eta_suf / ev.eta_star, 1.0, relation="<=",
                                                    tol=I.EXACT, predicted="η_suf ≤ η*"),
        "sufficient form: η_suf·s·√κ ≤ 1": kinds.certificate(ev.eta_suf * s_root_kappa, 1.0,
                                                             relation="<=", tol=I.EXACT,
                                                             predicted="s ≤ 1/(η_suf √κ)"),
        "1-D: η* = η_suf": kinds.certificate(ev.eta_star[one_d] / ev.eta_suf[one_d], 1.0,
                                             relation="==", tol=I.EXACT, predicted="η* = η_suf"),
        "1-D necessary: η*·s·√κ ≤ 1": kinds.certificate((ev.eta_star * s_root_kappa)[one_d], 1.0,
                                                        relation="<=", tol=I.EXACT,
                                                        predicted="s ≤ 1/(η* √κ)"),
        "1-D necessary: η*·a ≤ 2": kinds.certificate(ev.eta_star[one_d] * ev.a[one_d, :, None, None],
                                                     2.0, relation="<=", tol=2 * I.EXACT,
                                                     predicted="a ≤ 2/η*"),
    }, "counterexample: η*·s/√B > 1")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    """The (a, s) diagram in units of the step: every instance at its exact η*, with the region
    a ≤ 2/η, s ≤ √B/η (with replacement) drawn as the recalled 'stable' box."""
    ax = fig.axes[0]
    markers = {"equal": "o", "unequal": "s", "parallel": "^"}
    for r, kind in enumerate(ev.rows):
        for b, B in enumerate(ev.batches):
            x = ev.eta_star[r, :, 0, b] * ev.a[r]
            y = ev.eta_star[r, :, 0, b] * ev.s[r] / np.sqrt(B)
            ax.scatter(x, y, marker=markers[kind], color=f"C{b}", s=18,
                       label=f"{kind}, B = {B}")
    ax.plot([0, 2, 2], [1, 1, 0], "k--", label="recalled region a ≤ 2/η, s ≤ √B/η")
    ax.set_xlabel("η*·a  (a = λ_max H)")
    ax.set_ylabel("η*·s/√B  (s² = λ_max Σ)")
    ax.set_xlim(0, 2.2)
    ax.set_ylim(0, 1.3)
    ax.set_title(f"sharpness–non-uniformity at the exact η* (with replacement): {verdict.status}",
                 fontsize=8)
    ax.legend(fontsize=5, ncol=3)


def negative_controls(ev: Evidence):
    """η* computed by the sufficient condition (never exceeds the recalled bound: no
    counterexample); the 1-D instances drawn with non-parallel rows (η* ≠ η_suf)."""
    seeds = ev.eta_star.shape[1]
    yield "η* from the sufficient condition", _measure(seeds=seeds, threshold=T.eta_sufficient)
    yield "1-D instances not commuting", _measure(seeds=seeds, rows=("equal", "unequal", "unequal"))
