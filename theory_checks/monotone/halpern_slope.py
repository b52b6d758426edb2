"""monotone.halpern-slope: deterministic Halpern's residual ||F u_k|| decays as a power law with
exponent 1, fitted over the last decade. Lieder 2021, Thm 2.1 (cocoercive form, PAPERS.md §4).
[derived]"""

from __future__ import annotations

import dataclasses

import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.monotone import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "monotone.halpern-slope", "slope"
CITATION = I.CITE_LIEDER
STATEMENT = ("deterministic Halpern residual decays as a power law with exponent 1 "
             "(last decade fitted)")
TOLERANCE = 0.05  # the pre-asymptotic correction while small eigenvalues resolve (NOTES.md)
SIZES = I.HALPERN_SIZES
Evidence = I.HalpernEvidence


measure = I.measure_halpern


def judge(ev: Evidence) -> Verdict:
    verdict = kinds.slope(ev.fit, 1.0, tol=TOLERANCE, what="power-law exponent of ||F u_k||")
    verdict.details["huber_exponent"] = ev.fit_huber.rate
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    I.draw_halpern(ev, verdict, fig)


def negative_controls(ev: Evidence):
    """A residual decaying as 1/sqrt(k) (with 1% noise) has exponent 0.5."""
    noise = np.exp(0.01 * np.random.default_rng(0).normal(size=(ev.normalized.shape[1], ev.k.size)))
    fit = convlab.fit_rate(ev.k, noise / np.sqrt(ev.k + 1.0), kind="power")
    yield "1/sqrt(k) residual", dataclasses.replace(ev, fit=fit)
