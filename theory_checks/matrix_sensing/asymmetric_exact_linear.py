"""matrix_sensing.asymmetric-exact-linear: asymmetric FGᵀ, k = r: GD from a small random init
converges linearly, exp(-Ω(T)), at the local rate of GD's map at the run's own (imbalanced)
limit (F̂, Ĝ), transverse to {(F̂P, ĜP^-T)}. Xiong, Ding & Du, ICLR 2024, Thm (asymmetric,
k = r). [text] + [derived]"""

from __future__ import annotations

import dataclasses

from theory_checks.matrix_sensing import exact as E
from theory_checks.matrix_sensing import instances as I

ID, KIND = "matrix_sensing.asymmetric-exact-linear", "local-rate"
CITATION = I.CITE + ", Thm (asymmetric, k = r)"
STATEMENT = ("asymmetric FGᵀ, k = r: GD from a small random init converges linearly, exp(-Ω(T)), "
             "at the rate of GD's map at its own limit, transverse to (F̂P, ĜP^-T)")
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, steps=1000, record_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, steps=2000, record_every=5)}
Evidence = E.LinearEvidence
BALANCED_SEEDS = 4

measure = E.exact_measure("asymmetric")
judge = E.judge_linear
draw = E.draw_linear


def negative_controls(ev: Evidence):
    """The shared controls (exact.linear_controls) and k > r started balanced (G₀ = F₀:
    FᵀF − GᵀG = 0, conserved by gradient flow), which decays like c/t as the symmetric case
    (BALANCED_SEEDS seeds: 2·10⁴ steps)."""
    yield from E.linear_controls(ev)
    s = dataclasses.replace(ev.setup, seeds=BALANCED_SEEDS)
    yield "balanced init, k > r", E.measure_exact(s, "asymmetric", steps=I.OVER_HORIZON[0],
                                                  record_every=I.OVER_HORIZON[1], width=s.r + 1,
                                                  variant=(("balanced", True),))
