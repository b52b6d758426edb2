"""matrix_sensing.asymmetric-over-alpha2: asymmetric FGᵀ, k > r: linear with rate ∝ α²
(exp(-Ω(α² T))) for small α. Xiong, Ding & Du, ICLR 2024, Thm (asymmetric, k > r). [text]"""

from __future__ import annotations

import dataclasses

import numpy as np

from theory_checks import kinds
from theory_checks.matrix_sensing import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "matrix_sensing.asymmetric-over-alpha2", "scaling"
CITATION = I.CITE + ", Thm (asymmetric, k > r)"
STATEMENT = "asymmetric FGᵀ, k > r: linear with rate ∝ α² (exp(-Ω(α² T))), small α"
QUICK_VERDICT = "inconclusive"  # the α-exponent CI [1.74, 2.26] at 8 seeds is wider than the ... (NOTES.md)
SIZES = {"quick": dict(seeds=8, n=20, r=2, m=600, eta=0.1, alpha=0.1, k=3,
                       alphas=(0.03, 0.045, 0.065, 0.1), steps=12000, record_every=20),
         "full": dict(seeds=8, n=50, r=3, m=2000, eta=0.1, alpha=0.1, k=5,
                      alphas=(0.025, 0.035, 0.05, 0.07), steps=16000, record_every=20)}
Evidence = I.AlphaEvidence


def measure(*, seeds: int, n: int, r: int, m: int, eta: float, alpha: float, k: int,
            alphas: tuple[float, ...], steps: int, record_every: int) -> Evidence:
    setup = I.Setup(seeds, n, r, m, eta, alpha)
    return I.plain_alpha_evidence(setup, k, tuple(alphas), steps=steps, record_every=record_every)


def judge(ev: Evidence) -> Verdict:
    """holds: the log-log slope of the linear rate vs α is 2 ± RATE_EXPONENT_TOL (band rule,
    kinds.scaling) AND every α's decay is linear (drift test); violated if the exponent's CI
    misses the band or some α's decay is sublinear."""
    scaling, drift = I.scaling_with_drift(ev, 2.0)
    status = kinds.worst_status([scaling.status, drift])
    details = {**scaling.details, "exponent_status": scaling.status, "linearity_status": drift,
               "per_alpha": I.per_alpha_details(ev)}
    if ev.imbalance is not None and ev.setup.eta:
        imb_end = np.exp(np.mean(np.log(ev.imbalance[:, :, -1]), axis=1))
        details["rate_over_eta_imbalance_end"] = (I.rates(ev) / (ev.setup.eta * imb_end)).tolist()
    return Verdict(status, 2.0, scaling.measured, scaling.ci, scaling.margin, details)


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
    """The one-step modified method in place of plain GD: its rates are flat in α (exponent ≈ 0)."""
    steps, every = I.MODIFIED_HORIZON
    modified, _, _ = I.measure_modified(ev.setup, ev.width, tuple(ev.alphas), steps=steps,
                                        record_every=every)
    yield "one-step modified GD", dataclasses.replace(ev, fits=modified.fits)
