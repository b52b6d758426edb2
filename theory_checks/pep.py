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

A method declares its PEPit model ONCE with :func:`pep_model` (a builder that declares the class,
runs the method symbolically and sets the initial condition and the performance measure); any
claim then asks :func:`worst_case` (``name``, ``N``, the method's parameters) for the value, or
:func:`worst_case_points` for the worst case itself (points, gradients, values of the first
declared function; optionally PEPit's ``dimension_reduction_heuristic``), solved once per
process (``lru_cache``; the value and the plain solution's points share one solve). Declared
here: ``gd``, ``fgm``, ``ogm``, ``heavy_ball``, ``ppm``, ``halpern``, ``eag`` (see each
builder's docstring for the normalisation).

PEPit is imported lazily, inside the functions: this module (and ``theory_checks``) imports
without it; :func:`available` says whether it is installed and why not, and the solvers raise
:class:`PEPUnavailable` (an ``ImportError``) with an installation hint.

Solver accuracy: CLARABEL (interior point, the default) returned the analytic values to a
relative 1e-8–1e-6 for N ≤ 16 in our runs (SCS, first order: ≤ 1.4e-5); monotone.pep-tight's
tolerance is 1e-4 relative, the worst_case family's 1e-5.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

__all__ = ["PEPUnavailable", "available", "halpern_worst_case", "gd_worst_case", "halpern_bound",
           "gd_bound", "DEFAULT_SOLVER", "INSTALL_HINT", "pep_model", "models", "worst_case",
           "ogm_thetas", "WorstCasePoints", "worst_case_points"]

DEFAULT_SOLVER = "CLARABEL"
INSTALL_HINT = "PEPit is not installed: pip install 'convlab[pep]' (PEPit + cvxpy)"
REDUCTION_TOL = 1e-8  # slack of the dimension-reduction SDP (PEPit default 1e-4: a 1e-3 loss)


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


_MODELS: dict = {}


def pep_model(name: str):
    """Register ``build(problem, num_steps, **params)`` as the PEPit model of method ``name``.
    ``build`` declares the class on the ``PEP`` instance, runs the method, sets the initial
    condition and the performance metric, and may return a post-processing of the SDP value
    (a callable, e.g. a square root), or ``None``."""
    def register(build):
        _MODELS[name] = build
        return build
    return register


def models() -> tuple[str, ...]:
    """The names of the declared PEPit models."""
    return tuple(sorted(_MODELS))


def worst_case(name: str, num_steps: int, *, solver: str = DEFAULT_SOLVER, **params) -> float:
    """The exact worst case of method ``name`` after ``num_steps`` steps (the model's
    normalisation), by PEPit; cached per process on ``(name, N, params, solver)``."""
    if name not in _MODELS:
        raise ValueError(f"name: no PEPit model {name!r}; declared: {models()}")
    return _worst_case(name, int(num_steps), tuple(sorted(params.items())), solver)


def _worst_case(name: str, num_steps: int, params: tuple, solver: str) -> float:
    return _worst_case_points(name, num_steps, params, solver, None).value


@dataclasses.dataclass(frozen=True)
class WorstCasePoints:
    """A worst case of a model's first declared function, in PEP's normalisation: the value,
    ``x0``, and every point the method queried (``x*`` first) with its gradient and value, as
    coordinates of the Gram factorisation PEPit returns (``[m, d]``)."""

    value: float
    x0: np.ndarray
    points: np.ndarray
    grads: np.ndarray
    values: np.ndarray

    def project_1d(self) -> tuple[float, np.ndarray, np.ndarray, float]:
        """Coordinates along the leading direction ``u`` of ``[points - x*; grads]``:
        ``(x0·u, points·u, grads·u, residual)`` with ``x*`` at 0 and ``residual`` the second
        singular value over the first (0 for an exactly one-dimensional worst case)."""
        stacked = np.vstack([self.points - self.points[0], self.grads])
        _, s, vt = np.linalg.svd(stacked, full_matrices=False)
        u = vt[0]
        residual = float(s[1] / s[0]) if len(s) > 1 else 0.0
        return (float((self.x0 - self.points[0]) @ u), (self.points - self.points[0]) @ u,
                self.grads @ u, residual)


def worst_case_points(name: str, num_steps: int, *, reduce: str | None = "trace",
                      solver: str = DEFAULT_SOLVER, **params) -> WorstCasePoints:
    """The worst case itself (not only its value) of model ``name``, solved with PEPit's
    ``dimension_reduction_heuristic=reduce`` (a low-rank solution of the same value); cached."""
    if name not in _MODELS:
        raise ValueError(f"name: no PEPit model {name!r}; declared: {models()}")
    return _worst_case_points(name, int(num_steps), tuple(sorted(params.items())), solver, reduce)


@functools.lru_cache(maxsize=None)
def _worst_case_points(name: str, num_steps: int, params: tuple, solver: str,
                       reduce: str | None) -> WorstCasePoints:
    _require()
    from PEPit import PEP

    problem = PEP()
    post = _MODELS[name](problem, num_steps, **dict(params))
    value = float(problem.solve(wrapper="cvxpy", solver=solver, verbose=0,
                                dimension_reduction_heuristic=reduce,
                                **({"tol_dimension_reduction": REDUCTION_TOL} if reduce else {})))
    f = problem.list_of_functions[0]
    star = f.list_of_stationary_points[:1]
    rest = [t for t in f.list_of_points if t[0] is not star[0][0]] if star else f.list_of_points
    triples = star + rest

    def vec(point):
        return np.atleast_1d(np.asarray(point.eval(), dtype=np.float64))
    value = float(post(value)) if post is not None else value
    try:
        return WorstCasePoints(value, vec(problem.list_of_points[0]),
                               np.array([vec(x) for x, _, _ in triples]),
                               np.array([vec(g) for _, g, _ in triples]),
                               np.array([float(v.eval()) for _, _, v in triples]))
    except Exception:  # noqa: BLE001  (an operator's unused "values" cannot be evaluated)
        empty = np.zeros((0, 1))
        return WorstCasePoints(value, empty[0:0, 0], empty, empty, np.zeros(0))


def halpern_worst_case(num_steps: int, solver: str = DEFAULT_SOLVER) -> float:
    """Worst ``‖F u_N‖ / (L‖u_0 - u*‖)`` of Halpern (``λ_k = 1/(k+2)``, ``T = I - (2/L)F``) over
    ``1/L``-cocoercive ``F``, by PEPit (the square root of the SDP's optimal value)."""
    return worst_case("halpern", num_steps, solver=solver)


def gd_worst_case(num_steps: int, relative_step: float = 1.0, solver: str = DEFAULT_SOLVER) -> float:
    """Worst ``(f(x_N) - f*) / (L‖x_0 - x*‖²)`` of GD with step ``h/L`` over L-smooth convex
    ``f``, by PEPit."""
    return worst_case("gd", num_steps, solver=solver, relative_step=float(relative_step))


def ogm_thetas(num_steps: int) -> list[float]:
    """Kim & Fessler's ``θ_0..θ_N``: ``θ_i = (1 + √(1 + 4θ_{i-1}²))/2`` for ``i < N``, the last
    with ``8`` in place of ``4``."""
    thetas = [1.0]
    for i in range(1, num_steps + 1):
        c = 8.0 if i == num_steps else 4.0
        thetas.append((1.0 + (1.0 + c * thetas[-1] ** 2) ** 0.5) / 2.0)
    return thetas


def _smooth_convex(problem):
    """``f`` L-smooth convex (``L = 1``), ``x*``, ``f*`` and ``x_0`` with ``‖x_0 - x*‖ ≤ 1``."""
    from PEPit.functions import SmoothConvexFunction
    f = problem.declare_function(SmoothConvexFunction, L=1.0)
    x_star = f.stationary_point()
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - x_star) ** 2 <= 1)
    return f, f(x_star), x0


@pep_model("gd")
def _gd(problem, num_steps, relative_step=1.0):
    """GD, step ``h/L``: worst ``(f(x_N) - f*)/(L R²)``."""
    f, f_star, x = _smooth_convex(problem)
    for _ in range(num_steps):
        x = x - relative_step * f.gradient(x)
    problem.set_performance_metric(f(x) - f_star)


@pep_model("fgm")
def _fgm(problem, num_steps):
    """Nesterov's FGM (FISTA form, step 1/L, ``t_0 = 1``): worst ``(f(x_N) - f*)/(L R²)``."""
    f, f_star, x = _smooth_convex(problem)
    y, t = x, 1.0
    for _ in range(num_steps):
        x_new = y - f.gradient(y)
        t_new = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        y = x_new + ((t - 1.0) / t_new) * (x_new - x)
        x, t = x_new, t_new
    problem.set_performance_metric(f(x) - f_star)


@pep_model("ogm")
def _ogm(problem, num_steps):
    """Kim & Fessler's OGM (step 1/L): worst ``(f(x_N) - f*)/(L R²)``."""
    f, f_star, x = _smooth_convex(problem)
    th = ogm_thetas(num_steps)
    y = x
    for i in range(num_steps):
        y_new = x - f.gradient(x)
        x = y_new + ((th[i] - 1.0) / th[i + 1]) * (y_new - y) + (th[i] / th[i + 1]) * (y_new - x)
        y = y_new
    problem.set_performance_metric(f(x) - f_star)


@pep_model("ppm")
def _ppm(problem, num_steps, step=1.0):
    """Proximal point, step ``γ`` (``R = 1``) over convex ``f``: worst ``f(x_N) - f*``."""
    from PEPit.functions import ConvexFunction
    from PEPit.primitive_steps import proximal_step
    f = problem.declare_function(ConvexFunction)
    x_star = f.stationary_point()
    x = problem.set_initial_point()
    problem.set_initial_condition((x - x_star) ** 2 <= 1)
    fx = None
    for _ in range(num_steps):
        x, _, fx = proximal_step(x, f, step)
    problem.set_performance_metric(fx - f(x_star))


@pep_model("halpern")
def _halpern(problem, num_steps):
    """Halpern (``λ_k = 1/(k+2)``, ``T = I - 2F``) over 1-cocoercive ``F``: worst ``‖F u_N‖``
    (the square root of the SDP value; ``R = 1``)."""
    from PEPit.operators import CocoerciveOperator
    F = problem.declare_function(CocoerciveOperator, beta=1.0)  # beta = 1/L, L = 1
    u_star = F.stationary_point()
    u0 = problem.set_initial_point()
    problem.set_initial_condition((u0 - u_star) ** 2 <= 1)
    u = u0
    for k in range(num_steps):
        lam = 1.0 / (k + 2)
        u = lam * u0 + (1 - lam) * (u - 2.0 * F.gradient(u))
    problem.set_performance_metric(F.gradient(u) ** 2)
    return lambda value: max(value, 0.0) ** 0.5


@pep_model("eag")
def _eag(problem, num_steps, step=0.125):
    """EAG-C (Yoon & Ryu), step ``α/L``, over monotone 1-Lipschitz ``F`` (PEPit's
    ``LipschitzStronglyMonotoneOperatorCheap(mu=0)``, whose conditions are necessary only: the value
    is an upper bound on the true worst case): worst ``‖F z_N‖²/(L² R²)``."""
    from PEPit.operators import LipschitzStronglyMonotoneOperatorCheap
    F = problem.declare_function(LipschitzStronglyMonotoneOperatorCheap, mu=0.0, L=1.0)
    z_star = F.stationary_point()
    z0 = problem.set_initial_point()
    problem.set_initial_condition((z0 - z_star) ** 2 <= 1)
    z = z0
    for k in range(num_steps):
        base = z + (z0 - z) / (k + 2.0)
        half = base - step * F.gradient(z)
        z = base - step * F.gradient(half)
    problem.set_performance_metric(F.gradient(z) ** 2)


@pep_model("heavy_ball")
def _heavy_ball(problem, num_steps, step=1.0 / 9.0, momentum=4.0 / 9.0, mu=1.0, L=25.0):
    """Heavy ball ``x_{k+1} = x_k - α∇f(x_k) + β(x_k - x_{k-1})`` (``x_{-1} = x_0``) over
    ``μ``-strongly convex ``L``-smooth ``f``: worst ``‖x_N - x*‖²/‖x_0 - x*‖²``."""
    from PEPit.functions import SmoothStronglyConvexFunction
    f = problem.declare_function(SmoothStronglyConvexFunction, mu=mu, L=L)
    x_star = f.stationary_point()
    x = problem.set_initial_point()
    problem.set_initial_condition((x - x_star) ** 2 <= 1)
    x_prev = x
    for _ in range(num_steps):
        x, x_prev = x - step * f.gradient(x) + momentum * (x - x_prev), x
    problem.set_performance_metric((x - x_star) ** 2)
