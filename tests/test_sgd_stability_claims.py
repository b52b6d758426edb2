"""The sgd_stability family's own checks beyond the claim harness: the exact theory's identities
to rounding, the claims' documented structure, and ``convlab run sgd_stability``."""

import numpy as np

from theory_checks.sgd_stability import experiment, threshold_separates
from theory_checks.sgd_stability import instances as I
from theory_checks.sgd_stability import theory as T


def test_threshold_brackets_the_simulated_steps():
    """ρ(T) < 1 at 0.9η* and > 1 at 1.1η* for every simulated config (exact theory)."""
    A = I.projected(I.regression(threshold_separates.SEED, "equal"))
    for B, replace in threshold_separates.CONFIGS:
        kappa = I.kappa(B, A.shape[0], replace)
        below, above = T.radius_at(A, kappa, threshold_separates.FACTORS * T.eta_star(A, kappa))
        assert below < 1.0 < above


def test_nonuniformity_identities_are_exact_to_rounding(measured):
    _, ev, verdict = measured("sgd_stability.nonuniformity-forms")
    one_d = ev.rows.index("parallel")
    np.testing.assert_allclose(ev.eta_star[one_d], ev.eta_suf[one_d], rtol=1e-12)
    assert np.all(ev.eta_suf <= ev.eta_star * (1 + 1e-12))
    assert verdict.details["counterexample: η*·s/√B > 1"]["status"] == "holds"


def test_run_regression_and_network_summaries():
    trace, summary = experiment.run({**experiment.DEFAULTS, "num_steps": 40, "batch_size": 2})
    assert summary["eta"] == 0.9 * summary["eta_star"] and summary["rho_T"] < 1.0
    assert summary["eta_star"] <= summary["two_over_lambda_max"] * (1 + 1e-12)
    assert summary["eta_star"] <= summary["two_b_over_trace"] * (1 + 1e-12)
    _, net = experiment.run({**experiment.DEFAULTS, "problem": "network", "num_samples": 5,
                             "dim": 10, "num_steps": 40, "eta": 0.01})
    assert np.isfinite(net["trace_h"]) and net["diverged"] == -1 and summary["diverged"] == -1
