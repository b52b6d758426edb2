"""Unit tests of ``convlab.sweep``: axes, vmap = loop, divergence isolation, validation, no
recompilation."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.sweep import grid_points

sweep_module = sys.modules["convlab.sweep"]  # the name convlab.sweep is the function
from toy_problems import count_compiles, make_quadratic, noisy_gd, quadratic_from

NUM_STEPS, RECORD_EVERY = 24, 6
NUM_RECORDS = NUM_STEPS // RECORD_EVERY + 1


def make_run(key, hparams):
    """One run: a random problem (from the key) and noisy gd with the swept hyperparameters."""
    k_problem, k_run = jax.random.split(key)
    problem = make_quadratic(k_problem, dim=3)
    return convlab.run(noisy_gd(hparams["step_size"], hparams["noise"]), problem, jnp.ones(3),
                       key=k_run, num_steps=NUM_STEPS, record_every=RECORD_EVERY)


def make_run_fixed_noise(key, hparams):
    return make_run(key, {"step_size": hparams["step_size"], "noise": 0.1})


def make_seed_run(key, hparams):
    assert hparams == {}
    return make_run(key, {"step_size": 0.3, "noise": 0.2})


def diverging_run(key, hparams):
    """gd on a fixed quadratic with L = 10: steps above 0.2 diverge."""
    problem = quadratic_from([10.0, 1.0], [1.0, -1.0])
    return convlab.run(convlab.gd(hparams["step_size"]), problem,
                       jax.random.normal(key, (2,)), key=key, num_steps=200, record_every=10)


def assert_trace_close(batched, single, rtol=1e-12):
    np.testing.assert_array_equal(batched.k, single.k)
    np.testing.assert_array_equal(batched.oracle_calls, single.oracle_calls)
    np.testing.assert_array_equal(batched.diverged, single.diverged)
    assert set(batched.metrics) == set(single.metrics)
    for name in single.metrics:
        np.testing.assert_allclose(batched[name], single[name], rtol=rtol, atol=1e-300)


@pytest.fixture
def keys(key):
    return jax.random.split(key, 3)


GRID = {"step_size": np.array([0.1, 0.35]), "noise": np.array([0.0, 0.3, 1.0])}


@pytest.fixture(scope="module")
def swept():
    """One sweep shared by the tests below: grid 2 x 3, 4 seeds."""
    keys = jax.random.split(jax.random.key(0), 4)
    return keys, convlab.sweep(make_run, keys, GRID)


def test_leading_axes_are_grid_then_seed(swept):
    _, trace = swept
    assert trace.batch_shape == (2, 3, 4)
    assert trace.k.shape == trace.oracle_calls.shape == (2, 3, 4, NUM_RECORDS)
    for values in trace.metrics.values():
        assert values.shape == (2, 3, 4, NUM_RECORDS)
    assert trace.diverged.shape == (2, 3, 4)
    np.testing.assert_array_equal(trace.k[1, 0, 2], np.arange(0, NUM_STEPS + 1, RECORD_EVERY))


def test_sweep_equals_python_loop_of_single_runs(swept):
    keys, trace = swept
    for i, step_size in enumerate(GRID["step_size"]):
        for j, noise in enumerate(GRID["noise"]):
            for s in range(keys.shape[0]):
                single = make_run(keys[s], {"step_size": float(step_size), "noise": float(noise)})
                batched = jax.tree.map(lambda x: x[i, j, s], trace)
                assert_trace_close(batched, single)


def test_seeds_differ_and_grid_points_differ(swept):
    _, trace = swept
    err = np.asarray(trace["error"])
    assert not np.allclose(err[0, 1, 0], err[0, 1, 1])  # seeds
    assert not np.allclose(err[0, 1, 0], err[1, 1, 0])  # step sizes
    assert not np.allclose(err[0, 1, 0], err[0, 2, 0])  # noise levels


@pytest.mark.parametrize("grid", [None, {}], ids=["None", "empty-mapping"])
def test_seed_only_sweep(keys, grid):
    trace = convlab.sweep(make_seed_run, keys, grid)
    assert trace.batch_shape == (3,)
    assert trace["error"].shape == (3, NUM_RECORDS)
    for s in range(3):
        assert_trace_close(jax.tree.map(lambda x: x[s], trace), make_seed_run(keys[s], {}))


def test_grid_points_are_the_cartesian_product_in_c_order():
    points = grid_points({"a": [1.0, 2.0], "b": [10.0, 20.0, 30.0]})
    np.testing.assert_array_equal(points["a"], [1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(points["b"], [10, 20, 30, 10, 20, 30])
    assert grid_points({}) == {}


def test_diverging_grid_point_is_flagged_and_does_not_poison(key):
    keys = jax.random.split(key, 4)
    steps = np.array([0.05, 0.15, 50.0, 0.1])  # 50 >> 2/L = 0.2 diverges
    trace = convlab.sweep(diverging_run, keys, {"step_size": steps})
    diverged = np.asarray(trace.diverged)
    assert np.all(diverged[2] > 0)
    assert np.all(diverged[[0, 1, 3]] == -1)
    for i, step_size in enumerate(steps):
        for s in range(4):
            single = diverging_run(keys[s], {"step_size": float(step_size)})
            assert_trace_close(jax.tree.map(lambda x: x[i, s], trace), single)
    for name in trace.metrics:
        assert np.all(np.isfinite(np.asarray(trace[name])[[0, 1, 3]]))


def test_no_recompilation_for_new_grid_values_or_keys(key):
    keys = jax.random.split(key, 2)
    other_keys = jax.random.split(jax.random.key(42), 2)
    grid = {"step_size": np.array([0.1, 0.2, 0.3])}
    new_grid = {"step_size": np.array([0.05, 0.25, 0.4])}
    first = convlab.sweep(make_run_fixed_noise, keys, grid)
    jax.block_until_ready((other_keys, jnp.asarray(new_grid["step_size"])))
    with count_compiles() as compiles:
        second = convlab.sweep(make_run_fixed_noise, other_keys, new_grid)
    assert compiles[0] == 0
    assert not np.allclose(first["error"], second["error"])
    # positive control: a different number of seeds is a new shape, hence one compile
    more_keys = jax.random.split(key, 5)
    with count_compiles() as compiles:
        convlab.sweep(make_run_fixed_noise, more_keys, new_grid)
    assert compiles[0] >= 1


def float32_run(key, hparams):
    problem = make_quadratic(key, dim=3)
    problem = jax.tree.map(lambda a: a.astype(jnp.float32), problem)
    return convlab.run(convlab.gd(hparams["step_size"]), problem, jnp.ones(3, jnp.float32),
                       key=key, num_steps=12, record_every=3)


def test_float32_sweep_stays_float32(keys):
    # the grid arrives as float64 (x64 is on); a float32 problem must still run in float32
    trace = convlab.sweep(float32_run, keys, {"step_size": [0.1, 0.4]})
    assert trace["error"].dtype == jnp.float32
    for i, step_size in enumerate([0.1, 0.4]):
        single = float32_run(keys[1], {"step_size": step_size})
        np.testing.assert_allclose(trace["error"][i, 1], single["error"], rtol=1e-6)


BAD_GRIDS = [
    pytest.param({"step_size": np.ones((2, 2))}, ValueError, id="2-D"),
    pytest.param({"step_size": []}, ValueError, id="empty"),
    pytest.param({"step_size": [0.1, float("nan")]}, ValueError, id="nan"),
    pytest.param({"step_size": [0.1, float("inf")]}, ValueError, id="inf"),
    pytest.param({"step_size": 0.1}, ValueError, id="scalar"),
    pytest.param({"step_size": ["a", "b"]}, ValueError, id="strings"),
    pytest.param({1: [0.1, 0.2]}, TypeError, id="non-string-key"),
    pytest.param([0.1, 0.2], TypeError, id="not-a-mapping"),
]


@pytest.mark.parametrize("grid, error", BAD_GRIDS)
def test_bad_grid_raises_naming_grid(keys, grid, error):
    with count_compiles() as compiles:
        with pytest.raises(error, match="grid"):
            convlab.sweep(make_run_fixed_noise, keys, grid)
    assert compiles[0] == 0


def test_bad_keys_raise_naming_keys(key):
    bad = {"raw": jax.random.split(jax.random.PRNGKey(0), 3),
           "single": key,
           "2-D": jax.random.split(key, (2, 3)),
           "ints": np.arange(3)}
    jax.block_until_ready(bad)
    for label, keys in bad.items():
        with count_compiles() as compiles:
            with pytest.raises((TypeError, ValueError), match="keys"):
                convlab.sweep(make_run_fixed_noise, keys, {"step_size": [0.1]})
        assert compiles[0] == 0, label


def test_make_run_must_be_callable(keys):
    with pytest.raises(TypeError, match="make_run"):
        convlab.sweep("not a function", keys, None)


def test_sweep_progress_bar(keys, capsys):
    convlab.sweep(make_run_fixed_noise, keys, {"step_size": [0.1, 0.2]}, progress=True)
    err = capsys.readouterr().err
    assert "sweep x6" in err and "100%" in err
    convlab.sweep(make_run_fixed_noise, keys, {"step_size": [0.1, 0.2]})
    assert capsys.readouterr().err == ""


# --- scale-out: chunks and devices ---------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 5, 24, 100])
def test_chunked_sweep_equals_unchunked(swept, chunk_size):
    keys, whole = swept  # 2 x 3 grid x 4 seeds = 24 runs; 5 leaves a ragged last chunk
    chunked = convlab.sweep(make_run, keys, GRID, chunk_size=chunk_size)
    assert_trace_close(chunked, whole, rtol=1e-14)


def test_chunked_sweep_compiles_once_and_shows_a_bar_per_chunk(swept, capsys):
    keys, _ = swept
    convlab.sweep(make_run, keys, GRID, chunk_size=7)  # warm: ragged last chunk is padded
    with count_compiles() as compiles:
        convlab.sweep(make_run, keys, GRID, chunk_size=7, progress=True)
    assert compiles[0] == 0
    assert "in chunks of 7" in capsys.readouterr().err


def test_auto_chunking_splits_a_sweep_too_big_for_the_budget(swept, monkeypatch, capsys):
    keys, whole = swept
    one_run = sum(leaf.nbytes for leaf in jax.tree.leaves(jax.tree.map(lambda x: x[0, 0, 0], whole)))
    monkeypatch.setattr(sweep_module, "memory_budget", lambda: 5 * one_run)  # room for 5 runs
    auto = convlab.sweep(make_run, keys, GRID, progress=True)
    assert "in chunks of 5" in capsys.readouterr().err
    assert isinstance(auto.k, np.ndarray)  # gathered on the host chunk by chunk
    assert_trace_close(auto, whole, rtol=1e-14)


def test_auto_chunking_runs_at_once_when_the_results_fit(swept, capsys):
    keys, whole = swept
    auto = convlab.sweep(make_run, keys, GRID, progress=True)
    assert "chunks" not in capsys.readouterr().err
    assert_trace_close(auto, whole, rtol=0)


@pytest.mark.parametrize("result_bytes, total, budget, multiple, want", [
    (100, 10, 100, 1, None),     # fits exactly
    (1000, 10, 250, 1, 2),       # 100 bytes a run, room for 2
    (1000, 10, 250, 4, 4),       # at least one run per device
    (8000, 8, 3500, 2, 2),       # 1000 a run: 3 fit, rounded down to the device count
])
def test_auto_chunk_size(result_bytes, total, budget, multiple, want):
    assert sweep_module.auto_chunk_size(result_bytes, total, budget, multiple) == want


def test_memory_budget_is_a_fraction_of_real_memory():
    budget = sweep_module.memory_budget()
    assert 0 < budget < os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.mark.parametrize("count", [0, 1, 7, 64])
@pytest.mark.parametrize("processes", [1, 2, 3, 8])
def test_host_slices_are_disjoint_and_cover_everything(monkeypatch, count, processes):
    monkeypatch.setattr(jax, "process_count", lambda: processes)
    shares = []
    for index in range(processes):
        monkeypatch.setattr(jax, "process_index", lambda index=index: index)
        shares.append(list(range(count))[sweep_module.host_slice(count)])
    assert sum(shares, []) == list(range(count))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_two_hosts_write_their_shares_and_the_merged_store_holds_the_whole_sweep(
        swept, monkeypatch, tmp_path):
    """The multi-host recipe of the README, with two processes simulated one after the other."""
    keys, whole = swept
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    for index in range(2):
        monkeypatch.setattr(jax, "process_index", lambda index=index: index)
        share = sweep_module.host_slice(len(keys))
        part = convlab.sweep(make_run, keys[share], GRID)
        convlab.Store(tmp_path / f"host{index}").save(
            {"sweep": "test", "seeds": [share.start, share.stop]}, part)
    merged = convlab.Store(tmp_path / "merged")
    assert merged.merge_from(tmp_path / "host0") + merged.merge_from(tmp_path / "host1") == 2
    parts = [merged.load({"sweep": "test", "seeds": s}) for s in ([0, 2], [2, 4])]
    for name in whole.metrics:
        np.testing.assert_allclose(np.concatenate([p[name] for p in parts], axis=-2),
                                   whole[name], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_chunk_size_raises_naming_it(keys, bad):
    with pytest.raises((ValueError, TypeError), match="chunk_size"):
        convlab.sweep(make_seed_run, keys, None, chunk_size=bad)


_SHARDED_SCRIPT = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, {tests!r})
import numpy as np
import convlab
import test_sweep as t
from convlab.sweep import _batch_sharding
assert len(jax.devices()) == 4 and len(_batch_sharding().device_set) == 4, jax.devices()
keys = jax.random.split(jax.random.key(0), 3)  # 2 x 3 grid x 3 seeds = 18 runs: padded to 20
trace = convlab.sweep(t.make_run, keys, t.GRID)
chunked = convlab.sweep(t.make_run, keys, t.GRID, chunk_size=5)  # chunks padded to 8
np.savez({out!r}, error=trace["error"], chunked=chunked["error"], diverged=trace.diverged)
"""


def test_sharded_sweep_on_four_host_devices_equals_one_device(tmp_path):
    """XLA_FLAGS forces 4 CPU devices in a fresh process; the batch axis is sharded over them."""
    import os
    import subprocess
    import sys

    out = tmp_path / "sharded.npz"
    script = _SHARDED_SCRIPT.format(tests=os.path.dirname(__file__), out=str(out))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}  # forced host devices, also on a machine with a GPU
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = np.load(out)
    single = convlab.sweep(make_run, jax.random.split(jax.random.key(0), 3), GRID)
    np.testing.assert_allclose(sharded["error"], single["error"], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(sharded["chunked"], single["error"], rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal(sharded["diverged"], single.diverged)


# --- issue 15, item 10: divergence past a blow-up threshold; grid values validated ---------------
def blowing_up_run(key, hparams):
    """gd at 2.5/L on a fixed quadratic (L = 10) from x0 − x* = (1, 2): the loss grows like
    5 · 2.25^k (finite for ~870 steps) and passes 1e10 × its start 7 at k ≈ 29 (record 30)."""
    problem = quadratic_from([10.0, 1.0], [1.0, -1.0])
    return convlab.run(convlab.gd(hparams["step_size"]), problem, jnp.array([2.0, 1.0]), key=key,
                       num_steps=200, record_every=10)


def test_finite_blow_up_is_flagged_and_left_out_of_the_fit(key):
    keys = jax.random.split(key, 3)
    trace = convlab.sweep(blowing_up_run, keys, {"step_size": np.array([0.1, 0.25])})
    err = np.asarray(trace["error"])
    assert np.all(np.isfinite(err)) and err[1].max() > 1e10 * err[1, :, 0].max()  # finite blow-up
    diverged = np.asarray(trace.diverged)
    assert np.all(diverged[0] == -1) and np.all(diverged[1] == 30)
    pooled_err = np.concatenate([err[0], err[1]])
    pooled = convlab.fit_rate(np.asarray(trace.k)[0, 0], pooled_err, kind="linear",
                              diverged=np.concatenate([diverged[0], diverged[1]]))
    alone = convlab.fit_rate(np.asarray(trace.k)[0, 0], err[0], kind="linear", diverged=diverged[0])
    assert pooled.rate == pytest.approx(alone.rate, rel=1e-12)   # the blown-up seeds are left out


def test_blowup_threshold_is_an_argument(key):
    problem = quadratic_from([10.0, 1.0], [1.0, -1.0])
    run = lambda blowup: convlab.run(convlab.gd(0.25), problem, jnp.array([2.0, 1.0]), key=key,
                                     num_steps=200, record_every=10, blowup=blowup)
    assert int(run(None).diverged) == -1                # only non-finite iterates count
    assert int(run(1e3).diverged) == 10 and int(run(1e10).diverged) == 30   # 2.25^k · 5 > 7·blowup
    for bad in (0.5, float("nan"), "x"):
        with pytest.raises((TypeError, ValueError), match="blowup"):
            run(bad)


def test_grid_value_rejected_by_the_methods_validator_raises_naming_it(key):
    keys = jax.random.split(key, 2)
    with pytest.raises(ValueError, match=r"step_size must be finite and > 0.*step_size=-0\.1"):
        convlab.sweep(diverging_run, keys, {"step_size": np.array([0.1, -0.1])})


def derived_step_run(key, hparams, data):
    """The step derived from the grid value and the problem (h / L): still validated."""
    return convlab.run(convlab.gd(hparams["h"] / data.L), data, jnp.ones(2), key=key,
                       num_steps=10, record_every=5)


def test_derived_grid_values_are_validated_too(key):
    problem = quadratic_from([10.0, 1.0], [1.0, -1.0])
    keys = jax.random.split(key, 2)
    convlab.sweep(derived_step_run, keys, {"h": np.array([0.5, 1.0])}, data=problem)
    with pytest.raises(ValueError, match=r"step_size.*h=-1\.0"):
        convlab.sweep(derived_step_run, keys, {"h": np.array([0.5, -1.0])}, data=problem)
