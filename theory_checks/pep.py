"""The PEPit bridge: tight worst-case values by performance estimation (semidefinite programs).

PEPit (Goujaud, Moucer, Glineur, Hendrickx, Taylor, Dieuleveut; ``pip install convlab[pep]``, a
cvxpy backend) computes, for a fixed method and horizon ``N``, the exact worst case of a
performance measure over a function/operator class — the reference for "tight worst case" next to
convlab's measured curves and the analytic bounds (PAPERS.md §6). Backs ``monotone.pep-tight``.

Two worst cases, both normalised to constants 1 (``L = 1``, ``‖x_0 - x*‖ = 1``):

- :func:`halpern_worst_case`: Halpern's iteration ``u_{k+1} = λ_k u_0 + (1-λ_k)(u_k - (2/L) F u_k)``,
  ``λ_k = 1/(k+2)``, over ``1/L``-cocoercive ``F`` (PEPit's ``CocoerciveOperator``, whose
  interpolation conditions are exact): the worst ``‖F u_N‖ / (L‖u_0 - u*‖)``. Since ``F`` is
  ``1/L``-cocoercive iff ``T = I - (2/L)F`` is nonexpansive and ``‖u - Tu‖ = (2/L)‖Fu‖``, Lieder's
  tight bound ``‖u_N - T u_N‖ ≤ 2‖u_0 - u*‖/(N+1)`` reads ``1/(N+1)`` (:func:`halpern_bound`).
- :func:`gd_worst_case`: gradient descent with step ``h/L`` over L-smooth convex ``f``: the worst
  ``(f(x_N) - f*) / (L‖x_0 - x*‖²)``; Drori & Teboulle's tight bound ``1/(4Nh + 2)``
  (:func:`gd_bound`).

PEPit is imported lazily, inside the functions: this module (and ``theory_checks``) imports
without it; :func:`available` says whether it is installed and why not, and the solvers raise
:class:`PEPUnavailable` (an ``ImportError``) with an installation hint.

Solver accuracy: CLARABEL (interior point, the default) returned the analytic values to a
relative 1e-8–1e-6 for N ≤ 16 in our runs (SCS, first order: ≤ 1.4e-5); the claim's tolerance is
1e-4 relative.
"""

from __future__ import annotations

import functools

__all__ = ["PEPUnavailable", "available", "halpern_worst_case", "gd_worst_case", "halpern_bound",
           "gd_bound", "DEFAULT_SOLVER", "INSTALL_HINT"]

DEFAULT_SOLVER = "CLARABEL"
INSTALL_HINT = "PEPit is not installed: pip install 'convlab[pep]' (PEPit + cvxpy)"


class PEPUnavailable(ImportError):
    """PEPit (or its cvxpy backend/solver) is not installed."""


def available() -> tuple[bool, str]:
    """``(True, "")`` if PEPit and cvxpy import, else ``(False, reason)``."""
    try:
        import cvxpy  # noqa: F401
        import PEPit  # noqa: F401
    except ImportError as err:
        return False, f"{INSTALL_HINT} ({err})"
    return True, ""


def _require() -> None:
    ok, reason = available()
    if not ok:
        raise PEPUnavailable(reason)


def _solve(problem, solver: str) -> float:
    return float(problem.solve(wrapper="cvxpy", solver=solver, verbose=0))


def halpern_bound(num_steps: int) -> float:
    """Lieder's tight bound in the cocoercive form: ``‖F u_N‖ / (L‖u_0 - u*‖) ≤ 1/(N+1)``."""
    return 1.0 / (num_steps + 1.0)


def gd_bound(num_steps: int, relative_step: float = 1.0) -> float:
    """Drori & Teboulle's tight bound ``(f(x_N) - f*) / (L R²) ≤ 1/(4Nh + 2)``."""
    return 1.0 / (4.0 * num_steps * relative_step + 2.0)


@functools.lru_cache(maxsize=None)
def halpern_worst_case(num_steps: int, solver: str = DEFAULT_SOLVER) -> float:
    """Worst ``‖F u_N‖ / (L‖u_0 - u*‖)`` of Halpern (``λ_k = 1/(k+2)``, ``T = I - (2/L)F``) over
    ``1/L``-cocoercive ``F``, by PEPit (the square root of the SDP's optimal value)."""
    _require()
    from PEPit import PEP
    from PEPit.operators import CocoerciveOperator

    problem = PEP()
    F = problem.declare_function(CocoerciveOperator, beta=1.0)  # beta = 1/L, L = 1
    u_star = F.stationary_point()
    u0 = problem.set_initial_point()
    problem.set_initial_condition((u0 - u_star) ** 2 <= 1)
    u = u0
    for k in range(num_steps):
        lam = 1.0 / (k + 2)
        u = lam * u0 + (1 - lam) * (u - 2.0 * F.gradient(u))
    problem.set_performance_metric(F.gradient(u) ** 2)
    return max(_solve(problem, solver), 0.0) ** 0.5


@functools.lru_cache(maxsize=None)
def gd_worst_case(num_steps: int, relative_step: float = 1.0, solver: str = DEFAULT_SOLVER) -> float:
    """Worst ``(f(x_N) - f*) / (L‖x_0 - x*‖²)`` of GD with step ``h/L`` over L-smooth convex
    ``f``, by PEPit."""
    _require()
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    problem = PEP()
    f = problem.declare_function(SmoothConvexFunction, L=1.0)
    x_star = f.stationary_point()
    f_star = f(x_star)
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - x_star) ** 2 <= 1)
    x = x0
    for _ in range(num_steps):
        x = x - relative_step * f.gradient(x)
    problem.set_performance_metric(f(x) - f_star)
    return _solve(problem, solver)
