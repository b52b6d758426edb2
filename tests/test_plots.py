"""Tests of ``convlab.plots``: each helper draws what it says, NaN rows, atomic PNG saving."""

import os

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import convlab
from convlab import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ax():
    fig, ax = plots.new_figure()
    return ax


def test_new_figure_shapes_and_no_pyplot_state():
    before = plt.get_fignums()
    fig, ax = plots.new_figure()
    assert isinstance(fig, Figure) and isinstance(ax, Axes)
    np.testing.assert_allclose(fig.get_size_inches(), [4.5, 3.5])
    fig, axes = plots.new_figure(3, width=2.0, height=1.0)
    assert axes.shape == (3,)
    np.testing.assert_allclose(fig.get_size_inches(), [6.0, 1.0])
    _, axes = plots.new_figure(2, 2)
    assert axes.shape == (2, 2)
    assert plt.get_fignums() == before  # nothing registered with pyplot
    with pytest.raises(ValueError, match="ncols"):
        plots.new_figure(0)


def test_error_curves_single_run(ax):
    k = np.arange(5.0)
    err = 0.5 ** k
    line = plots.error_curves(ax, k, err, label="gd")
    assert list(ax.lines) == [line]
    assert len(ax.collections) == 0  # one run: no band
    np.testing.assert_allclose(line.get_xdata(), k)
    np.testing.assert_allclose(line.get_ydata(), err)
    assert line.get_label() == "gd"
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"


def test_error_curves_seeds_median_and_band(ax):
    k = np.arange(4.0)
    err = np.array([[1.0, 0.5, 0.25, 0.125],
                    [2.0, 1.0, 0.50, 0.250],
                    [3.0, 1.5, 0.75, 0.375]])
    line = plots.error_curves(ax, k, err, color="C3", band=(0.0, 1.0))
    np.testing.assert_allclose(line.get_ydata(), err[1])
    assert len(ax.collections) == 1
    band = ax.collections[0]
    verts = band.get_paths()[0].vertices
    # the band spans min..max of the seeds at every record
    assert np.isclose(verts[:, 1].min(), err.min()) and np.isclose(verts[:, 1].max(), err.max())


def test_error_curves_logx_drops_k_zero_and_bound_follows(ax):
    k = np.arange(4.0)
    err = np.array([[1.0, 0.5, 0.25, 0.125], [2.0, 1.0, 0.50, 0.250]])
    line = plots.error_curves(ax, k, err, logx=True)
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(line.get_xdata(), k[1:])  # no stub drawn to k = 0
    bound = plots.bound_curve(ax, k, 2.0 / (k + 1.0))
    assert np.isnan(bound.get_ydata()[0]) and np.all(np.isfinite(bound.get_ydata()[1:]))


def test_error_curves_no_band(ax):
    plots.error_curves(ax, np.arange(3.0), np.ones((4, 3)), band=None)
    assert len(ax.lines) == 1 and len(ax.collections) == 0


def test_error_curves_drops_nonfinite_per_point(ax):
    k = np.arange(4.0)
    err = np.array([[1.0, 0.5, 0.25, 0.125],
                    [1.0, 0.5, 0.25, 0.125],
                    [1.0, 1e3, np.inf, np.nan]])  # a seed that diverged
    line = plots.error_curves(ax, k, err)
    y = np.asarray(line.get_ydata())
    np.testing.assert_allclose(y[[0, 2, 3]], [1.0, 0.25, 0.125])  # diverged entries dropped
    assert np.isfinite(y).all()
    assert len(ax.collections) == 1


def test_error_curves_all_nan_record_leaves_gap(ax):
    k = np.arange(3.0)
    err = np.array([[1.0, np.nan, 0.1], [2.0, np.nan, 0.2]])
    with np.errstate(all="raise"):
        line = plots.error_curves(ax, k, err)
    y = np.asarray(line.get_ydata())
    assert np.isnan(y[1]) and np.isfinite(y[[0, 2]]).all()


def test_error_curves_all_nan_run_does_not_break(ax):
    fig = ax.figure
    plots.error_curves(ax, np.arange(3.0), np.full((2, 3), np.nan))
    fig.canvas.draw()  # renders without error


def test_error_curves_shape_checks(ax):
    with pytest.raises(ValueError, match="err must have shape"):
        plots.error_curves(ax, np.arange(3.0), np.ones((2, 4)))
    with pytest.raises(ValueError, match="band"):
        plots.error_curves(ax, np.arange(3.0), np.ones((2, 3)), band=(0.9, 0.1))


def test_bound_curve_is_dashed(ax):
    k = np.arange(1.0, 6.0)
    line = plots.bound_curve(ax, k, 1.0 / k)
    assert list(ax.lines) == [line]
    assert line.get_linestyle() == "--"
    assert line.get_label() == "predicted bound"
    np.testing.assert_allclose(line.get_ydata(), 1.0 / k)


def test_fit_line_linear_matches_fit(ax):
    k = np.arange(0.0, 50.0)
    err = 3.0 * 0.9 ** k
    fit = convlab.fit_rate(k, err, kind="linear")
    line = plots.fit_line(ax, fit, color="r")
    assert line.get_linestyle() == ":"
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert x[0] == pytest.approx(fit.window[0]) and x[-1] == pytest.approx(fit.window[1])
    np.testing.assert_allclose(y, 3.0 * 0.9 ** x, rtol=1e-8)
    assert f"{fit.rate:.3g}" in line.get_label() and "CI" in line.get_label()


def test_fit_line_power_matches_fit(ax):
    k = np.arange(0.0, 1001.0)
    err = 2.0 / np.maximum(k, 1.0) ** 1.5
    fit = convlab.fit_rate(k, err, kind="power")
    line = plots.fit_line(ax, fit)
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert x[0] == pytest.approx(fit.window[0]) and x[-1] == pytest.approx(fit.window[1])
    np.testing.assert_allclose(y, 2.0 * x ** -1.5, rtol=1e-8)


def test_fit_line_without_usable_runs_draws_nothing(ax):
    nan = float("nan")
    fit = convlab.RateFit("linear", nan, nan, nan, nan, (0.0, 10.0), nan, 5, 0, 2)
    assert plots.fit_line(ax, fit) is None
    assert len(ax.lines) == 0
    with pytest.raises(TypeError, match="RateFit"):
        plots.fit_line(ax, (1.0, 2.0))


def test_save_figure_writes_png_atomically(tmp_path):
    fig, ax = plots.new_figure()
    plots.error_curves(ax, np.arange(10.0), np.exp(-np.arange(10.0)), label="run")
    ax.legend()
    target = tmp_path / "nested" / "dir" / "fig.png"
    out = plots.save_figure(fig, target)
    assert out == target and out.exists()
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(target.parent) == ["fig.png"]  # no temp file left behind
    # overwriting replaces the file in place, still nothing else in the directory
    plots.save_figure(fig, target)
    assert os.listdir(target.parent) == ["fig.png"]
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_save_figure_appends_png_suffix(tmp_path):
    fig, _ = plots.new_figure()
    out = plots.save_figure(fig, tmp_path / "plain")
    assert out.name == "plain.png" and out.read_bytes()[:8] == PNG_MAGIC


def test_figure_format_turns_png_requests_into_that_format_only_while_active(tmp_path):
    fig, _ = plots.new_figure()
    with plots.figure_format("pdf"):
        pdf = plots.save_figure(fig, tmp_path / "a.png")
        svg = plots.save_figure(fig, tmp_path / "b.svg")   # an explicit non-PNG suffix is kept
    after = plots.save_figure(fig, tmp_path / "c.png")
    assert (pdf.name, svg.name, after.name) == ("a.pdf", "b.svg", "c.png")
    assert pdf.read_bytes()[:5] == b"%PDF-" and after.read_bytes()[:8] == PNG_MAGIC


def test_save_figure_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    fig, _ = plots.new_figure()
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise RuntimeError("renderer died")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError, match="renderer died"):
        plots.save_figure(fig, target)
    assert os.listdir(tmp_path) == ["fig.png"] and target.read_bytes() == b"old"
