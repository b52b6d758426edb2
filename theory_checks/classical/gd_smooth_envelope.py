"""classical.gd-smooth-envelope: GD with step h/L on L-smooth convex f obeys
f(x_k) - f* <= L R²/(4kh + 2) for every k. Drori & Teboulle 2014, Thm 3.1. [text]"""

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

ID, KIND = "classical.gd-smooth-envelope", "envelope"
CITATION = I.CITE_DT
STATEMENT = "GD, step h/L (h ≤ 1), L-smooth convex: f(x_k)-f* ≤ L R²/(4kh+2) for all k"
SIZES = {"quick": dict(seeds=8, dim=40, samples=20, steps=400, record_every=2),
         "full": dict(seeds=32, dim=400, samples=200, steps=4000, record_every=10)}
RELATIVE_STEPS = np.array([0.25, 0.5, 1.0])
Evidence = I.EnvelopeEvidence


def measure(*, seeds: int, dim: int, samples: int, steps: int, record_every: int) -> Evidence:
    gaps = []
    for loss in problems.LOSSES:
        trace, scale = convlab.sweep(I.smooth_run, I.seeds(seeds, 1), {"h": RELATIVE_STEPS},
                                     static=dict(loss=loss, dim=dim, samples=samples,
                                                 steps=steps, record_every=record_every))
        gaps.append(np.asarray(trace["gap"]) / np.asarray(scale)[..., None])
    k = I.record_axis(trace)
    bound = 1.0 / (4.0 * k[None, :] * RELATIVE_STEPS[:, None] + 2.0)  # [H, R]
    return Evidence(k, RELATIVE_STEPS, "h", problems.LOSSES, np.stack(gaps), bound)


def judge(ev: Evidence) -> Verdict:
    return kinds.envelope(ev.normalized, ev.bound[None, :, None, :],
                          predicted="f(x_k)-f* <= L R²/(4kh+2)")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_envelopes(ev, verdict, fig, ylabel="(f(x_k) - f*) / (L R²)", logx=True)


def negative_controls(ev: Evidence):
    """GD with step 2.2/L (outside (0, 1/L], unstable) in place of one run."""
    p = problems.make_smooth_convex(jax.random.key(0), num_samples=20, dim=40)
    t = convlab.run(convlab.gd(2.2 / p.L), p, p.x0, key=jax.random.key(0),
                    num_steps=int(ev.k[-1]), record_every=int(ev.k[1]))
    broken = ev.normalized.copy()
    broken[0, -1, 0] = np.asarray(t["gap"]) / float(p.L * p.R**2)
    yield "step 2.2/L", dataclasses.replace(ev, normalized=broken)
