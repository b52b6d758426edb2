"""Property tests of your own theorems: ``assert_rate``, ``assert_envelope``, ``assert_ordering``,
``assert_local_rate`` (DESIGN.md, "For researchers' own code").

Each is a thin wrapper over the rule of the same kind in :mod:`theory_checks.kinds` (one judging
code for claims and tests): it builds the :class:`~theory_checks.verdict.Verdict`, returns it
when it ``holds`` and otherwise raises ``AssertionError`` with the verdict's numbers (predicted,
measured, CI, window, worst point). An ``inconclusive`` verdict fails too, unless
``inconclusive_ok=True``: a CI too wide to decide means "measure more", never "pass".

This module is the engine's one door to the top floor: the rules live in ``theory_checks.kinds``,
imported when an assertion runs (``import convlab.testing`` imports neither ``theory_checks``
nor any family; ``theory_checks.kinds`` itself imports no family either).

Example (in a test; the pytest plugin turns float64 on)::

    trace = convlab.run(key, nesterov(1 / L), problem, ...)
    assert_envelope(trace["gap"], 2 * L * r0**2 / (trace.k + 1) ** 2, k=trace.k)
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

__all__ = ["fresh_programs", "assert_rate", "assert_envelope", "assert_ordering", "assert_local_rate",
           "assert_verdict"]


def _kinds():
    return importlib.import_module("theory_checks.kinds")  # the top floor, reached lazily


def _num(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in value) + "]"
    return str(value)


_SHOWN = ("window", "windows", "worst_index", "worst_k", "min_ratio", "tightness_required",
          "r2", "num_seeds", "num_excluded", "num_nonfinite", "tolerance", "fitted_rates",
          "predicted_rates", "implementation_mismatch", "model", "reason")


def assert_verdict(verdict: Any, *, what: str = "claim", inconclusive_ok: bool = False) -> Any:
    """Return ``verdict`` if it holds (or is inconclusive and ``inconclusive_ok``), else raise
    ``AssertionError`` listing its numbers."""
    if verdict.status == "holds" or (inconclusive_ok and verdict.status == "inconclusive"):
        return verdict
    lines = [f"{what}: {verdict.status}",
             f"  predicted: {_num(verdict.predicted)}",
             f"  measured:  {_num(verdict.measured)}",
             f"  CI:        {_num(list(verdict.ci)) if verdict.ci is not None else 'none (exact rule)'}",
             f"  margin:    {_num(verdict.margin)}"]
    lines += [f"  {name}: {_num(verdict.details[name])}" for name in _SHOWN if name in verdict.details]
    raise AssertionError("\n".join(lines))


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def assert_rate(k: Any, err: Any, predicted: float, tol: float, *, kind: str = "linear",
                window: Any = "auto", diverged: Any = None, inconclusive_ok: bool = False,
                what: str = "rate") -> Any:
    """The fitted rate of ``err`` over ``k`` lies within ``tol`` of ``predicted`` (the *slope*
    rule: the whole CI inside the band).

    Args:
      k: record iterations ``[R]`` (``trace.k``).
      err: errors ``[R]`` or ``[seeds, R]``.
      predicted: the theory's rate (``-log ρ`` per iteration for ``linear``, the exponent ``p``
        of ``k^-p`` for ``power``).
      tol: the band's half-width, fixed from the theory before measuring.
      kind, window, diverged: as in :func:`convlab.fit_rate`.
    """
    from convlab.rates import fit_rate

    tol = _positive("tol", tol)
    if isinstance(predicted, bool) or not np.isfinite(predicted):
        raise ValueError(f"predicted must be a finite number, got {predicted!r}")
    fit = fit_rate(k, err, kind=kind, window=window, diverged=diverged)
    verdict = _kinds().slope(fit, float(predicted), tol, what=what)
    verdict.details["model"] = fit.model or "unchecked"
    return assert_verdict(verdict, what=f"{what} ({kind})", inconclusive_ok=inconclusive_ok)


def assert_envelope(values: Any, bound: Any, *, k: Any = None, rtol: float = 1e-9,
                    atol: float = 0.0, tight: float | None = None, predicted: str = "bound",
                    what: str = "envelope") -> Any:
    """Every entry of ``values`` stays under ``bound`` (broadcast), up to rounding ``rtol`` and
    the absolute floor ``atol``; with ``tight`` it is also attained to within that fraction.
    ``k`` names the record axis (the last one), so the worst point is reported as an iteration.
    """
    verdict = _kinds().envelope(values, bound, predicted=predicted, rtol=rtol, atol=atol,
                                tight=tight, k=k)
    return assert_verdict(verdict, what=what)


def assert_ordering(a: Any, b: Any, *, names: tuple[str, str] = ("a", "b"),
                    what: str = "cost", inconclusive_ok: bool = False) -> Any:
    """``names[0]`` needs less ``what`` than ``names[1]``: the bootstrap CI over seeds of
    ``mean(a) / mean(b)`` lies below 1 (``a``, ``b``: one value per seed, ``inf`` = never)."""
    if not (isinstance(names, tuple) and len(names) == 2 and all(isinstance(n, str) for n in names)):
        raise TypeError(f"names must be a pair of strings, got {names!r}")
    verdict = _kinds().ordering(a, b, names=names, what=what)
    return assert_verdict(verdict, what=f"ordering {names[0]} < {names[1]} in {what}",
                          inconclusive_ok=inconclusive_ok)


def assert_local_rate(k: Any, err: Any, predicted: Any, *, rtol: float, window: Any = "auto",
                      diverged: Any = None, implementation: Any = None,
                      inconclusive_ok: bool = False) -> Any:
    """The measured tail rate of each seed equals ``predicted[s] = -log ρ_s`` of the step map's
    Jacobian at the solution (:func:`convlab.local.local_rate`), to within ``rtol`` (the
    *local-rate* rule)."""
    rtol = _positive("rtol", rtol)
    verdict = _kinds().local_rate(k, err, predicted, rtol=rtol, window=window, diverged=diverged,
                                  implementation=implementation)
    return assert_verdict(verdict, what="local rate", inconclusive_ok=inconclusive_ok)


def fresh_programs() -> None:
    """Drop every compiled program, JAX's and ``convlab.sweep``'s own cache of vmapped sweeps, so
    code patched since (a mutation test: a broken step monkeypatched in) is traced afresh."""
    import jax

    jax.clear_caches()
    importlib.import_module("convlab.sweep")._compiled_sweep.cache_clear()
