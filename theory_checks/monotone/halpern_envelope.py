"""monotone.halpern-envelope: Halpern (λ_k = 1/(k+2), T = I - (2/L)F) on 1/L-cocoercive finite
sums obeys ||F u_k|| <= L||u_0 - u*||/(k+1) for every k, attained by H = L·I at even k.
Lieder 2021, Thm 2.1 (cocoercive form, PAPERS.md §4). [derived]"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.monotone import instances as I, variants
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("monotone")

ID, KIND = "monotone.halpern-envelope", "envelope"
CITATION = I.CITE_LIEDER
STATEMENT = ("Halpern (λ_k = 1/(k+2), T = I - (2/L)F) on 1/L-cocoercive finite sums: "
             "||F u_k|| ≤ L||u_0-u*||/(k+1) for all k (attained by H = L·I at even k)")
SIZES = I.HALPERN_SIZES
Evidence = I.HalpernEvidence


WORST_CASE = I.HALPERN_CASES[1][2]  # H = L·I: T = -I, on the bound at every even k


measure = I.measure_halpern


def judge(ev: Evidence) -> Verdict:
    """The envelope over k >= 1 with only the a priori rounding allowance ``ev.rounding``, and
    its attainment by every seed of the worst case ``H = L·I`` to that same allowance (relative
    to the bound at k = N, where it is largest) (NOTES.md)."""
    bound = ev.bound[None, None, :]
    worst = ev.cases.index(WORST_CASE)
    parts = {
        "envelope": kinds.envelope(ev.normalized, bound, k=ev.k, atol=ev.rounding,
                                   predicted="||F u_k|| <= L ||u_0-u*|| / (k+1)"),
        "attained": kinds.envelope(ev.normalized[worst], bound[0], k=ev.k, atol=ev.rounding,
                                   tight=ev.rounding * (ev.k[-1] + 1.0),
                                   predicted="= L ||u_0-u*|| / (k+1) on H = L·I (even k)"),
    }
    verdict = kinds.combine(parts, "envelope")
    verdict.details["per_case_max_ratio"] = {
        c: float((v / ev.bound[None])[:, ev.k >= 1].max()) for c, v in zip(ev.cases, ev.normalized)}
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_halpern(ev, verdict, fig)


def picard_residual(num_steps: int, record_every: int) -> np.ndarray:
    """``‖F u_k‖ / (L‖u_0 - u*‖)`` of Picard's ``u <- T u`` (GD with step 2/L, no anchor) on the
    worst case H = L·I: T reflects u around u*, so the ratio stays 1 for every k."""
    p = problems.make_cocoercive_sum(jax.random.key(0), n_components=8, dim=6, mu=1.0, L=1.0)
    t = convlab.run(convlab.gd(2.0), p, p.x0, key=jax.random.key(0), num_steps=num_steps,
                    record_every=record_every)
    return np.asarray(t["residual"]) / float(np.linalg.norm(p.x0 - p.x_star))


def _scaled_halpern(factor: float, step_size):
    return convlab.halpern(factor * step_size)


def _worst_case_rows(ev: Evidence, make_method) -> np.ndarray:
    """The worst-case rows of ``ev.normalized`` re-measured with ``make_method`` (the claim's
    run function :func:`instances.halpern_run`, on H = L·I, the same seeds)."""
    trace, scale, _ = convlab.sweep(
        I.halpern_run, I.seed_keys(ev.normalized.shape[1], 11), {"mu": np.array([1.0])},
        static=dict(kind="quadratic", n=ev.n, dim=ev.dim, steps=int(ev.k[-1]),
                    record_every=int(ev.k[1]), make_method=make_method))
    return np.asarray(trace["residual"])[0] / np.asarray(scale)[0][:, None]


def negative_controls(ev: Evidence):
    """Halpern without its anchor (Picard iteration) in place of one run; Halpern run with the
    anchor λ_k = 1/(k+3) (above the bound at k = 2) and at 0.9 × its step (T = -0.8 I on the
    worst case: under the bound, not attaining it) on the worst case."""
    broken = ev.normalized.copy()
    broken[0, 0] = picard_residual(int(ev.k[-1]), int(ev.k[1]))
    yield "no anchor (Picard)", dataclasses.replace(ev, normalized=broken)
    worst = ev.cases.index(WORST_CASE)
    for name, make in (("anchor 1/(k+3)", variants.halpern_anchor(3.0)),
                       ("step 0.9 × 2/L", functools.partial(_scaled_halpern, 0.9))):
        broken = ev.normalized.copy()
        broken[worst] = _worst_case_rows(ev, make)
        yield name, dataclasses.replace(ev, normalized=broken)
