"""Plotting helpers for convergence figures: error curves over seeds, bounds, fitted rates.

Used by the ``theory_checks`` figures, the figure scripts and the notebooks. Everything uses
matplotlib's object API (:class:`matplotlib.figure.Figure`, never ``pyplot``), so the helpers
keep no global figure state, work headless (saving goes through the Agg canvas) and embed in
notebooks (a ``Figure`` displays itself). The helpers draw on an ``Axes`` they are given and
return what they drew; they do not change the figure beyond that.

Typical use::

    fig, ax = plots.new_figure()
    plots.error_curves(ax, trace.k[0, 0], trace["error"][0], label="gd")
    plots.bound_curve(ax, k, bound)
    plots.fit_line(ax, convlab.fit_rate(k, err))
    ax.legend()
    plots.save_figure(fig, out / "gd_rate.png")
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import pathlib
import warnings
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from convlab.atomic import atomic_write
from convlab.rates import RateFit, seed_rows

__all__ = ["new_figure", "error_curves", "bound_curve", "fit_line", "save_figure", "figure_format"]

DPI = 120
"""Resolution of saved figures (dots per inch)."""


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.5,
               height: float = 3.5) -> tuple[Figure, Any]:
    """A new figure (not registered with pyplot) and its grid of axes.

    Args:
      ncols: number of panel columns.
      nrows: number of panel rows.
      width: width of one panel, in inches.
      height: height of one panel, in inches.

    Returns:
      ``(fig, axes)``: ``axes`` is a single ``Axes`` for a 1 x 1 grid, a 1-D array for a single
      row or column and a 2-D ``[nrows, ncols]`` array otherwise (pyplot's ``subplots``
      convention). The figure uses the constrained layout.
    """
    if int(ncols) < 1 or int(nrows) < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    if not (width > 0 and height > 0):
        raise ValueError(f"width and height must be > 0, got width={width}, height={height}")
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(int(nrows), int(ncols), squeeze=True)
    return fig, axes


def _finite_quantiles(err: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Quantiles over seeds (axis 0) of the finite entries of each column; NaN where none."""
    masked = np.where(np.isfinite(err), err, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, silently
        return [np.nanquantile(masked, q, axis=0) for q in qs]


def error_curves(ax: Axes, k: Any, err: Any, *, label: str | None = None, color: Any = None,
                 band: tuple[float, float] | None = (0.1, 0.9), logx: bool = False) -> Line2D:
    """Median error over seeds as a line, with a shaded band between two quantiles.

    Non-finite values (a diverged seed, a NaN record) are dropped per point: the median and
    quantiles at each record use only the seeds that are finite there, and a record where no
    seed is finite leaves a gap in the line. The y axis is put on a log scale, where
    non-positive values are not shown.

    Args:
      ax: axes to draw on.
      k: record iterations, shape ``[R]``.
      err: errors, shape ``[R]`` (one run) or ``[S, R]`` (seeds).
      label: legend label of the median line.
      color: line and band colour; ``None`` takes the axes' next colour.
      band: ``(q_lo, q_hi)`` quantiles in ``[0, 1]`` bounding the shaded band (``(0, 1)``
        shades min to max); ``None`` draws no band. No band is drawn for a single run.
      logx: also put the x axis on a log scale (records with ``k <= 0`` are dropped).

    Returns:
      The median line.
    """
    k, err = seed_rows(k, err)
    if logx:  # k = 0 has no place on a log axis: drop it rather than draw a stub to the edge
        k, err = k[k > 0], err[:, k > 0]
    if band is not None:
        q_lo, q_hi = (float(q) for q in band)
        if not 0.0 <= q_lo <= q_hi <= 1.0:
            raise ValueError(f"band must be (q_lo, q_hi) with 0 <= q_lo <= q_hi <= 1, got {band!r}")
    (median,) = _finite_quantiles(err, (0.5,))
    (line,) = ax.plot(k, median, label=label, color=color)
    if band is not None and err.shape[0] > 1:
        lo, hi = _finite_quantiles(err, (q_lo, q_hi))
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(k, lo, hi, where=ok, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    return line


def bound_curve(ax: Axes, k: Any, bound: Any, *, label: str | None = "predicted bound",
                color: Any = "k") -> Line2D:
    """A predicted bound (or rate) as a dashed overlay.

    Args:
      ax: axes to draw on.
      k: iterations, shape ``[R]``.
      bound: bound values at ``k``, shape ``[R]``; non-finite values leave gaps (and so does
        ``k <= 0`` when the x axis is already logarithmic).
      label: legend label.
      color: line colour.

    Returns:
      The dashed line.
    """
    k = np.asarray(k, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    if k.ndim != 1 or bound.shape != k.shape:
        raise ValueError(f"k and bound must be 1-D of the same length, got {k.shape} and {bound.shape}")
    values = np.where(np.isfinite(bound) & ((k > 0) | (ax.get_xscale() != "log")), bound, np.nan)
    (line,) = ax.plot(k, values, linestyle="--", color=color, label=label)
    return line


def fit_line(ax: Axes, fit: RateFit, *, color: Any = None, num: int = 50) -> Line2D | None:
    """The fitted rate as a dotted line over the fit's window, labelled with rate and CI.

    ``linear`` fits draw :math:`e^{a - c k}`, ``power`` fits :math:`e^{a} k^{-p}`, where
    ``a = fit.intercept`` and ``c``/``p`` is ``fit.rate``.

    Args:
      ax: axes to draw on.
      fit: a :class:`~convlab.rates.RateFit` from :func:`convlab.fit_rate`.
      color: line colour; ``None`` takes the axes' next colour.
      num: number of points drawn along the window.

    Returns:
      The dotted line, or ``None`` when the fit has no finite rate (no usable run: nothing is
      drawn, so a figure of an inconclusive check still renders).
    """
    if not isinstance(fit, RateFit):
        raise TypeError(f"fit must be a convlab.RateFit (from convlab.fit_rate), got {fit!r}")
    if not (np.isfinite(fit.rate) and np.isfinite(fit.intercept)):
        return None
    k_lo, k_hi = (float(w) for w in fit.window)
    if fit.kind == "power":
        k = np.geomspace(max(k_lo, np.finfo(np.float64).tiny), k_hi, num)
        y = np.exp(fit.intercept - fit.rate * np.log(k))
        what = f"k^-{fit.rate:.3g}"
    elif fit.kind == "linear":
        k = np.linspace(k_lo, k_hi, num)
        y = np.exp(fit.intercept - fit.rate * k)
        what = f"rate {fit.rate:.3g}/iter"
    else:
        raise ValueError(f"fit.kind must be 'linear' or 'power', got {fit.kind!r}")
    label = f"fit {what}, CI [{fit.ci_low:.3g}, {fit.ci_high:.3g}]"
    (line,) = ax.plot(k, y, linestyle=":", linewidth=2, color=color, label=label)
    return line


_FORMAT: contextvars.ContextVar[str | None] = contextvars.ContextVar("figure_format", default=None)


@contextlib.contextmanager
def figure_format(fmt: str | None):
    """While active, :func:`save_figure` writes ``fmt`` (``"pdf"``, ``"svg"``, ...) wherever a
    caller asked for PNG: figure code names its files ``*.png`` and ``convlab figures --format``
    reaches all of it without a format argument of its own."""
    token = _FORMAT.set(fmt)
    try:
        yield
    finally:
        _FORMAT.reset(token)


def save_figure(fig: Figure, path: str | os.PathLike) -> pathlib.Path:
    """Write ``fig`` to ``path`` atomically and return the path.

    Parent directories are created. The image is rendered to a temporary file in the same
    directory and moved into place with ``os.replace``, so an interrupted save never leaves a
    partial file under ``path``. The format follows the suffix (PNG when there is none, in
    which case ``.png`` is appended; inside :func:`figure_format` a PNG becomes that format),
    at :data:`DPI` dots per inch. The figure stays open.

    Args:
      fig: the figure to save.
      path: destination file.

    Returns:
      The path written.
    """
    path = pathlib.Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    if _FORMAT.get() and path.suffix.lower() == ".png":
        path = path.with_suffix(f".{_FORMAT.get()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix[1:].lower()
    atomic_write(path, lambda handle: fig.savefig(handle, format=fmt, dpi=DPI))
    return path
