"""matrix_sensing.asymmetric-over-alpha2: asymmetric FGᵀ, k > r: linear with rate ∝ α²
(exp(-Ω(α² T))) for small α. Xiong, Ding & Du, ICLR 2024, Thm (asymmetric, k > r). [text]"""

from __future__ import annotations


import numpy as np

from theory_checks import kinds
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.asymmetric-over-alpha2", "scaling"
CITATION = I.CITE + ", Thm (asymmetric, k > r)"
STATEMENT = "asymmetric FGᵀ, k > r: linear with rate ∝ α² (exp(-Ω(α² T))), small α"
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, k=3,
                       alphas=(0.03, 0.045, 0.065, 0.1), steps=12000, record_every=20),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, k=5,
                      alphas=(0.025, 0.035, 0.05, 0.07), steps=16000, record_every=20)}
Evidence = I.AlphaEvidence
CONTROL_SIZES = dict(steps=4000, record_every=20)   # the 1.2η control: two largest α only


def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, k: int,
            alphas: tuple[float, ...], steps: int, record_every: int) -> Evidence:
    setup = I.Setup(seeds, n, r, m, eta, alpha)
    return I.plain_alpha_evidence(setup, k, tuple(alphas), steps=steps, record_every=record_every)


def judge(ev: Evidence) -> Verdict:
    """Parts (kinds.combine): ``exponent``: the log-log slope of the linear rate vs α is
    2 ± RATE_EXPONENT_TOL (band rule, kinds.scaling); ``linear``: every α's decay is linear
    (drift test); per α whose runs reached their limit, ``local rate`` (the measured window rate
    = the theory's linearised map's at the run's own limit, NOTES.md) and ``limit is a solution``."""
    scaling, drift = I.scaling_with_drift(ev, 2.0)
    linear = Verdict(drift, "every α's decay linear (drift test)", float("nan"), None,
                     float("nan"), {})
    verdict = kinds.combine({"exponent": scaling, "linear": linear, **I.alpha_local_parts(ev)},
                            "exponent")
    verdict.details["per_alpha"] = I.per_alpha_details(ev)
    if ev.imbalance is not None and ev.setup.eta:
        imb_end = np.exp(np.mean(np.log(ev.imbalance[:, :, -1]), axis=1))
        verdict.details["rate_over_eta_imbalance_end"] = (I.rates(ev) / (ev.setup.eta * imb_end)).tolist()
    return verdict


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    fig.clear()
    axes = fig.subplots(1, 2)
    fig.set_size_inches(10.0, 4.0)
    I.draw_alpha_panels(ev, axes, exponent=2.0,
                        title=f"asymmetric GD, k = {ev.width} > r = {ev.setup.r}, G₀ at α/3")
    axes[1].set_title(f"{verdict.status}: exponent {verdict.measured:.3f} "
                      f"CI [{verdict.ci[0]:.2f}, {verdict.ci[1]:.2f}]" if verdict.ci else verdict.status,
                      fontsize=9)


def negative_controls(ev: Evidence):
    """The one-step modified method's runs in place of plain GD's (flat in α: exponent ≈ 0);
    GD applying 1.2·η·∇ run through the measure path on the two largest α (CONTROL_SIZES: the
    local-rate parts are violated)."""
    steps, every = I.MODIFIED_HORIZON
    modified, _, _ = I.measure_modified(ev.setup, ev.width, tuple(ev.alphas), steps=steps,
                                        record_every=every)
    yield "one-step modified GD", modified
    yield "GD step 1.2η", I.plain_alpha_evidence(ev.setup, ev.width, tuple(ev.alphas[-2:]),
                                                 variant=(("grad_factor", 1.2),), **CONTROL_SIZES)
