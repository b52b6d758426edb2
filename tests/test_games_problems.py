"""Generators of problems.games and the game dynamics of convlab.methods.game_dynamics:
validation, pseudo-gradients and Jacobians (autodiff against closed forms and finite
differences), truth by construction, projections, exact policy evaluation, update rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convlab
from convlab.methods import game_dynamics as D
from problems import games as G


def _quadratic_games(key):
    return [G.make_toy_game(key), G.make_lq_game(key, dim=8, lam=0.7),
            G.make_lq_game(key, dim=8, lam=0.7, box=0.5),
            G.make_random_lq_game(key, dim=8, lam=1.2, curvature_spread=2.0),
            G.make_quadratic_game(key, block_sizes=(1, 2, 3))]


# --- quadratic games ------------------------------------------------------------------------------
def test_quadratic_pseudo_gradient_and_jacobian_are_H(key):
    for game in _quadratic_games(key):
        H = np.asarray(game.H)
        for x in jax.random.normal(jax.random.key(1), (3, game.dim)):
            np.testing.assert_allclose(game.pseudo_gradient(x), H @ np.asarray(x - game.x_star),
                                       rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(game.jacobian(x), H, rtol=0, atol=1e-13)


def test_pseudo_gradient_is_each_players_own_gradient(key):
    """F_i = ∇_{x_i} f_i, checked block by block against jax.grad of f_i alone."""
    game = G.make_quadratic_game(key, block_sizes=(2, 1, 3))
    x = jax.random.normal(jax.random.key(2), (game.dim,))
    F = np.asarray(game.pseudo_gradient(x))
    start = 0
    for i, size in enumerate(game.block_sizes):
        full = jax.grad(lambda y: game.player_costs(y)[i])(x)
        np.testing.assert_allclose(F[start:start + size], full[start:start + size], rtol=1e-12)
        start += size


def test_lq_costs_and_structure(key):
    lam, a, b, mu0 = 0.8, 10.0, 0.05, 1.3
    game = G.make_lq_game(key, dim=10, lam=lam, a=a, b=b, mu0=mu0)
    H = np.asarray(game.H)
    R = H[:5, 5:] / (lam * a)
    np.testing.assert_allclose(R @ R.T, np.eye(5), atol=1e-12)  # R orthogonal
    np.testing.assert_allclose(H[5:, :5], lam * b * R.T, atol=1e-12)
    np.testing.assert_allclose(H[:5, :5], mu0 * np.eye(5))
    x = np.asarray(jax.random.normal(jax.random.key(3), (10,)))
    x1, x2 = x[:5], x[5:]
    f = np.asarray(game.player_costs(jnp.asarray(x)))
    np.testing.assert_allclose(f, [0.5 * mu0 * x1 @ x1 + lam * a * x1 @ R @ x2,
                                   0.5 * mu0 * x2 @ x2 + lam * b * x2 @ R.T @ x1], rtol=1e-12)
    np.testing.assert_array_equal(game.weights, [b / a, 1.0])
    assert game.block_sizes == (5, 5) and game.kind == "lq"


@settings(max_examples=20, deadline=None)
@given(lam=st.floats(0.0, 2.5), a=st.floats(0.1, 20.0), b=st.floats(0.01, 5.0),
       seed=st.integers(0, 2**16))
def test_lq_balanced_metric_spectrum_is_mu0_pm_lam_sqrt_ab(lam, a, b, seed):
    """With w = (b/a, 1), M^{1/2} H M^{-1/2} is symmetric with eigenvalues 1 ± λ√(ab): the true
    margin 1 - λ√(ab) and M-Lipschitz constant 1 + λ√(ab) of PAPERS.md §5."""
    game = G.make_lq_game(jax.random.key(seed), dim=6, lam=lam, a=a, b=b)
    s = np.sqrt(np.asarray(game.metric_diag()))
    S = s[:, None] * np.asarray(game.H) / s[None, :]
    np.testing.assert_allclose(S, S.T, atol=1e-12 * max(1.0, lam * a))
    eig = np.linalg.eigvalsh(0.5 * (S + S.T))
    c = lam * np.sqrt(a * b)
    np.testing.assert_allclose([eig[0], eig[-1]], [1 - c, 1 + c], atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(S, 2), 1 + c, atol=1e-10)


def test_toy_game_field(key):
    game = G.make_toy_game(key, mu1=2.0, mu2=3.0, a=4.0, b=0.5)
    np.testing.assert_allclose(game.pseudo_gradient(jnp.array([1.0, -2.0])), [2 - 8, -6 + 0.5])
    np.testing.assert_array_equal(game.x0, [0.15, -0.15])
    np.testing.assert_array_equal(game.weights, [1.0, 200.0])


def test_random_lq_curvature_and_coupling(key):
    game = G.make_random_lq_game(key, dim=12, lam=1.0, a=2.0, b=3.0, mu0=0.7, curvature_spread=1.5)
    H = np.asarray(game.H)
    for block in (H[:6, :6], H[6:, 6:]):
        np.testing.assert_allclose(block, block.T, atol=1e-14)
        assert np.linalg.eigvalsh(block)[0] >= 0.7 - 1e-12
    assert np.linalg.norm(H[:6, 6:], 2) == pytest.approx(2.0, rel=1e-12)
    assert np.linalg.norm(H[6:, :6], 2) == pytest.approx(3.0, rel=1e-12)


def test_quadratic_game_blocks(key):
    game = G.make_quadratic_game(key, block_sizes=(2, 3), mu=0.5, coupling=0.2)
    H = np.asarray(game.H)
    assert np.linalg.eigvalsh(H[:2, :2])[0] >= 0.5 - 1e-12
    assert 0.02 - 1e-12 <= np.linalg.norm(H[:2, 2:], 2) <= 2.0 + 1e-12


# --- metrics and projection -------------------------------------------------------------------------
def test_m_norm_and_with_weights(key):
    game = G.make_lq_game(key, dim=4, lam=1.0)
    x = jnp.array([1.0, 2.0, 3.0, 4.0])
    assert float(G.m_norm(game, x)) == pytest.approx(np.sqrt(0.005 * 5 + 25), rel=1e-14)
    other = G.with_weights(game, (2.0, 0.5))
    assert float(G.m_norm(other, x)) == pytest.approx(np.sqrt(2 * 5 + 0.5 * 25), rel=1e-14)
    assert float(G.euclidean_norm(game, x)) == pytest.approx(np.sqrt(30.0))
    with pytest.raises(ValueError, match="weights"):
        G.with_weights(game, (1.0, 2.0, 3.0))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), box=st.floats(0.05, 2.0))
def test_box_projection_is_nonexpansive_in_every_diagonal_metric(seed, box):
    game = G.make_lq_game(jax.random.key(0), dim=6, box=box)
    x, y, w = np.asarray(jax.random.normal(jax.random.key(seed), (3, 6)))
    m = np.exp(w)  # any positive diagonal
    px, py = np.asarray(game.project(jnp.asarray(3 * x))), np.asarray(game.project(jnp.asarray(3 * y)))
    assert np.all(np.abs(px) <= box)
    assert np.sum(m * (px - py) ** 2) <= np.sum(m * (3 * x - 3 * y) ** 2) * (1 + 1e-12)


def test_unconstrained_projection_is_identity(key):
    game = G.make_lq_game(key, dim=4)
    x = 1e6 * jnp.arange(4.0)
    np.testing.assert_array_equal(game.project(x), x)


# --- the Markov game ------------------------------------------------------------------------------
@pytest.fixture
def markov(key):
    return G.make_markov_game(key)


def _policy_evaluation(game, x):
    """Independent NumPy evaluation: V_i = r_π,i + γ P_π V_i by fixed-point iteration."""
    p = np.asarray(game.policies(x))
    pi1 = np.stack([p[0], 1 - p[0]], -1)
    pi2 = np.stack([p[1], 1 - p[1]], -1)
    joint = pi1[:, :, None] * pi2[:, None, :]
    P = np.einsum("sij,sijt->st", joint, np.asarray(game.transitions))
    r = np.einsum("sij,nsij->ns", joint, np.asarray(game.rewards))
    gamma = float(game.gamma)
    V = np.zeros_like(r)
    for _ in range(2000):
        V = r + gamma * V @ P.T
    return (1 - gamma) * V @ np.asarray(game.rho), P


def test_markov_exact_policy_evaluation(markov):
    for x in jax.random.normal(jax.random.key(4), (4, 4)):
        J, P = _policy_evaluation(markov, x)
        np.testing.assert_allclose(markov.returns(x), J, rtol=1e-10, atol=1e-12)
        d = np.asarray(markov.occupancy(x))
        assert d.sum() == pytest.approx(1.0, abs=1e-14) and np.all(d > 0)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-14)


def test_markov_tables_and_entropy(markov):
    np.testing.assert_allclose(np.asarray(markov.transitions).sum(-1), 1.0)
    x = jnp.array([0.3, -1.0, 2.0, 0.0])
    p = 1 / (1 + np.exp(-np.asarray(x)))
    H = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    np.testing.assert_allclose(markov.entropies(x), [H[:2].sum(), H[2:].sum()], rtol=1e-12)
    np.testing.assert_allclose(markov.player_costs(x), -(markov.returns(x) + H.reshape(2, 2).sum(1)),
                               rtol=1e-12)


def test_markov_uniform_policy_is_the_equilibrium(markov):
    np.testing.assert_array_equal(markov.x_star, np.zeros(4))
    np.testing.assert_allclose(markov.pseudo_gradient(markov.x_star), 0.0, atol=1e-15)
    np.testing.assert_allclose(markov.occupancy(markov.x_star), [0.55, 0.45], rtol=1e-13)


def test_markov_natural_jacobian_at_equilibrium_is_derived_form(markov):
    """Fisher = ¼ I at z* = 0 and J_nat = [[I, -D], [-D, I]], D = diag(0.55, 0.45)."""
    np.testing.assert_allclose(markov.base_metric, 0.25)
    J = np.asarray(jax.jacfwd(markov.natural_gradient)(markov.x_star))
    Dm = np.diag([0.55, 0.45])
    np.testing.assert_allclose(J, np.block([[np.eye(2), -Dm], [-Dm, np.eye(2)]]), atol=1e-13)


def test_markov_pseudo_gradient_and_jacobian_match_finite_differences(markov):
    x = jnp.array([0.4, -0.3, 0.2, 0.7])
    eps = 1e-6
    eye = np.eye(4)
    for i in range(4):
        fd = (markov.player_costs(x + eps * eye[i]) - markov.player_costs(x - eps * eye[i])) / (2 * eps)
        owner = i // 2
        assert float(markov.pseudo_gradient(x)[i]) == pytest.approx(float(fd[owner]), abs=1e-9)
        fd_F = (markov.pseudo_gradient(x + eps * eye[i]) - markov.pseudo_gradient(x - eps * eye[i])) / (2 * eps)
        np.testing.assert_allclose(markov.jacobian(x)[:, i], fd_F, atol=1e-8)


def test_markov_natural_gradient_is_fisher_preconditioned(markov):
    x = jnp.array([1.0, -2.0, 0.5, 0.1])
    p = 1 / (1 + np.exp(-np.asarray(x)))
    np.testing.assert_allclose(markov.natural_gradient(x), np.asarray(markov.pseudo_gradient(x)) / (p * (1 - p)),
                               rtol=1e-12)


def test_reduced_logit_fisher_equals_full_softmax_fisher_pseudo_inverse():
    """For 2 actions, the natural gradient in the reduced logit z = θ0 - θ1 equals the full-softmax
    natural gradient with the pseudo-inverse Fisher (the official code's geometry, no ridge)."""
    for z in (-2.0, 0.0, 0.7):
        p = 1 / (1 + np.exp(-z))
        pi = np.array([p, 1 - p])
        F_full = np.diag(pi) - np.outer(pi, pi)
        g = 0.37  # df/dz; in full logits df/dθ = g (1, -1)
        nat_full = np.linalg.pinv(F_full) @ (g * np.array([1.0, -1.0]))
        dz = nat_full[0] - nat_full[1]  # the induced change of z
        assert dz == pytest.approx(g / (p * (1 - p)), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(z=st.lists(st.floats(-4, 4), min_size=4, max_size=4),
       scale=st.sampled_from([1e-9, 1e-5, 1e-2, 1.0]))
def test_markov_kl_is_the_bernoulli_kl(z, scale):
    game = G.make_markov_game(jax.random.key(0))
    star = jnp.asarray(z)
    game = game.__class__(**{**{f: getattr(game, f) for f in game.__dataclass_fields__}, "x_star": star})
    delta = scale * np.asarray(jax.random.normal(jax.random.key(1), (4,)))
    x = star + delta
    ps, p = 1 / (1 + np.exp(-np.asarray(star))), 1 / (1 + np.exp(-np.asarray(x)))
    naive = ps * np.log(ps / p) + (1 - ps) * np.log((1 - ps) / (1 - p))
    quad = 0.5 * ps * (1 - ps) * delta**2
    got = np.asarray(game.kl(x))
    want = naive.reshape(2, 2).sum(1)
    if scale >= 1e-2:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)
    else:  # the naive formula has cancelled; the KL is its quadratic approximation
        np.testing.assert_allclose(got, quad.reshape(2, 2).sum(1), rtol=10 * scale + 1e-4)
    assert np.all(got >= 0)


def test_lyapunov_weights(markov):
    x = jnp.array([0.1, 0.2, -0.1, 0.3])
    w = G.with_weights(markov, (2.0, 3.0))
    assert float(G.lyapunov_kl(w, x)) == pytest.approx(float(2 * markov.kl(x)[0] + 3 * markov.kl(x)[1]))


# --- the cubic game -------------------------------------------------------------------------------
def test_cubic_game_jacobian_is_the_derived_affine_form(key):
    """J(x) = [[μ0 I + κ diag(x1), a R (I - ε diag(x2))], [b Rᵀ (I - ε diag(x1)), μ0 I + κ diag(x2)]],
    F(0) = 0, and F is each player's own gradient (autodiff of the costs)."""
    mu0, kappa, a, b, eps = 1.3, 0.7, 2.0, 0.3, 0.9
    game = G.make_cubic_game(key, dim=6, a=a, b=b, mu0=mu0, kappa=kappa, eps=eps)
    R = np.asarray(game.R)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_array_equal(game.pseudo_gradient(game.x_star), np.zeros(6))
    for x in np.asarray(jax.random.normal(jax.random.key(4), (3, 6))) * 0.3:
        x1, x2 = x[:3], x[3:]
        J = np.block([[mu0 * np.eye(3) + kappa * np.diag(x1), a * R @ np.diag(1 - eps * x2)],
                      [b * R.T @ np.diag(1 - eps * x1), mu0 * np.eye(3) + kappa * np.diag(x2)]])
        np.testing.assert_allclose(game.jacobian(jnp.asarray(x)), J, rtol=1e-12, atol=1e-13)
        own = [jax.grad(lambda y: game.player_costs(jnp.concatenate([y, x2]))[0])(x1),
               jax.grad(lambda y: game.player_costs(jnp.concatenate([x1, y]))[1])(x2)]
        np.testing.assert_allclose(game.pseudo_gradient(jnp.asarray(x)), np.concatenate(own),
                                   rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(game.weights, [b / a, 1.0])


# --- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, match", [
    (lambda k: G.make_lq_game(k, dim=7), "dim"),
    (lambda k: G.make_lq_game(k, dim=0), "dim"),
    (lambda k: G.make_lq_game(k, lam=-0.1), "lam"),
    (lambda k: G.make_lq_game(k, a=0.0), "a"),
    (lambda k: G.make_lq_game(k, b=float("nan")), "b"),
    (lambda k: G.make_lq_game(k, mu0=0.0), "mu0"),
    (lambda k: G.make_lq_game(k, box=-1.0), "box"),
    (lambda k: G.make_lq_game(k, weights=(1.0, 0.0)), "weights"),
    (lambda k: G.make_lq_game(k, weights=(1.0, 1.0, 1.0)), "weights"),
    (lambda k: G.make_random_lq_game(k, curvature_spread=-1.0), "curvature_spread"),
    (lambda k: G.make_random_lq_game(k, dim=5), "dim"),
    (lambda k: G.make_toy_game(k, mu1=-1.0), "mu1"),
    (lambda k: G.make_toy_game(k, x0=(1.0, 2.0, 3.0)), "x0"),
    (lambda k: G.make_quadratic_game(k, block_sizes=(3,)), "block_sizes"),
    (lambda k: G.make_quadratic_game(k, block_sizes=(2, 0)), "block_sizes"),
    (lambda k: G.make_quadratic_game(k, coupling=-1.0), "coupling"),
    (lambda k: G.make_markov_game(k, gamma=1.0), "gamma"),
    (lambda k: G.make_markov_game(k, gamma=0.0), "gamma"),
    (lambda k: G.make_markov_game(k, tau=0.0), "tau"),
    (lambda k: G.make_markov_game(k, reward_scale=-1.0), "reward_scale"),
    (lambda k: G.make_markov_game(k, init_scale=-1.0), "init_scale"),
    (lambda k: G.make_cubic_game(k, dim=5), "dim"),
    (lambda k: G.make_cubic_game(k, kappa=-1.0), "kappa"),
    (lambda k: G.make_cubic_game(k, eps=float("nan")), "eps"),
    (lambda k: G.make_cubic_game(k, a=0.0), "a"),
])
def test_generators_reject_bad_input_naming_the_argument(key, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make(key)


# --- methods ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("factory", [D.projected_euler, D.rk4, D.natural_pg, D.euclidean_pg])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_methods_validate_the_step(factory, bad):
    with pytest.raises(ValueError, match="step_size"):
        factory(bad)
    with pytest.raises(ValueError, match="step_size"):
        factory(0.1).replace(step_size=bad)


def test_projected_euler_step(key):
    game = G.make_lq_game(key, dim=6, box=0.3)
    x = jnp.asarray(np.linspace(-0.3, 0.3, 6))
    method = D.projected_euler(0.7)
    state, info = method.step(key, method.init(x), game)
    np.testing.assert_allclose(state.params, np.clip(np.asarray(x) - 0.7 * np.asarray(game.H) @ np.asarray(x),
                                                     -0.3, 0.3), rtol=1e-14)
    assert int(state.count) == 1 and int(info["oracle_calls"]) == 1
    assert isinstance(state, D.GameState)


def test_rk4_on_a_linear_game_applies_the_stability_polynomial(key):
    game = G.make_random_lq_game(key, dim=6, lam=0.5)
    H = np.asarray(game.H)
    h = 0.3
    Z = -h * H
    R = np.eye(6) + Z + Z @ Z / 2 + Z @ Z @ Z / 6 + Z @ Z @ Z @ Z / 24
    method = D.rk4(h)
    state, info = method.step(key, method.init(game.x0), game)
    np.testing.assert_allclose(state.params, R @ np.asarray(game.x0), rtol=1e-12)
    assert int(info["oracle_calls"]) == 4


def test_rk4_is_fourth_order_on_the_flow(key):
    """diffrax-style order test: global error at t = 1 scales as h^4 (slope 4 ± 0.2)."""
    game = G.make_toy_game(key, a=2.0, b=0.5)
    H = np.asarray(game.H)
    w, V = np.linalg.eig(-H)
    exact = np.real(V @ np.diag(np.exp(w)) @ np.linalg.solve(V, np.asarray(game.x0)))
    errors, steps = [], [0.1, 0.05, 0.025, 0.0125]
    for h in steps:
        t = convlab.run(D.rk4(h), game, game.x0, key=key, num_steps=int(round(1 / h)),
                        record_every=int(round(1 / h)), metrics={"x1": G.coordinate_0, "x2": G.coordinate_1})
        errors.append(np.hypot(float(t["x1"][-1]) - exact[0], float(t["x2"][-1]) - exact[1]))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - 4.0) < 0.2, (slope, errors)


def test_natural_and_euclidean_pg_steps(markov, key):
    x = jnp.array([0.3, -0.2, 0.1, 0.4])
    for factory, field in ((D.natural_pg, markov.natural_gradient), (D.euclidean_pg, markov.pseudo_gradient)):
        method = factory(0.2)
        state, info = method.step(key, method.init(x), markov)
        np.testing.assert_allclose(state.params, np.asarray(x) - 0.2 * np.asarray(field(x)), rtol=1e-14)
        assert int(info["oracle_calls"]) == 1


def test_step_takes_the_iterate_dtype(key):
    game = G.make_toy_game(key)
    x = jnp.asarray([0.1, 0.2], jnp.float32)
    game32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), game)
    for factory in (D.projected_euler, D.rk4):
        state, _ = factory(np.float64(0.1)).step(key, factory(0.1).init(x), game32)
        assert state.params.dtype == jnp.float32


def test_euler_at_the_certified_best_step_contracts_in_m(key):
    """LQ at λ = 1 with h = α/β² = 0.1005: ||x_k||_M <= √(1 - α²/β²)^k ||x_0||_M (PAPERS.md)."""
    game = G.make_lq_game(key, dim=16, lam=1.0)
    alpha, beta = 1 - np.sqrt(0.5), 1 + np.sqrt(0.5)
    h = alpha / beta**2
    t = convlab.run(D.projected_euler(h), game, game.x0, key=key, num_steps=100)
    q = np.sqrt(1 - alpha**2 / beta**2)
    m = np.asarray(t["m_norm"])
    assert np.all(m <= m[0] * q ** np.asarray(t.k) * (1 + 1e-12))
    assert int(t.diverged) == -1


def test_a_swept_run_equals_the_run_alone(key):
    games_ = [G.make_random_lq_game(k, dim=8, lam=1.0) for k in jax.random.split(key, 3)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *games_)

    def make_run(k, hp, data):
        g = jax.tree.map(lambda leaf: leaf[hp["i"].astype(jnp.int32)], data)
        return convlab.run(D.rk4(hp["h"]), g, g.x0, key=k, num_steps=20)

    swept = convlab.sweep(make_run, jax.random.split(key, 1), {"i": np.arange(3), "h": [0.05, 0.1]},
                          data=stacked)
    alone = convlab.run(D.rk4(0.1), games_[2], games_[2].x0, key=key, num_steps=20)
    np.testing.assert_allclose(swept["m_norm"][2, 1, 0], alone["m_norm"], rtol=1e-12)
