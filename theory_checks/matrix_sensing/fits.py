"""The family's fitting helpers (a library feature, not a claim): the late window of a linear
fit, and the drift test that tells a linear decay from a power law (NOTES.md, "How each claim
is judged")."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import convlab

LATE_START = 1e-3   # linear fits start where the relative error first falls below this
MIN_SPAN = 2.0      # the drift test needs a window [a, b] with b/a >= MIN_SPAN
MIN_RECORDS = 8     # fewer records in a window: inconclusive


@dataclasses.dataclass(frozen=True)
class LinearFit:
    """A linear rate on the late window and the drift test there (``fit`` is None when the
    window is missing or too short; ``drift["verdict"]`` is then ``undecided``)."""

    fit: convlab.RateFit | None
    window: tuple[float, float] | None
    drift: dict[str, Any]


def _keep(err: np.ndarray, diverged: np.ndarray | None, *, positive: bool) -> np.ndarray:
    keep = np.all(np.isfinite(err) & (err > 0), axis=1) if positive else np.all(np.isfinite(err), axis=1)
    if diverged is not None:
        keep &= np.asarray(diverged).reshape(-1) < 0
    return keep


def _curve(err: np.ndarray, diverged: np.ndarray | None = None) -> np.ndarray:
    """Geometric mean over the finite, non-diverged runs of ``err [S, R]``."""
    err = np.atleast_2d(err)
    keep = _keep(err, diverged, positive=True)
    if not keep.any():
        return np.full(err.shape[1], np.nan)
    return np.exp(np.mean(np.log(err[keep]), axis=0))


def late_window(k: np.ndarray, err: np.ndarray, diverged: np.ndarray | None = None, *,
                start: float = LATE_START, after: float = -np.inf) -> tuple[float, float] | None:
    """From the first record (later than ``after``) where the geometric-mean relative error is
    ``<= start`` to the last record at which every run is above the float64 floor
    ``1e4·eps·err(0)``; ``None`` when there is no such record or the window is empty."""
    curve = _curve(err, diverged)
    if not np.isfinite(curve[0]):
        return None
    floor = 1e4 * np.finfo(np.float64).eps * curve[0]
    below = np.nonzero((curve <= start) & (k > after))[0]
    if below.size == 0:
        return None
    lo = int(below[0])
    err = np.atleast_2d(err)
    lowest = err[_keep(err, diverged, positive=False)].min(axis=0)
    above = np.isfinite(curve) & (lowest > floor)
    above[:lo] = True
    hi = len(curve) - 1 if above.all() else int(np.argmin(above)) - 1
    if hi <= lo:
        return None
    return float(k[lo]), float(k[hi])


def power_law_drift(a: float, b: float, k: np.ndarray | None = None) -> float:
    """The drift ratio of ANY power law ``c·t^-p`` on ``[a, b]``: the ratio of the OLS slopes of
    ``log t`` on the late and early halves (on the records ``k``, else a fine grid); ≈ 0.38 for
    a decade, 1 for a linear rate."""
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


def drift_test(k: np.ndarray, err: np.ndarray, window: tuple[float, float], *,
               diverged: np.ndarray | None = None, num_bootstrap: int = 2000,
               seed: int = 0) -> dict[str, Any]:
    """Is the decay linear on ``window``? ``ratio = rate_late / rate_early`` of linear fits on
    the two halves against ``rho* = sqrt(power_law_drift(a, b))``: ``linear`` when the ratio's
    95% CI (bootstrap over seeds; one run: interval arithmetic on the OLS CIs) lies above
    ``rho*``, ``sublinear`` below, else (also when ``b/a < MIN_SPAN``) ``undecided``."""
    a, b = (float(w) for w in window)
    span = b / a if a > 0 else float("inf")
    out: dict[str, Any] = {"window": [a, b], "span": span}
    mid = 0.5 * (a + b)
    halves = [(a, mid), (mid, b)]
    masks = [(k >= lo) & (k <= hi) for lo, hi in halves]
    if min(m.sum() for m in masks) < 3 or not np.isfinite(span) or span < MIN_SPAN:
        return {**out, "verdict": "undecided", "reason": "window too short to separate the laws"}
    rho_power = power_law_drift(a, b, k[(k >= a) & (k <= b)])
    threshold = math.sqrt(rho_power)
    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    keep = _keep(err, diverged, positive=True)
    if not keep.any():
        return {**out, "verdict": "undecided", "reason": "every run diverged"}
    logs = np.log(err[keep])
    fits = [convlab.fit_rate(k, err[keep], kind="linear", window=h) for h in halves]
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


def linear_fit(k: np.ndarray, err: np.ndarray, diverged: np.ndarray | None = None, *,
               after: float = -np.inf) -> LinearFit:
    """Linear rate on :func:`late_window` (starting after ``after``) plus the
    :func:`drift_test` there; no fit when the window holds fewer than ``MIN_RECORDS`` records."""
    window = late_window(k, err, diverged, after=after)
    if window is None:
        return LinearFit(None, None, {"verdict": "undecided",
                                      "reason": f"error never below {LATE_START}"})
    if int(((k >= window[0]) & (k <= window[1])).sum()) < MIN_RECORDS:
        return LinearFit(None, window, {"verdict": "undecided",
                                        "reason": "too few records in the window"})
    fit = convlab.fit_rate(k, err, kind="linear", window=window, diverged=diverged)
    return LinearFit(fit, window, drift_test(k, err, window, diverged=diverged))


def fit_record(fit: convlab.RateFit | None) -> dict[str, Any] | None:
    """A RateFit as the JSON-able part a Verdict's details show."""
    if fit is None:
        return None
    return {"rate": fit.rate, "ci": [fit.ci_low, fit.ci_high], "r2": fit.r2,
            "window": list(fit.window), "num_seeds": fit.num_seeds, "num_excluded": fit.num_excluded}


def drift_status(verdict: str, *, want: str) -> str:
    """A drift-test verdict as a claim status: ``want`` holds, the other law violates."""
    if verdict == want:
        return "holds"
    return "inconclusive" if verdict == "undecided" else "violated"
