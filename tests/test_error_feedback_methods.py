"""error_feedback methods: EF21 and EF21-W steps against hand-written NumPy steps, the three
compressors against NumPy (and their laws), the step swept without recompiling, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.methods import ef21 as M
from problems import error_feedback as P

N, D, K = 5, 8, 2


@pytest.fixture(scope="module")
def quad():
    return P.make_quadratic(jax.random.key(2), n=N, dim=D, heterogeneity=10.0, fraction=0.4)


@pytest.fixture(scope="module")
def logit():
    return P.make_logistic(jax.random.key(3), n=N, dim=D, samples=7, heterogeneity=10.0,
                           fraction=0.4)


def np_top_k(v, k):
    out = np.zeros_like(v)
    idx = np.argsort(-np.abs(v), kind="stable")[:k]
    out[idx] = v[idx]
    return out


def np_client_grads(p, x):
    if hasattr(p, "A"):
        return np.einsum("nij,j->ni", np.asarray(p.A), x) - np.asarray(p.b)
    Z, y, r = np.asarray(p.Z), np.asarray(p.y), float(p.ridge)
    margins = y * (Z @ x)
    coef = -y / (1 + np.exp(margins)) / Z.shape[1]
    return np.einsum("nm,nmd->nd", coef, Z) + r * x


def np_ef21_steps(p, gamma, steps, *, weighted, init="exact", compress=None):
    """EF21 / EF21-W as the paper writes them, in NumPy (Top-k unless ``compress`` given)."""
    compress = compress or (lambda t, i, v: np_top_k(v, K))
    lip = np.asarray(p.client_lipschitz)
    w = lip / lip.sum() if weighted else np.full(N, 1.0 / N)
    scale = 1.0 / (N * w) if weighted else np.ones(N)
    x = np.asarray(p.x0, dtype=np.float64)
    g_i = np_client_grads(p, x) * scale[:, None] if init == "exact" else np.zeros((N, D))
    g = w @ g_i
    xs = []
    for t in range(steps):
        x = x - gamma * g
        target = np_client_grads(p, x) * scale[:, None]
        g_i = g_i + np.stack([compress(t, i, target[i] - g_i[i]) for i in range(N)])
        g = w @ g_i
        xs.append(x)
    return np.asarray(xs), g_i


def _run_steps(method, p, steps, key=jax.random.key(0)):
    state = method.init(p.x0)
    xs = []
    step = jax.jit(lambda k, s: method.step(k, s, p))
    for t in range(steps):
        state, info = step(jax.random.fold_in(key, t), state)
        xs.append(np.asarray(state.params))
    return np.asarray(xs), state, info


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init", ["exact", "zero"])
@pytest.mark.parametrize("which", ["quad", "logit"])
def test_ef21_top_k_matches_numpy(request, weighted, init, which):
    p = request.getfixturevalue(which)
    gamma = 0.3 / float(p.L_QM)
    factory = M.ef21_w if weighted else M.ef21
    xs, state, info = _run_steps(factory(gamma, num_clients=N, k=K, init=init), p, 6)
    ref, g_i = np_ef21_steps(p, gamma, 6, weighted=weighted, init=init)
    np.testing.assert_allclose(xs, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(state.client), g_i, rtol=1e-12, atol=1e-14)
    assert int(state.count) == 6 and int(info["oracle_calls"]) == N
    assert int(info["floats_sent"]) == N * K


@pytest.mark.parametrize("name", ["rand_k", "natural"])
def test_randomised_compressors_match_numpy_with_the_same_draws(quad, name):
    gamma = 0.3 / float(quad.L_QM)
    key = jax.random.key(4)

    def compress(t, i, v):  # the method's own per-client keys, the compressor in NumPy
        kk = jax.random.split(jax.random.fold_in(key, t), N)[i]
        if name == "rand_k":
            u = np.asarray(jax.random.uniform(kk, (D,)))
            keep = np.argsort(-u)[:K]
            out = np.zeros_like(v)
            out[keep] = v[keep]
            return out
        u = np.asarray(jax.random.uniform(kk, (D,)))
        low = 2.0 ** np.floor(np.log2(np.abs(v)))
        up = u < np.abs(v) / low - 1
        return np.sign(v) * low * np.where(up, 2.0, 1.0) / (1 + 1 / 8)

    xs, _, info = _run_steps(M.ef21(gamma, num_clients=N, k=K, compressor=name), quad, 5, key)
    ref, _ = np_ef21_steps(quad, gamma, 5, weighted=False, compress=compress)
    np.testing.assert_allclose(xs, ref, rtol=1e-12, atol=1e-14)
    assert int(info["floats_sent"]) == N * (D if name == "natural" else K)


def test_top_k_keeps_the_largest_and_is_homogeneous():
    v = jax.random.normal(jax.random.key(0), (50, 30))
    out = np.asarray(M.top_k(None, v, 3))
    for row, ref in zip(out, np.asarray(v)):
        np.testing.assert_array_equal(row, np_top_k(ref, 3))
    np.testing.assert_array_equal(np.asarray(M.top_k(None, 3.7 * v, 3)), 3.7 * out)
    ratio = np.sum((out - np.asarray(v)) ** 2, -1) / np.sum(np.asarray(v) ** 2, -1)
    assert np.all(ratio <= 1 - 3 / 30 + 1e-15)
    big = jax.random.normal(jax.random.key(1), (2, M.RANK_LIMIT + 3))   # the lax.top_k path
    np.testing.assert_array_equal(np.asarray(M.top_k(None, big, 4))[0], np_top_k(np.asarray(big)[0], 4))


def test_rand_k_law_and_natural_unbiased():
    keys = jax.random.split(jax.random.key(5), 20000)
    v = jnp.arange(1.0, 11.0)
    kept = np.asarray(jax.vmap(lambda k: M.rand_k(k, v, 3))(keys)) != 0
    assert np.all(kept.sum(1) == 3)
    np.testing.assert_allclose(kept.mean(0), 0.3, atol=0.015)   # each coordinate w.p. k/d
    w = jnp.asarray([0.3, -1.7, 5.0, 0.0, 1e-3])
    nat = np.asarray(jax.vmap(lambda k: M.natural(k, w, 0))(keys)) * (1 + M.NATURAL_OMEGA)
    np.testing.assert_allclose(nat.mean(0), np.asarray(w), rtol=0.02, atol=1e-12)
    assert M.compressor_alpha("natural", 1, 5) == pytest.approx(8 / 9)


def test_step_is_a_sweepable_leaf(quad):
    m1 = M.ef21(0.01, num_clients=N, k=K)
    m2 = m1.replace(step_size=0.02)
    t1 = convlab.run(m1, quad, quad.x0, key=jax.random.key(0), num_steps=5)
    t2 = convlab.run(m2, quad, quad.x0, key=jax.random.key(0), num_steps=5)
    assert not np.allclose(t1["grad_norm_sq"], t2["grad_norm_sq"])
    swept = jax.vmap(lambda g: convlab.run(m1.replace(step_size=g), quad, quad.x0,
                                           key=jax.random.key(0), num_steps=5)["grad_norm_sq"])
    np.testing.assert_allclose(np.asarray(swept(jnp.asarray([0.01, 0.02])))[1],
                               np.asarray(t2["grad_norm_sq"]), rtol=1e-12)


def test_bad_method_arguments_are_named(quad):
    with pytest.raises(ValueError, match="step_size"):
        M.ef21(-1.0, num_clients=N, k=K)
    with pytest.raises(ValueError, match="compressor"):
        M.ef21_w(0.1, num_clients=N, k=K, compressor="top3")
    with pytest.raises(ValueError, match="init"):
        M.ef21(0.1, num_clients=N, k=K, init="random")
    with pytest.raises((TypeError, ValueError), match="k"):
        M.ef21(0.1, num_clients=N, k=0)
    with pytest.raises(ValueError, match="num_clients"):
        convlab.run(M.ef21(0.1, num_clients=N + 1, k=K), quad, quad.x0, key=jax.random.key(0),
                    num_steps=2)
