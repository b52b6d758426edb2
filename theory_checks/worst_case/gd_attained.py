"""worst_case.gd-attained: convlab's GD (step h/L) attains its PEP worst case on the Huber/quadratic instance, never above. Drori & Teboulle 2014. [derived]"""

from __future__ import annotations

import numpy as np

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.gd-attained", "envelope"
CITATION = "Drori & Teboulle 2014; Teboulle & Vaisbourd 2023"
STATEMENT = "gd(h/L) run N steps on problems.worst_case.make_gd_worst_case (L=4, R=2): (f(x_N)-f*)/(LR²) = PEP to 1e-5, never above; h in (0.5, 1, 1.5, 1.8: the quadratic regime at N = 1, 2, 4)"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8)), "full": dict(Ns=(1, 2, 4, 8, 16, 30))}
PREDICTED = "measured = PEP (rel. 1e-5), never above"
Evidence = I.RunEvidence


def measure(*, Ns) -> Evidence:
    steps = (0.5, 1.0, 1.5, 1.8)
    measured, worst = I.gd_gaps(Ns, steps)
    from problems.worst_case import gd_bound
    bound = np.array([[gd_bound(int(n), h) for n in Ns] for h in steps])
    rows = [I.pep_curve("gd", Ns, relative_step=h) for h in steps]
    ok, reason = rows[0][0], rows[0][1]
    return Evidence(np.asarray(Ns), measured, bound, tuple(f"h={h}" for h in steps), worst, ok,
                    reason, np.array([r[2] for r in rows]) if ok else None,
                    "Huber kink R/(2Nh+1), or the quadratic (L/2)||x||² when (1-h)^{2N} is larger")


def judge(ev: Evidence):
    return I.judge_attained(ev, PREDICTED, tight=True)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="GD run attains PEP", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an instance out of its class (instances.run_controls)."""
    for name, broken in I.run_controls(ev):
        if True or "short" not in name:
            yield name, broken
