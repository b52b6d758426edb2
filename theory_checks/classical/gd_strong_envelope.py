"""classical.gd-strong-envelope: GD with γ = 2/(L+μ) on μ-strongly convex quadratics obeys
||x_k - x*|| <= ((κ-1)/(κ+1))^k ||x_0 - x*||, attained at every k by the two-eigenvalue worst
case. Nesterov 2004, Thm 2.1.15. [text]/[derived]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.classical import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("classical")

ID, KIND = "classical.gd-strong-envelope", "envelope"
CITATION = I.CITE_STRONG
STATEMENT = ("GD, γ = 2/(L+μ), μ-strongly convex quadratic: ||x_k-x*|| ≤ ((κ-1)/(κ+1))^k ||x_0-x*||, "
             "attained by the two-eigenvalue worst case")
TIGHT = 1e-9  # the worst case sits on the bound exactly: rounding only
ATTAINING_STEPS = 40  # records k = 0..40 (past the float64 floor for μ = 0.5: atol covers it)
SIZES = {"quick": dict(seeds=8, dim=40, steps=400, record_every=2),
         "full": dict(seeds=32, dim=400, steps=4000, record_every=10)}


@dataclasses.dataclass(frozen=True)
class Evidence(I.EnvelopeEvidence):
    attaining: np.ndarray = None   # the worst case, normalised, [μ, seed, record k = 0..40]


def _normalized(kind: str, seeds: int, dim: int, steps: int, record_every: int):
    trace, r0 = convlab.sweep(I.quadratic_run, I.seeds(seeds, 3), {"mu": I.MUS},
                              static=dict(kind=kind, dim=dim, steps=steps,
                                          record_every=record_every))
    return I.record_axis(trace), np.asarray(trace["distance"]) / np.asarray(r0)[..., None]


def measure(*, seeds: int, dim: int, steps: int, record_every: int) -> Evidence:
    k, normalized = _normalized("random", seeds, dim, steps, record_every)
    _, attaining = _normalized("worst_case", seeds, dim, ATTAINING_STEPS, 1)
    bound = I.contraction(I.MUS)[:, None] ** k[None, :]
    return Evidence(k, I.MUS, "μ", ("random quadratics, L = 1",), normalized[None], bound,
                    attaining)


def judge(ev: Evidence) -> Verdict:
    k_attaining = np.arange(ev.attaining.shape[-1], dtype=np.float64)
    return kinds.combine({
        "envelope": kinds.envelope(ev.normalized, ev.bound[None, :, None, :], k=ev.k,
                                   atol=I.FLOAT64_DISTANCE_FLOOR,
                                   predicted="||x_k-x*|| <= ((κ-1)/(κ+1))^k ||x_0-x*||"),
        "attained": kinds.envelope(ev.attaining,
                                   (I.contraction(ev.params)[:, None] ** k_attaining)[:, None, :],
                                   k=k_attaining, tight=TIGHT, atol=I.FLOAT64_DISTANCE_FLOOR,
                                   predicted="= ((κ-1)/(κ+1))^k on the two-eigenvalue worst case"),
    }, "envelope")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_envelopes(ev, verdict, fig, ylabel="||x_k - x*|| / ||x_0 - x*||",
                     ylim=(I.FLOAT64_DISTANCE_FLOOR / 10, 2.0))


def negative_controls(ev: Evidence):
    """GD with γ = 1/L contracts only by 1 - μ/L along the μ-eigenvector."""
    broken = ev.normalized.copy()
    for i, mu in enumerate(ev.params):
        p = problems.make_strongly_convex_quadratic(jax.random.key(i), dim=40, mu=float(mu), L=1.0)
        t = convlab.run(convlab.gd(1.0), p, p.x0, key=jax.random.key(0),
                        num_steps=int(ev.k[-1]), record_every=int(ev.k[1]))
        broken[0, i, 0] = np.asarray(t["distance"]) / float(np.linalg.norm(p.x0 - p.x_star))
    yield "step 1/L", dataclasses.replace(ev, normalized=broken)
    slower = ev.attaining * (1.0 - 1e-3) ** np.arange(ev.attaining.shape[-1])
    yield "worst case 0.1% under its bound per step", dataclasses.replace(ev, attaining=slower)
