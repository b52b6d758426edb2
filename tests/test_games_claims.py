"""The ``games`` claims beyond the shared harness (tests/test_claims.py): the numbers each claim
must reproduce at quick size, why its negative controls fail, and ``convlab run games``."""

import dataclasses
import math

import numpy as np
import pytest

from theory_checks import registry, report
from theory_checks.games import lq_paper_numbers


def test_family_has_five_claims_and_the_toy_phase_group():
    kinds = {c.id: c.kind for c in registry.claims(["games"])}
    assert kinds == {"games.lq-margins": "certificate", "games.lq-paper-numbers": "certificate",
                     "games.lq-soundness": "envelope", "games.timescale-band": "certificate",
                     "games.markov-npg": "slope"}
    assert [name for _, name, _ in registry.figure_groups(["games"])] == ["toy_phase"]


def test_paper_numbers_are_recorded_to_the_printed_digits(measured):
    claim, _, verdict = measured("games.lq-paper-numbers")
    details = claim.stamp(verdict, quick=True).record()["details"]
    for name, (paper, unit) in lq_paper_numbers.PAPER_NUMBERS.items():
        assert details[f"paper.{name}"] == paper
        assert abs(details[f"measured.{name}"] - paper) <= 0.5 * unit
    assert details["measured.euler_step_sgn"] == pytest.approx(0.2010, abs=5e-5)
    assert "0.201" in report.summary_line(dataclasses.replace(verdict, predicted=0.201))


def test_margins_are_exact_to_rounding(measured):
    _, ev, verdict = measured("games.lq-margins")
    assert verdict.measured < 1e-13
    assert ev.lambda_euclid == pytest.approx(2 / 10.05, abs=1e-12)
    assert ev.lambda_sgn == pytest.approx(math.sqrt(2), abs=1e-12)
    np.testing.assert_allclose(ev.ratio_opt[ev.lambdas > 0], 200.0, rtol=1e-9)


def test_soundness_bound_is_nearly_attained(measured):
    """The certified Euler factor is not vacuous: some first step comes within 5% of it."""
    _, _, verdict = measured("games.lq-soundness")
    assert 0.95 <= verdict.measured <= 1.0
    assert verdict.details["euler.num_diverged"] == verdict.details["rk4.num_diverged"] == 0


def test_markov_details_define_convergence_and_the_drop(measured):
    _, _, verdict = measured("games.markov-npg")
    d = verdict.details
    assert d["num_seeds"] == 20 and "V_K <= 1e-08 V_0" in d["converged_definition"]
    assert d["prob_converged_all_at_or_below_eta_max"] and d["first_multiplier_with_prob_below_1"] > 1
    assert d["fitted_rate_at_least_certified"]
    assert abs(verdict.measured - verdict.predicted) < 0.01 * verdict.predicted


def _controls(measured, claim_id):
    claim, ev, _ = measured(claim_id)
    return {name: claim.judge(broken) for name, broken in claim.negative_controls(ev)}


def test_soundness_controls_fail_past_the_bound(measured):
    """Euler with h = 1.3 really diverges (ratio far above 1)."""
    verdicts = _controls(measured, "games.lq-soundness")
    assert verdicts["Euler h = 1.3"].measured > 1e3


def test_band_control_counts_the_wrong_sign(measured):
    verdicts = _controls(measured, "games.timescale-band")
    assert verdicts["one sign mismatch on the grid"].details["sign_mismatches_alpha_sgn"] == 1


def test_markov_control_euclidean_rate_is_far_slower(measured):
    """Euclidean PG at the same η decays 4x slower than the linearised NPG rate."""
    verdict = _controls(measured, "games.markov-npg")["Euclidean PG rate"]
    assert verdict.measured < 0.5 * verdict.predicted


def test_run_experiment_summary():
    exp = registry.experiment("games")
    trace, summary = exp.run({**exp.defaults, "dim": 8, "num_steps": 40, "record_every": 4})
    assert summary["diverged"] == -1
    assert summary["final_m_norm_ratio"] <= summary["certified_bound_at_N"] * (1 + 1e-12)
    _, s2 = exp.run({**exp.defaults, "game": "markov", "method": "npg", "num_steps": 40,
                     "record_every": 4})
    assert s2["final_m_norm_ratio"] <= s2["certified_bound_at_N"] * (1 + 1e-12)
    with pytest.raises(ValueError, match="method"):
        exp.run({**exp.defaults, "method": "npg"})
    with pytest.raises(ValueError, match="certif"):
        exp.run({**exp.defaults, "lam": 1.6, "dim": 8})


def test_toy_phase_figure_is_written(tmp_path):
    (make,) = [m for _, name, m in registry.figure_groups(["games"]) if name == "toy_phase"]
    (path,) = make(tmp_path, True)
    assert path.endswith("games.toy_phase.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
