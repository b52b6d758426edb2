"""classical.halpern-envelope: Halpern with λ_k = 1/(k+2) on nonexpansive maps (rotations, box
projections, reflections) obeys ||x_k - T x_k|| <= 2||x_0 - x*||/(k+1), attained by the point
reflection T(x) = 2x* - x at every even k (tightness). Lieder 2021. [text]/[derived]"""

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
STATEMENT = ("Halpern λ_k = 1/(k+2), nonexpansive T: ||x_k - T x_k|| ≤ 2||x_0-x*||/(k+1), "
             "attained by T(x) = 2x* - x (even k)")
TIGHT = 1e-9  # the point reflection meets the bound exactly: rounding only
SIZES = {"quick": dict(seeds=8, dim=10, steps=4000), "full": dict(seeds=32, dim=20, steps=40000)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    kinds: tuple[str, ...]
    normalized: np.ndarray   # ||x_k - T x_k|| / ||x_0 - x*||, [map kind, seed, record]
    attaining: np.ndarray    # the same on the point reflection, [1, seed, record]


def measure(*, seeds: int, dim: int, steps: int) -> Evidence:
    k, normalized = I.halpern_residuals(problems.MAP_KINDS, seeds_=seeds, dim=dim, steps=steps)
    _, attaining = I.halpern_residuals((problems.ATTAINING_MAP_KIND,), seeds_=seeds, dim=dim,
                                       steps=steps)
    return Evidence(k, problems.MAP_KINDS, normalized, attaining)


def judge(ev: Evidence) -> Verdict:
    bound = (2.0 / (ev.k + 1.0))[None, None, :]
    return kinds.combine({
        "envelope": kinds.envelope(ev.normalized, bound, k=ev.k,
                                   predicted="||x_k - T x_k|| <= 2||x_0-x*||/(k+1)"),
        "attained": kinds.envelope(ev.attaining, bound, k=ev.k, tight=TIGHT,
                                   predicted="= 2||x_0-x*||/(k+1) on T(x) = 2x* - x"),
    }, "envelope")


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
    for name, schedule in (("λ_k = 1/(k+3)", lambda j: 1.0 / (j + 3.0)),
                           ("λ_k = 1/(k+2)²", lambda j: 1.0 / (j + 2.0) ** 2)):
        yield f"anchor {name}", dataclasses.replace(
            ev, attaining=_reflection_residuals(ev.k, schedule)[None, None, :])


def _reflection_residuals(k: np.ndarray, schedule) -> np.ndarray:
    """Normalised residuals of the anchored iteration with a wrong ``schedule`` on the point
    reflection (x* = 0, |x_0| = 1), in closed form: T(x) = -x is one-dimensional here."""
    x, out, records = 1.0, [], set(int(j) for j in k)
    for j in range(int(k[-1]) + 1):
        if j in records:
            out.append(2.0 * abs(x))
        lam = schedule(j)
        x = lam * 1.0 + (1.0 - lam) * (-x)
    return np.asarray(out)
