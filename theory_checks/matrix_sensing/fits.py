"""The family's fitting helpers (a library feature, not a claim): the late window of a linear
fit, and the drift test that tells a linear decay from a power law (``convlab.rates.drift_test``,
moved there so every family and ``fit_rate``'s model check share it; NOTES.md, "How each claim
is judged")."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import convlab
from convlab.rates import DRIFT_MIN_SPAN as MIN_SPAN, drift_test, power_law_drift  # noqa: F401

LATE_START = 1e-3   # linear fits start where the relative error first falls below this
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
    fit = convlab.fit_rate(k, err, kind="linear", window=window, diverged=diverged,
                           check_model=False)   # the drift test is run and kept here
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
