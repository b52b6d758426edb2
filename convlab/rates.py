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

Which model fits: a power law looks straight on a late window of a log-linear plot and a linear
decay has a large log-log slope, so r² cannot tell them apart (a linear run fitted as a power law
on its last decade gives an exponent ~8 with r² ~0.98). :func:`drift_test` can: the ratio of
the linear rates on the late and early halves of the window is 1 for a linear decay and
``power_law_drift(a, b)`` (≈ 0.38 on a decade) for every power law; its CI against the geometric
mean of the two, ``sqrt(power_law_drift)``, decides ``linear``, ``sublinear`` or ``undecided``.
``fit_rate`` runs it on its window, records the outcome in ``RateFit.model`` and warns
(:class:`RateModelWarning`) when the requested kind is the worse model. :func:`fit_horizons`
fits exponents across horizons N on instances built per N (worst-case slopes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import math
import warnings

import numpy as np
from scipy import stats

__all__ = ["RateFit", "fit_rate", "auto_window", "seed_rows", "drift_test", "power_law_drift",
           "RateModelWarning", "fit_horizons", "DRIFT_MIN_SPAN"]

DRIFT_MIN_SPAN = 2.0  # the drift test needs a window [a, b] with b / a >= this


class RateModelWarning(UserWarning):
    """``fit_rate`` was asked for the model (linear or power) that the drift test rejects."""

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
    model: str = ""  # drift test on the window: linear / sublinear / undecided ("" = not run)

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
             floor: float | None = None, diverged: Any = None, confidence: float = 0.95,
             check_model: bool = True) -> RateFit:
    """Fit a linear or power-law rate to ``err`` over ``k``.

    Args:
      k: record iterations, shape ``[R]``.
      err: errors, shape ``[R]`` (one run) or ``[S, R]`` (seeds).
      kind: ``"linear"`` or ``"power"``.
      window: ``(k_lo, k_hi)`` inclusive, or ``"auto"`` (see :func:`auto_window`).
      floor: error level treated as the floating-point floor by the automatic window.
      diverged: ``Trace.diverged`` of the runs (shape ``[S]``); flagged runs are left out.
      confidence: level of the confidence interval.
      check_model: run :func:`drift_test` on the window, store its outcome in ``model`` and
        warn (:class:`RateModelWarning`) when ``kind`` is the rejected model.
    """
    fit = _fit(k, err, kind=kind, window=window, floor=floor, diverged=diverged,
               confidence=confidence)
    if not check_model or not np.isfinite(fit.rate):
        return fit
    k_arr, err_arr = seed_rows(k, err)
    model = drift_test(k_arr, err_arr, fit.window, diverged=diverged, num_bootstrap=400)["verdict"]
    worse = {"linear": "sublinear", "power": "linear"}[kind]
    if model == worse:
        better = "power" if kind == "linear" else "linear"
        warnings.warn(f"fit_rate(kind={kind!r}): on the window {fit.window} the drift test says "
                      f"the decay is {model}; kind={better!r} is the better model "
                      f"(the fitted {kind} rate {fit.rate:.4g} describes the wrong law)",
                      RateModelWarning, stacklevel=2)
    return fit._replace(model=model)


def _fit(k: Any, err: Any, *, kind: str, window: Any, floor: float | None, diverged: Any,
         confidence: float) -> RateFit:
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


def power_law_drift(a: float, b: float, k: Any = None) -> float:
    """The drift ratio of ANY power law ``c·t^-p`` on ``[a, b]``: the ratio of the OLS slopes of
    ``log t`` on the late and early halves (on the records ``k``, else a fine grid); ≈ 0.38 for
    a decade, 1 for a linear rate. It does not depend on ``c`` or ``p``."""
    grid = np.linspace(a, b, 4001) if k is None else np.asarray(k, dtype=np.float64)
    mid = 0.5 * (a + b)

    def slope(lo, hi):
        t = grid[(grid >= lo) & (grid <= hi)]
        x = t - t.mean()
        return float(np.log(t) @ x / (x @ x))

    return slope(mid, b) / slope(a, mid)


def _bootstrap_ratio(k: np.ndarray, logs: np.ndarray, masks: list, num_bootstrap: int,
                     seed: int) -> tuple[float, float]:
    """95% CI of ``rate_late / rate_early`` by a bootstrap over seeds (same resamples for both)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, logs.shape[0], size=(num_bootstrap, logs.shape[0]))
    boot = logs[idx].mean(axis=1)   # [B, R]
    rates = []
    for m in masks:
        x = k[m] - k[m].mean()
        y = boot[:, m]
        rates.append(-(y - y.mean(axis=1, keepdims=True)) @ x / (x @ x))
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = np.where(rates[0] > 0, rates[1] / rates[0], np.nan)
    boots = boots[np.isfinite(boots)]
    if boots.size > 0.9 * num_bootstrap:
        lo, hi = np.quantile(boots, [0.025, 0.975])
        return float(lo), float(hi)
    return float("nan"), float("nan")


def drift_test(k: Any, err: Any, window: tuple[float, float], *, diverged: Any = None,
               num_bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Is the decay linear on ``window``? ``ratio = rate_late / rate_early`` of linear fits on
    the two halves against ``rho* = sqrt(power_law_drift(a, b))``: ``linear`` when the ratio's
    95% CI (bootstrap over seeds; one run: interval arithmetic on the OLS CIs) lies above
    ``rho*``, ``sublinear`` below, else (also when ``b/a < DRIFT_MIN_SPAN``) ``undecided``.

    Returns a dict: ``verdict``, ``window``, ``span`` and (when decided or tried)
    ``rate_early``, ``rate_late``, ``ratio``, ``ratio_ci``, ``threshold``, ``power_law_ratio``.
    """
    k, err = seed_rows(k, err)
    a, b = (float(w) for w in window)
    span = b / a if a > 0 else float("inf")
    out: dict[str, Any] = {"window": [a, b], "span": span}
    mid = 0.5 * (a + b)
    halves = [(a, mid), (mid, b)]
    masks = [(k >= lo) & (k <= hi) for lo, hi in halves]
    if min(m.sum() for m in masks) < 3 or not np.isfinite(span) or span < DRIFT_MIN_SPAN:
        return {**out, "verdict": "undecided", "reason": "window too short to separate the laws"}
    rho_power = power_law_drift(a, b, k[(k >= a) & (k <= b)])
    threshold = math.sqrt(rho_power)
    keep = np.all(np.isfinite(err) & (err > 0), axis=1)
    if diverged is not None:
        keep &= np.broadcast_to(np.asarray(diverged).reshape(-1), keep.shape) < 0
    if not keep.any():
        return {**out, "verdict": "undecided", "reason": "every run diverged"}
    logs = np.log(err[keep])
    fits = [_fit(k, err[keep], kind="linear", window=h, floor=None, diverged=None,
                 confidence=0.95) for h in halves]
    early, late = fits[0].rate, fits[1].rate
    ratio = late / early if early > 0 else float("nan")
    if logs.shape[0] >= 2:
        lo, hi = _bootstrap_ratio(k, logs, masks, num_bootstrap, seed)
    else:
        e, l = fits
        lo = float(l.ci_low / e.ci_high if e.ci_high > 0 else float("nan"))
        hi = float(l.ci_high / e.ci_low if e.ci_low > 0 else float("nan"))
    if np.isfinite(lo) and lo > threshold:
        verdict = "linear"
    elif np.isfinite(hi) and hi < threshold:
        verdict = "sublinear"
    else:
        verdict = "undecided"
    return {**out, "verdict": verdict, "rate_early": early, "rate_late": late, "ratio": ratio,
            "ratio_ci": [lo, hi], "threshold": threshold, "power_law_ratio": rho_power}


def fit_horizons(horizons: Any, values: Any, *, confidence: float = 0.95) -> RateFit:
    """The exponent ``p`` of ``values ≈ c · N^-p`` across horizons ``N`` (worst-case slopes).

    For lower bounds and tightness the instance depends on the horizon (a worst-case function
    built for N steps), so one run cannot be fitted over k: each N gives its own final error.
    Pass ``values[h]`` (one instance per horizon) or ``values[seeds, h]``, or a callable
    ``values(N) -> float | [seeds]`` evaluated at each horizon. The fit is :func:`fit_rate`'s
    power fit over all horizons (CI: Student t over seeds, or Newey-West for one series); no
    drift test (a handful of horizons cannot separate the laws).
    """
    horizons = np.asarray(horizons, dtype=np.float64)
    if horizons.ndim != 1 or horizons.size < 3:
        raise ValueError(f"horizons must be 1-D with >= 3 entries, got shape {horizons.shape}")
    if not np.all(np.isfinite(horizons)) or np.any(horizons <= 0) or np.any(np.diff(horizons) <= 0):
        raise ValueError(f"horizons must be finite, > 0 and increasing, got {horizons.tolist()}")
    if callable(values):
        columns = [np.asarray(values(int(n) if float(n).is_integer() else float(n)),
                              dtype=np.float64).reshape(-1) for n in horizons]
        if len({c.size for c in columns}) != 1:
            raise ValueError("values(N) must return the same number of seeds for every horizon")
        values = np.stack(columns, axis=-1)
    values = np.asarray(values, dtype=np.float64)
    if values.shape[-1:] != horizons.shape:
        raise ValueError(f"values must have shape [H] or [seeds, H] with H = {horizons.size}, "
                         f"got {values.shape}")
    return _fit(horizons, values, kind="power", window=(float(horizons[0]), float(horizons[-1])),
                floor=None, diverged=None, confidence=confidence)
