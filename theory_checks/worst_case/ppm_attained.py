"""worst_case.ppm-attained: convlab's proximal point method attains R²/(4Nγ) = PEP on c‖x‖, never above. Güler 1991. [derived]"""

from __future__ import annotations

import numpy as np

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.ppm-attained", "envelope"
CITATION = "Güler 1991; Taylor, Hendrickx & Glineur 2017"
STATEMENT = "proximal_point(γ=0.5) on c||x||, c = R/(2Nγ) (R=2): (f(x_N)-f*)/R² = PEP to 1e-5, never above"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "measured = PEP (rel. 1e-5), never above"
Evidence = I.RunEvidence


def measure(*, Ns) -> Evidence:
    measured, worst = I.ppm_gaps(Ns)
    ok, reason, pep = I.pep_curve("ppm", Ns, step=I.PPM_STEP)
    return Evidence(np.asarray(Ns), measured,
                    np.array([[1.0 / (4.0 * int(n) * I.PPM_STEP) for n in Ns]]), ("γ=0.5",), worst,
                    ok, reason, pep[None, :] if ok else None, "c||x||, c = R/(2Nγ)")


def judge(ev: Evidence):
    return I.judge_attained(ev, PREDICTED, tight=True)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="proximal point run attains PEP", ylabel="(f(x_N)-f*)/R²")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an instance out of its class (instances.run_controls)."""
    for name, broken in I.run_controls(ev):
        if True or "short" not in name:
            yield name, broken
