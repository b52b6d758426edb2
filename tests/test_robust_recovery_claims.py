"""What the robust recovery claims report beyond their verdicts (tests/test_claims.py checks
that each has its documented verdict at quick size and that its negative controls are
violated): per-case details, the parts (escape, step map, model, Sign-RIP), the transition
point and its censoring, the resampling self-check, the combination rule, the theory's
reference computations, and why each negative control breaks its claim."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems import robust_recovery as P
from theory_checks import registry
from theory_checks.robust_recovery import instances as I
from theory_checks.robust_recovery import linear_rate, reference, sample_complexity
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
    parts = verdict.details["parts"]
    assert set(parts) == {"escape", "step map", "expansion at U = 0", "model"}
    assert all(part["status"] == "holds" for part in parts.values())
    assert min(parts["escape"]["records_per_run"]) >= 3   # the escape is seen, not vacuous
    assert parts["step map"]["measured"] < 1e-12 and parts["expansion at U = 0"]["measured"] < 1e-12


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
    assert verdict.details["censored"] == [0, 0]
    assert {p["status"] for p in verdict.details["parts"].values()} == {"holds"}
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


def test_censoring():
    assert [sample_complexity.censoring(r) for r in ([0, 0.2, 1], [1, 1, 1], [0, 1, 0.4])] == [0, -1, 1]


def _evidence(final):
    n = final.shape[-1]
    return sample_complexity.Evidence(np.array([24.0, 48.0, 96.0, 192.0]), (2, 12), final, 1e-12,
                                      1e-2, 2.0, {}, np.arange(n) + 0.5, np.arange(2 * n).reshape(n, 2))


def test_no_success_anywhere_is_inconclusive_not_holds():
    """Both transitions censored at the grid's end (every run failed): shift 0, yet no evidence."""
    verdict = sample_complexity.judge(_evidence(np.full((2, 4, 8), np.inf)), num_bootstrap=200)
    assert verdict.status == "inconclusive" and verdict.details["censored"] == [1, 1]


def test_one_transition_censored_far_away_is_violated():
    final = np.full((2, 4, 8), np.inf)
    final[0, 1:] = 0.0          # r' = r succeeds from m = 48 on, r' = d nowhere on the grid
    verdict = sample_complexity.judge(_evidence(final), num_bootstrap=200)
    assert verdict.status == "violated" and verdict.details["shift_lower_bound"] >= 2.0


def test_censored_figure_says_so(tmp_path):
    from convlab.plots import new_figure
    ev = _evidence(np.full((2, 4, 8), np.inf))
    verdict = sample_complexity.judge(ev, num_bootstrap=50)
    fig, ax = new_figure()
    sample_complexity.draw(ev, verdict, fig)
    assert "censored" in ax.get_title()


def test_resampling_self_check_knows_the_bootstrap_moments():
    rng = np.random.default_rng(0)
    success = rng.random((2, 5, 16)) < np.linspace(0.1, 0.9, 5)[None, :, None]
    good = sample_complexity.resampling_scores(success, sample_complexity.resample(success, rng, 2000))
    assert max(good.values()) < 1
    one = sample_complexity.resample(success, rng, 1)
    assert max(sample_complexity.resampling_scores(success, np.repeat(one, 2000, 0)).values()) > 1


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


def test_linear_rate_controls_break_the_part_they_should(measured):
    """Constant and 1/t steps in place of the first case: that case is the worst. A schedule
    off by one: the escape and the step map. Unscaled outliers: the model."""
    ev, controls = _controls(measured, "robust_recovery.linear-rate")
    for name in ("constant step 0.02", "steps 0.5/(1 + 0.005 t)"):
        assert controls[name][1].details["worst"] == ev.labels[0]
    verdict = controls["schedule η_0 ρ^(t+1)"][1]
    assert abs(verdict.measured / verdict.predicted - 1) < I.RATE_TOL   # the slope cannot see it
    parts = verdict.details["parts"]
    assert parts["escape"]["status"] == parts["step map"]["status"] == "violated"
    assert controls["outliers of magnitude 1"][1].details["parts"]["model"]["status"] == "violated"


def test_rank_insensitive_controls(measured):
    """α = 1: r' = r keeps the rate, the over-parameterized runs stall at a floor. A 1.2×
    step keeps every rate (the iterate tracks η_t) and only the escape catches it."""
    _, controls = _controls(measured, "robust_recovery.rank-insensitive")
    verdict = controls["large initialization α = 1"][1]
    rates = verdict.details["rates"]
    assert abs(rates[0] / verdict.predicted - 1) < I.RATE_TOL
    assert max(rates[1:]) < 0.5 * verdict.predicted
    verdict = controls["SubGM at 1.2 η_t"][1]
    assert all(abs(r / verdict.predicted - 1) < I.RATE_TOL for r in verdict.details["rates"])
    assert verdict.details["parts"]["escape"]["status"] == "violated"


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


# --- the theory's reference computations ---------------------------------------------------------
def _small(key, **kw):
    return P.make_robust_recovery(key, dim=5, rank=1, num_measurements=60, outlier_fraction=0.2, **kw)


def test_escape_recursion_is_the_power_iteration(key):
    """escape_sizes' eigen-closed form equals the recursion U ← (I + η_t M_0) U stepped out."""
    p = _small(key)
    U = 1e-3 * np.asarray(jax.random.normal(key, (5, 5)))
    sizes, _ = reference.escape_sizes(p, U, 30, 0.1, 0.99)
    M = reference.m0(p)
    for t in range(30):
        U = U + 0.1 * 0.99**t * M @ U
    assert sizes[-1] == pytest.approx(np.linalg.norm(U @ U.T) / np.linalg.norm(p.x_star), rel=1e-10)


def test_reference_step_is_the_papers_formula(key):
    p = _small(key)
    U = jax.random.normal(key, (5, 2))
    r = p.A @ (U @ U.T).reshape(-1) - p.y
    S = (jnp.sign(r) @ p.A).reshape(5, 5) / 60
    assert np.allclose(reference.subgm_step(p, U, 3, 0.1, 0.9), U - 0.1 * 0.9**3 * (S + S.T) @ U)


def test_linear_floor_is_linear_in_the_corruption(key):
    small, large = (reference.linear_floor(_small(key, outlier_scale=c)) for c in (1e-3, 1e-1))
    assert large == pytest.approx(100 * small, rel=1e-9)


def test_model_scores_flag_a_wrong_generator(key):
    from theory_checks.robust_recovery import model
    by_p = {p: [P.make_robust_recovery(jax.random.key(i), dim=6, rank=2, num_measurements=400,
                                       outlier_fraction=p) for i in range(3)] for p in (0.1, 0.2)}
    assert max(model.scores(by_p, "gaussian", 100.0).values()) < 1
    assert model.scores(by_p, "gaussian", 10.0)["values: variance scale²"] > 1
    bad = {p: [dataclasses.replace(q, y=q.y + 1e-3) for q in qs] for p, qs in by_p.items()}
    assert max(model.scores(bad, "gaussian", 100.0).values()) > 1
