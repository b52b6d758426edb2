"""What the robust recovery claims report beyond their verdicts (tests/test_claims.py checks
that each holds at quick size and that its negative controls are violated): per-case details,
the Sign-RIP estimate, the transition-point rule, the combination rule, and why each negative
control breaks its claim."""

import numpy as np
import pytest

from theory_checks import registry
from theory_checks.robust_recovery import instances as I
from theory_checks.robust_recovery import linear_rate, sample_complexity
from theory_checks.verdict import Verdict

QUICK_RATE = linear_rate.SIZES["quick"]
QUICK_SC = sample_complexity.SIZES["quick"]


def test_figure_groups():
    names = {name for _, name, _ in registry.figure_groups(["robust_recovery"])}
    assert names == {"noise", "baselines"}


# --- what the verdicts report ----------------------------------------------------------------------
def test_linear_rate_reports_every_case_and_the_sign_rip(measured):
    _, ev, verdict = measured("robust_recovery.linear-rate")
    predicted = -np.log(QUICK_RATE["decay"])
    assert verdict.predicted == pytest.approx(predicted)
    assert len(verdict.details["checks"]) == (len(QUICK_RATE["outlier_kinds"])
                                              * len(QUICK_RATE["outlier_fractions"]))
    for fit in ev.fits:
        assert abs(fit.rate / predicted - 1) < I.RATE_TOL and fit.num_excluded == 0
        assert fit.window == I.window(QUICK_RATE["steps"])
    rips = verdict.details["sign_rip"]
    assert set(rips) == set(ev.labels)
    assert all(0 < r["delta"] < 2 and 0 < r["phi_min"] < 0.8 for r in rips.values())
    # more outliers, smaller φ = sqrt(2/π)(1 - p): the scaling function sees the corruption
    phis = [rips[f"gaussian, p = {p:g}"]["phi_min"] for p in QUICK_RATE["outlier_fractions"]]
    assert phis == sorted(phis, reverse=True)


def test_rank_insensitive_rates_agree_pairwise(measured):
    _, _, verdict = measured("robust_recovery.rank-insensitive")
    assert verdict.details["max_pairwise_relative_difference"] < 2 * I.RATE_TOL
    assert [int(c.split("= ")[1]) for c in verdict.details["checks"]] == [2, 4, 12]


def test_alpha_floor_is_the_frozen_part_of_the_error(measured):
    _, ev, verdict = measured("robust_recovery.alpha-floor")
    assert verdict.details["tail_contamination"] < 0.1  # floor ≫ error(T)²: not the signal tail
    assert np.all(np.diff(verdict.details["geometric_mean_floor"]) < 0)
    # frozen: the floor changed by < 10% over the last tenth of the run
    last = ev.floor_curves[..., -1]
    earlier = ev.floor_curves[..., -len(ev.k) // 10]
    assert np.all(np.abs(last / earlier - 1) < 0.1)


def test_l2_fails_only_because_of_the_outliers(measured):
    _, ev, verdict = measured("robust_recovery.l2-fails")
    assert np.all(ev.l2 > 1.0)                     # ℓ2-GD: no recovery under outliers
    assert np.all(ev.l2_clean < 1e-10)             # the same GD recovers without them
    assert np.all(ev.subgm < 1e-4)
    assert verdict.measured < 1e-3


def test_sample_complexity_details(measured):
    _, _, verdict = measured("robust_recovery.sample-complexity")
    rates = np.asarray(verdict.details["success_rate"])
    assert rates.shape == (len(QUICK_SC["search_ranks"]), len(QUICK_SC["m"]))
    assert np.all(rates[:, 0] == 0) and np.all(rates[:, -1] >= 0.75)  # the grid spans the transition
    assert verdict.details["tolerance_octaves"] == pytest.approx(0.5, abs=0.01)
    assert verdict.details["alternative_shift_octaves"] > 2.0


# --- transition point and the combination rule ----------------------------------------------------
@pytest.mark.parametrize("rate, expected", [
    ([0.0, 0.0, 1.0, 1.0], 2.0 * np.sqrt(2.0)),    # halfway between 2 and 4 in log m
    ([0.0, 0.5, 1.0, 1.0], 2.0),
    ([1.0, 1.0, 1.0, 1.0], 1.0),                   # censored below
    ([0.0, 0.0, 0.0, 0.25], 16.0),                 # censored above
    ([0.0, 1.0, 0.0, 1.0], 4.0 * np.sqrt(2.0)),    # crosses 1/2 for good only at the end
])
def test_transition_point(rate, expected):
    assert sample_complexity.transition_point([1.0, 2.0, 4.0, 8.0], rate) == pytest.approx(expected)


def test_combine_takes_the_worst():
    hold, inc, bad = (Verdict("holds", 1.0, 1.0, margin=0.5), Verdict("inconclusive", 1.0, 2.0, margin=-0.1),
                      Verdict("violated", 1.0, 3.0, margin=-2.0))
    assert I.combine([hold, hold], ["a", "b"]).status == "holds"
    assert I.combine([hold, inc], ["a", "b"]).status == "inconclusive"
    combined = I.combine([hold, bad, inc], ["a", "b", "c"])
    assert combined.status == "violated" and combined.measured == 3.0 and combined.details["worst"] == "b"


def test_sweep_rejects_unknown_or_missing_hyperparameters():
    sizes = dict(I.RUN_SIZES["quick"], alpha=1e-12)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        I.sweep(salt=0, vary={"eta": [0.1]}, **sizes)
    with pytest.raises(ValueError, match=r"\['p'\]"):
        I.sweep(salt=0, **sizes)


# --- why the negative controls break their claims ----------------------------------------------------
def _controls(measured, claim_id):
    claim, ev, _ = measured(claim_id)
    return ev, {name: (broken, claim.judge(broken)) for name, broken in claim.negative_controls(ev)}


def test_linear_rate_controls_break_the_first_case(measured):
    """Constant and 1/t steps in place of the first case: that case is the worst."""
    ev, controls = _controls(measured, "robust_recovery.linear-rate")
    assert len(controls) == 2
    for _, verdict in controls.values():
        assert verdict.status == "violated" and verdict.details["worst"] == ev.labels[0]


def test_rank_insensitive_control_loses_the_rate_only_when_over_parameterized(measured):
    """α = 1: r' = r keeps the rate, the over-parameterized runs stall at a floor."""
    _, controls = _controls(measured, "robust_recovery.rank-insensitive")
    (_, verdict), = controls.values()
    rates = verdict.details["rates"]
    assert abs(rates[0] / verdict.predicted - 1) < I.RATE_TOL
    assert max(rates[1:]) < 0.5 * verdict.predicted


def test_alpha_floor_control_never_escapes(measured):
    """α = 1e-18 needs more step budget than Σ η_t: its error stays O(1)."""
    _, controls = _controls(measured, "robust_recovery.alpha-floor")
    (broken, _), = controls.values()
    assert np.all(broken.final_error[1] > 0.5)


def test_sample_complexity_large_init_moves_the_over_parameterized_transition_right(measured):
    _, controls = _controls(measured, "robust_recovery.sample-complexity")
    _, verdict = controls["large initialization α = 1"]
    m_r, m_d = verdict.details["transition_m"]
    assert m_d > m_r
