"""matrix_sensing.symmetric-exact-linear: symmetric XXᵀ, k = r: GD from a small random init
converges linearly, exp(-Ω(T)). Xiong, Ding & Du, ICLR 2024, Thm (symmetric, k = r). [text]"""

from __future__ import annotations

import dataclasses

import jax

import convlab
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.symmetric-exact-linear", "slope"
CITATION = I.CITE + ", Thm (symmetric, k = r)"
STATEMENT = "symmetric XXᵀ, k = r: GD from a small random init converges linearly, exp(-Ω(T))"
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, steps=1000, record_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, steps=2000, record_every=5)}
DIVERGING_ALPHA = 3.0   # with η = 0.1 GD diverges (PAPERS.md: α = 1 already does at η = 0.05)
Evidence = I.LinearEvidence


measure = I.exact_measure("symmetric")


judge = I.judge_linear
draw = I.draw_linear


def negative_controls(ev: Evidence):
    """The symmetric k > r instance (sublinear: the drift test rejects the linear fit); and GD
    from an init of scale α = 3, where every run diverges."""
    over = I.symmetric_over_trace(ev.setup)
    yield "k > r instance", I.with_trace(ev, over.k, over.err[0], over.diverged[0])
    p = I.problem(ev.setup, "symmetric", ev.setup.r)
    trace = convlab.sweep(I.make_run, jax.random.split(jax.random.key(0), 3),
                          {"eta": [ev.setup.eta], "alpha": [DIVERGING_ALPHA]}, data=p,
                          static=dict(method="gd", steps=200, record_every=5)).to_numpy()
    k, err, diverged = trace.k[0, 0, 0], trace["error"][0, 0], trace.diverged[0, 0]
    yield "α = 3 (diverges)", dataclasses.replace(
        ev, k=k, err=err, diverged=diverged, fit=convlab.fit_rate(k, err, diverged=diverged),
        drift={"verdict": "undecided"})
