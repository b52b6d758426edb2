"""``fit_rate``: fitted convergence rates with confidence intervals and a reported window.

Two kinds (DESIGN.md):

- ``linear``: ``log err = a - c k``; the rate is ``c`` (per iteration), ``exp(-c)`` the factor;
- ``power``:  ``log err = a - p log k``; the rate is the exponent ``p``.

With several seeds the fit is made on the mean of ``log err`` over seeds and the confidence
interval is Student's t over the seeds' own slopes (the slope of the mean is the mean of the
slopes): seeds are independent while one seed's records are not, so the interval stays right
when the noise is correlated within a run. With one run it is the OLS slope with a Newey–West
(Bartlett kernel, lag ``floor(4 (n/100)^(2/9))``) standard error and a t quantile, which
allows for serially correlated residuals (tests/test_rates.py measures the coverage of both). Diverged runs (a non-finite error anywhere, or ``diverged >= 0`` when the
Trace's flag is passed) are left out and counted, so they never poison the others' statistics;
if every run diverged the fit is all-NaN (a rate claim judges that ``violated``). The window
skips the start-up transient and the floating-point floor and is always reported.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from scipy import stats

__all__ = ["RateFit", "fit_rate", "auto_window", "seed_rows"]

KINDS = ("linear", "power")


class RateFit(NamedTuple):
    """A fitted rate. ``rate`` is ``c`` (linear) or ``p`` (power); see module docstring."""

    kind: str
    rate: float
    ci_low: float
    ci_high: float
    r2: float
    window: tuple[float, float]
    intercept: float
    num_points: int
    num_seeds: int
    num_excluded: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the confidence interval."""
        return self.ci_low <= value <= self.ci_high


def seed_rows(k: Any, err: Any) -> tuple[np.ndarray, np.ndarray]:
    """``k`` as ``[R]`` and ``err`` as ``[S, R]`` float64 arrays (one run becomes one row)."""
    k = np.asarray(k, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    if k.ndim != 1:
        raise ValueError(f"k must be 1-D (the record axis), got shape {k.shape}")
    if err.ndim == 1:
        err = err[None, :]
    if err.ndim != 2 or err.shape[1] != k.shape[0]:
        raise ValueError(f"err must have shape [R] or [seeds, R] with R = len(k) = {k.shape[0]}, "
                         f"got {err.shape}")
    return k, err


def auto_window(k: Any, err: Any, *, kind: str = "linear", floor: float | None = None) -> tuple[float, float]:
    """The automatic fitting window ``(k_lo, k_hi)`` for finite runs ``err``.

    The usable range is the longest prefix on which the geometric mean error over runs stays
    above the floor (default ``1e4 * eps * mean error at k = 0``, where rounding takes over).
    Of that range a ``linear`` fit keeps the last 80% (skipping the transient), a ``power`` fit
    the last decade ``[k_hi / 10, k_hi]`` (a power law shows only asymptotically).
    """
    k, err = seed_rows(k, err)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.exp(np.mean(np.log(err), axis=0))
    scale = curve[0] if np.isfinite(curve[0]) and curve[0] > 0 else np.nanmax(curve)
    floor = 1e4 * np.finfo(np.float64).eps * scale if floor is None else floor
    ok = np.isfinite(curve) & (curve > floor)
    end = len(ok) if ok.all() else int(np.argmin(ok))
    if end < 3:
        raise ValueError(f"err: fewer than 3 records above the floor {floor:.3g}; nothing to fit")
    k_hi = k[end - 1]
    if kind == "power":
        return (max(k_hi / 10.0, k[k > 0].min()), float(k_hi))
    k_lo = k[0] + 0.2 * (k_hi - k[0])
    return (float(k_lo), float(k_hi))


def _finite_rows(err: np.ndarray, diverged: Any) -> np.ndarray:
    """Runs to keep: finite everywhere and (if the flag is given) not flagged as diverged."""
    keep = np.all(np.isfinite(err), axis=1)
    if diverged is not None:
        flag = np.broadcast_to(np.asarray(diverged).reshape(-1), keep.shape)
        keep &= flag < 0
    return keep


def _slopes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS slope and intercept of each row of ``y`` against ``x``."""
    xc = x - x.mean()
    slope = (y - y.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    return slope, y.mean(axis=-1) - slope * x.mean()


def _newey_west_se(x: np.ndarray, resid: np.ndarray) -> tuple[float, int]:
    """HAC standard error of an OLS slope (Bartlett kernel) and the t degrees of freedom used."""
    n = x.size
    lag = int(4 * (n / 100.0) ** (2.0 / 9.0))
    xc = x - x.mean()
    u = resid * xc
    s = u @ u
    for j in range(1, min(lag, n - 1) + 1):
        s += 2.0 * (1.0 - j / (lag + 1.0)) * (u[j:] @ u[:-j])
    return float(np.sqrt(max(s, 0.0)) / (xc @ xc)), max(lag, 1)


def fit_rate(k: Any, err: Any, *, kind: str = "linear", window: tuple[float, float] | str = "auto",
             floor: float | None = None, diverged: Any = None, confidence: float = 0.95) -> RateFit:
    """Fit a linear or power-law rate to ``err`` over ``k``.

    Args:
      k: record iterations, shape ``[R]``.
      err: errors, shape ``[R]`` (one run) or ``[S, R]`` (seeds).
      kind: ``"linear"`` or ``"power"``.
      window: ``(k_lo, k_hi)`` inclusive, or ``"auto"`` (see :func:`auto_window`).
      floor: error level treated as the floating-point floor by the automatic window.
      diverged: ``Trace.diverged`` of the runs (shape ``[S]``); flagged runs are left out.
      confidence: level of the confidence interval.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    k, err = seed_rows(k, err)
    keep = _finite_rows(err, diverged)
    num_runs = err.shape[0]
    nan = float("nan")
    if isinstance(window, str):
        if window != "auto":
            raise ValueError(f"window must be 'auto' or (k_lo, k_hi), got {window!r}")
        if not keep.any():  # every run diverged: nothing to fit, report the whole range
            return RateFit(kind, nan, nan, nan, nan, (float(k[0]), float(k[-1])), nan, 0, 0, num_runs)
        window = auto_window(k, err[keep], kind=kind, floor=floor)
    k_lo, k_hi = (float(w) for w in window)
    mask = (k >= k_lo) & (k <= k_hi) & ((k > 0) if kind == "power" else True)
    if mask.sum() < 3:
        raise ValueError(f"window {window} holds {int(mask.sum())} records; need >= 3")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(err[:, mask])
    usable = keep & np.all(np.isfinite(logs), axis=1)  # an exact zero in the window: no log
    x = k[mask] if kind == "linear" else np.log(k[mask])
    if not usable.any():
        return RateFit(kind, nan, nan, nan, nan, (k_lo, k_hi), nan, int(mask.sum()), 0, num_runs)
    logs = logs[usable]
    curve = logs.mean(axis=0)
    slope, intercept = _slopes(x, curve)
    resid = curve - (intercept + slope * x)
    total = np.sum((curve - curve.mean()) ** 2)
    r2 = 1.0 - np.sum(resid**2) / total if total > 0 else 1.0
    alpha = 1.0 - confidence
    if logs.shape[0] >= 2:
        per_seed, _ = _slopes(x, logs)
        se = per_seed.std(ddof=1) / np.sqrt(per_seed.size)
        q = stats.t.ppf(1 - alpha / 2, per_seed.size - 1)
    else:
        se, dof = _newey_west_se(x, resid)
        q = stats.t.ppf(1 - alpha / 2, dof)
    lo, hi = -slope - q * se, -slope + q * se
    return RateFit(kind, float(-slope), float(lo), float(hi), float(r2), (k_lo, k_hi),
                   float(intercept), int(mask.sum()), int(usable.sum()), int((~usable).sum()))
