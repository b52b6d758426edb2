"""Sweep results as xarray Datasets (named dims: the grid's keys, seed, k) and pandas long-format
DataFrames."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab import export
from toy_problems import quadratic_from

xr = pytest.importorskip("xarray")
pd = pytest.importorskip("pandas")


PROBLEM = quadratic_from([1.0, 0.3], [0.0, 0.0])
GRID = {"step": [0.1, 0.5, 1.0], "scale": [1.0, 2.0]}


def _loss(problem, x):
    return problem.loss(x)


def _make_run(key, hp):
    x0 = hp["scale"] * jnp.ones(2)
    trace = convlab.run(convlab.gd(hp["step"]), PROBLEM, x0, key=key, num_steps=8, record_every=2,
                        metrics={"loss": _loss})
    return trace, {"x0_norm": jnp.linalg.norm(x0), "bound": trace.k * hp["step"],
                   "x0": x0}


@pytest.fixture(scope="module")
def swept():
    return convlab.sweep(_make_run, jax.random.split(jax.random.key(0), 4), GRID)


def test_sweep_to_xarray_names_every_axis(swept):
    trace, extras = swept
    ds = export.to_xarray(trace, GRID, extras=extras)
    assert ds["loss"].dims == ("step", "scale", "seed", "k")
    assert ds["diverged"].dims == ("step", "scale", "seed") and ds["x0_norm"].dims == ds["diverged"].dims
    assert ds["bound"].dims == ("step", "scale", "seed", "k")  # a per-record extra shares k
    assert ds["x0"].dims == ("step", "scale", "seed", "x0_dim0")
    np.testing.assert_array_equal(ds["k"], [0, 2, 4, 6, 8])  # k stored once, as a coordinate
    np.testing.assert_array_equal(ds["seed"], np.arange(4))
    np.testing.assert_array_equal(ds["step"], GRID["step"])
    one = ds.sel(seed=0, step=0.5, scale=2.0)
    np.testing.assert_array_equal(one["loss"], np.asarray(trace["loss"])[1, 1, 0])
    assert float(ds["x0_norm"].sel(scale=2.0, step=0.1, seed=3)) == pytest.approx(2 * np.sqrt(2))
    # the same as the Trace method
    xr.testing.assert_identical(trace.to_xarray(GRID), export.to_xarray(trace, GRID))


def test_long_dataframe_has_one_row_per_run_and_record(swept):
    trace, _ = swept
    frame = export.to_dataframe(trace, GRID, extras={"bound": swept[1]["bound"]})
    assert list(frame.columns) == ["step", "scale", "seed", "k", "oracle_calls", "loss", "diverged",
                                   "bound"]
    assert len(frame) == 3 * 2 * 4 * 5
    last = frame[frame["k"] == 8].groupby(["step", "scale"])["loss"].mean()
    np.testing.assert_allclose(last.loc[(1.0, 1.0)], np.asarray(trace["loss"])[2, 0, :, -1].mean())
    row = frame[(frame.step == 0.1) & (frame.scale == 2.0) & (frame.seed == 1) & (frame.k == 4)]
    assert float(row["loss"].iloc[0]) == float(np.asarray(trace["loss"])[0, 1, 1, 2])


def test_one_run_and_seeds_only():
    key = jax.random.key(1)
    single = convlab.run(convlab.gd(0.5), PROBLEM, jnp.ones(2), key=key, num_steps=4,
                         metrics={"loss": _loss})
    ds = single.to_xarray()
    assert ds["loss"].dims == ("k",) and ds["diverged"].dims == ()
    seeds = convlab.sweep(lambda k, hp: convlab.run(convlab.gd(0.5), PROBLEM, jnp.ones(2), key=k,
                                                    num_steps=4, metrics={"loss": _loss}),
                          jax.random.split(key, 3))
    assert seeds.to_xarray()["loss"].dims == ("seed", "k")
    assert len(seeds.to_dataframe()) == 3 * 5


def test_bad_input_is_named(swept):
    trace, extras = swept
    with pytest.raises(ValueError, match=r"grid: the result's leading axes \(3, 2, 4\)"):
        export.to_xarray(trace, {"step": GRID["step"]})
    with pytest.raises(TypeError, match="trace"):
        export.to_xarray({"loss": np.zeros(3)})
    with pytest.raises(TypeError, match="grid"):
        export.to_xarray(trace, [0.1, 0.5, 1.0])
    with pytest.raises(ValueError, match="extras"):
        export.to_xarray(trace, GRID, extras={"bad": np.zeros(5)})
    with pytest.raises(ValueError, match="reserved"):
        export.to_xarray(trace, {"seed": GRID["step"], "scale": GRID["scale"]})


def test_the_readme_sweep_to_xarray_and_dataframe_works_as_shown():
    """The README's "Check your own theorem" sweep block, run as written (the example package's
    problem and method on the path)."""
    import pathlib
    import re
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    section = text.split("## Check your own theorem", 1)[1].split("\n## ", 1)[0]
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "to_xarray" in b]
    sys.path.insert(0, str(root / "examples" / "agd_family"))
    try:
        from agd_family.method import nesterov
        from agd_family.problem import gap, make_log_spectrum
        scope = {"convlab": convlab, "jax": jax, "jnp": jnp, "nesterov": nesterov, "gap": gap,
                 "make_log_spectrum": make_log_spectrum}
        exec(compile(block, "README.md", "exec"), scope)
    finally:
        sys.path.remove(str(root / "examples" / "agd_family"))
        for name in [m for m in sys.modules if m.split(".")[0] == "agd_family"]:
            del sys.modules[name]
    ds, df = scope["ds"], scope["df"]
    assert ds["gap"].dims == ("h_L", "seed", "k") and ds["bound"].dims == ("h_L", "seed", "k")
    assert scope["first_seed"].dims == ("h_L", "k")
    final = scope["final"]
    assert list(final.index) == [0.25, 0.5, 1.0] and final.is_monotonic_decreasing  # larger steps, faster
    np.testing.assert_allclose(final.loc[1.0], ds["gap"].sel(h_L=1.0, k=300).mean("seed"))
    assert len(df) == 3 * 4 * 301
