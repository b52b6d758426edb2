"""What the bilevel (BO-REP) measurements must show beyond their verdicts, and the applications
judge on hand-made evidence (the claim harness, tests/test_claims.py, does the rest)."""

import jax
import numpy as np
import pytest

from convlab.methods import bilevel as B
import dataclasses

from theory_checks.bilevel import applications, applications_rnn_cleaning, ridge_observation
from theory_checks.bilevel import instances as I


def test_budget_sweep_costs_scale_with_K(measured):
    """The schedule keeps the cost per outer step constant: oracle calls ∝ K (within the
    refinement's share)."""
    _, ev, _ = measured("bilevel.bo-rep-rate")
    per_step = ev.calls / ev.budgets
    assert per_step.max() / per_step.min() < 1.15


def test_rate_control_fits_the_exponent_it_fakes(measured):
    """The ε⁻⁸ control (min ||∇Φ|| ∝ calls^-1/8) fits exponent 1/8, far below the band."""
    claim, ev, _ = measured("bilevel.bo-rep-rate")
    controls = dict(claim.negative_controls(ev))
    fake = controls["calls^-1/8 (an ε⁻⁸ method)"]
    assert claim.judge(fake).measured == pytest.approx(0.125, abs=0.02)


def test_divergence_matches_the_analytic_threshold(measured):
    """Every step size whose threshold lies below ||x0||_∞ diverged; the others stalled."""
    _, ev, verdict = measured("bilevel.fixed-step-diverges")
    for eta, diverged in zip(ev.etas, (ev.fixed_diverged >= 0).all(axis=1)):
        threshold = ev.threshold[f"{eta:g}"]
        if threshold < 0.9 * ev.init:
            assert diverged, (eta, threshold)
    assert verdict.details["fixed_stalled_etas"], "no stable step: the stall half is untested"


def test_lower_calls_are_those_the_methods_report():
    p = I.synthetic()
    method = I.scheduled_bo_rep(4.0, p, period=4, inner=3)
    state = method.init(p.start)
    step = jax.jit(lambda k, s: method.step(k, s, p))
    total = 0
    for i in range(9):
        state, info = step(jax.random.key(i), state)
        total += int(info["lower_calls"])
    o = dict(method.options)
    assert total == int(B.lower_calls_schedule(9, refine=o["refine_steps"], period=4, inner=3,
                                               batch=o["batch_lower"])[-1])
    assert I.calls_per_step(method, p) == pytest.approx(1 + 2 + 3 / 4)


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_ridge_observation_cleaning_instance_rewards_cleaning(mode):
    """The weighted-ridge observation's hyper-cleaning instance is well posed at both sizes: at the
    exact lower level, oracle-clean weights have a small test error, far below uniform weights."""
    ref = I.cleaning_references(I.app_problem("cleaning", **ridge_observation.SIZES[mode]["clean"]))
    assert ref["oracle"] <= 0.05 and ref["uniform"] - ref["oracle"] >= 0.2, ref


def test_ridge_observation_figure_draws_the_cleaning_references(tmp_path):
    from convlab.plots import new_figure, save_figure
    curve = lambda: I.MethodResult(np.asarray([0.1, 0.2]), 1.0, np.asarray([0.15] * 3),
                                   np.arange(1.0, 4.0), (0.1, 1.0, 10.0),
                                   np.asarray([[0.6, 0.8, 0.9], [0.5, 0.7, 0.95]]), 3)
    ev = ridge_observation.Evidence({"cleaning": I.AppResult({"bo_rep": curve(), "ttsa": curve()},
                                                             "test error",
                                                             {"uniform": 0.35, "oracle": 0.01})})
    verdict = ridge_observation.judge(ev)
    assert verdict.details["cleaning_reference_test_error"] == {"uniform": 0.35, "oracle": 0.01}
    fig, _ = new_figure()
    ridge_observation.draw(ev, verdict, fig)
    levels = {round(float(l.get_ydata()[0]), 3) for l in fig.axes[0].lines if len(set(l.get_ydata())) == 1}
    assert {0.35, 0.01} <= levels
    assert save_figure(fig, tmp_path / "apps.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("claim", [applications, applications_rnn_cleaning])
def test_applications_judge_holds_when_bo_rep_is_better(claim):
    ev = claim.two_methods([0.20, 0.21, 0.19, 0.20], [0.30, 0.31, 0.29, 0.30])
    assert claim.judge(ev).status == "holds"


@pytest.mark.parametrize("claim", [applications, applications_rnn_cleaning])
def test_applications_loss_against_an_edge_tuned_method_is_inconclusive(claim):
    ev = claim.two_methods([0.30, 0.31, 0.29, 0.30], [0.20, 0.21, 0.19, 0.20], edge=True)
    verdict = claim.judge(ev)
    assert verdict.status == "inconclusive" and "grid" in verdict.details["reason"]


def test_applications_outside_the_regime_is_inconclusive():
    """A win on an ordinarily smooth instance (local smoothness flat in ‖∇Φ‖) is not a win in the
    regime the claim names."""
    ev = applications.two_methods([0.20, 0.21, 0.19, 0.20], [0.30, 0.31, 0.29, 0.30])
    flat = dict(ev.premise, smoothness=np.full_like(ev.premise["smoothness"], 3.0))
    verdict = applications.judge(dataclasses.replace(ev, premise=flat))
    assert verdict.status == "inconclusive" and not verdict.details["premise_met"]


def test_applications_unequal_budgets_are_inconclusive():
    ev = applications.two_methods([0.20, 0.21, 0.19, 0.20], [0.30, 0.31, 0.29, 0.30])
    short = dict(ev.tuned, soba=dataclasses.replace(ev.tuned["soba"], calls=np.asarray([0.0, 20.0, 50.0])))
    verdict = applications.judge(dataclasses.replace(ev, tuned=short))
    assert verdict.status == "inconclusive" and not verdict.details["equal_budget"]


def test_grid_widens_alike_for_every_method(monkeypatch):
    """A best step at the grid's edge adds one point on that side to every method's grid."""
    calls = []

    def fake_sweep(name, app, problem, grid, *, steps, every, keys):
        calls.append((name, tuple(grid)))
        g = np.asarray(grid)[:, None, None]
        loss = np.broadcast_to(np.abs(np.log10(g) - np.log10(I.REGIME_GRIDS["rnn_cleaning"][0] / 5)), (len(grid), 2, 3))
        import convlab
        return convlab.Trace(np.zeros(3), np.asarray([0.0, 50.0, 100.0]) + np.zeros((len(grid), 2, 3)),
                             {"accuracy": 1.0 - loss}, -np.ones((len(grid), 2), int))

    monkeypatch.setattr(I, "regime_sweep", fake_sweep)
    monkeypatch.setattr(I, "regime_steps", lambda *a, **k: (10, 5))
    done, hits, _ = I.tune("rnn_cleaning", None, budget=100, records=2, keys=I.seeds(2, 0),
                           metric="accuracy", methods_=("bo_rep", "soba"))
    assert hits[0] == {"bo_rep": "low", "soba": "low"} and len(hits) == 3
    assert done["bo_rep"].grid == done["soba"].grid and len(done["soba"].grid) == len(I.REGIME_GRIDS["rnn_cleaning"]) + 2
    assert done["bo_rep"].grid[0] == pytest.approx(I.REGIME_GRIDS["rnn_cleaning"][0] / I.WIDEN ** 2)


def test_applications_at_quick_size_are_in_the_regime_and_settled(measured):
    """The regime claim's instance meets its premise (‖∇Φ‖ and the local smoothness span >= 2
    decades and rise together), the budgets are equal, and the verdict is the documented one."""
    _, ev, verdict = measured("bilevel.applications")
    assert verdict.details["premise_met"], verdict.details["premise_along_training"]
    assert verdict.details["equal_budget"], verdict.details["final_oracle_calls"]
    assert verdict.status == applications.QUICK_VERDICT


# --- issue 13: the rules are equivalence tests, never vacuous; the reference is independent -----------
def _fit(rate, lo, hi):
    import convlab
    return convlab.RateFit("power", rate, lo, hi, 0.9, (1.0, 2.0), 0.1, 4, 4, 0)


@pytest.mark.parametrize("ci, status", [((0.26, 0.40), "holds"), ((0.20, 0.40), "inconclusive"),
                                        ((0.10, 0.20), "violated"), ((np.nan, np.nan), "inconclusive")])
def test_rate_band_rule_needs_the_whole_ci(ci, status):
    from theory_checks.bilevel import bo_rep_rate
    assert bo_rep_rate.one_sided(_fit(0.3 if status != "violated" else 0.15, *ci), 0.25, 0.036, "p").status == status


def test_applications_cannot_hold_when_runs_failed():
    inf = [np.inf] * 4
    assert applications.no_worse(np.asarray(inf), np.asarray(inf), ("bo_rep", "soba"), "x").status == "inconclusive"
    assert applications.no_worse(np.asarray(inf), np.asarray([0.2] * 4), ("bo_rep", "soba"), "x").status == "violated"
    assert applications.judge(applications.two_methods(inf, inf)).status != "holds"
    # no worse on the point estimate but not on the whole CI: not holds
    ev = applications.two_methods([0.20, 0.30, 0.10, 0.21], [0.21, 0.20, 0.22, 0.19])
    assert applications.judge(ev).status == "inconclusive"


def test_reference_rules_do_not_use_the_methods_oracles(monkeypatch):
    """The theory's side (reference.py) differentiates the problem's losses itself: the
    methods' oracles may be broken without touching it."""
    from theory_checks.bilevel import reference as R

    def broken(*args, **kwargs):
        raise AssertionError("the reference called a method's oracle")
    for name in ("upper_grads", "lower_grad", "hvp_yy", "jvp_xy", "neumann_solve", "exact_linear_solve"):
        monkeypatch.setattr(B, name, broken)
    from theory_checks.bilevel import hypergradient_estimates
    p = hypergradient_estimates.variants(I.synthetic())["exact"]
    rng = np.random.default_rng(0)
    s = R.Flat(rng.normal(size=10), rng.normal(size=20), rng.normal(size=20), rng.normal(size=10))
    for name, spec in {"bo_rep": dict(step_size=0.1), "stocbio": dict(step_size=0.1), "ttsa": dict(step_size=0.1),
                       "soba": dict(step_size=0.1), "ma_soba": dict(step_size=0.1), "aid": dict(step_size=0.1)}.items():
        new = R.reference_step(name, spec, p, 0, s)
        assert all(np.all(np.isfinite(a)) for a in new)
    d = R.derivatives(p, s.x, s.y)
    A = np.eye(20) - 0.2 * d.H
    closed = np.linalg.solve(d.H, (np.eye(20) - np.linalg.matrix_power(A, 7)) @ d.gy)  # [derived]
    # rounding of a 7-term series: relative to the vector's scale (an entry near 0 has no digits)
    np.testing.assert_allclose(R.neumann(d, 0.2, 7), closed, rtol=1e-12, atol=1e-13 * np.abs(closed).max())
    np.testing.assert_allclose(d.gx - d.J.T @ R.neumann(d, 0.2, 7),
                               R.implicit_hypergradient(d) + R.neumann_error(d, 0.2, 7), rtol=1e-10)


def test_theory_counts_of_lower_calls_agree_with_the_methods_schedule():
    from theory_checks.bilevel import periodic_update
    for period, K in ((1, 9), (2, 10), (3, 11), (8, 4000)):
        spec = dict(refine_steps=7, inner_steps=4, period=period)
        schedule = B.lower_calls_schedule(K, refine=7, period=period, inner=4, batch=1)
        assert periodic_update.theory_lower_calls(K, spec) == float(schedule[-1])
