"""matrix_sensing.asymmetric-exact-linear: asymmetric FGᵀ, k = r: GD from a small random init
converges linearly, exp(-Ω(T)). Xiong, Ding & Du, ICLR 2024, Thm (asymmetric, k = r). [text]"""

from __future__ import annotations

import jax
import numpy as np

import convlab
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("matrix_sensing")

ID, KIND = "matrix_sensing.asymmetric-exact-linear", "slope"
CITATION = I.CITE + ", Thm (asymmetric, k = r)"
STATEMENT = "asymmetric FGᵀ, k = r: GD from a small random init converges linearly, exp(-Ω(T))"
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, steps=1000, record_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, steps=2000, record_every=5)}
Evidence = I.LinearEvidence


measure = I.exact_measure("asymmetric")


judge = I.judge_linear
draw = I.draw_linear


def balanced_run(key, hp, prob, *, steps: int, record_every: int):
    """GD from a balanced init ``G₀ = F₀`` (the curse of symmetry, asymmetric parameterization)."""
    F, _ = prob.init(key, hp["alpha"])
    return convlab.run(convlab.gd(hp["eta"]), prob, problems.Factors(F, F), key=key,
                       num_steps=steps, record_every=record_every)


def negative_controls(ev: Evidence):
    """k > r started balanced (G₀ = F₀: FᵀF − GᵀG = 0, conserved by gradient flow) decays like
    c/t as the symmetric case does; and the symmetric k > r trace itself."""
    s = ev.setup
    p = I.problem(s, "asymmetric", s.r + 1)
    steps, every = I.OVER_HORIZON
    trace = convlab.sweep(balanced_run, jax.random.split(jax.random.key(0), 4),
                          {"eta": [s.eta], "alpha": [s.alpha]}, data=p,
                          static=dict(steps=steps, record_every=every)).to_numpy()
    err = trace["error"][0, 0] / float(np.linalg.norm(np.asarray(p.M_star)))
    yield "balanced init, k > r", I.with_trace(ev, trace.k[0, 0, 0], err, trace.diverged[0, 0])
    over = I.symmetric_over_trace(s)
    yield "symmetric k > r trace", I.with_trace(ev, over.k, over.err[0], over.diverged[0])
