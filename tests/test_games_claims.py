"""The ``games`` claims beyond the shared harness (tests/test_claims.py): the numbers each claim
must reproduce at quick size, why its negative controls fail, and ``convlab run games``."""

import dataclasses
import math

import numpy as np
import pytest

from theory_checks import registry, report
from theory_checks.games import lq_paper_numbers


def test_family_has_eight_claims_and_the_toy_phase_group():
    kinds = {c.id: c.kind for c in registry.claims(["games"])}
    assert kinds == {"games.lq-margins": "certificate", "games.lq-paper-numbers": "certificate",
                     "games.lq-soundness": "envelope", "games.timescale-band": "certificate",
                     "games.markov-npg": "slope", "games.lq-local-rate": "local-rate",
                     "games.integrator-limits": "certificate",
                     "games.region-certificate": "certificate"}
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
    """The certified Euler factor is not vacuous: some first step comes within 5% of it on the
    ensemble (k >= 1), and the λ = 0 game sits on it at k = 1 for every step."""
    _, _, verdict = measured("games.lq-soundness")
    assert 0.95 <= verdict.measured <= 1.0
    assert verdict.details["euler.num_diverged"] == verdict.details["rk4.num_diverged"] == 0
    env, att = verdict.details["envelope"], verdict.details["attained"]
    assert env["worst_k"] >= 1 and env["measured"] == verdict.measured
    assert att["status"] == "holds" and att["min_ratio"] >= 1 - 1e-12
    assert att["attained_at_k"] == [1.0, 1.0, 1.0]


def test_markov_details_define_convergence_and_the_drop(measured):
    _, _, verdict = measured("games.markov-npg")
    d = verdict.details
    assert d["num_seeds"] == 20 and "V_K <= 1e-08 V_0" in d["converged_definition"]
    assert d["prob_converged_all_at_or_below_eta_max"] and d["first_multiplier_with_prob_below_1"] > 1
    assert d["fitted_rate_at_least_certified"]
    predicted = d["lyapunov slope"]["predicted"]
    assert abs(verdict.measured - predicted) < 0.01 * predicted


def test_markov_reference_rate_is_the_derived_linearisation(measured):
    """The theory's NPG map at z* = 0 has Jacobian I - ηJ*, J* with eigenvalues 1 ± 0.55,
    1 ± 0.45 (NOTES.md), so -log ρ = -log(1 - 0.45 η); natural_pg's own step agrees."""
    _, ev, verdict = measured("games.markov-npg")
    assert ev.reference_rate == pytest.approx(-math.log(1 - 0.45 * ev.eta), rel=1e-12)
    assert ev.fixed_point_residual < 1e-15
    part = verdict.details["local rate"]
    assert part["status"] == "holds" and part["implementation_mismatch"] < 1e-12


def test_lq_local_rates_are_exact(measured):
    """Degenerate spectrum (μ0 ± λ√(ab), 32 times each) and a wide gap: each seed's tail rate is
    the reference rate to ~1e-12; the implementations' maps are the theory's to rounding."""
    _, ev, verdict = measured("games.lq-local-rate")
    assert ev.fixed_point_residual == 0.0
    for name, part in verdict.details.items():
        if name.startswith(("euler", "rk4")):
            assert part["implementation_mismatch"] < 1e-12, name
            assert abs(part["measured"] - 1.0) < 1e-9, name
    np.testing.assert_allclose(ev.steps["rk4"], [0.585786, 1.171573], atol=1e-6)  # 1/β, 2/β


def test_integrator_limits_by_running(measured):
    """The run-measured limits at λ = 1 are PAPERS.md's 1.1716 and NOTES.md's 1.63159; at
    λ = 0 the certified Euler step 2α/β² = 2 is the limit itself (attained)."""
    _, ev, verdict = measured("games.integrator-limits")
    d = verdict.details
    i = list(ev.lambdas).index(1.0)
    assert d["euler.run_limit"][i] == pytest.approx(1.1716, abs=5e-5)
    assert d["rk4.run_limit"][i] == pytest.approx(1.63159, abs=5e-6)
    j = list(ev.lambdas).index(0.0)
    assert ev.euler.certified["2α/β²"][j] == pytest.approx(2.0, abs=1e-12)
    assert ev.euler.lo[j] < 2.0 <= ev.euler.hi[j]


def test_integrator_limits_censored_is_inconclusive(measured):
    """A transition outside the bisection's range is censored: never holds, even when every
    instance is censored (no vacuous verdict)."""
    claim, ev, _ = measured("games.integrator-limits")
    one = ev.euler.bracketed.copy()
    one[0] = False
    v = claim.judge(dataclasses.replace(ev, euler=dataclasses.replace(ev.euler, bracketed=one)))
    assert v.status == "inconclusive"
    none = np.zeros_like(ev.euler.bracketed)
    v = claim.judge(dataclasses.replace(ev, euler=dataclasses.replace(ev.euler, bracketed=none),
                                        rk4=dataclasses.replace(ev.rk4, bracketed=none)))
    assert v.status == "inconclusive"


def test_region_certificate_is_attained(measured):
    """α* = the grid's worst true margin = μ0 - κr - √(ab)(1 + εr) = 1 - 0.2 - 0.5·1.2."""
    _, ev, verdict = measured("games.region-certificate")
    assert ev.certified["alpha"] == pytest.approx(0.2, abs=1e-12)
    assert ev.worst["alpha"] == pytest.approx(0.2, abs=1e-12)
    assert np.all(np.abs(ev.worst_point) <= 0.2 + 1e-15)
    assert verdict.details["Euler envelope"]["worst_k"] >= 1


def _control(measured, claim_id, name):
    """One negative control's verdict (the controls are generated lazily: the later, costlier
    ones are not built)."""
    claim, ev, _ = measured(claim_id)
    return next(claim.judge(broken) for n, broken in claim.negative_controls(ev) if n == name)


def test_soundness_controls_fail_past_the_bound(measured):
    """Euler with h = 1.3 really diverges (ratio far above 1)."""
    assert _control(measured, "games.lq-soundness", "Euler h = 1.3").measured > 1e3


def test_band_control_counts_the_wrong_sign(measured):
    verdict = _control(measured, "games.timescale-band", "one sign mismatch on the grid")
    assert verdict.details["sign_mismatches_alpha_sgn"] == 1


def test_markov_control_euclidean_rate_is_far_slower(measured):
    """Euclidean PG at the same η decays 4x slower than the linearised NPG rate."""
    verdict = _control(measured, "games.markov-npg", "Euclidean PG rate")
    assert verdict.measured < 0.5 * verdict.details["lyapunov slope"]["predicted"]


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
