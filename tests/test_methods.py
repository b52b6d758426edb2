"""Unit tests of the methods: update rules, factory validation, pytree structure, optax adapters."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import convlab
from convlab.methods import FromOptaxState, GDState, HalpernState, Method
from toy_problems import FiniteSumQuadratic, make_quadratic, make_rotation, noisy_gd

BAD_STEPS = [-1.0, 0.0, -0.0, float("nan"), float("inf"), -float("inf"), np.array([0.1, -0.1]),
             np.array([0.1, np.nan])]


@pytest.fixture
def quad(key):
    return make_quadratic(key, dim=5)


@pytest.fixture
def x0(key):
    return jax.random.normal(jax.random.fold_in(key, 7), (5,))


# --- gd ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("step_size", [0.1, 0.5, 1.3])
def test_gd_step_is_x_minus_step_times_grad(quad, x0, key, step_size):
    method = convlab.gd(step_size)
    state = method.init(x0)
    assert isinstance(state, GDState)
    assert int(state.count) == 0
    np.testing.assert_array_equal(state.params, x0)
    new, info = method.step(key, state, quad)
    np.testing.assert_array_equal(new.params, x0 - step_size * quad.grad(x0))
    assert int(new.count) == 1
    assert int(info["oracle_calls"]) == 1


def test_gd_step_on_a_pytree_iterate(key):
    @convlab.problem_dataclass
    class TwoBlocks:
        scale: jax.Array

        def grad(self, x):
            return {"a": self.scale * x["a"], "b": 2.0 * x["b"]}

    problem = TwoBlocks(jnp.asarray(3.0))
    x = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    new, _ = convlab.gd(0.1).step(key, convlab.gd(0.1).init(x), problem)
    np.testing.assert_array_equal(new.params["a"], x["a"] - 0.1 * 3.0 * x["a"])
    np.testing.assert_array_equal(new.params["b"], x["b"] - 0.1 * 2.0 * x["b"])


def test_gd_oracle_calls_count_components(key):
    problem = FiniteSumQuadratic(jax.random.normal(key, (6, 3)), n_components=6)
    _, info = convlab.gd(0.5).step(key, convlab.gd(0.5).init(jnp.zeros(3)), problem)
    assert int(info["oracle_calls"]) == 6


# --- halpern -----------------------------------------------------------------------------------


@pytest.mark.parametrize("step_size", [1.0, 0.5])
def test_halpern_steps_are_anchored_with_lambda_one_over_k_plus_2(key, step_size):
    problem = make_rotation(theta=0.7)
    x0 = jnp.array([1.0, -2.0])
    method = convlab.halpern(step_size)
    state = method.init(x0)
    assert isinstance(state, HalpernState)
    np.testing.assert_array_equal(state.anchor, x0)
    x = x0
    for k in range(6):
        lam = 1.0 / (k + 2)
        expected = lam * x0 + (1 - lam) * problem.fixed_point_map(x, step_size)
        state, info = method.step(jax.random.fold_in(key, k), state, problem)
        np.testing.assert_allclose(state.params, expected, rtol=1e-15, atol=1e-15)
        np.testing.assert_array_equal(state.anchor, x0)
        assert int(state.count) == k + 1
        assert int(info["oracle_calls"]) == 1
        x = expected


def test_halpern_first_step_is_midpoint_of_anchor_and_map(key):
    problem = make_rotation(theta=np.pi / 2)
    x0 = jnp.array([1.0, 0.0])
    state, _ = convlab.halpern().step(key, convlab.halpern().init(x0), problem)
    # T x0 = (0, 1); lambda_0 = 1/2
    np.testing.assert_allclose(state.params, [0.5, 0.5], atol=1e-15)


def test_halpern_residual_meets_lieder_bound(key):
    # ||x_N - T x_N|| <= 2 ||x_0 - x*|| / (N + 1) for nonexpansive T (Lieder 2021).
    problem = make_rotation(theta=2.0)
    x0 = jnp.array([3.0, -1.0])
    trace = convlab.run(convlab.halpern(1.0), problem, x0, key=key, num_steps=64)
    k = np.asarray(trace.k)
    bound = 2 * np.linalg.norm(x0) / (k + 1)
    assert np.all(np.asarray(trace["residual"]) <= bound * (1 + 1e-12))


# --- factory validation -------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [convlab.gd, convlab.halpern], ids=["gd", "halpern"])
@pytest.mark.parametrize("bad", BAD_STEPS, ids=repr)
def test_factories_reject_bad_step_sizes(factory, bad):
    with pytest.raises(ValueError, match="step_size"):
        factory(bad)


@pytest.mark.parametrize("factory", [convlab.gd, convlab.halpern], ids=["gd", "halpern"])
def test_factories_accept_tracers(factory):
    # inside a sweep the step size is a tracer: it cannot be checked and must pass through
    out = jax.jit(lambda s: factory(s).hparams["step_size"] * 2.0)(0.25)
    assert float(out) == 0.5


# --- Method as a pytree ---------------------------------------------------------------------------


def test_hparams_are_the_pytree_leaves():
    assert jax.tree.leaves(convlab.gd(0.1)) == [0.1]
    assert jax.tree.leaves(convlab.halpern(0.7)) == [0.7]
    assert sorted(jax.tree.leaves(noisy_gd(0.1, 0.3))) == [0.1, 0.3]
    assert jax.tree.leaves(convlab.from_optax(optax.adam, learning_rate=1e-3)) == [1e-3]
    assert jax.tree.leaves(convlab.from_optax(optax.sgd(0.1))) == []


def test_same_rule_same_treedef_different_rule_different_treedef():
    gd_a, gd_b = convlab.gd(0.1), convlab.gd(0.9)
    assert jax.tree.structure(gd_a) == jax.tree.structure(gd_b)
    assert jax.tree.structure(gd_a) != jax.tree.structure(convlab.halpern(0.1))
    assert (jax.tree.structure(convlab.from_optax(optax.adam, learning_rate=0.1))
            != jax.tree.structure(convlab.from_optax(optax.sgd, learning_rate=0.1)))


def test_tree_map_and_unflatten_rebuild_a_method():
    method = jax.tree.map(lambda s: 2 * s, convlab.gd(0.25))
    assert isinstance(method, Method)
    assert method.name == "gd" and method.hparams == {"step_size": 0.5}
    leaves, treedef = jax.tree.flatten(convlab.gd(0.25))
    assert jax.tree.unflatten(treedef, [0.75]).hparams["step_size"] == 0.75


def test_vmap_over_a_batch_of_methods(quad, x0, key):
    steps = jnp.array([0.1, 0.2, 0.3])
    batched = convlab.gd(0.1).replace(step_size=steps)

    def one(method):
        return method.step(key, method.init(x0), quad)[0].params

    out = jax.vmap(one)(batched)
    for i, s in enumerate(np.asarray(steps)):
        np.testing.assert_allclose(out[i], x0 - s * quad.grad(x0), rtol=1e-15)


def test_method_replace():
    method = noisy_gd(0.1, 0.5)
    new = method.replace(step_size=0.2)
    assert new.hparams == {"step_size": 0.2, "noise": 0.5}
    assert method.hparams == {"step_size": 0.1, "noise": 0.5}  # original untouched
    assert (new.name, new.init_fn, new.step_fn, new.options) == (
        method.name, method.init_fn, method.step_fn, method.options)
    assert jax.tree.structure(new) == jax.tree.structure(method)
    with pytest.raises(ValueError, match="momentum"):
        method.replace(momentum=0.9)


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan"), float("inf")])
def test_method_replace_validates_like_the_factory(bad):
    with pytest.raises(ValueError, match="step_size"):
        convlab.gd(0.1).replace(step_size=bad)
    with pytest.raises(ValueError, match="step_size"):
        convlab.halpern().replace(step_size=bad)


def test_method_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        convlab.gd(0.1).name = "other"


# --- optax adapters -----------------------------------------------------------------------------


def test_from_optax_sgd_factory_matches_gd_exactly(quad, x0, key):
    gamma = 0.37
    ours = convlab.run(convlab.gd(gamma), quad, x0, key=key, num_steps=30)
    wrapped = convlab.run(convlab.from_optax(optax.sgd, learning_rate=gamma), quad, x0, key=key,
                          num_steps=30)
    for name in ours.metrics:
        np.testing.assert_array_equal(wrapped[name], ours[name])
    np.testing.assert_array_equal(wrapped.oracle_calls, ours.oracle_calls)


def test_from_optax_sgd_step_matches_gd_step_exactly(quad, x0, key):
    method = convlab.from_optax(optax.sgd, learning_rate=0.3)
    state = method.init(x0)
    assert isinstance(state, FromOptaxState)
    for k in range(5):
        state, info = method.step(key, state, quad)
    x = x0
    for _ in range(5):
        x = x - 0.3 * quad.grad(x)
    np.testing.assert_array_equal(state.params, x)
    assert int(state.count) == 5 and int(info["oracle_calls"]) == 1


def test_from_optax_ready_transformation(quad, x0, key):
    method = convlab.from_optax(optax.sgd(0.3))
    assert method.hparams == {}
    ours = convlab.run(convlab.gd(0.3), quad, x0, key=key, num_steps=20)
    wrapped = convlab.run(method, quad, x0, key=key, num_steps=20)
    np.testing.assert_array_equal(wrapped["error"], ours["error"])


def test_from_optax_adam_matches_plain_optax_loop(quad, x0, key):
    lr = 0.05
    trace = convlab.run(convlab.from_optax(optax.adam, learning_rate=lr), quad, x0, key=key,
                        num_steps=25, record_every=5, metrics={"x0": lambda p, x: x[0]})
    tx = optax.adam(lr)
    params, opt_state = x0, tx.init(x0)
    expected = [params[0]]
    for k in range(1, 26):
        updates, opt_state = tx.update(quad.grad(params), opt_state, params)
        params = optax.apply_updates(params, updates)
        if k % 5 == 0:
            expected.append(params[0])
    np.testing.assert_allclose(trace["x0"], expected, rtol=1e-12, atol=1e-14)


def test_from_optax_factory_without_hparams(quad, x0, key):
    # a factory whose arguments are all bound (or defaulted) is still a factory, not a ready tx
    method = convlab.from_optax(functools.partial(optax.sgd, learning_rate=0.3))
    assert method.hparams == {}
    ours = convlab.run(convlab.gd(0.3), quad, x0, key=key, num_steps=10)
    wrapped = convlab.run(method, quad, x0, key=key, num_steps=10)
    np.testing.assert_array_equal(wrapped["error"], ours["error"])


def test_from_optax_rejects_bad_arguments():
    with pytest.raises(TypeError, match="tx"):
        convlab.from_optax(optax.sgd(0.1), learning_rate=0.2)
    with pytest.raises(TypeError, match="tx"):
        convlab.from_optax(3.0)


@pytest.mark.parametrize("method", [convlab.gd(0.3), convlab.from_optax(optax.sgd, learning_rate=0.3)],
                         ids=["gd", "from_optax"])
def test_as_optax_in_a_plain_optax_loop_matches_run(quad, x0, key, method):
    tx = convlab.as_optax(method)
    assert isinstance(tx, optax.GradientTransformation)
    params, state = x0, tx.init(x0)
    errors = [float(jnp.linalg.norm(params - quad.x_star))]
    for _ in range(30):
        updates, state = tx.update(quad.grad(params), state, params)
        params = optax.apply_updates(params, updates)
        errors.append(float(jnp.linalg.norm(params - quad.x_star)))
    trace = convlab.run(convlab.gd(0.3), quad, x0, key=key, num_steps=30)
    np.testing.assert_allclose(errors, trace["error"], rtol=1e-12)


def test_as_optax_composes_with_optax_chain(quad, x0):
    tx = optax.chain(optax.clip_by_global_norm(1e6), convlab.as_optax(convlab.gd(0.2)))
    params, state = x0, tx.init(x0)
    updates, state = tx.update(quad.grad(params), state, params)
    np.testing.assert_allclose(optax.apply_updates(params, updates),
                               x0 - 0.2 * quad.grad(x0), rtol=1e-14)


def test_as_optax_update_needs_params(x0):
    tx = convlab.as_optax(convlab.gd(0.1))
    with pytest.raises(ValueError, match="params"):
        tx.update(x0, tx.init(x0))


def test_as_optax_jits(quad, x0):
    tx = convlab.as_optax(convlab.gd(0.3))
    update = jax.jit(tx.update)
    updates, _ = update(quad.grad(x0), tx.init(x0), x0)
    np.testing.assert_allclose(updates, -0.3 * quad.grad(x0), rtol=1e-14)
