"""Generators of problems.bilevel and the bilevel methods: y*(x) and the exact hypergradient,
hypergradient estimators against the implicit-function hypergradient, oracle-call accounting,
the flax model's shapes, and bad input rejected before compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.methods import bilevel as B
from problems import bilevel as P


def _small():
    key = jax.random.key(4)
    return {
        "exp": P.make_synthetic(key, dim_x=4, dim_y=6, n_upper=8, n_lower=8),
        "quartic": P.make_synthetic(key, dim_x=4, dim_y=6, n_upper=8, n_lower=9, kind="quartic"),
        "representation": P.make_hyper_representation(key, n_train=24, n_val=16, n_test=16,
                                                      length=4, hidden=3),
        "cleaning": P.make_hyper_cleaning(key, n_train=30, n_val=12, n_test=20, dim=3),
    }


PROBLEMS = _small()


def _full(n):
    return jnp.arange(n)


def _perturbed_x(p, scale=0.3, seed=1):
    leaves, tree = jax.tree.flatten(p.x0)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return tree.unflatten([l + scale * jax.random.normal(k, l.shape) for l, k in zip(leaves, keys)])


def _flat(tree):
    return np.concatenate([np.ravel(l) for l in jax.tree.leaves(tree)])


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_y_star_solves_the_lower_level(name):
    p = PROBLEMS[name]
    x = _perturbed_x(p)
    grad = B.lower_grad(p, x, p.y_star(x), _full(p.n_lower))
    assert np.abs(_flat(grad)).max() < 1e-10


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_implicit_hypergradient_estimate_is_exact_at_the_truth(name):
    """h = ∇_x f - ∇²_xy g H⁻¹ ∇_y f at y = y*(x), full batches, exact solve = ∇Φ(x)."""
    p = PROBLEMS[name]
    x = _perturbed_x(p)
    y = p.y_star(x)
    _, gy = B.upper_grads(p, x, y, _full(p.n_upper))
    z = B.exact_linear_solve(p, x, y, gy)
    h = B.hypergradient_estimate(p, x, y, z, _full(p.n_upper), _full(p.n_lower))
    np.testing.assert_allclose(_flat(h), _flat(p.hypergradient(x)), rtol=1e-7, atol=1e-10)


def test_synthetic_closed_form_hypergradient_matches_autodiff():
    for name in ("exp", "quartic"):
        p = PROBLEMS[name]
        x = _perturbed_x(p, scale=1.0)
        np.testing.assert_allclose(p.hypergradient(x), jax.grad(p.phi)(x), rtol=1e-12)
        np.testing.assert_allclose(p.y_star(x), p.B @ x)


def test_component_means_are_exact():
    """Antithetic noise: the mean of all components is the noiseless problem, even for odd n."""
    p = PROBLEMS["quartic"]
    x, y = _perturbed_x(p), jnp.arange(6.0) / 6
    assert float(p.upper(x, y, _full(p.n_upper))) == pytest.approx(float(p.f0(x, y)), rel=1e-13)
    r = y - p.B @ x
    assert float(p.lower(x, y, _full(p.n_lower))) == pytest.approx(float(0.5 * r @ p.Q @ r), rel=1e-12)
    single = B.lower_grad(p, x, y, jnp.array([0]))
    assert np.abs(np.asarray(single - p.Q @ r)).max() > 1e-3  # components are noisy


def test_neumann_series_converges_to_the_linear_solve():
    p = PROBLEMS["exp"]
    x = _perturbed_x(p)
    y = p.y_star(x)
    b = jnp.linspace(-1.0, 1.0, 6)
    exact = B.exact_linear_solve(p, x, y, b)
    # full-batch Hessians via a batch of all indices drawn many times: use a deterministic problem
    det = P.make_synthetic(jax.random.key(4), dim_x=4, dim_y=6, n_upper=1, n_lower=1)
    series = B.neumann_solve(det, x, y, b, jax.random.key(0), terms=400, step=jnp.asarray(0.2),
                             batch=1)
    np.testing.assert_allclose(series, B.exact_linear_solve(det, x, y, b), rtol=1e-8)
    assert exact.shape == b.shape


def test_bo_rep_z_update_converges_to_the_linear_system_solution():
    """With x fixed (step 0) and full batches the z recursion is GD on ½zᵀHz - zᵀ∇_y f."""
    p = P.make_synthetic(jax.random.key(4), dim_x=4, dim_y=6, n_upper=1, n_lower=1)
    method = B.bo_rep(1e-300, z_step=0.2, refine_steps=200, lower_step=0.2, momentum=0.0)
    state = method.init(p.start)
    step = jax.jit(lambda k, s: method.step(k, s, p))
    for i in range(300):
        state, _ = step(jax.random.key(i), state)
    x, y = state.params
    _, gy = B.upper_grads(p, x, y, _full(1))
    np.testing.assert_allclose(state.z, B.exact_linear_solve(p, x, y, gy), rtol=1e-8)
    np.testing.assert_allclose(y, p.y_star(x), atol=1e-10)


def test_bo_rep_step_length_is_eta_and_z_stays_in_the_ball():
    p = PROBLEMS["exp"]
    method = B.bo_rep(0.05, z_radius=0.1, z_step=5.0)
    state = method.init(p.start)
    step = jax.jit(lambda k, s: method.step(k, s, p))
    for i in range(5):
        before = state.params.x
        state, _ = step(jax.random.key(i), state)
        assert float(jnp.linalg.norm(state.params.x - before)) == pytest.approx(0.05, rel=1e-12)
        assert float(jnp.linalg.norm(state.z)) <= 0.1 * (1 + 1e-12)


def test_bo_rep_oracle_and_lower_call_counts():
    p = PROBLEMS["exp"]
    method = B.bo_rep(0.01, period=3, inner_steps=4, refine_steps=7, batch_upper=2, batch_lower=5,
                      batch_hessian=3)
    state = method.init(p.start)
    step = jax.jit(lambda k, s: method.step(k, s, p))
    lower, calls = [], []
    for i in range(8):
        state, info = step(jax.random.key(i), state)
        lower.append(int(info["lower_calls"]))
        calls.append(int(info["oracle_calls"]))
    assert lower == [35, 0, 0, 20, 0, 0, 20, 0]
    assert calls == [l + 2 + 2 * 3 for l in lower]
    schedule = B.lower_calls_schedule(8, refine=7, period=3, inner=4, batch=5)
    np.testing.assert_array_equal(schedule, np.concatenate([[0], np.cumsum(lower)]))
    trace = convlab.run(method, p, p.start, key=jax.random.key(0), num_steps=8)
    np.testing.assert_array_equal(trace.oracle_calls, np.concatenate([[0], np.cumsum(calls)]))


@pytest.mark.parametrize("factory", [B.soba, B.ma_soba, B.stocbio, B.ttsa, B.aid])
def test_baselines_count_their_calls(factory):
    p = PROBLEMS["cleaning"]
    method = factory(0.1)
    state = method.init(p.start)
    _, info = jax.jit(lambda k, s: method.step(k, s, p))(jax.random.key(0), state)
    o = dict(method.options)
    expected = {
        "soba": o.get("batch_lower", 0) + o.get("batch_upper", 0) + 2 * o.get("batch_hessian", 0),
        "ma_soba": o.get("batch_lower", 0) + o.get("batch_upper", 0) + 2 * o.get("batch_hessian", 0),
        "stocbio": o.get("refine_steps", 0) * o.get("batch_lower", 0) + o.get("batch_upper", 0)
        + o.get("neumann_terms", 0) * o.get("batch_hessian", 0),
        "ttsa": o.get("refine_steps", 0) * o.get("batch_lower", 0) + o.get("batch_upper", 0)
        + o.get("neumann_terms", 0) * o.get("batch_hessian", 0),
        "aid": o.get("refine_steps", 0) * p.n_lower + p.n_upper + (p.y0.size + 1) * p.n_lower,
    }[method.name]
    assert int(info["oracle_calls"]) == expected


def test_aid_with_an_exact_lower_solve_takes_exact_hypergradient_steps():
    p = PROBLEMS["exp"]
    method = B.aid(0.1, lower_step=0.2, inner_steps=300, refine_steps=0)
    state, _ = jax.jit(lambda k, s: method.step(k, s, p))(jax.random.key(0), method.init(p.start))
    np.testing.assert_allclose(state.params.x, p.x0 - 0.1 * p.hypergradient(p.x0), rtol=1e-8)


def test_flax_model_shapes():
    p = PROBLEMS["representation"]
    shapes = jax.tree.map(jnp.shape, p.x0)
    assert shapes == {"cell": {"h": {"kernel": (3, 3)}, "i": {"bias": (3,), "kernel": (3, 3)}}}
    assert all(l.dtype == jnp.float64 for l in jax.tree.leaves(p.x0))
    assert p.y0.shape == (4,)
    feats = P._features(3, p.x0, p.train_seqs)
    assert feats.shape == (24, 4)
    trace = convlab.run(B.bo_rep(0.05, inner_steps=2), p, p.start, key=jax.random.key(0), num_steps=4)
    assert trace.diverged == -1 and np.all(np.isfinite(trace["phi"]))
    assert 0.0 <= float(trace["accuracy"][-1]) <= 1.0


def test_hyper_cleaning_flips_the_requested_fraction():
    p = P.make_hyper_cleaning(jax.random.key(0), n_train=200, corruption=0.3)
    assert float(p.flipped.sum()) == 60
    assert set(np.unique(np.asarray(p.train_labels))) <= {0, 1, 2}


def test_default_hyper_cleaning_instance_rewards_cleaning():
    """The default instance is well posed: at the exact lower-level solution the oracle cleaner
    (weight 1 on clean, 0 on flipped examples) has a small clean test error, far below uniform
    weights (measured over 8 keys: 0.341 -> 0.011; here 3 keys, with margin)."""
    uniform, oracle = [], []
    for seed in range(3):
        p = P.make_hyper_cleaning(jax.random.key(seed))
        uniform.append(1.0 - float(p.accuracy(jnp.zeros(p.n_lower))))
        oracle.append(1.0 - float(p.accuracy(p.oracle_x())))
        w = jax.nn.sigmoid(p.oracle_x())
        assert float(jnp.max(w * p.flipped)) < 1e-12 and float(jnp.min(w + p.flipped)) > 1 - 1e-12
    assert np.mean(oracle) <= 0.05, oracle
    assert np.mean(uniform) - np.mean(oracle) >= 0.2, (uniform, oracle)


def test_divergence_threshold_separates_growth_from_contraction():
    for kind in P.SYNTHETIC_KINDS:
        u = P.divergence_threshold(kind, 1.0, 10)
        h1 = lambda v: float(P._h_prime(kind, np.float64(v)))
        assert abs(u * 1.01 - h1(u * 1.01) / 10) > u * 1.01       # overshoots past the threshold
        assert abs(u * 0.99 - h1(u * 0.99) / 10) <= u * 0.99      # contracts below it


@pytest.mark.parametrize("make, kwargs, name", [
    (P.make_synthetic, {"kind": "cubic"}, "kind"),
    (P.make_synthetic, {"dim_x": 0}, "dim_x"),
    (P.make_synthetic, {"mu": 5.0, "L_g": 1.0}, "mu"),
    (P.make_synthetic, {"sigma_f": -1.0}, "sigma_f"),
    (P.make_synthetic, {"heterogeneity": 2.0}, "heterogeneity"),
    (P.make_hyper_representation, {"lam": 0.0}, "lam"),
    (P.make_hyper_representation, {"hidden": 1.5}, "hidden"),
    (P.make_hyper_representation, {"label_noise": 0.5}, "label_noise"),
    (P.make_hyper_cleaning, {"corruption": 1.0}, "corruption"),
    (P.make_hyper_cleaning, {"num_classes": 1}, "num_classes"),
    (P.make_meta_representation, {"radius": 0.0}, "radius"),
    (P.make_meta_representation, {"tasks": 0}, "tasks"),
    (P.make_meta_representation, {"lam": -1.0}, "lam"),
    (P.make_rnn_cleaning, {"corruption": 1.0}, "corruption"),
    (P.make_rnn_cleaning, {"hidden": 0}, "hidden"),
    (P.make_rnn_cleaning, {"decay": -1.0}, "decay"),
])
def test_generators_reject_bad_input(make, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make(jax.random.key(0), **kwargs)


@pytest.mark.parametrize("call, name", [
    (lambda: B.bo_rep(-0.1), "step_size"),
    (lambda: B.bo_rep(0.1, momentum=1.0), "momentum"),
    (lambda: B.bo_rep(0.1, period=0), "period"),
    (lambda: B.bo_rep(0.1, inner_steps=2.5), "inner_steps"),
    (lambda: B.bo_rep(0.1, z_radius=0.0), "z_radius"),
    (lambda: B.stocbio(0.1, neumann_terms=0), "neumann_terms"),
    (lambda: B.ma_soba(0.1, averaging=0.0), "averaging"),
    (lambda: B.aid(float("nan")), "step_size"),
])
def test_methods_reject_bad_hyperparameters(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()


def test_run_rejects_a_non_bilevel_start_before_compiling():
    p = PROBLEMS["exp"]
    with pytest.raises((TypeError, ValueError), match="BilevelPoint"):
        convlab.run(B.bo_rep(0.1), p, p.x0, key=jax.random.key(0), num_steps=2)


# --- issue 16: the meta hyper-representation (RNN upper level) and the RNN-lower cleaning --------------
def _np_rnn(params, seqs):
    """The tanh RNN by hand in NumPy: h_t = tanh(s_t W_in + h_{t-1} W_hh + b), last state."""
    W_in, W_hh, b = (np.asarray(params[k]) for k in ("W_in", "W_hh", "b"))
    seqs = np.asarray(seqs)
    h = np.zeros(seqs.shape[:-2] + (b.size,))
    states = []
    for t in range(seqs.shape[-2]):
        h = np.tanh(seqs[..., t, :] @ W_in + h @ W_hh + b)
        states.append(h)
    return h, np.stack(states)


META = P.make_meta_representation(jax.random.key(3), tasks=3, n_support=6, n_query=5, length=4,
                                  hidden=3, teacher_radius=1.5)


def test_meta_representation_matches_a_numpy_reference():
    p = META
    h, _ = _np_rnn(p.x0, p.support_seqs)
    assert np.allclose(np.asarray(P.tanh_rnn(p.x0, p.support_seqs)), h, atol=1e-12)
    # the starting recurrent matrix has spectral radius 1 (radius=1 times an orthogonal matrix)
    assert np.max(np.abs(np.linalg.eigvals(np.asarray(p.x0["W_hh"])))) == pytest.approx(1.0, abs=1e-9)
    phi = np.concatenate([h, np.ones(h.shape[:-1] + (1,))], axis=-1)          # [m, n, k]
    lam = float(p.lam)
    ys = np.stack([np.linalg.solve(f.T @ f / f.shape[0] + lam * np.eye(f.shape[1]), f.T @ l / f.shape[0])
                   for f, l in zip(phi, np.asarray(p.support_labels))])
    assert np.allclose(np.asarray(p.y_star(p.x0)), ys, atol=1e-10)
    y = ys + 0.1
    idx = jnp.asarray([0, 2])
    r = np.einsum("mbk,mk->mb", phi[:, [0, 2]], y) - np.asarray(p.support_labels)[:, [0, 2]]
    want = np.sum(0.5 * np.mean(r**2, axis=1) + 0.5 * lam * np.sum(y**2, axis=1))
    assert float(p.lower(p.x0, jnp.asarray(y), idx)) == pytest.approx(want, rel=1e-12)
    hq, _ = _np_rnn(p.x0, p.query_seqs)
    fq = np.concatenate([hq, np.ones(hq.shape[:-1] + (1,))], axis=-1)
    rq = np.einsum("mbk,mk->mb", fq, y) - np.asarray(p.query_labels)
    assert float(p.upper(p.x0, jnp.asarray(y), jnp.arange(p.n_upper))) == pytest.approx(0.5 * np.mean(rq**2), rel=1e-12)


def test_meta_representation_truth_is_the_implicit_formula():
    """∇Φ (autodiff through the ridge solves) = ∇_x f - ∇²_xy g [∇²_yy g]⁻¹ ∇_y f at y*, and
    ∇_y g(x, y*) = 0."""
    from jax.flatten_util import ravel_pytree
    from theory_checks.bilevel import reference as R
    p = META
    x = jax.tree.map(lambda a: a + 0.05 * jnp.cos(jnp.arange(a.size).reshape(a.shape)), p.x0)
    y = p.y_star(x)
    d = R.derivatives(p, x, y)
    assert float(np.abs(d.g).max()) < 1e-10
    grad = np.asarray(ravel_pytree(p.hypergradient(x))[0])
    assert np.allclose(grad, R.implicit_hypergradient(d), rtol=1e-8, atol=1e-10)


def test_local_smoothness_is_the_curvature_along_the_gradient():
    """On a quadratic Φ the probe returns ‖H ĝ‖ exactly (finite difference of a linear map)."""
    import types
    H = jnp.diag(jnp.asarray([1.0, 10.0]))
    q = types.SimpleNamespace(hypergradient=lambda x: {"a": H @ x["a"]}, direction={"a": jnp.asarray([1.0, 0.0])})
    x = {"a": jnp.asarray([1.0, 1.0])}
    g = H @ x["a"]
    want = float(jnp.linalg.norm(H @ (g / jnp.linalg.norm(g))))
    assert float(P.local_smoothness(q, B.BilevelPoint(x, None))) == pytest.approx(want, rel=1e-9)
    zero = {"a": jnp.zeros(2)}
    assert float(P.local_smoothness(q, B.BilevelPoint(zero, None))) == pytest.approx(1.0, rel=1e-9)


def test_rnn_cleaning_matches_a_numpy_reference_and_flips_the_fraction():
    p = P.make_rnn_cleaning(jax.random.key(4), n_train=40, n_val=8, n_test=8, length=3, hidden=2,
                            corruption=0.25)
    assert int(np.asarray(p.flipped).sum()) == 10
    y = p.y0
    _, states = _np_rnn(y, p.train_seqs)
    pooled = np.concatenate([states.max(axis=0), np.ones((40, 1))], axis=1)
    logits = pooled @ np.asarray(y["head"])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(40), np.asarray(p.train_labels)]
    x = np.linspace(-1.0, 1.0, 40)
    sq = sum(float(np.sum(np.asarray(v) ** 2)) for v in jax.tree.leaves(y))
    want = np.mean(ce / (1.0 + np.exp(-x))) + 1e-4 * sq
    got = float(p.lower(jnp.asarray(x), y, jnp.arange(40)))
    assert got == pytest.approx(want, rel=1e-10)
