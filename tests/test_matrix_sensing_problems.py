"""Generators of problems.matrix_sensing (shapes, truth by construction, validation, gradients
vs autodiff and finite differences, the GEMM layout) and the one-step modified GD method."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.methods.one_step_gd import one_step_gd, rebalance
from problems import matrix_sensing as P


def _sym(key=0, **kw):
    args = dict(n=6, r=2, k=3, num_measurements=120, alpha=0.1)
    return P.make_symmetric_sensing(jax.random.key(key), **{**args, **kw})


def _asym(key=0, **kw):
    args = dict(n1=5, n2=7, r=2, k=3, num_measurements=150, alpha=0.1)
    return P.make_asymmetric_sensing(jax.random.key(key), **{**args, **kw})


def _pad(factor, k):
    return jnp.concatenate([factor, jnp.zeros((factor.shape[0], k - factor.shape[1]))], axis=1)


# --- shapes and truth ------------------------------------------------------------------------------
def test_symmetric_shapes_and_truth():
    p = _sym(condition_number=4.0)
    assert p.A.shape == (120, 36) and p.y.shape == (120,) and p.x0.shape == (6, 3)
    assert (p.n, p.r, p.k, p.num_measurements) == (6, 2, 3, 120)
    np.testing.assert_allclose(p.M_star, p.X_star @ p.X_star.T, atol=1e-12)
    eigs = np.linalg.eigvalsh(np.asarray(p.M_star))[::-1]
    np.testing.assert_allclose(eigs[:2], [1.0, 0.25], rtol=1e-10)   # σ_1 = 1, σ_r = 1/κ
    np.testing.assert_allclose(eigs[2:], 0.0, atol=1e-12)             # rank r, PSD
    A = np.asarray(p.A).reshape(120, 6, 6)
    np.testing.assert_allclose(A, np.swapaxes(A, 1, 2))              # symmetric A_i
    np.testing.assert_allclose(p.y, np.einsum("mij,ij->m", A, np.asarray(p.M_star)), rtol=1e-12)
    X = _pad(p.X_star, 3)
    assert float(p.loss(X)) == pytest.approx(float(p.f_star), abs=1e-25)
    assert float(P.model_error(p, X)) == pytest.approx(0.0, abs=1e-12)


def test_asymmetric_shapes_and_truth():
    p = _asym(condition_number=10.0)
    assert p.A.shape == (150, 35) and p.x0.F.shape == (5, 3) and p.x0.G.shape == (7, 3)
    assert isinstance(p.x0, P.Factors)
    np.testing.assert_allclose(p.M_star, p.F_star @ p.G_star.T, atol=1e-12)
    s = np.linalg.svd(np.asarray(p.M_star), compute_uv=False)
    np.testing.assert_allclose(s[:2], [1.0, 0.1], rtol=1e-10)
    np.testing.assert_allclose(s[2:], 0.0, atol=1e-12)
    np.testing.assert_allclose(p.sigma_star, [1.0, 0.1], rtol=1e-12)
    A = np.asarray(p.A).reshape(150, 5, 7)  # row i = vec(A_i), row-major
    np.testing.assert_allclose(p.y, np.einsum("mij,ij->m", A, np.asarray(p.M_star)), rtol=1e-12)
    x = P.Factors(_pad(p.F_star, 3), _pad(p.G_star, 3))
    assert float(p.loss(x)) == pytest.approx(float(p.f_star), abs=1e-25)


def test_measurements_are_isotropic_on_the_model_range():
    """E <A_i, Z>² = ||Z||_F²: asymmetric A_i have N(0, 1) entries; symmetric A_i = (B + Bᵀ)/2
    have N(0, 1) diagonal and N(0, 1/2) off-diagonal entries, so for symmetric Z
    Var <A_i, Z> = Σ Z_ii² + 4·½ Σ_{i<j} Z_ij² = ||Z||_F². Sample variances of the entries
    within 5 standard errors (sd of a variance estimate from N samples: sqrt(2/N))."""
    a = np.asarray(_asym().A)
    assert abs(a.var() - 1.0) < 5 * np.sqrt(2.0 / a.size)
    s = _sym()
    A = np.asarray(s.A).reshape(-1, s.n, s.n)
    diag = np.diagonal(A, axis1=1, axis2=2)
    off = A[:, np.triu_indices(s.n, 1)[0], np.triu_indices(s.n, 1)[1]]
    assert abs(diag.var() - 1.0) < 5 * np.sqrt(2.0 / diag.size)
    assert abs(off.var() - 0.5) < 5 * 0.5 * np.sqrt(2.0 / off.size)


def test_init_scales_and_imbalance():
    """Entry scales: sample sd over 300 draws (≥ 4500 entries, relative error ~1%; 5%)."""
    p = _asym(imbalance=0.25, alpha=0.2)
    keys = jax.random.split(jax.random.key(1), 300)
    F, G = jax.vmap(p.init)(keys)
    assert float(jnp.std(F)) == pytest.approx(0.2, rel=0.05)
    assert float(jnp.std(G)) == pytest.approx(0.05, rel=0.05)
    F2, G2 = jax.vmap(lambda k: p.init(k, alpha=0.4, imbalance=1.0))(keys)
    np.testing.assert_allclose(F2, 2.0 * F, rtol=1e-12)  # same draw, scaled: α is a pure scale
    assert float(jnp.std(G2)) == pytest.approx(0.4, rel=0.05)
    s = _sym(alpha=0.3)
    assert float(jnp.std(jax.vmap(s.init)(keys))) == pytest.approx(0.3, rel=0.05)
    # traced α (as in a sweep grid)
    X = jax.jit(jax.vmap(lambda k, a: s.init(k, a), in_axes=(0, None)))(keys, 0.5)
    assert float(jnp.std(X)) == pytest.approx(0.5, rel=0.05)


def test_same_key_shares_truth_and_operator_across_widths():
    a, b = _asym(k=2), _asym(k=4)
    np.testing.assert_array_equal(a.A, b.A)
    np.testing.assert_array_equal(a.M_star, b.M_star)


# --- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(r=7), "r \\(7\\) must be <= n"),
    (dict(k=1), "k \\(1\\) must be >= r"),
    (dict(k=7), "k \\(7\\) must be <= n"),
    (dict(num_measurements=0), "num_measurements must be >= 1"),
    (dict(alpha=0.0), "alpha must be > 0"),
    (dict(alpha=float("nan")), "alpha must be finite"),
    (dict(condition_number=0.5), "condition_number must be >= 1"),
    (dict(n=0), "n must be >= 1"),
])
def test_symmetric_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _sym(**kw)


@pytest.mark.parametrize("kw, match", [
    (dict(r=6), "r \\(6\\) must be <= n1"),
    (dict(k=6), "k \\(6\\) must be <= n1"),
    (dict(imbalance=-0.1), "imbalance must be >= 0"),
    (dict(alpha=-1.0), "alpha must be > 0"),
])
def test_asymmetric_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        _asym(**kw)


@pytest.mark.parametrize("kw", [dict(n=6.0), dict(k="3"), dict(num_measurements=10.5)])
def test_non_integer_sizes_are_type_errors(kw):
    with pytest.raises(TypeError, match=next(iter(kw))):
        _sym(**kw)


# --- gradients ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [_sym, _asym, lambda: _asym(k=2, condition_number=3.0)])
def test_grad_matches_autodiff_and_finite_differences(make):
    p = make()
    keys = jax.random.split(jax.random.key(5), 3)
    for key in keys:
        x = p.init(key, 0.7)
        g = p.grad(x)
        for got, want in zip(jax.tree.leaves(g), jax.tree.leaves(jax.grad(p.loss)(x))):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)
        # central differences along a random direction: O(h²) error, h = 1e-5
        d = jax.tree.map(lambda leaf: jax.random.normal(jax.random.key(9), leaf.shape), x)
        h = 1e-5
        plus = p.loss(jax.tree.map(lambda a, b: a + h * b, x, d))
        minus = p.loss(jax.tree.map(lambda a, b: a - h * b, x, d))
        fd = (plus - minus) / (2 * h)
        analytic = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(d)))
        assert float(fd) == pytest.approx(float(analytic), rel=1e-7, abs=1e-10)


def test_batched_measurement_products_are_gemms():
    """vmapped over a batch of iterates, both products with A are dot_generals of the shared
    [m, n1·n2] matrix with a [B, n1·n2] operand: no batch dimension, i.e. one GEMM each."""
    p = _asym()
    xs = jax.vmap(lambda k: p.init(k))(jax.random.split(jax.random.key(1), 7))
    jaxpr = jax.make_jaxpr(jax.vmap(p.grad))(xs).jaxpr
    with_a = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"
              and any(getattr(v.aval, "shape", None) == p.A.shape for v in e.invars)]
    assert len(with_a) == 2
    for eqn in with_a:
        (_, batch) = eqn.params["dimension_numbers"]
        assert batch == ((), ())
        other = [v.aval.shape for v in eqn.invars if v.aval.shape != p.A.shape][0]
        assert other in ((7, 35), (7, 150))  # the batch of vec(F Gᵀ), or of residuals


# --- metrics ---------------------------------------------------------------------------------------
def test_metrics_against_numpy():
    p = _asym()
    x = p.init(jax.random.key(2), 0.5)
    F, G = (np.asarray(a) for a in x)
    D = F.T @ F - G.T @ G
    assert float(P.imbalance_sigma_min(p, x)) == pytest.approx(np.abs(np.linalg.eigvalsh(D)).min())
    assert float(P.model_error(p, x)) == pytest.approx(np.linalg.norm(F @ G.T - np.asarray(p.M_star)))
    assert float(P.loss_value(p, x)) == pytest.approx(float(p.loss(x)))
    s = _sym()
    X = np.asarray(s.init(jax.random.key(2), 0.5))
    assert float(P.factor_sigma_min(s, X)) == pytest.approx(np.linalg.svd(X, compute_uv=False)[-1])
    assert set(p.default_metrics()) == {"error", "loss", "imbalance"}
    assert set(s.default_metrics()) == {"error", "loss", "sigma_min"}


def test_problem_is_a_pytree_with_static_sizes():
    a, b = _asym(key=0), _asym(key=1)
    assert jax.tree.structure(a) == jax.tree.structure(b)  # same sizes: one compiled program
    assert jax.tree.structure(a) != jax.tree.structure(_asym(k=2))
    leaves = jax.tree.leaves(a)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert float(jax.jit(lambda p: p.loss(p.x0))(a)) == pytest.approx(float(a.loss(a.x0)))


def test_gd_takes_simultaneous_factor_steps():
    p = _asym()
    t = convlab.run(convlab.gd(0.05), p, p.x0, key=jax.random.key(0), num_steps=1)
    gF, gG = p.grad(p.x0)
    manual = P.Factors(p.x0.F - 0.05 * gF, p.x0.G - 0.05 * gG)
    assert float(t["error"][-1]) == pytest.approx(float(P.model_error(p, manual)), rel=1e-12)


# --- the one-step modification ----------------------------------------------------------------------
def test_rebalance_keeps_the_model_and_sets_the_singular_values():
    p = _asym()
    x = p.init(jax.random.key(4), 0.01)
    y = rebalance(x, 2.0)
    assert isinstance(y, P.Factors)
    np.testing.assert_allclose(y.F @ y.G.T, x.F @ x.G.T, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(np.linalg.svd(np.asarray(y.F), compute_uv=False), np.sqrt(2.0), rtol=1e-10)
    with pytest.raises(ValueError, match="two-factor"):
        rebalance((x.F, x.G, x.G), 1.0)


def test_one_step_fires_once_at_the_threshold():
    p = _asym(n1=8, n2=8, num_measurements=400)
    method = one_step_gd(0.1, threshold=1e-3)
    state = method.init(p.init(jax.random.key(0), 0.05))
    step = jax.jit(method.step)
    fired_at, losses = [], []
    for t in range(400):
        losses.append(float(p.loss(state.params)))
        state, info = step(jax.random.key(0), state, p)
        if bool(info["modified"]):
            fired_at.append(t)
            # right after the change (and one gradient step): every σ(F) ≈ sqrt(scale) = 1,
            # where the spurious one was Θ(α) before
            np.testing.assert_allclose(np.linalg.svd(np.asarray(state.params.F), compute_uv=False),
                                       1.0, atol=0.05)
    assert len(fired_at) == 1, fired_at
    t1 = fired_at[0]
    assert int(state.modified_at) == t1
    assert losses[t1] <= 1e-3 and all(loss > 1e-3 for loss in losses[:t1])


def test_one_step_matches_gd_until_it_fires_and_counts_oracle_calls():
    p = _asym()
    x0 = p.init(jax.random.key(0), 0.05)
    never = one_step_gd(0.1, threshold=1e-30)
    a = convlab.run(never, p, x0, key=jax.random.key(0), num_steps=50)
    b = convlab.run(convlab.gd(0.1), p, x0, key=jax.random.key(0), num_steps=50)
    np.testing.assert_allclose(a["error"], b["error"], rtol=1e-12)
    assert int(a.oracle_calls[-1]) == 100  # gradient + pending loss check per step
    fires = convlab.run(one_step_gd(0.1, threshold=1e6), p, x0, key=jax.random.key(0), num_steps=50)
    assert int(fires.oracle_calls[-1]) == 51  # the check stops once it fired (at step 0)


@pytest.mark.parametrize("kw, match", [
    (dict(step_size=0.0, threshold=1.0), "step_size"),
    (dict(step_size=0.1, threshold=-1.0), "threshold"),
    (dict(step_size=0.1, threshold=1.0, scale=0.0), "scale"),
])
def test_one_step_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        one_step_gd(**kw)


def test_one_step_keeps_float32_runs_float32():
    p = jax.tree.map(lambda a: a.astype(jnp.float32), _asym())
    x0 = jax.tree.map(lambda a: a.astype(jnp.float32), p.x0)
    state = one_step_gd(0.1, threshold=1e-3).init(x0)
    state, _ = jax.jit(one_step_gd(0.1, threshold=1e-3).step)(jax.random.key(0), state, p)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state.params))


def test_sweep_run_equals_single_run():
    p = _asym()

    def make_run(key, hp, prob):
        return convlab.run(one_step_gd(hp["eta"], threshold=1e-3), prob, prob.init(key, hp["alpha"]),
                           key=key, num_steps=100, record_every=10)

    keys = jax.random.split(jax.random.key(3), 2)
    swept = convlab.sweep(make_run, keys, {"eta": [0.1], "alpha": [0.05, 0.1]}, data=p)
    alone = make_run(keys[1], {"eta": 0.1, "alpha": 0.1}, p)
    np.testing.assert_allclose(swept["error"][0, 1, 1], alone["error"], rtol=1e-9)
