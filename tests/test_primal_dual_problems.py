"""primal_dual: update rules against hand-written NumPy steps, generators' truths by
construction, and bad input named before compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab import local
from convlab.methods.pdhg import pdhg, pdhg_accelerated, pdhg_adaptive
from problems import primal_dual as P
from theory_checks.primal_dual import experiment, instances as I


def _np(problem):
    return {k: np.asarray(getattr(problem, k)) for k in ("K", "x0", "y0")}


def _np_box_prox(problem):
    b, c = np.asarray(problem.b), np.asarray(problem.c)
    return (lambda v, t: np.clip(v - t * c, -1, 1)), (lambda v, s: np.clip(v - s * b, -1, 1))


def _steps(method, problem, n):
    step = jax.jit(lambda m, s, p: m.step(jax.random.key(0), s, p)[0])
    state = method.init(problem.z0)
    out = []
    for _ in range(n):
        state = step(method, state, problem)
        out.append(state)
    return out


@pytest.mark.parametrize("order", ["dual_first", "primal_first"])
@pytest.mark.parametrize("theta", [1.0, 0.5])
def test_pdhg_matches_numpy(order, theta):
    p = P.make_box_game(jax.random.key(1), n=7, m=5)
    d = _np(p)
    prox_g, prox_f = _np_box_prox(p)
    tau, sigma = 0.3, 0.7
    K, x, y = d["K"], d["x0"].copy(), d["y0"].copy()
    xbar = x.copy()
    states = _steps(pdhg(tau, sigma, theta, order=order), p, 5)
    for state in states:
        if order == "dual_first":
            y = prox_f(y + sigma * K @ xbar, sigma)
            xn = prox_g(x - tau * K.T @ y, tau)
            xbar = xn + theta * (xn - x)
        else:
            xn = prox_g(x - tau * K.T @ y, tau)
            xbar = xn + theta * (xn - x)
            y = prox_f(y + sigma * K @ xbar, sigma)
        x = xn
        np.testing.assert_allclose(np.asarray(state.params[0]), x, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(np.asarray(state.params[1]), y, rtol=1e-13, atol=1e-14)
    assert int(states[-1].count) == 5


def test_accelerated_matches_numpy():
    p = P.make_rof_1d(jax.random.key(2), n=12, pieces=3)
    K, f, lam = np.asarray(p.K), np.asarray(p.f), float(p.lam)
    x, y = np.asarray(p.x0).copy(), np.asarray(p.y0).copy()
    xbar, tau, sigma, gamma = x.copy(), 0.4, 0.6, 1.0
    for state in _steps(pdhg_accelerated(tau, sigma, gamma), p, 6):
        y = np.clip(y + sigma * K @ xbar, -lam, lam)
        xn = (x - tau * K.T @ y + tau * f) / (1 + tau)
        theta = 1 / np.sqrt(1 + 2 * gamma * tau)
        xbar = xn + theta * (xn - x)
        x, tau, sigma = xn, theta * tau, sigma / theta
        np.testing.assert_allclose(np.asarray(state.params[0]), x, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(np.asarray(state.params[1]), y, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(float(state.tau), tau, rtol=1e-14)
        np.testing.assert_allclose(float(state.sigma), sigma, rtol=1e-14)


def test_adaptive_matches_numpy():
    p = P.make_box_game(jax.random.key(3), n=6, m=4)
    d = _np(p)
    prox_g, prox_f = _np_box_prox(p)
    K, x, y = d["K"], d["x0"].copy(), d["y0"].copy()
    tau, theta, beta, delta, mu = 3.0 / float(p.L), 1.0, 2.0, 0.9, 0.5
    backtracked = 0
    for state in _steps(pdhg_adaptive(tau, beta, delta, mu), p, 8):
        xn = prox_g(x - tau * K.T @ y, tau)
        t, j = tau * np.sqrt(1 + theta), 0
        while True:
            th = t / tau
            yn = prox_f(y + beta * t * K @ (xn + th * (xn - x)), beta * t)
            if np.sqrt(beta) * t * np.linalg.norm(K.T @ (yn - y)) <= delta * np.linalg.norm(yn - y):
                break
            t, j = mu * t, j + 1
        backtracked += j
        x, y, tau, theta = xn, yn, t, th
        np.testing.assert_allclose(np.asarray(state.params[0]), x, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(state.params[1]), y, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(float(state.tau), tau, rtol=1e-13)
        assert int(state.trials) == j + 1
    assert backtracked > 0  # the linesearch was exercised


def test_simplex_projection_and_gap():
    v = jax.random.normal(jax.random.key(4), (9,))
    w = np.asarray(P.project_simplex(v))
    assert abs(w.sum() - 1) < 1e-14 and w.min() >= 0
    # optimality: w = max(v - t, 0) for one t; any other simplex point is farther from v
    others = np.random.default_rng(0).dirichlet(np.ones(9), 200)
    assert np.all(np.linalg.norm(others - np.asarray(v), axis=1) >= np.linalg.norm(w - np.asarray(v)) - 1e-14)
    g = P.make_simplex_game(jax.random.key(5), n=5, m=4)
    X, Y = np.full(5, 0.2), np.full(4, 0.25)
    K = np.asarray(g.K)
    assert np.isclose(float(g.gap(X, Y)), (K @ X).max() - (K.T @ Y).min())
    # from the centres: max_i ||e_i - x0||² = 1 - 1/n
    assert np.isclose(float(g.D(1.0, 1.0)), (1 - 1 / 5) / 2 + (1 - 1 / 4) / 2, rtol=1e-12)


def test_box_gap_is_the_max_min_over_the_boxes():
    """The closed-form gap equals max over y' minus min over x' (attained at the returned vertices)."""
    p = P.make_box_game(jax.random.key(6), n=5, m=3)
    X = jax.random.uniform(jax.random.key(7), (5,), minval=-1, maxval=1)
    Y = jax.random.uniform(jax.random.key(8), (3,), minval=-1, maxval=1)
    bx, by = p.best_responses(X, Y)
    assert np.isclose(float(p.lagrangian(X, by) - p.lagrangian(bx, Y)), float(p.gap(X, Y)), rtol=1e-13)
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(-1, 1, (200, 5)), rng.uniform(-1, 1, (200, 3))
    values = jax.vmap(lambda x, y: p.lagrangian(X, y) - p.lagrangian(x, Y))(xs, ys)
    assert np.all(np.asarray(values) <= float(p.gap(X, Y)) + 1e-13)
    # D is the sup of ||x-x0||²/(2τ) + ||y-y0||²/(2σ) over the boxes: attained at a vertex
    vx, vy = np.sign(np.asarray(p.x0)) * -1, np.sign(np.asarray(p.y0)) * -1
    d = np.sum((vx - np.asarray(p.x0)) ** 2) / (2 * 0.3) + np.sum((vy - np.asarray(p.y0)) ** 2) / (2 * 0.2)
    assert np.isclose(float(p.D(0.3, 0.2)), d, rtol=1e-13)


def test_bilinear_spectrum_and_norms():
    for spectrum in P.SPECTRA:
        g = P.make_bilinear_game(jax.random.key(9), n=8, s_min=0.25, spectrum=spectrum)
        np.testing.assert_allclose(np.linalg.svd(np.asarray(g.K), compute_uv=False)[::-1],
                                   np.asarray(g.s), rtol=1e-12)
        assert float(g.L) == 1.0
    assert np.isclose(P.difference_norm(50), np.linalg.norm(P.difference_matrix(50), 2), rtol=1e-13)


def test_rof_solution_is_optimal():
    p = P.make_rof_1d(jax.random.key(10), n=60, pieces=4)
    x = np.asarray(p.x_star)
    best = float(p.primal(p.x_star))
    rng = np.random.default_rng(2)
    for _ in range(100):
        assert float(p.primal(jnp.asarray(x + 1e-3 * rng.normal(size=x.size)))) >= best
    assert np.isclose(float(p.L), P.difference_norm(60))
    assert abs(np.asarray(p.y_star)).max() <= float(p.lam) + 1e-15


def test_two_by_two_recursion_equals_the_step_map():
    g = P.make_bilinear_game(jax.random.key(11), n=6, s_min=0.5)
    for c in (0.5, 1.2, 1.4):
        h = np.sqrt(c)
        rho = local.local_rate(pdhg(h, h), g, (jnp.zeros(6), jnp.zeros(6))).rho
        assert np.isclose(rho, I.theory_radius(np.asarray(g.s), h, h), rtol=1e-10)
    assert np.isclose(I.bisect(lambda c: I.mode_radius(c, 0.5) > 1, 0.5, 3.0, 50), 4 / (1 + 2 * 0.5))


def test_tau_band_contains_the_exact_recursion():
    u, gamma = 2.0, 1.0
    N = np.arange(1, 5001)
    us = [u]
    for _ in range(5000):
        us.append(np.sqrt(us[-1] ** 2 + 2 * us[-1]))
    exact = N / np.array(us[1:])
    lower, upper = I.tau_band(N, u)
    assert np.all(lower <= exact) and np.all(exact <= upper)


@pytest.mark.parametrize("make, kwargs, name", [
    (P.make_box_game, dict(n=0, m=3), "n"),
    (P.make_box_game, dict(n=3, m=2.5), "m"),
    (P.make_box_game, dict(n=3, m=2, scale=float("nan")), "scale"),
    (P.make_simplex_game, dict(n=1, m=3), "n"),
    (P.make_bilinear_game, dict(n=4, s_min=0.0), "s_min"),
    (P.make_bilinear_game, dict(n=4, s_min=1.5), "s_min"),
    (P.make_bilinear_game, dict(n=4, spectrum="flat"), "spectrum"),
    (P.make_rof_1d, dict(n=2), "n"),
    (P.make_rof_1d, dict(lam=-1.0), "lam"),
    (P.make_rof_1d, dict(noise="x"), "noise"),
])
def test_bad_generator_input_is_named(make, kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        make(jax.random.key(0), **kwargs)


def test_raw_keys_are_refused():
    with pytest.raises(TypeError, match="key"):
        P.make_box_game(jax.random.PRNGKey(0), n=3, m=2)


@pytest.mark.parametrize("make, kwargs, name", [
    (pdhg, dict(tau=-1.0, sigma=1.0), "tau"),
    (pdhg, dict(tau=1.0, sigma=float("inf")), "sigma"),
    (pdhg, dict(tau=1.0, sigma=1.0, theta=2.0), "theta"),
    (pdhg, dict(tau=1.0, sigma=1.0, order="sideways"), "order"),
    (pdhg_accelerated, dict(tau0=1.0, sigma0=1.0, gamma=0.0), "gamma"),
    (pdhg_adaptive, dict(tau0=1.0, delta=1.0), "delta"),
    (pdhg_adaptive, dict(tau0=1.0, shrink=0.0), "shrink"),
    (pdhg_adaptive, dict(tau0="a"), "tau0"),
])
def test_bad_method_input_is_named(make, kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        make(**kwargs)


def test_hyperparameters_are_sweepable_without_recompiling():
    p = P.make_box_game(jax.random.key(12), n=5, m=4)
    a = convlab.run(pdhg(0.5, 0.5), p, p.z0, key=jax.random.key(0), num_steps=10, metrics=I.ITERATES)
    b = convlab.run(pdhg(0.4, 0.6), p, p.z0, key=jax.random.key(0), num_steps=10, metrics=I.ITERATES)
    assert not np.allclose(np.asarray(a["x"]), np.asarray(b["x"]))
    leaves = jax.tree.leaves(pdhg(0.5, 0.5))
    assert len(leaves) == 3  # tau, sigma, theta are pytree leaves


@pytest.mark.parametrize("key, value", [("problem", "torus"), ("ratio", 0.0), ("theta", 1.5),
                                        ("n", 2), ("record_every", 7), ("method", "accelerated"),
                                        ("nonsense", 1)])
def test_experiment_validation_names_the_key(key, value):
    config = {**experiment.DEFAULTS, key: value}
    with pytest.raises((TypeError, ValueError), match=key if key != "record_every" else "record_every"):
        experiment.validate(config)


def test_experiment_runs():
    config = {**experiment.DEFAULTS, "num_steps": 100, "record_every": 10, "n": 8, "m": 5}
    experiment.validate(config)
    _, summary = experiment.run(config)
    assert summary["ergodic_gap_at_N"] <= summary["bound_at_N"]
