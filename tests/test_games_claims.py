"""The Small-Gain Nash certificate (theory_checks.small_gain) and the ``games`` claims: property
tests of the pipeline, each claim holding at quick size, and a negative control per claim
(evidence that breaks it must be judged ``violated``)."""

import dataclasses
import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convlab
from convlab.methods import game_dynamics as D
from problems import games as G
from theory_checks import registry, report
from theory_checks import small_gain as SG
from claim_evidence import judge, measure_and_judge

CLAIM_IDS = [c.id for c in SG.CLAIMS]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Measure every games claim once (quick sizes); keep evidence and verdicts."""
    out = tmp_path_factory.mktemp("figures")
    results = measure_and_judge(SG.CLAIMS)
    # one claim through evaluate(), as the CLI runs it (figure included)
    results["__verdict_with_figure__"] = SG.CLAIMS[1].evaluate(quick=True, out_dir=out)
    return results


def _judge(claim_id, evidence):
    return judge(SG.CLAIMS, claim_id, evidence)


# --- the certificate as a product ------------------------------------------------------------------
def test_region_points():
    r = SG.Region(np.zeros(3), 0.5)
    pts = r.points()
    assert pts.shape == (9, 3) and np.all(pts[0] == 0)
    assert {tuple(p) for p in pts[1:]} == {(a, b, c) for a in (-.5, .5) for b in (-.5, .5) for c in (-.5, .5)}
    s = SG.Region(np.ones(20), 0.1, kind="sampled", num_samples=7, seed=3)
    np.testing.assert_array_equal(s.points(), SG.Region(np.ones(20), 0.1, kind="sampled", num_samples=7,
                                                        seed=3).points())  # deterministic
    assert s.points().shape == (8, 20) and np.all(np.abs(s.points() - 1) <= 0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(center=np.zeros(13), radius=1.0), "sampled"),
    (dict(center=np.zeros(2), radius=-1.0), "radius"),
    (dict(center=np.zeros(2), radius=1.0, kind="grid"), "kind"),
    (dict(center=np.zeros((2, 2)), radius=1.0), "center"),
    (dict(center=np.zeros(2), radius=1.0, kind="sampled", num_samples=0), "num_samples"),
])
def test_region_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SG.Region(**kwargs)


def test_certify_rejects_bad_input(key):
    game = G.make_toy_game(key)
    region = SG.Region(np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="field"):
        SG.certify(game, region, field="hessian")
    with pytest.raises(ValueError, match="weights"):
        SG.certify(game, region, weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="base_metric"):
        SG.certify(game, region, base_metric=np.zeros(2))
    with pytest.raises(ValueError, match="coordinates"):
        SG.certify(game, SG.Region(np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="Region"):
        SG.certify(game, (np.zeros(2), 1.0))


def test_certificate_of_the_toy_game(key):
    cert = SG.certify(G.make_toy_game(key), SG.Region(np.zeros(2), 1.0))
    assert cert.certified and cert.num_points == 5
    np.testing.assert_allclose(cert.weights, [1.0, 200.0], rtol=1e-12)
    assert cert.alpha == pytest.approx(1 - math.sqrt(0.5), abs=1e-12)
    assert cert.beta == pytest.approx(1 + math.sqrt(0.5), abs=1e-12)
    assert cert.contraction_rate == cert.alpha
    assert cert.euler_step == pytest.approx(2 * cert.alpha / cert.beta**2)
    assert cert.euler_best_step == pytest.approx(cert.euler_step / 2)
    assert cert.euler_factor(cert.euler_step) == pytest.approx(1.0)
    assert cert.euler_factor(cert.euler_best_step) == pytest.approx(math.sqrt(1 - (cert.alpha / cert.beta) ** 2))
    assert cert.rk4_guideline == pytest.approx(2.5 / cert.beta)
    assert cert.rk4_factor(cert.rk4_step) == pytest.approx(1.0, abs=1e-12)
    json.dumps(cert.summary())  # JSON-able


def test_uncertified_game_reports_no_safe_step(key):
    """A step above the certified bound is never reported as certified: past λ = √2 the LQ game
    has a negative eigenvalue, SGN does not certify it and every safe step is 0."""
    cert = SG.certify(SG.lq_game(1.6, dim=8), SG.lq_region(8), weights=SG.W_BALANCED)
    assert not cert.certified and cert.alpha < 0
    assert cert.euler_step == cert.euler_best_step == cert.rk4_guideline == cert.rk4_step == 0.0
    assert all(math.isnan(v) for v in cert.band)
    markov = G.make_markov_game(key, reward_scale=2.5)  # coupling 2.5 x 0.55 > entropy curvature
    mc = SG.certify(markov, SG.Region(np.zeros(4), 0.1), field="natural_gradient",
                    base_metric=np.asarray(markov.base_metric))
    assert not mc.certified and mc.euler_step == 0.0


def test_sgn_margin_two_players_closed_form():
    mu, L = np.array([1.0, 2.0]), np.array([[0.0, 3.0], [0.5, 0.0]])
    for r in (0.1, 1.0, 6.0, 50.0):
        o = L[0, 1] / math.sqrt(r) + L[1, 0] * math.sqrt(r)
        want = 0.5 * (mu.sum() - math.sqrt((mu[0] - mu[1]) ** 2 + o**2))
        assert SG.sgn_margin(mu, L, (1.0, r)) == pytest.approx(want, abs=1e-13)
        assert SG.sgn_margin(mu, L, (7.0, 7.0 * r)) == pytest.approx(want, abs=1e-13)  # scale-free


@settings(max_examples=40, deadline=None)
@given(mu1=st.floats(0.1, 3.0), mu2=st.floats(0.1, 3.0), l12=st.floats(0.0, 20.0),
       l21=st.floats(0.0, 5.0))
def test_two_player_weights_are_optimal(mu1, mu2, l12, l21):
    """r* = L12/L21 beats every ratio on a fine log grid."""
    mu, L = np.array([mu1, mu2]), np.array([[0.0, l12], [l21, 0.0]])
    w = SG.optimize_weights(mu, L)
    best = SG.sgn_margin(mu, L, w)
    grid = max(SG.sgn_margin(mu, L, (1.0, r)) for r in np.geomspace(1e-6, 1e6, 2001))
    assert best >= grid - 1e-12


def test_n_player_weights_beat_a_brute_force_grid(key):
    game = G.make_quadratic_game(key, block_sizes=(2, 3, 2), coupling=0.3)
    cert = SG.certify(game, SG.Region(np.zeros(7), 1.0, kind="sampled", num_samples=2))
    grid = np.linspace(-6, 6, 97)
    brute = max(SG.sgn_margin(cert.mu, cert.L, np.exp([0.0, a, b])) for a in grid for b in grid)
    assert cert.alpha >= brute - 1e-9
    assert cert.alpha > SG.sgn_margin(cert.mu, cert.L, np.ones(3)) + 0.1  # weights matter here
    np.testing.assert_array_equal(cert.weights, SG.optimize_weights(cert.mu, cert.L))  # deterministic


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), coupling=st.floats(0.05, 1.0), n=st.integers(2, 4))
def test_certificate_is_sound_for_quadratic_games(seed, coupling, n):
    """α* <= the true M-margin and β = the true M-Lipschitz constant (constant Jacobian)."""
    game = G.make_quadratic_game(jax.random.key(seed), block_sizes=(2,) * n, coupling=coupling)
    cert = SG.certify(game, SG.Region(np.zeros(2 * n), 1.0))
    H = np.asarray(game.H)
    assert cert.alpha <= SG.true_margin(H, cert.metric_diag()) + 1e-10
    assert cert.beta == pytest.approx(SG.metric_lipschitz(H, cert.metric_diag()), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(mu1=st.floats(0.2, 3.0), mu2=st.floats(0.2, 3.0), l12=st.floats(0.01, 5.0),
       l21=st.floats(0.01, 5.0), alpha=st.floats(0.0, 0.15))
def test_band_is_exactly_where_the_margin_exceeds_alpha(mu1, mu2, l12, l21, alpha):
    mu, L = np.array([mu1, mu2]), np.array([[0.0, l12], [l21, 0.0]])
    lo, hi = SG.timescale_band(mu, L, alpha)
    grid = np.geomspace(1e-5, 1e5, 301)
    margins = np.array([SG.sgn_margin(mu, L, (1.0, r)) for r in grid])
    if math.isnan(lo):
        assert np.all(margins <= alpha + 1e-12)
        return
    inside = (grid > lo) & (grid < hi)
    near = np.minimum(np.abs(np.log(grid / lo)), np.abs(np.log(grid / hi))) < 1e-6
    assert np.all(((margins > alpha) == inside) | near)
    assert SG.sgn_margin(mu, L, (1.0, lo)) == pytest.approx(alpha, abs=1e-9)
    assert SG.sgn_margin(mu, L, (1.0, hi)) == pytest.approx(alpha, abs=1e-9)


def test_band_with_a_one_way_coupling():
    mu = np.array([1.0, 1.0])
    assert SG.timescale_band(mu, np.array([[0.0, 2.0], [0.0, 0.0]])) == (1.0, math.inf)
    assert SG.timescale_band(mu, np.array([[0.0, 0.0], [2.0, 0.0]])) == (0.0, 1.0)


def test_rk4_tail_and_stability_helpers():
    x = np.array([0.0, 1e-3, 0.5, 2.0, 5.0])
    direct = np.exp(x) - (1 + x + x**2 / 2 + x**3 / 6 + x**4 / 24)
    np.testing.assert_allclose(SG.rk4_tail(x)[2:], direct[2:], rtol=1e-12)
    assert SG.rk4_tail(1e-3) == pytest.approx(1e-15 / 120, rel=1e-3)  # no cancellation
    # the RK4 real-axis stability limit 2.785293563...
    assert SG.rk4_stability_limit(np.eye(3)) == pytest.approx(2.785293563405282, rel=1e-9)
    assert SG.euler_stability_limit(np.diag([1.0, 4.0])) == pytest.approx(0.5)
    assert SG.euler_stability_limit(np.array([[0.0, 1.0], [-1.0, 0.0]])) == 0.0  # rotation


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), lam=st.floats(0.0, 1.3), frac=st.floats(0.05, 1.0))
def test_certified_per_step_factors_bound_the_one_step_operators(seed, lam, frac):
    """[derived] ||I - hS|| <= √(1-2hα+h²β²) and ||R(-hS)|| <= e^{-hα} + tail5(hβ) in M."""
    game = G.make_random_lq_game(jax.random.key(seed), dim=8, lam=lam, curvature_spread=1.0)
    cert = SG.certify(game, SG.lq_region(8))
    if not cert.certified:
        return
    s = np.sqrt(cert.metric_diag())
    S = s[:, None] * np.asarray(game.H) / s[None, :]
    h = frac * cert.euler_step
    assert np.linalg.norm(np.eye(8) - h * S, 2) <= cert.euler_factor(h) * (1 + 1e-12)
    h = frac * cert.rk4_step
    Z = -h * S
    R = np.eye(8) + Z + Z @ Z / 2 + Z @ Z @ Z / 6 + Z @ Z @ Z @ Z / 24
    assert np.linalg.norm(R, 2) <= cert.rk4_factor(h) * (1 + 1e-12)


def test_markov_certificate_estimates_on_the_box_vertices():
    """Vertices of the logit box vs 200 samples of it: the vertex estimate is the paper's; the
    samples stay within it (checked: no sampled point is worse)."""
    game = G.make_markov_game(jax.random.key(0))
    kw = dict(field="natural_gradient", base_metric=np.asarray(game.base_metric))
    vert = SG.certify(game, SG.Region(np.zeros(4), 0.1), **kw)
    samp = SG.certify(game, SG.Region(np.zeros(4), 0.1, kind="sampled", num_samples=200), **kw)
    assert samp.mu[0] >= vert.mu[0] - 1e-12 and samp.L[0, 1] <= vert.L[0, 1] + 1e-12
    assert vert.alpha == pytest.approx(0.40457, abs=1e-5) and vert.beta == pytest.approx(1.56657, abs=1e-5)


# --- the claims ------------------------------------------------------------------------------------
def test_registry_lists_the_games_claims():
    assert [c.id for c in registry.claims(["games"])] == CLAIM_IDS
    assert len(CLAIM_IDS) == 5 and all(i.startswith("games.") for i in CLAIM_IDS)
    assert [c.kind for c in SG.CLAIMS] == ["certificate", "certificate", "envelope", "certificate", "slope"]
    assert any(name == "toy_phase" for _, name, _ in registry.figure_groups(["games"]))


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_holds_at_quick_size(evaluated, claim_id):
    _, verdict = evaluated[claim_id]
    assert verdict.status == "holds", verdict


def test_evaluate_draws_the_figure_and_records_the_paper_numbers(evaluated):
    verdict = evaluated["__verdict_with_figure__"]
    assert verdict.id == "games.lq-paper-numbers" and verdict.figure.endswith(".png")
    with open(verdict.figure, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    record = json.loads(json.dumps(verdict.record()))
    details = record["details"]
    for name, (paper, unit) in SG.PAPER_NUMBERS.items():
        assert details[f"paper.{name}"] == paper
        assert abs(details[f"measured.{name}"] - paper) <= 0.5 * unit
    assert details["measured.euler_step_sgn"] == pytest.approx(0.2010, abs=5e-5)
    assert "0.201" in report.summary_line(dataclasses.replace(verdict, predicted=0.201))


def test_margins_are_exact_to_rounding(evaluated):
    ev, verdict = evaluated["games.lq-margins"]
    assert verdict.measured < 1e-13
    assert ev["lambda_euclid"] == pytest.approx(2 / 10.05, abs=1e-12)
    assert ev["lambda_sgn"] == pytest.approx(math.sqrt(2), abs=1e-12)
    np.testing.assert_allclose(ev["ratio_opt"][ev["lambdas"] > 0], 200.0, rtol=1e-9)


def test_soundness_bound_is_nearly_attained(evaluated):
    """The certified Euler factor is not vacuous: some first step comes within 5% of it."""
    _, verdict = evaluated["games.lq-soundness"]
    assert 0.95 <= verdict.measured <= 1.0
    assert verdict.details["euler.num_diverged"] == verdict.details["rk4.num_diverged"] == 0


def test_markov_details_define_convergence_and_the_drop(evaluated):
    ev, verdict = evaluated["games.markov-npg"]
    d = verdict.details
    assert d["num_seeds"] == 20 and "V_K <= 1e-08 V_0" in d["converged_definition"]
    assert d["prob_converged_all_at_or_below_eta_max"] and d["first_multiplier_with_prob_below_1"] > 1
    assert d["fitted_rate_at_least_certified"]
    assert abs(verdict.measured - verdict.predicted) < 0.01 * verdict.predicted


# --- negative controls -----------------------------------------------------------------------------
def test_negative_margins_with_the_euclidean_weights(evaluated):
    """α* with w = (1, 1) reported as the balanced margin: off by far more than 1e-8."""
    ev, _ = evaluated["games.lq-margins"]
    wrong = np.array([SG.certify(SG.lq_game(lam), SG.lq_region(), weights=(1.0, 1.0)).alpha
                      for lam in ev["lambdas"]])
    assert _judge("games.lq-margins", {**ev, "alpha_sgn": wrong}).status == "violated"
    tiny = ev["alpha_sgn"] + 1e-6  # even a 1e-6 error is caught
    assert _judge("games.lq-margins", {**ev, "alpha_sgn": tiny}).status == "violated"


def test_negative_paper_numbers(evaluated):
    ev, _ = evaluated["games.lq-paper-numbers"]
    # the Euler step mistaken for α/β² (a factor 2)
    wrong = {**ev, "measured": {**ev["measured"], "euler_step_sgn": ev["extra"]["euler_best_step"]}}
    assert _judge("games.lq-paper-numbers", wrong).status == "violated"
    # the band at the target margin α = α* instead of α = 0 (it degenerates to a point)
    cert = SG.certify(SG.lq_game(1.0), SG.lq_region(), weights=SG.W_BALANCED)
    lo, hi = SG.timescale_band(cert.mu, cert.L, 0.5 * cert.alpha)
    wrong = {**ev, "measured": {**ev["measured"], "band_r_minus": lo, "band_r_plus": hi}}
    assert _judge("games.lq-paper-numbers", wrong).status == "violated"


def test_negative_soundness_with_a_step_past_the_true_limit(evaluated):
    """Euler with h = 1.3 > 1.1716 (the true limit at λ = 1) on the LQ game diverges; its trace
    in place of one certified run breaks the envelope."""
    ev, _ = evaluated["games.lq-soundness"]
    game = G.with_weights(SG.lq_game(1.0), SG.W_BALANCED)
    k = ev["euler"]["k"]
    t = convlab.run(D.projected_euler(1.3), game, game.x0, key=jax.random.key(0),
                    num_steps=int(k[-1]), record_every=int(k[1]), metrics={"m_norm": G.m_norm})
    values = np.asarray(t["m_norm"]) / float(t["m_norm"][0])
    assert values[-1] > 1e3  # it really diverges
    broken = {**ev["euler"], "normalized": ev["euler"]["normalized"].copy()}
    broken["normalized"][0, 1] = values
    verdict = _judge("games.lq-soundness", {**ev, "euler": broken})
    assert verdict.status == "violated" and verdict.measured > 1


def test_negative_soundness_with_an_overstated_rate(evaluated):
    """Claiming the factor of the faster RK4 for Euler runs must fail."""
    ev, _ = evaluated["games.lq-soundness"]
    k = ev["euler"]["k"]
    faster = {**ev["euler"], "bound": (ev["euler"]["factor"] ** 4)[..., None] ** k[None, None, :]}
    assert _judge("games.lq-soundness", {**ev, "euler": faster}).status == "violated"


def test_negative_band_with_swapped_couplings(evaluated):
    """The band formula with L12 and L21 swapped (a classic slip) misses the roots."""
    ev, _ = evaluated["games.timescale-band"]
    rows = []
    for row in ev["rows"]:
        L = np.array(row["L"])
        rows.append({**row, "band": SG.timescale_band(np.array(row["mu"]), L.T)})
    assert _judge("games.timescale-band", {"rows": rows}).status == "violated"


def test_negative_band_with_a_wrong_sign_on_the_grid(evaluated):
    ev, _ = evaluated["games.timescale-band"]
    rows = [dict(r) for r in ev["rows"]]
    rows[0]["sgn_mismatches"] = 1
    verdict = _judge("games.timescale-band", {"rows": rows})
    assert verdict.status == "violated" and verdict.details["sign_mismatches_alpha_sgn"] == 1


def test_negative_markov_with_a_step_far_above_the_bound(evaluated):
    """NPG with η = 5 η_max (past the linear stability limit 3.9 η_max) reported as the certified
    run: it does not converge, so the claim must be violated."""
    ev, _ = evaluated["games.markov-npg"]
    setup = SG.markov_setup(ev["num_seeds"])
    eta = 5.0 * ev["eta_max"]
    trace = SG._markov_sweep("npg", setup, np.array([eta]), int(ev["k"][-1]), 1)
    lyap = np.asarray(trace["lyapunov"])[0, :, 0]
    mn = np.asarray(trace["m_norm"])[0, :, 0]
    with np.errstate(all="ignore"):
        fit = convlab.fit_rate(ev["k"], lyap / lyap[:, :1], kind="linear",
                               diverged=np.asarray(trace.diverged)[0, :, 0])
    broken = {**ev, "lyap_npg": lyap, "mnorm_npg": mn, "fit": fit}
    assert _judge("games.markov-npg", broken).status == "violated"


def test_negative_markov_with_the_euclidean_rate(evaluated):
    """Euclidean PG at the same η decays 4x slower than the linearised NPG rate: not that slope."""
    ev, _ = evaluated["games.markov-npg"]
    lyap = ev["lyap_epg"]
    fit = convlab.fit_rate(ev["k"], lyap / lyap[:, :1], kind="linear")
    verdict = _judge("games.markov-npg", {**ev, "fit": fit})
    assert verdict.status == "violated" and verdict.measured < 0.5 * verdict.predicted


def test_negative_markov_probability_drop_before_the_bound(evaluated):
    ev, _ = evaluated["games.markov-npg"]
    prob = ev["prob_npg"].copy()
    prob[np.argmin(np.abs(ev["multipliers"] - 1.0))] = 0.95  # one start failed at η = η_max
    assert _judge("games.markov-npg", {**ev, "prob_npg": prob}).status == "violated"
    no_drop = np.ones_like(ev["prob_npg"])  # never drops in the scanned range
    assert _judge("games.markov-npg", {**ev, "prob_npg": no_drop}).status == "violated"


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
