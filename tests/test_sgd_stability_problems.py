"""sgd_stability: the SGD update against a hand-written NumPy step, the generators' truth by
construction, bad input named before compilation, and the exact theory against brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.methods.sgd import SGDState, sample_batch, sgd
from problems import sgd_stability as P
from theory_checks.sgd_stability import experiment
from theory_checks.sgd_stability import theory as T


@pytest.fixture(scope="module")
def reg():
    return P.make_interpolating_regression(jax.random.key(3), num_samples=6, dim=12, rows="unequal")


@pytest.fixture(scope="module")
def net():
    return P.make_diagonal_linear_network(jax.random.key(4), num_samples=5, dim=9, sparsity=2,
                                          alpha=0.7)


# --- the update rule --------------------------------------------------------------------------
@pytest.mark.parametrize("replace, batch_size", [(True, 1), (True, 4), (False, 3), (False, 6)])
def test_sgd_step_matches_numpy(reg, replace, batch_size):
    method = sgd(0.3, batch_size=batch_size, replace=replace)
    key = jax.random.key(11)
    x = np.asarray(reg.x0) + 0.1
    state, info = method.step(key, method.init(jnp.asarray(x)), reg)
    idx = np.asarray(sample_batch(key, 6, batch_size, replace))
    if not replace:
        assert len(set(idx.tolist())) == batch_size
    X, y = np.asarray(reg.X), np.asarray(reg.y)
    g = sum(X[i] * (X[i] @ x - y[i]) for i in idx) / batch_size   # hand-written NumPy step
    np.testing.assert_allclose(np.asarray(state.params), x - 0.3 * g, rtol=1e-13, atol=1e-14)
    assert isinstance(state, SGDState) and int(state.count) == 1
    assert int(info["oracle_calls"]) == batch_size


def test_sgd_on_the_network_matches_numpy(net):
    method = sgd(0.05, batch_size=2)
    key = jax.random.key(5)
    w = np.asarray(net.x0)
    state, _ = method.step(key, method.init(jnp.asarray(w)), net)
    idx = np.asarray(sample_batch(key, 5, 2, True))
    X, y, d = np.asarray(net.X), np.asarray(net.y), 9
    u, v = w[:d], w[d:]
    r = X[idx] @ (u * u - v * v) - y[idx]
    gb = X[idx].T @ r / 2
    expected = w - 0.05 * np.concatenate([2 * u * gb, -2 * v * gb])
    np.testing.assert_allclose(np.asarray(state.params), expected, rtol=1e-13)


def test_full_batch_without_replacement_is_gd(reg):
    a = sgd(0.2, batch_size=6, replace=False)
    b = convlab.gd(0.2)
    sa, _ = a.step(jax.random.key(0), a.init(reg.x0), reg)
    sb, _ = b.step(jax.random.key(0), b.init(reg.x0), reg)
    np.testing.assert_allclose(np.asarray(sa.params), np.asarray(sb.params), rtol=1e-13)


def test_with_replacement_batches_are_uniform():
    idx = np.asarray(jax.vmap(lambda k: sample_batch(k, 5, 3, True))(
        jax.random.split(jax.random.key(0), 20000)))
    counts = np.bincount(idx.ravel(), minlength=5) / idx.size
    np.testing.assert_allclose(counts, 0.2, atol=0.01)
    repeats = np.mean([len(set(r)) < 3 for r in idx])
    np.testing.assert_allclose(repeats, 1 - 4 * 3 / 25, atol=0.02)  # P(some repeat) = 13/25


def test_step_size_is_a_leaf_no_recompile(reg):
    runs = [convlab.run(sgd(e, batch_size=2), reg, reg.x0, key=jax.random.key(0), num_steps=5)
            for e in (0.1, 0.2)]
    assert not np.allclose(runs[0]["distance_sq"], runs[1]["distance_sq"])
    assert jax.tree.leaves(sgd(0.1, batch_size=2)) and len(jax.tree.leaves(sgd(0.1, batch_size=2))) == 1


@pytest.mark.parametrize("kwargs, name", [
    (dict(step_size=-0.1, batch_size=1), "step_size"), (dict(step_size=float("nan"), batch_size=1), "step_size"),
    (dict(step_size="0.1", batch_size=1), "step_size"), (dict(step_size=0.1, batch_size=0), "batch_size"),
    (dict(step_size=0.1, batch_size=2.5), "batch_size"), (dict(step_size=0.1, batch_size=None), "batch_size"),
    (dict(step_size=0.1, batch_size=1, replace="no"), "replace"),
])
def test_sgd_bad_input_is_named(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        sgd(kwargs.pop("step_size"), **kwargs)


def test_batch_larger_than_samples_without_replacement_is_named(reg):
    method = sgd(0.1, batch_size=7, replace=False)
    with pytest.raises(ValueError, match="batch_size"):
        convlab.run(method, reg, reg.x0, key=jax.random.key(0), num_steps=2)


# --- generators ------------------------------------------------------------------------------
@jax.jit
def _regression_oracles(p):
    return p.loss(p.x_star), p.grad(p.x0), jax.grad(p.loss)(p.x0), p.batch_grad(p.x0, jnp.arange(5))


@pytest.mark.parametrize("rows", P.ROW_KINDS)
def test_regression_truth_by_construction(rows):
    p = P.make_interpolating_regression(jax.random.key(1), num_samples=5, dim=11, rows=rows)
    loss, g, g_auto, gb = _regression_oracles(p)
    assert loss < 1e-28
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_auto), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(g_auto), rtol=1e-12)
    delta = np.asarray(p.x0 - p.x_star)
    X = np.asarray(p.X)
    np.testing.assert_allclose(np.linalg.norm(delta), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.lstsq(X.T, delta, rcond=None)[0] @ X, delta, atol=1e-12)
    norms = np.linalg.norm(X, axis=1)
    if rows == "equal":
        np.testing.assert_allclose(norms, 1.0, rtol=1e-12)
    else:
        assert np.all((norms >= 0.3 - 1e-12) & (norms <= 1.7 + 1e-12)) and norms.std() > 0
    if rows == "parallel":
        assert np.linalg.matrix_rank(X) == 1
    np.testing.assert_allclose(np.asarray(p.H), np.asarray(p.sample_hessians).mean(0), rtol=1e-12)


def test_network_truth_by_construction(net):
    w = np.asarray(net.x0) + np.linspace(-0.1, 0.1, 18)
    idx = jnp.array([0, 3, 3])

    @jax.jit
    def both(p, z):
        batch_loss = lambda q: 0.5 * jnp.mean((p.X[idx] @ p.beta(q) - p.y[idx]) ** 2)
        return (p.grad(z), jax.grad(p.loss)(z), p.batch_grad(z, idx), jax.grad(batch_loss)(z),
                p.sample_jacobian(z), jax.jacfwd(lambda q: p.X @ p.beta(q))(z))
    g, g_auto, gb, gb_auto, J, J_auto = both(net, jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(g), np.asarray(g_auto), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(gb), np.asarray(gb_auto), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(J), np.asarray(J_auto), rtol=1e-12)
    beta = np.asarray(net.beta_star)
    assert np.count_nonzero(beta) == 2 and np.all(np.abs(beta[beta != 0]) >= 1)
    np.testing.assert_allclose(np.asarray(net.beta(net.x0)), 0.0)
    # at an interpolating point the Gauss-Newton trace and sharpness are the Hessian's
    u = np.sqrt(np.maximum(beta, 0)) + 0.3
    v = np.sqrt(u**2 - beta)
    w_star = np.concatenate([u, v])
    at = jax.jit(lambda p, z: (p.loss(z), jax.hessian(p.loss)(z), P.gauss_newton_trace(p, z),
                               P.gauss_newton_sharpness(p, z)))
    loss, Hess, tr, top = (np.asarray(a) for a in at(net, jnp.asarray(w_star)))
    assert loss < 1e-28
    np.testing.assert_allclose(tr, np.trace(Hess), rtol=1e-12)
    np.testing.assert_allclose(top, np.linalg.eigvalsh(Hess).max(), rtol=1e-12)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_samples=12, dim=12), "num_samples"), (dict(num_samples=0, dim=12), "num_samples"),
    (dict(num_samples=4, dim=12, rows="sorted"), "rows"), (dict(num_samples=4, dim=12, spread=1.0), "spread"),
    (dict(num_samples=4, dim="12"), "dim"), (dict(num_samples=4.0, dim=12), "num_samples"),
])
def test_regression_bad_input_is_named(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        P.make_interpolating_regression(jax.random.key(0), **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(num_samples=9, dim=9), "num_samples"), (dict(num_samples=4, dim=9, sparsity=5), "sparsity"),
    (dict(num_samples=4, dim=9, alpha=0.0), "alpha"), (dict(num_samples=4, dim=9, alpha=float("inf")), "alpha"),
])
def test_network_bad_input_is_named(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        P.make_diagonal_linear_network(jax.random.key(0), **kwargs)


def test_raw_keys_are_refused():
    with pytest.raises(TypeError, match="key"):
        P.make_interpolating_regression(jax.random.PRNGKey(0), num_samples=3, dim=5)
    with pytest.raises(TypeError, match="key"):
        P.make_diagonal_linear_network(jax.random.PRNGKey(0), num_samples=3, dim=5)


# --- the exact theory against brute force -----------------------------------------------------
def _brute_force_T(Hs, P_, eta, B, replace):
    """E[(I - ηH_ξ)P(I - ηH_ξ)] over every batch (ordered tuples, or subsets)."""
    n, r = Hs.shape[0], Hs.shape[1]
    batches = (list(itertools.product(range(n), repeat=B)) if replace
               else list(itertools.combinations(range(n), B)))
    out = np.zeros((r, r))
    for batch in batches:
        M = np.eye(r) - eta * Hs[list(batch)].mean(axis=0)
        out += M @ P_ @ M
    return out / len(batches)


@pytest.mark.parametrize("B, replace", [(1, True), (2, True), (3, True), (2, False), (3, False), (5, False)])
def test_second_moment_operator_is_the_expectation(reg, B, replace):
    A = T.project(np.asarray(reg.sample_hessians))
    r = A.shape[1]
    rng = np.random.default_rng(0)
    G = rng.normal(size=(r, r))
    P_ = G @ G.T
    kappa = T.noise_weight(B, 6, replace)
    full = T.second_moment_operator(A, 0.7, kappa, symmetric=False)
    np.testing.assert_allclose((full @ P_.reshape(-1)).reshape(r, r),
                               _brute_force_T(A, P_, 0.7, B, replace), rtol=1e-11, atol=1e-13)
    U = T.symmetric_basis(r)
    sym = T.second_moment_operator(A, 0.7, kappa)
    np.testing.assert_allclose(sym, U.T @ full @ U, atol=1e-13)
    assert abs(T.spectral_radius(sym) - T.spectral_radius(full)) < 1e-12


def test_thresholds_agree_with_their_definitions(reg):
    A = T.project(np.asarray(reg.sample_hessians))
    for kappa in (1.0, 0.5, 0.2, 0.0):
        e = T.eta_star(A, kappa)
        assert abs(T.eta_star_bisection(A, kappa) / e - 1) < 1e-10
        below, above, twice, four = T.radius_at(A, kappa, [e * (1 - 1e-6), e * (1 + 1e-6), 2 * e, 4 * e])
        assert below <= 1.0 < above and twice > 1 and four > 1
        suf = T.eta_sufficient(A, kappa)
        H, S = T.one_step_moment(A, kappa)
        for f, ok in ((1 - 1e-7, True), (1 + 1e-7, False)):
            top = np.linalg.eigvalsh(np.eye(len(H)) - 2 * f * suf * H + (f * suf) ** 2 * S).max()
            assert (top <= 1.0) == ok
    assert abs(T.eta_star(A, 0.0) * T.sharpness(A) - 2.0) < 1e-12


def test_mean_square_recursion_matches_simulation_in_expectation(reg):
    """Tr T^t(δ0δ0ᵀ) against brute-force expectation over every batch sequence (t = 2, B = 1)."""
    A = np.asarray(reg.sample_hessians)
    d0 = np.asarray(reg.x0 - reg.x_star)
    eta = 1.3
    expected = np.mean([np.sum(((np.eye(12) - eta * A[j]) @ (np.eye(12) - eta * A[i]) @ d0) ** 2)
                        for i in range(6) for j in range(6)])
    # the same in the span basis
    w, V = np.linalg.eigh(A.mean(0))
    V = V[:, w > 1e-10 * w.max()]
    got = T.mean_square_after(np.einsum("ai,nab,bj->nij", V, A, V), eta, 1.0, V.T @ d0, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_experiment_validates_before_work():
    base = dict(experiment.DEFAULTS)
    for key, value, match in [("num_samples", 40, "num_samples"), ("eta_rel", -1.0, "eta_rel"),
                              ("rows", "odd", "rows"), ("batch_size", 11, "batch_size"),
                              ("seed", -1, "seed"), ("bogus", 1, "bogus")]:
        config = {**base, key: value}
        if key == "batch_size":
            config["replace"] = False
        with pytest.raises(ValueError, match=match):
            experiment.validate(config)
    experiment.validate(base)
