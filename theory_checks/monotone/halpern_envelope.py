"""monotone.halpern-envelope: Halpern (λ_k = 1/(k+2), T = I - (2/L)F) on 1/L-cocoercive finite
sums obeys ||F u_k|| <= L||u_0 - u*||/(k+1) for every k, attained by H = L·I at even k.
Lieder 2021, Thm 2.1 (cocoercive form, PAPERS.md §4). [derived]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.monotone import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("monotone")

ID, KIND = "monotone.halpern-envelope", "envelope"
CITATION = I.CITE_LIEDER
STATEMENT = ("Halpern (λ_k = 1/(k+2), T = I - (2/L)F) on 1/L-cocoercive finite sums: "
             "||F u_k|| ≤ L||u_0-u*||/(k+1) for all k (attained by H = L·I at even k)")
SIZES = I.HALPERN_SIZES
Evidence = I.HalpernEvidence


measure = I.measure_halpern


def judge(ev: Evidence) -> Verdict:
    """The envelope with only the a priori rounding allowance ``ev.rounding`` (NOTES.md)."""
    verdict = kinds.envelope(ev.normalized, ev.bound[None, None, :], atol=ev.rounding,
                             predicted="||F u_k|| <= L ||u_0-u*|| / (k+1)")
    ratio = ev.normalized[1] / ev.bound[None, :]
    verdict.details["worst_case_max_ratio"] = float(ratio[:, 1:].max())
    verdict.details["per_case_max_ratio"] = {c: float((v / ev.bound[None]).max())
                                            for c, v in zip(ev.cases, ev.normalized)}
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


def negative_controls(ev: Evidence):
    """Halpern without its anchor (Picard iteration) in place of one run."""
    broken = ev.normalized.copy()
    broken[0, 0] = picard_residual(int(ev.k[-1]), int(ev.k[1]))
    yield "no anchor (Picard)", dataclasses.replace(ev, normalized=broken)
