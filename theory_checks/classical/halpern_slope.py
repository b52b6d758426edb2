"""classical.halpern-slope: Halpern's residual decays as a power law with exponent 1 (O(1/k)),
fitted over the last decade. Lieder 2021. [text]"""

from __future__ import annotations

import dataclasses

import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.classical import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "classical.halpern-slope", "slope"
CITATION = I.CITE_LIEDER
STATEMENT = "Halpern residual decays as a power law with exponent 1 (O(1/k), last decade fitted)"
SIZES = {"quick": dict(seeds=8, dim=10, steps=4000), "full": dict(seeds=32, dim=20, steps=40000)}
TOLERANCE = 0.05  # the pre-asymptotic O(1/k) correction at k ~ 10² (NOTES.md)


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray
    kinds: tuple[str, ...]
    normalized: np.ndarray   # [1, seed, record]
    fit: convlab.RateFit


def measure(*, seeds: int, dim: int, steps: int) -> Evidence:
    k, normalized = I.halpern_residuals(("rotation_box",), seeds_=seeds, dim=dim, steps=steps)
    return Evidence(k, ("rotation_box",), normalized, convlab.fit_rate(k, normalized[0], kind="power"))


def judge(ev: Evidence) -> Verdict:
    return kinds.slope(ev.fit, 1.0, tol=TOLERANCE, what="power-law exponent of the residual")


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_halpern(ev, verdict, fig, fit=ev.fit)


def negative_controls(ev: Evidence):
    """A residual decaying as 1/sqrt(k) (with 1% noise) has exponent 0.5."""
    noise = np.exp(0.01 * np.random.default_rng(0).normal(size=(8, ev.k.size)))
    fit = convlab.fit_rate(ev.k, noise / np.sqrt(ev.k + 1.0), kind="power")
    yield "1/sqrt(k) residual", dataclasses.replace(ev, fit=fit)
