"""from_optax with static (non-numeric) arguments, schedules and line searches; as_optax refusing
methods that need more than the gradient at the current iterate."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import convlab
from convlab.methods.base import make_method
from toy_problems import make_quadratic


@pytest.fixture
def quad(key):
    return make_quadratic(key, dim=5)


@pytest.fixture
def x0(key):
    return jax.random.normal(jax.random.fold_in(key, 7), (5,))


def _optax_loop(tx, quad, x0, steps):
    params, state, out = x0, tx.init(x0), [x0]
    for _ in range(steps):
        updates, state = tx.update(quad.grad(params), state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return jnp.stack(out)


def _iterates(method, quad, x0, key, steps):
    trace = convlab.run(method, quad, x0, key=key, num_steps=steps,
                        metrics={"x0": lambda p, x: x[0]})
    return trace


# --- from_optax --------------------------------------------------------------------------------
def test_nesterov_flag_is_static_and_runs_like_plain_optax(quad, x0, key):
    method = convlab.from_optax(optax.sgd, learning_rate=0.2, momentum=0.8, nesterov=True)
    assert sorted(method.hparams) == ["learning_rate", "momentum"]
    assert dict(method.option("static")) == {"nesterov": True}
    trace = _iterates(method, quad, x0, key, 20)
    expected = _optax_loop(optax.sgd(0.2, momentum=0.8, nesterov=True), quad, x0, 20)
    np.testing.assert_allclose(trace["x0"], expected[:, 0], rtol=1e-12)
    plain = _iterates(convlab.from_optax(optax.sgd, learning_rate=0.2, momentum=0.8), quad, x0, key, 20)
    assert not np.allclose(plain["x0"], trace["x0"])  # the flag reached optax


def test_a_schedule_as_learning_rate(quad, x0, key):
    schedule = optax.exponential_decay(0.3, transition_steps=5, decay_rate=0.5)
    method = convlab.from_optax(optax.sgd, learning_rate=schedule)
    assert method.hparams == {} and dict(method.option("static"))["learning_rate"] is schedule
    trace = _iterates(method, quad, x0, key, 15)
    np.testing.assert_allclose(trace["x0"], _optax_loop(optax.sgd(schedule), quad, x0, 15)[:, 0],
                               rtol=1e-8)  # the schedule's power: jitted vs eager rounding


def test_lbfgs_with_memory_size_converges_and_counts_line_search_calls(quad, x0, key):
    method = convlab.from_optax(optax.lbfgs, memory_size=5)
    assert dict(method.option("static")) == {"memory_size": 5} and method.option("wants_value")
    trace = convlab.run(method, quad, x0, key=key, num_steps=12,
                        metrics={"x0": lambda p, x: x[0], "error": lambda p, x: jnp.linalg.norm(x - p.x_star)})
    assert float(trace["error"][-1]) < 1e-6 * float(trace["error"][0])
    tx, params = optax.lbfgs(memory_size=5), x0
    state, expected = tx.init(params), [x0[0]]

    @jax.jit
    def plain_step(params, state):  # optax's own loop, as its docs write it
        value, grad = jax.value_and_grad(quad.loss)(params)
        updates, state = tx.update(grad, state, params, value=value, grad=grad, value_fn=quad.loss)
        return optax.apply_updates(params, updates), state

    for _ in range(12):
        params, state = plain_step(params, state)
        expected.append(params[0])
    np.testing.assert_allclose(trace["x0"], expected, rtol=1e-9)
    calls = np.diff(np.asarray(trace.oracle_calls))
    assert np.all(calls >= 1) and calls.sum() > 12  # at least one line-search evaluation more


def test_numeric_arguments_stay_sweepable_beside_static_ones(quad, x0, key):
    method = convlab.from_optax(optax.sgd, learning_rate=0.1, momentum=0.5, nesterov=True)

    def make_run(k, hp):
        return convlab.run(method.replace(learning_rate=hp["lr"]), quad, x0, key=k, num_steps=10)

    traces = convlab.sweep(make_run, jax.random.split(key, 2), {"lr": [0.05, 0.2]})
    assert traces["error"].shape == (2, 2, 11)
    for i, lr in enumerate([0.05, 0.2]):
        alone = convlab.run(method.replace(learning_rate=lr), quad, x0, key=key, num_steps=10)
        np.testing.assert_allclose(traces["error"][i, 0], alone["error"], rtol=1e-10)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"from_optax\(sgd\): unknown argument 'lr'; sgd takes learning_rate"):
        convlab.from_optax(optax.sgd, lr=0.1)
    with pytest.raises(TypeError, match="learning_rate"):
        convlab.from_optax(optax.sgd)
    with pytest.raises(TypeError, match=r"argument 'b1' = \[0.9\].*hashable"):
        convlab.from_optax(optax.adam, learning_rate=0.1, b1=[0.9])
    with pytest.raises(TypeError, match="tx"):
        convlab.from_optax("sgd")


def test_a_factory_error_names_the_factory_and_arguments():
    def picky(learning_rate, *, mode="a"):
        if mode not in ("a", "b"):
            raise ValueError(f"unknown mode {mode!r}")
        return optax.sgd(learning_rate)
    with pytest.raises(ValueError, match=r"from_optax\(picky\): picky\(learning_rate=0.1, mode='c'\) failed"):
        convlab.from_optax(picky, learning_rate=0.1, mode="c")


# --- as_optax ----------------------------------------------------------------------------------
class ExtrapolatedState(NamedTuple):
    count: jax.Array
    params: Any
    previous: Any


def _extrapolated_init(method, params):
    return ExtrapolatedState(jnp.zeros((), jnp.int32), params, params)


def _extrapolated_step(method, key, state, problem):
    y = state.params + 0.5 * (state.params - state.previous)  # the gradient is taken at y
    params = y - method.hparams["step"] * problem.grad(y)
    return ExtrapolatedState(state.count + 1, params, state.params), {"oracle_calls": 1}


def _twice_step(method, key, state, problem):
    g = problem.grad(state.params)
    g = g + problem.grad(state.params)
    return state._replace(count=state.count + 1, params=state.params - 0.1 * g), {"oracle_calls": 2}


def test_as_optax_refuses_a_gradient_away_from_the_iterate(x0):
    method = make_method("extrapolated", _extrapolated_init, _extrapolated_step, step=0.1)
    tx = convlab.as_optax(method)
    with pytest.raises(ValueError, match=r"as_optax\(extrapolated\): the update needs problem.grad "
                                         "at a point other than the current iterate"):
        tx.update(x0, tx.init(x0), x0)
    with pytest.raises(ValueError, match="other than the current iterate"):  # also while jitting
        jax.jit(tx.update)(x0, tx.init(x0), x0)


def test_as_optax_refuses_two_gradients_and_other_oracles(x0):
    twice = make_method("twice", _extrapolated_init, _twice_step)
    tx = convlab.as_optax(twice)
    with pytest.raises(ValueError, match="more than once"):
        tx.update(x0, tx.init(x0), x0)
    tx = convlab.as_optax(convlab.halpern(0.5))
    with pytest.raises(ValueError, match=r"as_optax\(halpern\): the update needs problem.fixed_point_map"):
        tx.update(x0, tx.init(x0), x0)
    with pytest.raises(TypeError, match="method"):
        convlab.as_optax(optax.sgd(0.1))


def test_as_optax_still_accepts_gradient_methods(quad, x0, key):
    for method in (convlab.gd(0.3), convlab.from_optax(optax.adam, learning_rate=0.05),
                   convlab.from_optax(optax.sgd, learning_rate=0.2, momentum=0.8, nesterov=True)):
        got = _optax_loop(convlab.as_optax(method), quad, x0, 10)
        trace = _iterates(method, quad, x0, key, 10)
        np.testing.assert_allclose(got[:, 0], trace["x0"], rtol=1e-12)
