"""Property tests of the robust recovery claims (each holds at quick size) and their negative
controls (evidence that breaks a claim must be judged ``violated``). Negative-control runs
reuse the claims' compiled sweeps (r', m, α and the steps are traced)."""

import dataclasses

import numpy as np
import pytest

import convlab
from theory_checks import registry
from theory_checks import robust_recovery as C
from claim_evidence import judge, measure_and_judge

CLAIM_IDS = [c.id for c in C.CLAIMS]
QUICK = C.SIZES[True]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Measure every robust recovery claim once (quick sizes); keep evidence and verdicts."""
    return measure_and_judge(C.CLAIMS)


def _judge(claim_id, evidence):
    return judge(C.CLAIMS, claim_id, evidence)


def test_registry_lists_the_claims_and_figure_groups():
    assert [c.id for c in registry.claims(["robust_recovery"])] == CLAIM_IDS
    assert len(CLAIM_IDS) == 5 and all(i.startswith("robust_recovery.") for i in CLAIM_IDS)
    names = {name for _, name, _ in registry.figure_groups(["robust_recovery"])}
    assert names == {"noise", "baselines"}


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_holds_at_quick_size(evaluated, claim_id):
    _, verdict = evaluated[claim_id]
    assert verdict.status == "holds", verdict


def test_draw_writes_a_png_for_every_claim(evaluated, tmp_path):
    from convlab.plots import new_figure, save_figure

    for claim in C.CLAIMS:
        evidence, verdict = evaluated[claim.id]
        fig, _ = new_figure(width=5.5, height=4.0)
        claim.draw(evidence, verdict, fig)
        path = save_figure(fig, tmp_path / f"{claim.id}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verdict_record_is_json_ready(evaluated):
    import json

    for claim_id in CLAIM_IDS:
        record = dataclasses.replace(evaluated[claim_id][1], id=claim_id).record()
        json.dumps(record)  # numpy scalars, tuples and nested details all serialize
        assert {"id", "predicted", "measured", "ci", "verdict", "details"} <= set(record)


# --- what the verdicts report ----------------------------------------------------------------------
def test_linear_rate_reports_every_case_and_the_sign_rip(evaluated):
    ev, verdict = evaluated["robust_recovery.linear-rate"]
    predicted = -np.log(QUICK["decay"])
    assert verdict.predicted == pytest.approx(predicted)
    assert len(verdict.details["checks"]) == len(QUICK["outlier_kinds"]) * len(QUICK["outlier_fractions"])
    for fit in ev["fits"]:
        assert abs(fit.rate / predicted - 1) < C.RATE_TOL and fit.num_excluded == 0
        assert fit.window == C._window(QUICK["steps"])
    rips = verdict.details["sign_rip"]
    assert set(rips) == set(ev["labels"])
    assert all(0 < r["delta"] < 2 and 0 < r["phi_min"] < 0.8 for r in rips.values())
    # more outliers, smaller φ = sqrt(2/π)(1 - p): the scaling function sees the corruption
    phis = [rips[f"gaussian, p = {p:g}"]["phi_min"] for p in QUICK["outlier_fractions"]]
    assert phis == sorted(phis, reverse=True)


def test_rank_insensitive_rates_agree_pairwise(evaluated):
    _, verdict = evaluated["robust_recovery.rank-insensitive"]
    assert verdict.details["max_pairwise_relative_difference"] < 2 * C.RATE_TOL
    assert [int(c.split("= ")[1]) for c in verdict.details["checks"]] == [2, 4, 12]


def test_alpha_floor_is_the_frozen_part_of_the_error(evaluated):
    ev, verdict = evaluated["robust_recovery.alpha-floor"]
    assert verdict.details["tail_contamination"] < 0.1  # floor ≫ error(T)²: not the signal tail
    assert np.all(np.diff(verdict.details["geometric_mean_floor"]) < 0)
    # frozen: the floor changed by < 10% over the last tenth of the run
    last = ev["floor_curves"][..., -1]
    earlier = ev["floor_curves"][..., -len(ev["k"]) // 10]
    assert np.all(np.abs(last / earlier - 1) < 0.1)


def test_l2_fails_only_because_of_the_outliers(evaluated):
    ev, verdict = evaluated["robust_recovery.l2-fails"]
    assert np.all(ev["l2"] > 1.0)                     # ℓ2-GD: no recovery under outliers
    assert np.all(ev["l2_clean"] < 1e-10)             # the same GD recovers without them
    assert np.all(ev["subgm"] < 1e-4)
    assert verdict.measured < 1e-3


def test_sample_complexity_details(evaluated):
    ev, verdict = evaluated["robust_recovery.sample-complexity"]
    rates = np.asarray(verdict.details["success_rate"])
    assert rates.shape == (len(QUICK["sc_search_ranks"]), len(QUICK["sc_m"]))
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
    assert C.transition_point([1.0, 2.0, 4.0, 8.0], rate) == pytest.approx(expected)


def test_combine_takes_the_worst():
    from theory_checks.verdict import Verdict

    hold, inc, bad = (Verdict("holds", 1.0, 1.0, margin=0.5), Verdict("inconclusive", 1.0, 2.0, margin=-0.1),
                      Verdict("violated", 1.0, 3.0, margin=-2.0))
    assert C._combine([hold, hold], ["a", "b"]).status == "holds"
    assert C._combine([hold, inc], ["a", "b"]).status == "inconclusive"
    combined = C._combine([hold, bad, inc], ["a", "b", "c"])
    assert combined.status == "violated" and combined.measured == 3.0 and combined.details["worst"] == "b"


# --- negative controls -----------------------------------------------------------------------------
@pytest.mark.parametrize("method, step0, decay", [("subgm", 0.02, 1.0),            # constant step
                                                  ("subgm_inverse_t", 0.5, 0.005)])  # 1/t steps
def test_negative_linear_rate_without_geometric_steps(evaluated, method, step0, decay):
    """Constant steps stall at an η-sized error and 1/t steps converge sublinearly: neither
    shows the slope log ρ, so a trace of either in place of one case breaks claim 1."""
    ev, _ = evaluated["robust_recovery.linear-rate"]
    res = C._sweep(QUICK, salt=1, method=method, step0=step0, decay=decay)
    fit = convlab.fit_rate(res["k"], res["error"], window=ev["window"])
    verdict = _judge("robust_recovery.linear-rate", {**ev, "fits": [fit] + ev["fits"][1:]})
    assert verdict.status == "violated" and verdict.details["worst"] == ev["labels"][0]


def test_negative_rank_insensitive_with_large_initialization(evaluated):
    """α = 1 with r' > r: the spurious directions are not small, SubGM stalls at a floor
    (the over-parameterized runs lose the rate)."""
    ev = C.measure_rank_insensitive(True, alpha=1.0)
    verdict = _judge("robust_recovery.rank-insensitive", ev)
    assert verdict.status == "violated"
    rates = verdict.details["rates"]
    assert abs(rates[0] / verdict.predicted - 1) < C.RATE_TOL  # r' = r is still fine
    assert max(rates[1:]) < 0.5 * verdict.predicted


def test_negative_alpha_floor_when_alpha_is_too_small_to_escape(evaluated):
    """With the step budget Σ η_t = η_0/(1-ρ) below the escape time log(1/α)/λ_r, α = 1e-18
    never grows into the signal: its error stays O(1), far above the α = 1e-10 floor."""
    ev = C.measure_alpha_floor(True, alphas=[1e-10, 1e-18])
    verdict = _judge("robust_recovery.alpha-floor", ev)
    assert verdict.status == "violated"
    assert np.all(ev["final_error"][1] > 0.5)


def test_negative_l2_fails_when_the_subgm_errors_are_l2_errors(evaluated):
    ev, _ = evaluated["robust_recovery.l2-fails"]
    assert _judge("robust_recovery.l2-fails", {**ev, "subgm": ev["l2"]}).status == "violated"


def test_negative_sample_complexity_with_large_initialization(evaluated):
    """α = 1 with r' = d overfits at small m: its transition moves right, past a grid step."""
    ev = C.measure_sample_complexity(True, alpha=1.0)
    verdict = _judge("robust_recovery.sample-complexity", ev)
    assert verdict.status == "violated"
    m_r, m_d = verdict.details["transition_m"]
    assert m_d > m_r


def test_negative_sample_complexity_under_the_alternative_hypothesis(evaluated):
    """Samples ∝ r' (the alternative the claim rules out): the r' = d curve is the r' = r curve
    with m scaled by d/r, i.e. shifted by log2(d/r) octaves."""
    ev, _ = evaluated["robust_recovery.sample-complexity"]
    m = ev["m"]
    ratio = max(ev["search_ranks"]) / min(ev["search_ranks"])
    success_r = ev["final"][0] < ev["threshold"]  # [M, instances]
    shifted = np.array([success_r[max(0, np.searchsorted(m, mm / ratio) - 1)] for mm in m])
    final = np.stack([ev["final"][0], np.where(shifted, 0.0, np.inf)])
    assert _judge("robust_recovery.sample-complexity", {**ev, "final": final}).status == "violated"
