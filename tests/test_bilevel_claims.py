"""Property tests of the bilevel (BO-REP) claims at quick size and their negative controls
(evidence that breaks a claim must be judged ``violated``)."""

import dataclasses

import numpy as np
import pytest

import convlab
from theory_checks import bilevel as M
from theory_checks import registry
from claim_evidence import judge, measure_and_judge

CLAIM_IDS = [c.id for c in M.CLAIMS]
FAST = ["bilevel.bo-rep-rate", "bilevel.fixed-step-diverges", "bilevel.periodic-update"]


@pytest.fixture(scope="module")
def evaluated():
    """Measure the synthetic claims once (quick sizes; measurements are cached)."""
    return measure_and_judge(M.CLAIMS, only=FAST)


def _judge(claim_id, evidence):
    return judge(M.CLAIMS, claim_id, evidence)


def test_registry_lists_the_bilevel_claims_and_figures():
    assert [c.id for c in registry.claims(["bilevel"])][:len(CLAIM_IDS)] == CLAIM_IDS
    assert [name for _, name, _ in registry.figure_groups(["bilevel"])][:2] == \
        ["stationarity_vs_calls", "applications"]


@pytest.mark.parametrize("claim_id", FAST)
def test_claim_holds_at_quick_size(evaluated, claim_id):
    _, verdict = evaluated[claim_id]
    assert verdict.status == "holds", verdict


def test_verdicts_serialize_and_draw(evaluated, tmp_path):
    from convlab.plots import new_figure, save_figure
    for claim_id in FAST:
        ev, verdict = evaluated[claim_id]
        record = dataclasses.replace(verdict, id=claim_id).record()
        assert {"id", "predicted", "measured", "ci", "verdict", "details"} <= set(record)
        fig, _ = new_figure()
        next(c for c in M.CLAIMS if c.id == claim_id).draw(ev, verdict, fig)
        assert save_figure(fig, tmp_path / f"{claim_id}.png").read_bytes()[:4] == b"\x89PNG"


# --- what the measurements must show beyond the verdicts -------------------------------------------
def test_budget_sweep_costs_scale_with_K(evaluated):
    """The schedule keeps the cost per outer step constant: oracle calls ∝ K (within the
    refinement's share)."""
    ev, _ = evaluated["bilevel.bo-rep-rate"]
    per_step = ev["calls"] / ev["budgets"]
    assert per_step.max() / per_step.min() < 1.15


def test_divergence_matches_the_analytic_threshold(evaluated):
    """Every step size whose threshold lies below ||x0||_∞ diverged; the others stalled."""
    ev, verdict = evaluated["bilevel.fixed-step-diverges"]
    for eta, diverged in zip(ev["etas"], (ev["fixed_diverged"] >= 0).all(axis=1)):
        threshold = ev["threshold"][f"{eta:g}"]
        if threshold < 0.9 * ev["init"]:
            assert diverged, (eta, threshold)
    assert verdict.details["fixed_stalled_etas"], "no stable step: the stall half is untested"


def test_lower_calls_are_those_the_methods_report(evaluated):
    import jax
    from convlab.methods import bilevel as B
    p = M.synthetic()
    method = M.scheduled_bo_rep(4.0, p, period=4, inner=3)
    state = method.init(p.start)
    step = jax.jit(lambda k, s: method.step(k, s, p))
    total = 0
    for i in range(9):
        state, info = step(jax.random.key(i), state)
        total += int(info["lower_calls"])
    o = dict(method.options)
    assert total == int(B.lower_calls_schedule(9, refine=o["refine_steps"], period=4, inner=3,
                                               batch=o["batch_lower"])[-1])
    assert M.calls_per_step(method, p) == pytest.approx(1 + 2 + 3 / 4)


# --- negative controls ---------------------------------------------------------------------------
def test_negative_rate_for_a_one_over_eighth_root(evaluated):
    """min ||∇Φ|| ∝ calls^-1/8 (an ε⁻⁸ method) must be violated."""
    ev, _ = evaluated["bilevel.bo-rep-rate"]
    noise = np.exp(0.01 * np.random.default_rng(0).normal(size=ev["best"].shape))
    fake = noise * ev["calls"][None, :] ** -0.125
    fit = convlab.fit_rate(ev["calls"], fake, kind="power", window=(ev["calls"][0], ev["calls"][-1]))
    verdict = _judge("bilevel.bo-rep-rate", {**ev, "best": fake, "fit": fit})
    assert verdict.status == "violated" and verdict.measured == pytest.approx(0.125, abs=0.02)


def test_negative_rate_when_bo_rep_diverges(evaluated):
    ev, _ = evaluated["bilevel.bo-rep-rate"]
    diverged = ev["diverged"].copy()
    diverged[0, 0] = 3
    assert _judge("bilevel.bo-rep-rate", {**ev, "diverged": diverged}).status == "violated"


def test_negative_divergence_when_the_fixed_step_converges(evaluated):
    """A fixed-step run that ends below BO-REP (from a small ||x0||) breaks the claim."""
    ev, _ = evaluated["bilevel.fixed-step-diverges"]
    best = ev["fixed_best"].copy()
    diverged = ev["fixed_diverged"].copy()
    best[0] = 0.1 * ev["bo_best"]
    diverged[0] = -1
    verdict = _judge("bilevel.fixed-step-diverges", {**ev, "fixed_best": best, "fixed_diverged": diverged})
    assert verdict.status == "violated"


def test_negative_divergence_when_bo_rep_diverges(evaluated):
    ev, _ = evaluated["bilevel.fixed-step-diverges"]
    bo = ev["bo_diverged"].copy()
    bo[0] = 10
    assert _judge("bilevel.fixed-step-diverges", {**ev, "bo_diverged": bo}).status == "violated"


def test_negative_period_without_savings(evaluated):
    """Lower calls that do not fall with I (a method that ignores the period) are violated."""
    ev, _ = evaluated["bilevel.periodic-update"]
    flat = np.full_like(ev["lower_calls"], ev["lower_calls"][0])
    assert _judge("bilevel.periodic-update", {**ev, "lower_calls": flat}).status == "violated"


def test_negative_period_when_stationarity_degrades(evaluated):
    ev, _ = evaluated["bilevel.periodic-update"]
    worse = ev["best"].copy()
    worse[-1] = 2.0 * worse[0]
    verdict = _judge("bilevel.periodic-update", {**ev, "best": worse})
    assert verdict.status == "violated"
    assert verdict.details["stationarity_status"] == "violated"


def _fake_applications(bo_loss, other_loss, edge=False):
    grid = (0.1, 1.0, 10.0)
    eta = grid[0] if edge else grid[1]
    entry = lambda loss: {"loss": np.asarray(loss), "eta": eta, "grid": grid}
    return {"cleaning": {"metric": "test error",
                         "methods": {"bo_rep": entry(bo_loss), "soba": entry(other_loss)}}}


@pytest.mark.parametrize("quick", [True, False])
def test_cleaning_instance_of_the_claim_rewards_cleaning(quick):
    """Claim 5's hyper-cleaning instance is well posed at both sizes: at the exact lower level,
    oracle-clean weights have a small test error, far below uniform weights (every method's start)."""
    ref = M.cleaning_references(M.app_problem("cleaning", quick))
    assert ref["oracle"] <= 0.05 and ref["uniform"] - ref["oracle"] >= 0.2, ref


def test_applications_figure_draws_the_cleaning_references(tmp_path):
    from convlab.plots import new_figure, save_figure
    curve = lambda: {"loss": np.asarray([0.1, 0.2]), "eta": 1.0, "grid": (0.1, 1.0, 10.0),
                     "calls": np.arange(1.0, 4.0), "curve": np.asarray([[0.6, 0.8, 0.9], [0.5, 0.7, 0.95]])}
    ev = {"cleaning": {"metric": "test error", "reference": {"uniform": 0.35, "oracle": 0.01},
                       "methods": {"bo_rep": curve(), "ttsa": curve()}}}
    verdict = M.judge_applications(ev)
    assert verdict.details["cleaning_reference_test_error"] == {"uniform": 0.35, "oracle": 0.01}
    fig, _ = new_figure()
    M.draw_applications(ev, verdict, fig)
    levels = {round(float(l.get_ydata()[0]), 3) for l in fig.axes[0].lines if len(set(l.get_ydata())) == 1}
    assert {0.35, 0.01} <= levels
    assert save_figure(fig, tmp_path / "apps.png").read_bytes()[:4] == b"\x89PNG"


def test_applications_judge_holds_when_bo_rep_is_better():
    ev = _fake_applications([0.20, 0.21, 0.19, 0.20], [0.30, 0.31, 0.29, 0.30])
    assert M.judge_applications(ev).status == "holds"


def test_negative_applications_when_bo_rep_is_worse():
    ev = _fake_applications([0.30, 0.31, 0.29, 0.30], [0.20, 0.21, 0.19, 0.20])
    assert M.judge_applications(ev).status == "violated"


def test_applications_loss_against_an_edge_tuned_method_is_inconclusive():
    ev = _fake_applications([0.30, 0.31, 0.29, 0.30], [0.20, 0.21, 0.19, 0.20], edge=True)
    verdict = M.judge_applications(ev)
    assert verdict.status == "inconclusive" and "grid" in verdict.details["reason"]
