"""worst_case.ogm-attained: convlab's OGM attains its PEP worst case on Kim & Fessler's Huber function, never above. Kim & Fessler 2016. [check]"""

from __future__ import annotations

import numpy as np

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.ogm-attained", "envelope"
CITATION = "Kim & Fessler 2016"
STATEMENT = "ogm(1/L, num_steps=N) on the Huber function of kink R/θ_N² (L=4, R=2): (f(x_N)-f*)/(LR²) = PEP to 1e-5, never above"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "measured = PEP (rel. 1e-5), never above"
Evidence = I.RunEvidence


def measure(*, Ns) -> Evidence:
    measured, worst = I.ogm_gaps(Ns)
    from problems.worst_case import ogm_theta
    ok, reason, pep = I.pep_curve("ogm", Ns)
    return Evidence(np.asarray(Ns), measured, np.array([[0.5 / ogm_theta(int(n)) ** 2 for n in Ns]]),
                    ("OGM",), worst, ok, reason, pep[None, :] if ok else None,
                    "Huber kink R/θ_N²")


def judge(ev: Evidence):
    return I.judge_attained(ev, PREDICTED, tight=True)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="OGM run attains PEP", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an instance out of its class (instances.run_controls)."""
    for name, broken in I.run_controls(ev):
        if True or "short" not in name:
            yield name, broken
