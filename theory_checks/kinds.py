"""The six rules that turn measurements into a Verdict (DESIGN.md, "Claim / Verdict").

- :func:`envelope`: a measured quantity stays under a predicted upper bound for every k (and,
  optionally, attains it: tightness);
- :func:`slope`: a fitted rate lies within a tolerance of the predicted rate;
- :func:`scaling`: fitted rates move with a parameter as a predicted power of it (rate ∝ p^e);
- :func:`ordering`: method A needs less of a resource (oracle calls, error) than method B;
- :func:`certificate`: a certified quantity against the true one (sound: certified <= true, or
  exact: equal to a tolerance).

- :func:`local_rate`: the measured tail rate equals ``-log ρ`` of the method's own step-map
  Jacobian at the solution (transverse to the solution set).

Band rule shared by slope, scaling and local-rate (an equivalence test): ``holds`` when the
whole confidence interval lies within ``tol`` of the prediction, ``violated`` when it misses
that band, otherwise ``inconclusive``; a NaN or missing CI is never ``holds``. Tolerances are
arguments chosen by each claim from the theory (and documented there), never widened to pass.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

from convlab.rates import RateFit, fit_rate
from theory_checks.verdict import Verdict

__all__ = ["envelope", "slope", "scaling", "ordering", "certificate", "local_rate", "band_status",
           "mean_fit", "worst_status", "combine"]


def band_status(value: float, ci: tuple[float, float] | None, predicted: float, tol: float) -> str:
    """The band rule, an equivalence test: ``holds`` when the whole CI lies in
    ``[predicted - tol, predicted + tol]``, ``violated`` when the CI misses that band (or the
    estimate is not finite), else ``inconclusive``. A missing or NaN CI is never ``holds``."""
    if not np.isfinite(value):
        return "violated"
    if ci is None or not np.all(np.isfinite(ci)):
        return "inconclusive"
    lo, hi = sorted(float(c) for c in ci)
    if lo >= predicted - tol and hi <= predicted + tol:
        return "holds"
    if hi < predicted - tol or lo > predicted + tol:
        return "violated"
    return "inconclusive"


def envelope(values: Any, bound: Any, *, predicted: str, rtol: float = 1e-9, atol: float = 0.0,
             tight: float | None = None, k: Any = None) -> Verdict:
    """Every entry of ``values`` is <= ``bound + atol`` (broadcast), up to rounding ``rtol``.

    Args:
      values: measured quantities, e.g. ``[seeds, records]``; non-finite entries violate.
      bound: the predicted upper bound, broadcastable to ``values`` (must be > 0).
      predicted: the bound in words, for the report.
      rtol: relative slack for floating-point rounding only.
      atol: absolute allowance for the floating-point floor of ``values`` (e.g. a distance
        cannot fall below ~1e-16 relative while a linear bound keeps shrinking).
      tight: if given, the bound must also be attained: every instance reaches
        ``values / bound >= 1 - tight`` (e.g. 0.01: "attains the bound to within 1%").
      k: the iterations of the last axis of ``values`` (a record axis). Then the reported worst
        ratio and attainment are taken over ``k >= 1`` (``k = 0`` sits on a normalised bound
        trivially), an instance is one curve (all axes but the last), and the attaining
        iteration is named in the details. Without ``k`` every entry is an instance.

    The measured value is the worst ratio ``max(values / (bound + atol))``; margin is ``1 - ratio``.
    """
    values = np.asarray(values, dtype=np.float64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), values.shape)
    if np.any(bound <= 0):
        raise ValueError("bound must be > 0 everywhere")
    finite = np.isfinite(values)
    ratio = np.where(finite, values / (bound + atol), np.inf)
    details = {"num_points": int(values.size), "atol": atol, "num_nonfinite": int((~finite).sum())}
    if k is not None:
        k = np.asarray(k, dtype=np.float64)
        if k.shape != values.shape[-1:]:
            raise ValueError(f"k must match the last axis of values {values.shape}, got {k.shape}")
        if not np.any(k >= 1):
            raise ValueError("k must hold at least one iteration >= 1")
        ok_all = bool(np.all(ratio <= 1.0 + rtol))
        ratio = ratio[..., k >= 1]
        k = k[k >= 1]
    worst_flat = int(ratio.argmax())
    worst = float(ratio.max())
    details["worst_index"] = [int(i) for i in np.unravel_index(worst_flat, ratio.shape)]
    ok = worst <= 1.0 + rtol if k is None else ok_all
    if k is not None:
        details["worst_k"] = float(k[details["worst_index"][-1]])
        details["worst_ratio_over_k_ge_1"] = worst
    if tight is not None:
        attained = ratio.max(axis=-1) if k is not None else ratio
        details["tightness_required"] = tight
        details["min_ratio"] = float(attained.min())  # the least-attaining instance
        if k is not None:
            details["attained_at_k"] = k[ratio.argmax(axis=-1)].reshape(-1)[:16].tolist()
        ok = ok and worst >= 1.0 - tight and float(attained.min()) >= 1.0 - tight
    return Verdict("holds" if ok else "violated", predicted, worst, None, 1.0 - worst, details)


def slope(fit: RateFit, predicted: float, tol: float, *, what: str = "rate") -> Verdict:
    """A fitted rate within ``tol`` of ``predicted`` (band rule, see module docstring)."""
    status = band_status(fit.rate, (fit.ci_low, fit.ci_high), predicted, tol)
    details = {"kind": fit.kind, "window": list(fit.window), "r2": fit.r2,
               "num_points": fit.num_points, "num_seeds": fit.num_seeds,
               "num_excluded": fit.num_excluded, "tolerance": tol, "what": what}
    return Verdict(status, predicted, fit.rate, (fit.ci_low, fit.ci_high),
                   tol - abs(fit.rate - predicted), details)


def scaling(params: Sequence[float], fits: Sequence[RateFit], exponent: float, tol: float, *,
            num_draws: int = 4000, seed: int = 0) -> Verdict:
    """Fitted rates scale as ``params ** exponent``: the log-log slope of rate vs parameter.

    The CI propagates each fit's CI by a parametric bootstrap (normal, sd = CI width / 3.92).
    """
    params = np.asarray(params, dtype=np.float64)
    rates = np.array([f.rate for f in fits])
    if params.shape != rates.shape or params.size < 2:
        raise ValueError("params and fits must have the same length >= 2")
    if np.any(~np.isfinite(rates)) or np.any(rates <= 0):
        return Verdict("violated", exponent, float("nan"), None, float("nan"),
                       {"rates": rates.tolist(), "reason": "a fitted rate is not positive/finite"})
    sd = np.array([(f.ci_high - f.ci_low) / 3.92 for f in fits])
    x = np.log(params)
    xc = x - x.mean()
    draws = np.random.default_rng(seed).normal(rates, sd, size=(num_draws, rates.size))
    draws = np.log(np.clip(draws, 1e-300, None))
    boot = (draws - draws.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    measured = float((np.log(rates) - np.log(rates).mean()) @ xc / (xc @ xc))
    ci = tuple(float(q) for q in np.quantile(boot, [0.025, 0.975]))
    status = band_status(measured, ci, exponent, tol)
    return Verdict(status, exponent, measured, ci, tol - abs(measured - exponent),
                   {"params": params.tolist(), "rates": rates.tolist(), "tolerance": tol})


def ordering(a: Any, b: Any, *, names: tuple[str, str], what: str, num_bootstrap: int = 4000,
             seed: int = 0) -> Verdict:
    """Method ``names[0]`` needs less ``what`` than ``names[1]``: mean(a)/mean(b) < 1.

    ``a``/``b`` hold one value per seed (``inf`` for "never reached"). The CI of the ratio is a
    bootstrap over seeds; ``holds`` if its upper end is < 1, ``violated`` if its lower end is > 1.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)

    def ratio(x, y):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isinf(x) & np.isinf(y), 1.0, x / y)

    ra = a[rng.integers(0, a.size, (num_bootstrap, a.size))].mean(axis=1)
    rb = b[rng.integers(0, b.size, (num_bootstrap, b.size))].mean(axis=1)
    # no interpolation: "never reached" (inf) ratios must not turn into nan
    lo, hi = np.quantile(ratio(ra, rb), [0.025, 0.975], method="inverted_cdf")
    measured = float(ratio(a.mean(), b.mean()))
    status = "holds" if hi < 1 else "violated" if lo > 1 else "inconclusive"
    return Verdict(status, f"{names[0]} < {names[1]} in {what}", measured, (float(lo), float(hi)),
                   1.0 - measured, {names[0]: a.tolist(), names[1]: b.tolist()})


def certificate(certified: Any, true: Any, *, relation: str, tol: float, predicted: str) -> Verdict:
    """Certified quantities against the true ones.

    ``relation="<="``: sound, ``certified <= true + tol`` everywhere (measured: the largest
    excess ``certified - true``). ``relation="=="``: exact, ``|certified - true| <= tol``
    (measured: the largest absolute difference).
    """
    certified = np.asarray(certified, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if relation == "<=":
        measured = float(np.max(certified - true))
    elif relation == "==":
        measured = float(np.max(np.abs(certified - true)))
    else:
        raise ValueError(f"relation must be '<=' or '==', got {relation!r}")
    ok = np.isfinite(measured) and measured <= tol
    return Verdict("holds" if ok else "violated", predicted, measured, None, tol - measured,
                   {"relation": relation, "tolerance": tol, "num_points": int(certified.size)})


def local_rate(k: Any, err: Any, predicted: Any, *, rtol: float, window: Any = "auto",
               diverged: Any = None, implementation: Any = None,
               implementation_rtol: float = 1e-6) -> Verdict:
    """The measured tail rate equals the local rate of the method's own step map.

    ``predicted[s] = -log ρ_s`` (:func:`convlab.local.local_rate` at seed s's solution, on the
    directions transverse to the solution set) is an exact, instance-level prediction. Each
    seed's linear rate is fitted on ``window`` of ``err[s]``; the measured value is the mean of
    ``fitted_s / predicted_s`` with a Student-t CI over seeds (one seed: the fit's own CI), and
    the band rule applies to the band ``1 ± rtol``. ``rtol`` is the claim's allowance for the
    pre-asymptotic transient, fixed before measuring.

    ``predicted`` should come from the theory's own step map (the paper's update rule, gradients
    by autodiff of the loss), so that a wrong method or gradient cannot predict its own rate;
    ``implementation[s]`` (optional) is ``-log ρ`` of the implementation's step map
    (:func:`convlab.local.local_rate`), which must equal ``predicted`` to
    ``implementation_rtol`` (an exact identity when the code implements the theory's map):
    otherwise the verdict is ``violated``.
    """
    k = np.asarray(k, dtype=np.float64)
    err = np.atleast_2d(np.asarray(err, dtype=np.float64))
    predicted = np.broadcast_to(np.asarray(predicted, dtype=np.float64), err.shape[:1])
    flags = None if diverged is None else np.broadcast_to(np.asarray(diverged).reshape(-1), predicted.shape)
    fits = [fit_rate(k, err[s], kind="linear", window=window,
                     diverged=None if flags is None else flags[s]) for s in range(err.shape[0])]
    ratios = np.array([f.rate for f in fits]) / predicted
    details = {"predicted_rates": predicted.tolist(), "fitted_rates": [f.rate for f in fits],
               "windows": [list(f.window) for f in fits], "tolerance": rtol,
               "num_seeds": int(err.shape[0])}
    if not np.all(np.isfinite(ratios)) or np.any(predicted <= 0):
        return Verdict("violated", 1.0, float("nan"), None, float("nan"),
                       {**details, "reason": "a run diverged or has no finite tail rate"})
    if ratios.size >= 2:  # Student's t over seeds, as fit_rate's CI
        half = stats.t.ppf(0.975, ratios.size - 1) * ratios.std(ddof=1) / np.sqrt(ratios.size)
        ci = (float(ratios.mean() - half), float(ratios.mean() + half))
    else:
        ci = (fits[0].ci_low / predicted[0], fits[0].ci_high / predicted[0])
    measured = float(ratios.mean())
    status = band_status(measured, ci, 1.0, rtol)
    if implementation is not None:
        implementation = np.broadcast_to(np.asarray(implementation, dtype=np.float64), predicted.shape)
        mismatch = float(np.max(np.abs(implementation / predicted - 1.0)))
        details.update(implementation_rates=implementation.tolist(),
                       implementation_mismatch=mismatch, implementation_rtol=implementation_rtol)
        if not mismatch <= implementation_rtol:
            status = "violated"
    return Verdict(status, 1.0, measured, ci, rtol - abs(measured - 1.0), details)


def mean_fit(values: np.ndarray, *, num_bootstrap: int = 2000, seed: int = 0) -> RateFit:
    """The mean of ``values`` (one per seed) with a bootstrap 95% CI, as a RateFit for
    :func:`scaling` (``rate`` = the mean)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    mean = float(values.mean())
    if values.size > 1 and np.all(np.isfinite(values)):
        rng = np.random.default_rng(seed)
        boot = values[rng.integers(0, values.size, (num_bootstrap, values.size))].mean(axis=1)
        lo, hi = (float(q) for q in np.quantile(boot, [0.025, 0.975]))
    else:
        lo = hi = mean
    return RateFit("power", mean, lo, hi, float("nan"), (0.0, 0.0), float("nan"), values.size,
                   values.size, 0)


def worst_status(statuses: Sequence[str]) -> str:
    """The status of a claim made of parts: violated if any part is, else inconclusive if any
    part is not ``holds``, else holds."""
    if "violated" in statuses:
        return "violated"
    return "holds" if all(s == "holds" for s in statuses) else "inconclusive"


def _shown(value: Any) -> Any:
    """A predicted number as 4 significant digits (-0.5, not -0.5000000000000001)."""
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else value


def combine(verdicts: dict[str, Verdict], primary: str) -> Verdict:
    """One verdict from several named parts (:func:`worst_status`); ``measured``/``ci`` from the
    ``primary`` part, the smallest margin, every part in ``details``."""
    main = verdicts[primary]
    details = {name: {"status": v.status, "predicted": v.predicted, "measured": v.measured,
                      "ci": v.ci, "margin": v.margin, **v.details} for name, v in verdicts.items()}
    margin = float(min(v.margin for v in verdicts.values()))
    predicted = "; ".join(f"{name}: {_shown(v.predicted)}" for name, v in verdicts.items())
    return Verdict(worst_status([v.status for v in verdicts.values()]), predicted, main.measured,
                   main.ci, margin, details)
