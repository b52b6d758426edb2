"""worst_case.halpern-attained: convlab's Halpern attains 2R/(N+1) = PEP on the point reflection at even N, never above. Lieder 2021. [derived]"""

from __future__ import annotations

import numpy as np

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.halpern-attained", "envelope"
CITATION = "Lieder 2021"
STATEMENT = "halpern(1) on T x = 2x* - x (R=2), even N: ||x_N - T x_N||/(2R) = PEP to 1e-5, never above"
SIZES = {"quick": dict(Ns=(2, 4, 8, 12)), "full": dict(Ns=(2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "measured = PEP (rel. 1e-5), never above"
Evidence = I.RunEvidence


def measure(*, Ns) -> Evidence:
    measured = I.halpern_residuals(Ns)
    ok, reason, pep = I.pep_curve("halpern", Ns)
    return Evidence(np.asarray(Ns), measured, np.array([[1.0 / (int(n) + 1.0) for n in Ns]]),
                    ("Halpern",), 0.0, ok, reason, pep[None, :] if ok else None,
                    "point reflection T x = 2x* - x (nonexpansive by construction: an isometry)")


def judge(ev: Evidence):
    return I.judge_attained(ev, PREDICTED, tight=True)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="Halpern run attains PEP", ylabel="||x_N - T x_N||/(2R)")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an instance out of its class (instances.run_controls)."""
    for name, broken in I.run_controls(ev):
        if True or "short" not in name:
            yield name, broken
