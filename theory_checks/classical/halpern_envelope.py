"""classical.halpern-envelope: Halpern with λ_k = 1/(k+2) on nonexpansive maps (rotations, box
projections, reflections) obeys ||x_k - T x_k|| <= 2||x_0 - x*||/(k+1). Lieder 2021. [text]"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from theory_checks import kinds
from theory_checks.classical import instances as I
from theory_checks.verdict import Verdict
from theory_checks.generators import load

problems = load("classical")

ID, KIND = "classical.halpern-envelope", "envelope"
CITATION = I.CITE_LIEDER
STATEMENT = "Halpern λ_k = 1/(k+2), nonexpansive T: ||x_k - T x_k|| ≤ 2||x_0-x*||/(k+1)"
SIZES = {"quick": dict(seeds=8, dim=10, steps=4000), "full": dict(seeds=32, dim=20, steps=40000)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    kinds: tuple[str, ...]
    normalized: np.ndarray   # ||x_k - T x_k|| / ||x_0 - x*||, [map kind, seed, record]


def measure(*, seeds: int, dim: int, steps: int) -> Evidence:
    k, normalized = I.halpern_residuals(problems.MAP_KINDS, seeds_=seeds, dim=dim, steps=steps)
    return Evidence(k, problems.MAP_KINDS, normalized)


def judge(ev: Evidence) -> Verdict:
    return kinds.envelope(ev.normalized, (2.0 / (ev.k + 1.0))[None, None, :],
                          predicted="||x_k - T x_k|| <= 2||x_0-x*||/(k+1)")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_halpern(ev, verdict, fig)


def negative_controls(ev: Evidence):
    """Plain Picard iteration x <- T x on a rotation keeps a constant residual."""
    p = problems.make_nonexpansive_map(jax.random.key(0), dim=10, kind="rotation")
    x, residual = p.x0, []
    for _ in ev.k:
        residual.append(float(np.linalg.norm(x - p.operator(x))))
        x = p.operator(x)
    broken = ev.normalized.copy()
    broken[0, 0] = np.asarray(residual) / float(np.linalg.norm(p.x0 - p.x_star))
    yield "no anchor (Picard)", dataclasses.replace(ev, normalized=broken)
