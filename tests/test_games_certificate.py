"""The Small-Gain Nash certificate (theory_checks.games.certificate and .stability) as a
library feature: regions, the pipeline's input checks, exact certificates of known games,
optimality of the weights, the timescale band and the discretisation factors (property tests)."""

import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from problems import games as G
from theory_checks.games import certificate as C
from theory_checks.games import instances as I
from theory_checks.games import stability as S


def test_region_points():
    r = C.Region(np.zeros(3), 0.5)
    pts = r.points()
    assert pts.shape == (9, 3) and np.all(pts[0] == 0)
    assert {tuple(p) for p in pts[1:]} == {(a, b, c) for a in (-.5, .5) for b in (-.5, .5) for c in (-.5, .5)}
    s = C.Region(np.ones(20), 0.1, kind="sampled", num_samples=7, seed=3)
    np.testing.assert_array_equal(s.points(), C.Region(np.ones(20), 0.1, kind="sampled", num_samples=7,
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
        C.Region(**kwargs)


def test_certify_rejects_bad_input(key):
    game = G.make_toy_game(key)
    region = C.Region(np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="field"):
        C.certify(game, region, field="hessian")
    with pytest.raises(ValueError, match="weights"):
        C.certify(game, region, weights=(1.0, -1.0))
    with pytest.raises(ValueError, match="base_metric"):
        C.certify(game, region, base_metric=np.zeros(2))
    with pytest.raises(ValueError, match="coordinates"):
        C.certify(game, C.Region(np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="Region"):
        C.certify(game, (np.zeros(2), 1.0))


def test_certificate_of_the_toy_game(key):
    cert = C.certify(G.make_toy_game(key), C.Region(np.zeros(2), 1.0))
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
    cert = C.certify(I.lq_game(1.6, dim=8), I.lq_region(8), weights=I.W_BALANCED)
    assert not cert.certified and cert.alpha < 0
    assert cert.euler_step == cert.euler_best_step == cert.rk4_guideline == cert.rk4_step == 0.0
    assert all(math.isnan(v) for v in cert.band)
    markov = G.make_markov_game(key, reward_scale=2.5)  # coupling 2.5 x 0.55 > entropy curvature
    mc = C.certify(markov, C.Region(np.zeros(4), 0.1), field="natural_gradient",
                    base_metric=np.asarray(markov.base_metric))
    assert not mc.certified and mc.euler_step == 0.0


def test_sgn_margin_two_players_closed_form():
    mu, L = np.array([1.0, 2.0]), np.array([[0.0, 3.0], [0.5, 0.0]])
    for r in (0.1, 1.0, 6.0, 50.0):
        o = L[0, 1] / math.sqrt(r) + L[1, 0] * math.sqrt(r)
        want = 0.5 * (mu.sum() - math.sqrt((mu[0] - mu[1]) ** 2 + o**2))
        assert C.sgn_margin(mu, L, (1.0, r)) == pytest.approx(want, abs=1e-13)
        assert C.sgn_margin(mu, L, (7.0, 7.0 * r)) == pytest.approx(want, abs=1e-13)  # scale-free


@settings(max_examples=40, deadline=None)
@given(mu1=st.floats(0.1, 3.0), mu2=st.floats(0.1, 3.0), l12=st.floats(0.0, 20.0),
       l21=st.floats(0.0, 5.0))
def test_two_player_weights_are_optimal(mu1, mu2, l12, l21):
    """r* = L12/L21 beats every ratio on a fine log grid."""
    mu, L = np.array([mu1, mu2]), np.array([[0.0, l12], [l21, 0.0]])
    w = C.optimize_weights(mu, L)
    best = C.sgn_margin(mu, L, w)
    grid = max(C.sgn_margin(mu, L, (1.0, r)) for r in np.geomspace(1e-6, 1e6, 2001))
    assert best >= grid - 1e-12


def test_n_player_weights_beat_a_brute_force_grid(key):
    game = G.make_quadratic_game(key, block_sizes=(2, 3, 2), coupling=0.3)
    cert = C.certify(game, C.Region(np.zeros(7), 1.0, kind="sampled", num_samples=2))
    grid = np.linspace(-6, 6, 97)
    brute = max(C.sgn_margin(cert.mu, cert.L, np.exp([0.0, a, b])) for a in grid for b in grid)
    assert cert.alpha >= brute - 1e-9
    assert cert.alpha > C.sgn_margin(cert.mu, cert.L, np.ones(3)) + 0.1  # weights matter here
    np.testing.assert_array_equal(cert.weights, C.optimize_weights(cert.mu, cert.L))  # deterministic


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), coupling=st.floats(0.05, 1.0), n=st.integers(2, 4))
def test_certificate_is_sound_for_quadratic_games(seed, coupling, n):
    """α* <= the true M-margin and β = the true M-Lipschitz constant (constant Jacobian)."""
    game = G.make_quadratic_game(jax.random.key(seed), block_sizes=(2,) * n, coupling=coupling)
    cert = C.certify(game, C.Region(np.zeros(2 * n), 1.0))
    H = np.asarray(game.H)
    assert cert.alpha <= S.true_margin(H, cert.metric_diag()) + 1e-10
    assert cert.beta == pytest.approx(S.metric_lipschitz(H, cert.metric_diag()), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(mu1=st.floats(0.2, 3.0), mu2=st.floats(0.2, 3.0), l12=st.floats(0.01, 5.0),
       l21=st.floats(0.01, 5.0), alpha=st.floats(0.0, 0.15))
def test_band_is_exactly_where_the_margin_exceeds_alpha(mu1, mu2, l12, l21, alpha):
    mu, L = np.array([mu1, mu2]), np.array([[0.0, l12], [l21, 0.0]])
    lo, hi = C.timescale_band(mu, L, alpha)
    grid = np.geomspace(1e-5, 1e5, 301)
    margins = np.array([C.sgn_margin(mu, L, (1.0, r)) for r in grid])
    if math.isnan(lo):
        assert np.all(margins <= alpha + 1e-12)
        return
    inside = (grid > lo) & (grid < hi)
    near = np.minimum(np.abs(np.log(grid / lo)), np.abs(np.log(grid / hi))) < 1e-6
    assert np.all(((margins > alpha) == inside) | near)
    assert C.sgn_margin(mu, L, (1.0, lo)) == pytest.approx(alpha, abs=1e-9)
    assert C.sgn_margin(mu, L, (1.0, hi)) == pytest.approx(alpha, abs=1e-9)


def test_band_with_a_one_way_coupling():
    mu = np.array([1.0, 1.0])
    assert C.timescale_band(mu, np.array([[0.0, 2.0], [0.0, 0.0]])) == (1.0, math.inf)
    assert C.timescale_band(mu, np.array([[0.0, 0.0], [2.0, 0.0]])) == (0.0, 1.0)


def test_rk4_tail_and_stability_helpers():
    x = np.array([0.0, 1e-3, 0.5, 2.0, 5.0])
    direct = np.exp(x) - (1 + x + x**2 / 2 + x**3 / 6 + x**4 / 24)
    np.testing.assert_allclose(S.rk4_tail(x)[2:], direct[2:], rtol=1e-12)
    assert S.rk4_tail(1e-3) == pytest.approx(1e-15 / 120, rel=1e-3)  # no cancellation
    # the RK4 real-axis stability limit 2.785293563...
    assert S.rk4_stability_limit(np.eye(3)) == pytest.approx(2.785293563405282, rel=1e-9)
    assert S.euler_stability_limit(np.diag([1.0, 4.0])) == pytest.approx(0.5)
    assert S.euler_stability_limit(np.array([[0.0, 1.0], [-1.0, 0.0]])) == 0.0  # rotation


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), lam=st.floats(0.0, 1.3), frac=st.floats(0.05, 1.0))
def test_certified_per_step_factors_bound_the_one_step_operators(seed, lam, frac):
    """[derived] ||I - hS|| <= √(1-2hα+h²β²) and ||R(-hS)|| <= e^{-hα} + tail5(hβ) in M."""
    game = G.make_random_lq_game(jax.random.key(seed), dim=8, lam=lam, curvature_spread=1.0)
    cert = C.certify(game, I.lq_region(8))
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
    vert = C.certify(game, C.Region(np.zeros(4), 0.1), **kw)
    samp = C.certify(game, C.Region(np.zeros(4), 0.1, kind="sampled", num_samples=200), **kw)
    assert samp.mu[0] >= vert.mu[0] - 1e-12 and samp.L[0, 1] <= vert.L[0, 1] + 1e-12
    assert vert.alpha == pytest.approx(0.40457, abs=1e-5) and vert.beta == pytest.approx(1.56657, abs=1e-5)
