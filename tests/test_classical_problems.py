"""Generators of problems.classical: validation, oracles, truth by construction, and the
exact facts the classical claims rest on (Huber instance, Halpern on a rotation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convlab
from problems import classical as P


@pytest.mark.parametrize("loss", P.LOSSES)
def test_smooth_convex_truth(key, loss):
    p = P.make_smooth_convex(key, num_samples=6, dim=12, loss=loss)
    np.testing.assert_allclose(p.A @ p.x_star, p.b, atol=1e-10)  # a minimizer: f(x*) = 0
    assert float(p.loss(p.x_star)) == pytest.approx(0.0, abs=1e-20)
    # nearest minimizer: x0 - x* lies in the row space of A
    coef, *_ = np.linalg.lstsq(np.asarray(p.A).T, np.asarray(p.x0 - p.x_star), rcond=None)
    np.testing.assert_allclose(np.asarray(p.A).T @ coef, p.x0 - p.x_star, atol=1e-10)
    # L is the smoothness constant: ||grad f(x) - grad f(y)|| <= L ||x - y||
    x, y = jax.random.normal(jax.random.key(1), (2, 12))
    assert jnp.linalg.norm(p.grad(x) - p.grad(y)) <= p.L * jnp.linalg.norm(x - y) + 1e-12


@pytest.mark.parametrize("make", [
    lambda k: P.make_smooth_convex(k, num_samples=6, dim=12, loss="least_squares"),
    lambda k: P.make_smooth_convex(k, num_samples=6, dim=12, loss="huber", delta=0.1),
    lambda k: P.make_huber_worst_case(k, num_steps=5, dim=3),
    lambda k: P.make_strongly_convex_quadratic(k, dim=6, mu=0.1, L=2.0),
])
def test_grad_matches_autodiff(key, make):
    p = make(key)
    for x in jax.random.normal(jax.random.key(2), (3, p.x0.shape[0])):
        np.testing.assert_allclose(p.grad(x), jax.grad(p.loss)(x), rtol=1e-10, atol=1e-12)


def test_quadratic_spectrum(key):
    for kind in P.QUADRATIC_KINDS:
        p = P.make_strongly_convex_quadratic(key, dim=8, mu=0.1, L=2.0, kind=kind)
        eigs = np.linalg.eigvalsh(np.asarray(p.H))
        assert eigs.min() == pytest.approx(0.1) and eigs.max() == pytest.approx(2.0)


def test_worst_case_quadratic_contracts_exactly(key):
    p = P.make_strongly_convex_quadratic(key, dim=8, mu=0.1, L=1.0, kind="worst_case")
    q = (10.0 - 1.0) / (10.0 + 1.0)
    t = convlab.run(convlab.gd(2.0 / 1.1), p, p.x0, key=key, num_steps=50)
    r0 = float(jnp.linalg.norm(p.x0 - p.x_star))
    np.testing.assert_allclose(t["distance"], r0 * q ** np.asarray(t.k), rtol=1e-8)


@pytest.mark.parametrize("num_steps, h", [(1, 1.0), (7, 1.0), (30, 0.4)])
def test_huber_instance_attains_the_bound(key, num_steps, h):
    p = P.make_huber_worst_case(key, num_steps=num_steps, dim=2, L=3.0, R=2.0, relative_step=h)
    t = convlab.run(convlab.gd(h / 3.0), p, p.x0, key=key, num_steps=num_steps)
    bound = 3.0 * 2.0**2 / (4 * num_steps * h + 2)
    assert float(t["gap"][-1]) == pytest.approx(bound, rel=1e-12)


@pytest.mark.parametrize("kind", P.MAP_KINDS)
def test_maps_are_nonexpansive_with_known_fixed_point(key, kind):
    p = P.make_nonexpansive_map(key, dim=8, kind=kind)
    np.testing.assert_allclose(p.operator(p.x_star), p.x_star, atol=1e-12)
    xs = 2.0 * jax.random.normal(jax.random.key(3), (50, 2, 8))
    for x, y in xs:
        assert jnp.linalg.norm(p.operator(x) - p.operator(y)) <= jnp.linalg.norm(x - y) * (1 + 1e-12)


def test_halpern_on_one_rotation_has_the_derived_residual(key):
    """Per rotation plane of angle θ: ||x_k - T x_k|| = 2||x_0-x*|| |sin((k+1)θ/2)| / (k+1)."""
    theta = 2.0
    p = P.NonexpansiveMap(jnp.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]),
                          jnp.asarray(1.0), jnp.zeros(2), jnp.array([1.0, 0.0]), "rotation")
    t = convlab.run(convlab.halpern(), p, p.x0, key=key, num_steps=200)
    k = np.asarray(t.k)
    np.testing.assert_allclose(t["residual"], 2 * np.abs(np.sin((k + 1) * theta / 2)) / (k + 1),
                               rtol=1e-9, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(h=st.floats(min_value=1e-3, max_value=1.0), seed=st.integers(0, 2**16),
       loss=st.sampled_from(P.LOSSES))
def test_gd_envelope_holds_for_every_step_in_0_1_over_L(h, seed, loss):
    """Drori-Teboulle: f(x_k) - f* <= L R^2 / (4 k h + 2) for every h in (0, 1] and every k."""
    p = P.make_smooth_convex(jax.random.key(seed), num_samples=8, dim=16, loss=loss)
    t = convlab.run(convlab.gd(h / p.L), p, p.x0, key=jax.random.key(0), num_steps=100)
    bound = p.L * p.R**2 / (4 * t.k * h + 2)
    assert np.all(np.asarray(t["gap"]) <= np.asarray(bound) * (1 + 1e-9))


@pytest.mark.parametrize("make, match", [
    (lambda k: P.make_smooth_convex(k, num_samples=20, dim=10), "num_samples"),
    (lambda k: P.make_smooth_convex(k, num_samples=2, dim=10, loss="l1"), "loss"),
    (lambda k: P.make_smooth_convex(k, num_samples=2, dim=10, delta=-1.0), "delta"),
    (lambda k: P.make_huber_worst_case(k, num_steps=0), "num_steps"),
    (lambda k: P.make_huber_worst_case(k, num_steps=3, relative_step=1.5), "relative_step"),
    (lambda k: P.make_huber_worst_case(k, num_steps=3, R=float("nan")), "R"),
    (lambda k: P.make_strongly_convex_quadratic(k, dim=4, mu=2.0, L=1.0), "mu"),
    (lambda k: P.make_strongly_convex_quadratic(k, dim=4, mu=-1.0, L=1.0), "mu"),
    (lambda k: P.make_strongly_convex_quadratic(k, dim=4, mu=0.1, L=1.0, kind="x"), "kind"),
    (lambda k: P.make_nonexpansive_map(k, dim=5), "dim"),
    (lambda k: P.make_nonexpansive_map(k, dim=4, kind="shear"), "kind"),
    (lambda k: P.make_nonexpansive_map(k, dim=4, box=0.0), "box"),
])
def test_generators_reject_bad_input_naming_the_argument(key, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make(key)
