"""worst_case methods: every new update rule (FGM, OGM, heavy ball, proximal point) against a
hand-written NumPy step, on a quadratic and on a Huber function; bad hyperparameters named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.methods import fgm, heavy_ball, ogm, proximal_point
from problems import worst_case as W


@pytest.fixture(scope="module")
def quad():
    return W.make_quadratic(jax.random.key(0), dim=5, mu=1.0, L=25.0)


def _np_fgm(g, x0, s, n):
    x = y = np.array(x0)
    t = 1.0
    for _ in range(n):
        xn = y - s * g(y)
        tn = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = xn + (t - 1) / tn * (xn - x)
        x, t = xn, tn
    return x


def _np_ogm(g, x0, s, n):
    x = y = np.array(x0)
    th = 1.0
    for i in range(n):
        c = 8.0 if i + 1 == n else 4.0
        thn = (1 + np.sqrt(1 + c * th * th)) / 2
        yn = x - s * g(x)
        x = yn + (th - 1) / thn * (yn - y) + th / thn * (yn - x)
        y, th = yn, thn
    return x


def _np_hb(g, x0, a, b, n):
    x = xp = np.array(x0)
    for _ in range(n):
        x, xp = x - a * g(x) + b * (x - xp), x
    return x


def _run(method, p, n):
    t = convlab.run(method, p, p.x0, key=jax.random.key(1), num_steps=n,
                    metrics={"x": lambda prob, x: x})
    return np.asarray(t["x"])[-1]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_fgm_matches_numpy(quad, n):
    eigs = np.asarray(quad.eigs)
    np.testing.assert_allclose(_run(fgm(0.03), quad, n), _np_fgm(lambda x: eigs * x, quad.x0, 0.03, n),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_ogm_matches_numpy_with_its_last_step(quad, n):
    eigs = np.asarray(quad.eigs)
    np.testing.assert_allclose(_run(ogm(0.04, num_steps=n), quad, n),
                               _np_ogm(lambda x: eigs * x, quad.x0, 0.04, n), rtol=1e-12, atol=1e-14)


def test_ogm_on_its_huber_worst_case_matches_numpy():
    p = W.make_ogm_worst_case(jax.random.key(2), num_steps=4, dim=3, L=2.0, R=1.5)
    tau, L = float(p.tau), 2.0

    def g(x):
        r = np.linalg.norm(x)
        return L * min(1.0, tau / r) * x
    np.testing.assert_allclose(_run(ogm(0.5, num_steps=4), p, 4), _np_ogm(g, p.x0, 0.5, 4), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_heavy_ball_matches_numpy(quad, n):
    eigs = np.asarray(quad.eigs)
    np.testing.assert_allclose(_run(heavy_ball(1 / 9, 4 / 9), quad, n),
                               _np_hb(lambda x: eigs * x, quad.x0, 1 / 9, 4 / 9, n), rtol=1e-12, atol=1e-14)


def test_heavy_ball_on_lrp_matches_numpy():
    p = W.make_lessard_recht_packard(jax.random.key(0), x0=3.3)

    def g(x):
        return np.where(x < 1, 25 * x, np.where(x < 2, x + 24, 25 * x - 24))
    np.testing.assert_allclose(_run(heavy_ball(1 / 9, 4 / 9), p, 40), _np_hb(g, p.x0, 1 / 9, 4 / 9, 40),
                               rtol=1e-10, atol=1e-12)


def test_proximal_point_matches_numpy():
    p = W.make_ppm_worst_case(jax.random.key(3), num_steps=3, step=0.5, dim=2, R=2.0)
    c = float(p.c)
    x = np.asarray(p.x0)
    for _ in range(3):   # prox of c||.||: shrink the norm by γc
        x = max(0.0, 1 - 0.5 * c / np.linalg.norm(x)) * x
    np.testing.assert_allclose(_run(proximal_point(0.5), p, 3), x, rtol=1e-13)
    assert float(p.loss(jnp.asarray(x))) == pytest.approx(2.0**2 / (4 * 3 * 0.5))


@pytest.mark.parametrize("make", [lambda: fgm(-1.0), lambda: ogm(0.0, num_steps=3),
                                  lambda: ogm(1.0, num_steps=0), lambda: heavy_ball(0.1, 1.0),
                                  lambda: heavy_ball(float("nan"), 0.5), lambda: proximal_point(-2.0)])
def test_bad_hyperparameters_are_named(make):
    with pytest.raises((ValueError, TypeError), match="step_size|momentum|num_steps"):
        make()
