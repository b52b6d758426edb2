"""Unit tests of ``convlab.run``: record axis, metrics, divergence, jit = eager, determinism,
no recompilation, validation before compilation, progress bar."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.trace import Trace
from toy_problems import (DiagonalQuadratic, FiniteSumQuadratic, NoMetrics, Rotation,
                          count_compiles, error_metric, make_quadratic, noisy_gd, quadratic_from)

run_module = importlib.import_module("convlab.run")  # convlab.run is the function


def cache_size():
    return run_module._run_compiled._cache_size()


@pytest.fixture
def quad(key):
    return make_quadratic(key, dim=4)


@pytest.fixture
def x0():
    return jnp.array([1.0, -2.0, 0.5, 3.0])


# --- the record axis -----------------------------------------------------------------------------


@pytest.mark.parametrize("num_steps, record_every", [(12, 1), (12, 3), (12, 12), (30, 5)])
def test_record_axis_k_and_oracle_calls(quad, x0, key, num_steps, record_every):
    trace = convlab.run(convlab.gd(0.2), quad, x0, key=key, num_steps=num_steps,
                        record_every=record_every)
    assert isinstance(trace, Trace)
    num_records = num_steps // record_every + 1
    assert trace.num_records == num_records
    assert trace.batch_shape == ()
    np.testing.assert_array_equal(trace.k, np.arange(0, num_steps + 1, record_every))
    np.testing.assert_array_equal(trace.oracle_calls, trace.k)  # one oracle call per step
    for values in trace.metrics.values():
        assert np.shape(values) == (num_records,)
    assert np.shape(trace.diverged) == ()


def test_k0_is_recorded_at_x0(quad, x0, key):
    trace = convlab.run(convlab.gd(0.2), quad, x0, key=key, num_steps=6, record_every=3)
    assert int(trace.k[0]) == 0 and int(trace.oracle_calls[0]) == 0
    np.testing.assert_allclose(trace["error"][0], jnp.linalg.norm(x0 - quad.x_star), rtol=1e-15)
    np.testing.assert_allclose(trace["loss"][0], quad.loss(x0), rtol=1e-15)


def test_oracle_calls_accumulate_component_calls(key):
    problem = FiniteSumQuadratic(jax.random.normal(key, (5, 3)), n_components=5)
    trace = convlab.run(convlab.gd(0.5), problem, jnp.zeros(3), key=key, num_steps=8,
                        record_every=2)
    np.testing.assert_array_equal(trace.oracle_calls, 5 * np.arange(0, 9, 2))
    assert jnp.issubdtype(trace.oracle_calls.dtype, jnp.integer)


def test_metrics_default_to_problem_default_metrics(quad, x0, key):
    trace = convlab.run(convlab.gd(0.2), quad, x0, key=key, num_steps=4)
    assert set(trace.metrics) == set(quad.default_metrics()) == {"error", "loss", "grad_norm"}
    x1 = x0 - 0.2 * quad.grad(x0)
    for name, fn in quad.default_metrics().items():
        np.testing.assert_allclose(trace[name][1], fn(quad, x1), rtol=1e-14)


def test_explicit_metrics_replace_the_defaults(quad, x0, key):
    trace = convlab.run(convlab.gd(0.2), quad, x0, key=key, num_steps=4,
                        metrics={"first": lambda p, x: x[0]})
    assert set(trace.metrics) == {"first"}
    np.testing.assert_allclose(trace["first"][0], x0[0])
    with pytest.raises(KeyError, match="error"):
        trace["error"]


def test_metrics_match_a_closed_form_gd_trajectory(key):
    # f = 1/2 (2 x_1^2 + 0.5 x_2^2), step 1/2: x_1 -> 0 in one step, x_2 contracts by 3/4
    problem = quadratic_from([2.0, 0.5], [0.0, 0.0])
    trace = convlab.run(convlab.gd(0.5), problem, jnp.array([1.0, 1.0]), key=key, num_steps=40,
                        record_every=4)
    k = np.asarray(trace.k)
    expected = np.where(k == 0, np.sqrt(2.0), 0.75**k)
    np.testing.assert_allclose(trace["error"], expected, rtol=1e-13)


def test_trace_memory_scales_with_records_not_steps(key):
    problem = make_quadratic(key, dim=64)
    x0 = jnp.zeros(64)
    # abstract evaluation: a 10^8-step run records 101 scalars per metric
    shapes = jax.eval_shape(lambda: convlab.run(convlab.gd(0.1), problem, x0, key=key,
                                                num_steps=10**8, record_every=10**6))
    assert all(leaf.shape == (101,) for leaf in jax.tree.leaves((shapes.k, shapes.metrics)))
    assert shapes.diverged.shape == ()

    metrics = run_module.resolve_metrics(problem, None)

    def memory(num_steps, record_every):
        compiled = run_module._run_compiled.lower(
            convlab.gd(0.1), problem, x0, key, run_module.BLOWUP, num_steps=num_steps, record_every=record_every,
            metrics=metrics, progress=False).compile()
        return compiled.memory_analysis()

    short, long = memory(100, 1), memory(20_000, 200)  # both 101 records
    if short is None or long is None:
        pytest.skip("memory_analysis unavailable on this backend")
    assert long.output_size_in_bytes == short.output_size_in_bytes
    # no iterate history: 20k iterates of 64 doubles would be ~10 MB
    assert long.temp_size_in_bytes < 4 * max(short.temp_size_in_bytes, 4096)


# --- divergence ------------------------------------------------------------------------------------


def first_nonfinite_step(diag, x_star, x0, step_size, num_steps):
    """Manual NumPy gd loop: the first k whose iterate x_k is not finite, or -1."""
    x = np.array(x0, dtype=np.float64)
    with np.errstate(all="ignore"):
        for k in range(1, num_steps + 1):
            x = x - step_size * (diag * (x - x_star))
            if not np.all(np.isfinite(x)):
                return k
    return -1


@pytest.mark.parametrize("step_size", [100.0, 3.0, 1e6])
def test_divergence_flag_is_first_nonfinite_step(key, step_size):
    diag, x_star = np.array([10.0, 1.0]), np.array([1.0, -1.0])
    problem = quadratic_from(diag, x_star)
    x0 = np.zeros(2)
    num_steps = 400
    expected = first_nonfinite_step(diag, x_star, x0, step_size, num_steps)
    assert 0 < expected < num_steps  # the configuration does diverge (step >> 2/L = 0.2)
    trace = convlab.run(convlab.gd(step_size), problem, jnp.asarray(x0), key=key,
                        num_steps=num_steps, record_every=10, blowup=None)   # the non-finite rule
    assert int(trace.diverged) == expected
    blown = convlab.run(convlab.gd(step_size), problem, jnp.asarray(x0), key=key,
                        num_steps=num_steps, record_every=10)              # + the blow-up rule
    assert 0 < int(blown.diverged) <= expected
    after = np.asarray(trace.k) >= expected
    assert not np.any(np.isfinite(np.asarray(trace["error"])[after]))
    # the metric may overflow (||x|| of a huge finite x) before the iterate does, never after
    assert np.isfinite(trace["error"][0])


def test_convergent_run_is_not_flagged(quad, x0, key):
    trace = convlab.run(convlab.gd(1.0 / float(quad.L)), quad, x0, key=key, num_steps=200,
                        record_every=10)
    assert int(trace.diverged) == -1
    assert float(trace["error"][-1]) < 1e-10


def test_nonfinite_metric_with_finite_iterate_is_not_divergence(quad, x0, key):
    trace = convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=5,
                        metrics={"log0": lambda p, x: jnp.log(x[0] - x[0])})
    assert int(trace.diverged) == -1
    assert np.all(np.isneginf(trace["log0"]))


# --- float32 runs (x64 enabled, as in every entry point) -------------------------------------------


@pytest.mark.parametrize("step_size", [0.1, np.float64(0.1), jnp.asarray(0.1, jnp.float64)],
                         ids=["python", "numpy-f64", "jax-f64"])
def test_float32_gd_run_stays_float32(key, step_size):
    problem = DiagonalQuadratic(jnp.array([2.0, 0.5], jnp.float32),
                                jnp.array([1.0, -1.0], jnp.float32), dim=2)
    x0 = jnp.zeros(2, jnp.float32)
    trace = convlab.run(convlab.gd(step_size), problem, x0, key=key, num_steps=20)
    reference = convlab.run(convlab.gd(0.1), problem, x0, key=key, num_steps=20)
    assert trace["error"].dtype == jnp.float32
    np.testing.assert_array_equal(trace["error"], reference["error"])


@pytest.mark.parametrize("step_size", [1.0, np.float64(0.5)], ids=["python", "numpy-f64"])
def test_float32_halpern_run_stays_float32(key, step_size):
    problem = Rotation(jnp.asarray(0.5, jnp.float32), jnp.zeros(2, jnp.float32))
    trace = convlab.run(convlab.halpern(step_size), problem, jnp.ones(2, jnp.float32), key=key,
                        num_steps=20)
    assert trace["residual"].dtype == jnp.float32


# --- jit equals eager, determinism --------------------------------------------------------------


def eager_trace(method, problem, x0, key, num_steps, record_every, metrics):
    state = method.init(x0)
    records = {name: [fn(problem, x0)] for name, fn in metrics.items()}
    for k in range(num_steps):
        state, _ = method.step(jax.random.fold_in(key, k), state, problem)
        if (k + 1) % record_every == 0:
            for name, fn in metrics.items():
                records[name].append(fn(problem, state.params))
    return {name: np.asarray(v) for name, v in records.items()}


@pytest.mark.parametrize("method", [convlab.gd(0.3), noisy_gd(0.2, 0.5)], ids=["gd", "noisy_gd"])
def test_jit_equals_eager_python_loop(quad, x0, key, method):
    metrics = quad.default_metrics()
    trace = convlab.run(method, quad, x0, key=key, num_steps=24, record_every=4)
    expected = eager_trace(method, quad, x0, key, 24, 4, metrics)
    for name in metrics:
        np.testing.assert_allclose(trace[name], expected[name], rtol=1e-12, atol=1e-300)


def test_same_key_same_config_is_bitwise_identical(quad, x0, key):
    method = noisy_gd(0.2, 0.5)
    first = convlab.run(method, quad, x0, key=key, num_steps=50, record_every=5)
    second = convlab.run(noisy_gd(0.2, 0.5), quad, x0, key=jax.random.key(0), num_steps=50,
                         record_every=5)
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second)):
        np.testing.assert_array_equal(a, b)
    other = convlab.run(method, quad, x0, key=jax.random.key(1), num_steps=50, record_every=5)
    assert not np.array_equal(other["error"], first["error"])


# --- no recompilation -------------------------------------------------------------------------------


def test_no_recompilation_for_new_numbers(key):
    num_steps, record_every = 40, 8

    def call(step_size, problem_seed, run_seed, start):
        problem = make_quadratic(jax.random.key(problem_seed), dim=3)
        x0 = jnp.full((3,), start)
        key_ = jax.random.key(run_seed)
        jax.block_until_ready((problem, x0, key_))  # eager array creation may compile; not ours
        with count_compiles() as compiles:
            before = cache_size()
            trace = convlab.run(noisy_gd(step_size, 0.1), problem, x0, key=key_,
                                num_steps=num_steps, record_every=record_every)
            jax.block_until_ready(trace)
        return compiles[0], cache_size() - before, trace

    call(0.1, 0, 0, 1.0)  # warm up: compiles (unless an earlier test already did)
    compiles, new_entries, first = call(0.3, 1, 2, -2.0)  # new hparams, problem data, key, x0
    assert (compiles, new_entries) == (0, 0)
    compiles, new_entries, second = call(0.05, 1, 2, -2.0)
    assert (compiles, new_entries) == (0, 0)
    assert not np.array_equal(first["error"], second["error"])  # the new value was used


@pytest.mark.parametrize("values", [(0.1, np.float64(0.2), 1, np.float32(0.3), jnp.float64(0.4))])
def test_no_recompilation_across_python_and_numpy_scalars(key, values):
    """gd(0.1), gd(np.float64(0.2)), gd(1): one program (hparams are normalised to float64)."""
    problem = make_quadratic(key, dim=3)
    x0 = jnp.ones(3)
    jax.block_until_ready(convlab.run(convlab.gd(values[0]), problem, x0, key=key, num_steps=6))
    for value in values[1:]:
        with count_compiles() as compiles:
            jax.block_until_ready(convlab.run(convlab.gd(value), problem, x0, key=key, num_steps=6))
        assert compiles[0] == 0, value


def test_compile_counter_sees_static_changes(key):
    # positive control for the test above: a new static argument must compile
    problem = make_quadratic(key, dim=3)
    x0 = jnp.ones(3)
    convlab.run(convlab.gd(0.1), problem, x0, key=key, num_steps=7)
    with count_compiles() as compiles:
        before = cache_size()
        convlab.run(convlab.gd(0.1), problem, x0, key=key, num_steps=9)
    assert compiles[0] >= 1 and cache_size() == before + 1


# --- bad input, rejected before compilation ----------------------------------------------------


def _raw_key():
    return jax.random.PRNGKey(0)


BAD_INPUTS = [
    pytest.param(dict(num_steps=0), ValueError, "num_steps", id="num_steps=0"),
    pytest.param(dict(num_steps=-5), ValueError, "num_steps", id="num_steps<0"),
    pytest.param(dict(num_steps=10.0), TypeError, "num_steps", id="num_steps-float"),
    pytest.param(dict(num_steps=True), TypeError, "num_steps", id="num_steps-bool"),
    pytest.param(dict(num_steps=12, record_every=5), ValueError, "record_every", id="not-divisible"),
    pytest.param(dict(record_every=0), ValueError, "record_every", id="record_every=0"),
    pytest.param(dict(key="raw"), TypeError, "key", id="raw-PRNGKey"),
    pytest.param(dict(key="batched"), ValueError, "key", id="batched-key"),
    pytest.param(dict(key=0), TypeError, "key", id="int-key"),
    pytest.param(dict(x0="short"), ValueError, "x0", id="x0-wrong-length"),
    pytest.param(dict(x0="column"), ValueError, "x0", id="x0-wrong-rank"),
    pytest.param(dict(x0="broadcast"), ValueError, "x0", id="x0-broadcasts"),
    pytest.param(dict(x0="int"), ValueError, "x0", id="x0-int-dtype"),
    pytest.param(dict(x0="nan"), ValueError, "x0", id="x0-nan"),
    pytest.param(dict(x0="inf"), ValueError, "x0", id="x0-inf"),
    pytest.param(dict(method="function"), TypeError, "method", id="method-not-Method"),
    pytest.param(dict(metrics={}), ValueError, "metrics", id="metrics-empty"),
    pytest.param(dict(metrics=[error_metric]), ValueError, "metrics", id="metrics-list"),
    pytest.param(dict(metrics={"error": 3.0}), TypeError, "metrics", id="metrics-not-callable"),
]


@pytest.mark.parametrize("override, error, name", BAD_INPUTS)
def test_bad_input_raises_before_compilation(quad, x0, key, override, error, name):
    x0s = {"short": jnp.zeros(3), "column": jnp.zeros((4, 1)), "broadcast": jnp.zeros(1),
           "int": jnp.zeros(4, jnp.int64), "nan": x0.at[1].set(jnp.nan), "inf": x0.at[2].set(jnp.inf)}
    keys = {"raw": _raw_key(), "batched": jax.random.split(key, 2)}
    kwargs = dict(method=convlab.gd(0.1), problem=quad, x0=x0, key=key, num_steps=12,
                  record_every=1, metrics=None)
    kwargs.update(override)
    if isinstance(kwargs["x0"], str):
        kwargs["x0"] = x0s[kwargs["x0"]]
    if isinstance(kwargs["key"], str):
        kwargs["key"] = keys[kwargs["key"]]
    if kwargs["method"] == "function":
        kwargs["method"] = lambda key, state, problem: state
    jax.block_until_ready((x0s, keys))  # creating the inputs may compile; that is not run's doing
    method, problem, x = kwargs.pop("method"), kwargs.pop("problem"), kwargs.pop("x0")
    with count_compiles() as compiles:
        before = cache_size()
        with pytest.raises(error, match=name):
            convlab.run(method, problem, x, **kwargs)
    assert compiles[0] == 0 and cache_size() == before


def test_problem_without_default_metrics_needs_metrics(key):
    problem = NoMetrics(jnp.ones(2))
    with pytest.raises(ValueError, match="metrics"):
        convlab.run(convlab.gd(0.1), problem, jnp.zeros(2), key=key, num_steps=3)
    trace = convlab.run(convlab.gd(0.1), problem, jnp.zeros(2), key=key, num_steps=3,
                        metrics={"error": error_metric})
    assert trace.num_records == 4


def test_problem_without_the_needed_oracle(key):
    # halpern needs fixed_point_map, which the quadratic lacks: a clear error, not a crash
    problem = make_quadratic(key, dim=2)
    with pytest.raises((ValueError, AttributeError), match="fixed_point_map"):
        convlab.run(convlab.halpern(1.0), problem, jnp.zeros(2), key=key, num_steps=3)


# --- progress bar -----------------------------------------------------------------------------------


def test_progress_bar_goes_to_stderr(quad, x0, key, capsys):
    convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=50, record_every=5, progress=True)
    captured = capsys.readouterr()
    assert "run gd" in captured.err and "100%" in captured.err and "[" in captured.err
    assert captured.out == ""


def test_no_progress_bar_by_default_or_when_off(quad, x0, key, capsys):
    convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=50, record_every=5, progress=False)
    convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=50, record_every=5)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_does_not_change_the_trace(quad, x0, key, capsys):
    # the in-loop callback changes the compiled program, so XLA may fuse differently: equal to
    # rounding, not necessarily bitwise
    with_bar = convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=20, progress=True)
    without = convlab.run(convlab.gd(0.1), quad, x0, key=key, num_steps=20, progress=False)
    np.testing.assert_array_equal(with_bar.k, without.k)
    np.testing.assert_array_equal(with_bar.diverged, without.diverged)
    for name in without.metrics:
        np.testing.assert_allclose(with_bar[name], without[name], rtol=1e-14)
