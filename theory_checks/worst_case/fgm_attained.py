"""worst_case.fgm-attained: convlab's FGM attains its PEP worst case on the worst Huber function (kink found by maximising the run), never above. [derived: measured]"""

from __future__ import annotations

import numpy as np

from theory_checks.worst_case import instances as I

ID, KIND = "worst_case.fgm-attained", "envelope"
CITATION = "Beck & Teboulle 2009; Taylor, Hendrickx & Glineur 2017"
STATEMENT = "fgm(1/L) on the 1-D Huber function whose kink maximises the run's own f(x_N) (τ grid, refined): = PEP to 1e-5, never above"
SIZES = {"quick": dict(Ns=(1, 2, 4, 8, 12)), "full": dict(Ns=(1, 2, 4, 8, 12, 16, 24, 30))}
PREDICTED = "max over Huber kinks of the measured gap = PEP (rel. 1e-5), never above"
Evidence = I.RunEvidence


def measure(*, Ns) -> Evidence:
    measured, taus = I.fgm_worst_huber(Ns)
    ok, reason, pep = I.pep_curve("fgm", Ns)
    import jax.numpy as jnp
    from problems.worst_case import HuberType
    worst = max(I.violation(HuberType(jnp.asarray(I.L_INST), jnp.asarray(t), jnp.full((1,), I.R_INST),
                                      jnp.zeros(1), jnp.zeros(())), 1) for t in taus)
    return Evidence(np.asarray(Ns), measured, np.array([[2.0 / (int(n) + 1.0) ** 2 for n in Ns]]),
                    ("FGM",), worst, ok, reason, pep[None, :] if ok else None,
                    "Huber kinks/R: " + ", ".join(f"{t / I.R_INST:.6g}" for t in taus))


def judge(ev: Evidence):
    return I.judge_attained(ev, PREDICTED, tight=True)


def draw(ev: Evidence, verdict, fig) -> None:
    I.draw_curves(ev, verdict, fig, title="FGM run on the worst Huber attains PEP", ylabel="(f(x_N)-f*)/(L R²)")


def negative_controls(ev: Evidence):
    """A run above PEP, runs short of it, an instance out of its class (instances.run_controls)."""
    for name, broken in I.run_controls(ev):
        if True or "short" not in name:
            yield name, broken
