"""problems.deep_linear: validation before tracing, truth by construction, the hand-written
gradient against autodiff and NumPy, GD's update against a NumPy step, the decoupled manifold."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from problems import deep_linear as P
from theory_checks.deep_linear import instances as I

S = (3.0, 2.0, 1.0)


def _np_grad(sigma, layers):
    """Hand-written NumPy gradient of ½||Σ - W_D⋯W_1||²."""
    prod = layers[0]
    for w in layers[1:]:
        prod = w @ prod
    r = sigma - prod
    out = []
    for i in range(len(layers)):
        below = np.eye(layers[0].shape[1])
        for w in layers[:i]:
            below = w @ below
        above = np.eye(layers[i].shape[0])
        for w in layers[i + 1:]:
            above = w @ above
        out.append(-above.T @ r @ below.T)
    return out


@pytest.mark.parametrize("init", P.INITS)
@pytest.mark.parametrize("depth", [2, 4])
def test_grad_matches_autodiff_and_numpy(key, init, depth):
    p = P.make_deep_linear(key, singular_values=S, depth=depth, init=init, init_scale=0.7,
                           hidden=3 if init == "orthogonal" else 5)
    layers = tuple(w + 0.3 * jax.random.normal(jax.random.key(i), w.shape) for i, w in enumerate(p.x0))
    g, ga = p.grad(layers), jax.grad(p.loss)(layers)
    gn = _np_grad(np.asarray(p.sigma31), [np.asarray(w) for w in layers])
    for a, b, c in zip(g, ga, gn):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_gd_step_matches_numpy(key):
    """convlab.gd on the layer tuple (the family's method: reused, see NOTES.md)."""
    p = P.make_deep_linear(key, singular_values=S, depth=3, hidden=4, init="gaussian", init_scale=0.5)
    eta = 0.037
    method = convlab.gd(eta)
    state = method.init(p.x0)
    for _ in range(3):
        before = [np.asarray(w) for w in state.params]
        state, _ = method.step(jax.random.key(1), state, p)
        expected = [w - eta * g for w, g in zip(before, _np_grad(np.asarray(p.sigma31), before))]
        for a, b in zip(state.params, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert int(state.count) == 3


def test_truth_by_construction(key):
    p = P.make_deep_linear(key, singular_values=S, depth=2, hidden=5, u0=1e-2)
    np.testing.assert_allclose(np.linalg.svd(np.asarray(p.sigma31), compute_uv=False), S, rtol=1e-12)
    np.testing.assert_allclose(p.U.T @ p.U, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(I.targets(p), S, rtol=1e-12)
    np.testing.assert_allclose(p.u0, 1e-2, rtol=1e-10)
    np.testing.assert_allclose(P.product(p.x0), (p.U * 1e-2) @ p.V.T, atol=1e-14)
    # the minimum is 0: the balanced factorization of Σ31 itself
    w1 = jnp.sqrt(jnp.asarray(S))[:, None] * p.V.T
    w2 = p.U * jnp.sqrt(jnp.asarray(S))[None, :]
    assert float(p.loss((w1, w2))) == pytest.approx(0.0, abs=1e-24)


@pytest.mark.parametrize("depth", [2, 4])
def test_decoupled_manifold_is_invariant_and_modes_follow_euler(key, depth):
    """On the balanced decoupled manifold one GD step moves each layer strength by
    a <- a + η a^{D-1}(s - a^D) (NOTES.md), and nothing leaves the manifold."""
    p = P.make_deep_linear(key, singular_values=S, depth=depth, hidden=4, u0=0.05)
    eta, steps = 0.02, 200
    t = convlab.run(convlab.gd(eta), p, p.x0, key=key, num_steps=steps)
    a = np.full(3, 0.05 ** (1.0 / depth))
    s = np.asarray(S)
    for _ in range(steps):
        a = a + eta * a ** (depth - 1) * (s - a**depth)
    np.testing.assert_allclose(np.asarray(t["modes"])[-1], a**depth, rtol=1e-11)
    assert float(np.max(t["off_diagonal"])) < 1e-12


def test_closed_forms():
    s, u0 = 2.0, 1e-3
    t = I.half_time(s, u0)
    assert I.closed_form(t, s, u0) == pytest.approx(s / 2, rel=1e-12)
    assert I.half_time_depth(2, s, u0) == pytest.approx(t, rel=1e-9)
    # D >= 3: the small-u0 asymptote u0^{-(1-2/D)}/((D-2)s)
    assert I.half_time_depth(4, 1.0, 1e-8) == pytest.approx(1e4 / 2, rel=2e-3)
    # Euler's coefficient is the limit of the GD error / η (D = 2, one mode)
    eta, steps = 1e-4, 60000
    a, err = np.sqrt(u0), 0.0
    for k in range(1, steps + 1):
        a = a + eta * a * (s - a * a)
        err = max(err, abs(a * a - I.closed_form(k * eta, s, u0)))
    assert err / eta == pytest.approx(I.euler_error_coefficient(s, u0, steps * eta), rel=2e-3)


def test_crossing_times():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    u = np.array([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0], [4.0, 5.0]])  # [record, mode]
    out = I.crossing_times(t, u, np.array([2.0, 6.0]))
    assert out[0] == pytest.approx(1.5) and np.isinf(out[1])


@pytest.mark.parametrize("kwargs, name, error", [
    (dict(singular_values=(1.0, -1.0)), "singular_values", ValueError),
    (dict(singular_values=(1.0, float("nan"))), "singular_values", ValueError),
    (dict(singular_values="abc"), "singular_values", TypeError),
    (dict(singular_values=None), "singular_values", TypeError),
    (dict(singular_values=()), "singular_values", ValueError),
    (dict(singular_values=S, depth=1), "depth", ValueError),
    (dict(singular_values=S, depth=2.0), "depth", TypeError),
    (dict(singular_values=S, hidden=2), "hidden", ValueError),
    (dict(singular_values=S, init="xavier"), "init", ValueError),
    (dict(singular_values=S, init="orthogonal", hidden=5), "hidden", ValueError),
    (dict(singular_values=S, u0=0.0), "u0", ValueError),
    (dict(singular_values=S, u0=2.0), "u0", ValueError),
    (dict(singular_values=S, u0="x"), "u0", TypeError),
    (dict(singular_values=S, init_scale=float("inf")), "init_scale", ValueError),
    (dict(singular_values=S, init_scale=-1.0), "init_scale", ValueError),
])
def test_bad_input_is_named(kwargs, name, error):
    with pytest.raises(error, match=name):
        P.make_deep_linear(jax.random.key(0), **kwargs)


def test_raw_key_refused():
    with pytest.raises(TypeError, match="key"):
        P.make_deep_linear(jax.random.PRNGKey(0), singular_values=S)


def test_traced_spectrum_in_a_sweep():
    """The spectrum may be traced (drawn per seed inside a sweep): same numbers as concrete."""
    def make_run(key, hp):
        p = P.make_deep_linear(key, singular_values=jnp.asarray(S) * hp["c"], depth=2)
        return convlab.run(convlab.gd(0.01), p, p.x0, key=key, num_steps=10)

    trace = convlab.sweep(make_run, jax.random.split(jax.random.key(0), 2), {"c": np.array([1.0])})
    p = P.make_deep_linear(jax.random.split(jax.random.key(0), 2)[1], singular_values=S, depth=2)
    alone = convlab.run(convlab.gd(0.01), p, p.x0, key=jax.random.key(0), num_steps=10)
    np.testing.assert_allclose(np.asarray(trace["modes"])[0, 1], alone["modes"], rtol=1e-9)
