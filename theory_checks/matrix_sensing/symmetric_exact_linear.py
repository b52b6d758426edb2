"""matrix_sensing.symmetric-exact-linear: symmetric XXᵀ, k = r: GD from a small random init
converges linearly, exp(-Ω(T)), at the local rate of GD's map at the run's limit X̂ (transverse
to the orbit X̂Q). Xiong, Ding & Du, ICLR 2024, Thm (symmetric, k = r). [text] + [derived]"""

from __future__ import annotations

from theory_checks.matrix_sensing import exact as E
from theory_checks.matrix_sensing import instances as I

ID, KIND = "matrix_sensing.symmetric-exact-linear", "local-rate"
CITATION = I.CITE + ", Thm (symmetric, k = r)"
STATEMENT = ("symmetric XXᵀ, k = r: GD from a small random init converges linearly, exp(-Ω(T)), "
             "at the rate of the Jacobian of X - η∇L(X) at its limit, transverse to X̂Q")
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, steps=1000, record_every=5),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, steps=2000, record_every=5)}
Evidence = E.LinearEvidence

measure = E.exact_measure("symmetric")
judge = E.judge_linear
draw = E.draw_linear


def negative_controls(ev: Evidence):
    """The shared controls (exact.linear_controls) and the symmetric k > r instance (claim 2's
    trace: sublinear, not at a solution)."""
    yield from E.linear_controls(ev)
    yield "symmetric k > r instance", E.measure_exact(ev.setup, "symmetric", steps=I.OVER_HORIZON[0],
                                                      record_every=I.OVER_HORIZON[1],
                                                      width=ev.setup.r + 1)
