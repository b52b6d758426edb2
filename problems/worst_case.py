"""Instances for the worst_case family (PAPERS-wave2.md §12): genuine members of each function
class on which a method attains its PEP worst case, the Lessard–Recht–Packard function, and
quadratics.

- :func:`make_gd_worst_case`: GD with step ``h/L`` for N steps: the radial Huber function with
  kink ``τ = R/(2Nh + 1)`` (when ``1/(2Nh+1) ≥ (1-h)^{2N}``) or the quadratic ``(L/2)‖x‖²``
  (``τ = R``: every iterate stays in the ball where it is quadratic) — the two terms of the
  Drori–Teboulle/Teboulle–Vaisbourd bound ``(LR²/2) max{1/(2Nh+1), (1-h)^{2N}}``.
- :func:`make_ogm_worst_case`: OGM's Huber function, ``τ = R/θ_N²`` (Kim & Fessler 2016).
- :func:`make_ppm_worst_case`: ``f(x) = c‖x‖``, ``c = R/(2Nγ)``: proximal point attains
  ``R²/(4Nγ)`` (x_N = x_0/2).
- :func:`make_halpern_worst_case`: the point reflection ``T x = 2x* - x`` (Lieder's bound is
  attained at even N); :func:`make_skew_operator`: ``F z = L J z`` (J a 90° rotation), monotone
  and L-Lipschitz, the instance EAG's worst case is measured on.
- :func:`make_lessard_recht_packard`: the 1-D function of Lessard, Recht & Packard 2016 (§4.6),
  μ-strongly convex and L-smooth, on which heavy ball cycles; :func:`make_quadratic`: diagonal
  quadratics with spectrum in ``[μ, L]`` (both ends included).

Class membership is checked by sampled interpolation inequalities (:func:`interpolation_violation`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.metrics import distance_to_solution, loss_gap
from convlab.problem import Static, problem_dataclass
from convlab.validate import (checked_generator, require_in_range, require_int, require_number,
                              require_positive)

__all__ = ["HuberType", "make_gd_worst_case", "make_ogm_worst_case", "ScaledNorm",
           "make_ppm_worst_case", "PointReflection", "make_halpern_worst_case", "SkewOperator",
           "make_skew_operator", "LessardRechtPackard", "make_lessard_recht_packard",
           "DiagonalQuadratic", "make_quadratic", "gd_bound", "ogm_theta", "interpolation_violation",
           "lrp_cycle", "Interpolant1D", "make_interpolated_worst_case"]


def gd_bound(num_steps: int, relative_step: float) -> float:
    """``max{1/(2Nh+1), (1-h)^{2N}}/2``: GD's tight ``(f(x_N) - f*)/(L R²)`` (h ∈ (0, 2))."""
    h = relative_step
    return 0.5 * max(1.0 / (2 * num_steps * h + 1), (1.0 - h) ** (2 * num_steps))


def ogm_theta(num_steps: int) -> float:
    """Kim & Fessler's last ``θ_N`` (the 8-rule at the last step)."""
    theta = 1.0
    for i in range(1, num_steps + 1):
        theta = (1.0 + math.sqrt(1.0 + (8.0 if i == num_steps else 4.0) * theta**2)) / 2.0
    return theta


def _start(key: jax.Array, dim: int, R: float) -> jax.Array:
    v = jax.random.normal(key, (dim,))
    return R * v / jnp.linalg.norm(v)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class HuberType:
    """``f(x) = φ(‖x‖)``, φ Huber: ``(L/2)r²`` for ``r ≤ τ``, ``Lτr - Lτ²/2`` beyond; L-smooth
    convex, ``x* = 0``, ``f* = 0``."""

    L: jax.Array
    tau: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array

    def loss(self, x: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        return jnp.where(r <= self.tau, 0.5 * self.L * r**2,
                         self.L * self.tau * r - 0.5 * self.L * self.tau**2)

    def grad(self, x: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        return self.L * jnp.minimum(1.0, self.tau / jnp.maximum(r, 1e-300)) * x

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": loss_gap}


def _huber(key, tau, dim, L, R) -> HuberType:
    x0 = _start(key, dim, R)
    zero = jnp.zeros((), x0.dtype)
    return HuberType(jnp.asarray(L, x0.dtype), jnp.asarray(tau, x0.dtype), x0,
                     jnp.zeros_like(x0), zero)


@checked_generator
def make_gd_worst_case(key: jax.Array, *, num_steps: int, relative_step: float = 1.0,
                       dim: int = 1, L: float = 1.0, R: float = 1.0) -> HuberType:
    """GD (step ``h/L``, N steps) attains ``L R² gd_bound(N, h)`` here; ``x0`` of norm R in a
    random direction."""
    n = require_int("num_steps", num_steps, minimum=1)
    d = require_int("dim", dim, minimum=1)
    require_in_range("relative_step", relative_step, 0.0, 2.0, closed="neither")
    require_positive("L", L)
    require_positive("R", R)
    h = float(relative_step)
    huber = 1.0 / (2 * n * h + 1) >= (1.0 - h) ** (2 * n)
    return _huber(key, R / (2 * n * h + 1) if huber else R, d, L, R)


@checked_generator
def make_ogm_worst_case(key: jax.Array, *, num_steps: int, dim: int = 1, L: float = 1.0,
                        R: float = 1.0) -> HuberType:
    """OGM (N steps, step 1/L) attains ``L R²/(2θ_N²)`` here (Huber kink ``τ = R/θ_N²``)."""
    n = require_int("num_steps", num_steps, minimum=1)
    d = require_int("dim", dim, minimum=1)
    require_positive("L", L)
    require_positive("R", R)
    return _huber(key, R / ogm_theta(n) ** 2, d, L, R)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class ScaledNorm:
    """``f(x) = c‖x‖`` (convex, nonsmooth; ``x* = 0``, ``f* = 0``) with its exact prox."""

    c: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array

    def loss(self, x: jax.Array) -> jax.Array:
        return self.c * jnp.linalg.norm(x)

    def subgrad(self, x: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        return self.c * x / jnp.maximum(r, 1e-300)

    def prox(self, x: jax.Array, gamma: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        return jnp.maximum(0.0, 1.0 - gamma * self.c / jnp.maximum(r, 1e-300)) * x

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": loss_gap}


@checked_generator
def make_ppm_worst_case(key: jax.Array, *, num_steps: int, step: float = 1.0, dim: int = 1,
                        R: float = 1.0) -> ScaledNorm:
    """Proximal point (step γ, N steps) attains ``R²/(4Nγ)`` on ``c‖x‖``, ``c = R/(2Nγ)``."""
    n = require_int("num_steps", num_steps, minimum=1)
    d = require_int("dim", dim, minimum=1)
    require_positive("step", step)
    require_positive("R", R)
    x0 = _start(key, d, R)
    return ScaledNorm(jnp.asarray(R / (2 * n * step), x0.dtype), x0, jnp.zeros_like(x0),
                      jnp.zeros((), x0.dtype))


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class PointReflection:
    """``T x = 2x* - x`` (nonexpansive); ``fixed_point_map(x, η) = (1-η)x + ηTx``."""

    x0: jax.Array
    x_star: jax.Array

    def T(self, x: jax.Array) -> jax.Array:
        return 2.0 * self.x_star - x

    def fixed_point_map(self, x: jax.Array, step_size: jax.Array) -> jax.Array:
        return (1.0 - step_size) * x + step_size * self.T(x)

    def default_metrics(self) -> dict[str, Any]:
        return {"residual": lambda p, x: jnp.linalg.norm(x - p.T(x))}


@checked_generator
def make_halpern_worst_case(key: jax.Array, *, dim: int = 2, R: float = 1.0) -> PointReflection:
    """Halpern on ``T x = 2x* - x`` meets ``‖x_N - T x_N‖ = 2R/(N+1)`` at even N."""
    d = require_int("dim", dim, minimum=1)
    require_positive("R", R)
    k1, k2 = jax.random.split(key)
    x_star = jax.random.normal(k1, (d,))
    return PointReflection(x_star + _start(k2, d, R), x_star)


@problem_dataclass
class SkewOperator:
    """``F z = L J z``, J a 90° rotation in each coordinate pair: monotone, L-Lipschitz, ``z* = 0``;
    unconstrained (``resolvent`` is the identity), one component."""

    L: jax.Array
    x0: jax.Array
    x_star: jax.Array
    n_components: Static[int] = 1

    def F(self, z: jax.Array) -> jax.Array:
        pairs = z.reshape(-1, 2)
        return self.L * jnp.stack([pairs[:, 1], -pairs[:, 0]], axis=1).reshape(z.shape)

    def resolvent(self, z: jax.Array, eta: jax.Array) -> jax.Array:
        del eta
        return z

    def default_metrics(self) -> dict[str, Any]:
        return {"residual_sq": lambda p, z: jnp.sum(p.F(z) ** 2)}


@checked_generator
def make_skew_operator(key: jax.Array, *, dim: int = 2, L: float = 1.0, R: float = 1.0) -> SkewOperator:
    """The bilinear game ``F z = L J z`` (dim even), ``z_0`` of norm R."""
    d = require_int("dim", dim, minimum=2)
    if d % 2:
        raise ValueError(f"dim must be even, got {d}")
    require_positive("L", L)
    require_positive("R", R)
    x0 = _start(key, d, R)
    return SkewOperator(jnp.asarray(L, x0.dtype), x0, jnp.zeros_like(x0))


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class LessardRechtPackard:
    """The 1-D function with ``f'(x) = Lx`` (x < 1), ``μx + (L - μ)`` (1 ≤ x < 2),
    ``Lx - (L - μ)`` (x ≥ 2): μ-strongly convex, L-smooth, ``x* = 0``, ``f* = 0``."""

    mu: jax.Array
    L: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array

    def grad(self, x: jax.Array) -> jax.Array:
        mu, L = self.mu, self.L
        return jnp.where(x < 1.0, L * x, jnp.where(x < 2.0, mu * x + (L - mu), L * x - (L - mu)))

    def loss(self, x: jax.Array) -> jax.Array:
        mu, L = self.mu, self.L
        x = x[0]
        return jnp.where(x < 1.0, 0.5 * L * x**2,
                         jnp.where(x < 2.0, 0.5 * mu * x**2 + (L - mu) * (x - 0.5),
                                   0.5 * L * x**2 - (L - mu) * x + 3.0 * (L - mu) / 2.0 - 0.0))

    def default_metrics(self) -> dict[str, Any]:
        return {"distance": distance_to_solution}


@checked_generator
def make_lessard_recht_packard(key: jax.Array, *, x0: float = 3.3, mu: float = 1.0,
                               L: float = 25.0) -> LessardRechtPackard:
    """The LRP function (1-D, shape ``(1,)``) started at ``x_{-1} = x_0 = x0`` (key unused:
    the instance is deterministic)."""
    del key
    require_number("x0", x0)
    require_positive("mu", mu)
    require_positive("L", L)
    if not float(L) > float(mu):
        raise ValueError(f"L must exceed mu, got L={L}, mu={mu}")
    start = jnp.asarray([float(x0)])
    zero = jnp.zeros((), start.dtype)
    return LessardRechtPackard(jnp.asarray(mu, start.dtype), jnp.asarray(L, start.dtype), start,
                               jnp.zeros_like(start), zero)


def lrp_cycle(step: float, momentum: float, mu: float = 1.0, L: float = 25.0) -> np.ndarray:
    """The period-3 orbit of heavy ball on the LRP function with two points where ``f' = Lx``
    and one where ``f' = Lx - (L - μ)`` (solved exactly: the 3-periodic linear recurrence)."""
    # x_{k+1} = (1 + β - αL) x_k - β x_{k-1} + α c_k,  c = (0, 0, L - μ) over the period
    a, b = step, momentum
    A = np.zeros((3, 3))
    rhs = np.zeros(3)
    for k in range(3):   # unknowns p0, p1, p2; p_{k+1} from p_k, p_{k-1}
        A[k, (k + 1) % 3] += 1.0
        A[k, k] -= 1.0 + b - a * L
        A[k, (k - 1) % 3] += b
        rhs[k] = a * (L - mu) if k == 2 else 0.0
    return np.linalg.solve(A, rhs)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class DiagonalQuadratic:
    """``f(x) = ½ Σ_i λ_i x_i²`` with ``λ`` in ``[μ, L]`` (heavy ball is rotation-equivariant,
    so a diagonal Hessian loses nothing); ``x* = 0``, ``f* = 0``."""

    eigs: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array

    def loss(self, x: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(self.eigs * x**2)

    def grad(self, x: jax.Array) -> jax.Array:
        return self.eigs * x

    def default_metrics(self) -> dict[str, Any]:
        return {"distance": distance_to_solution}


@checked_generator
def make_quadratic(key: jax.Array, *, dim: int, mu: float = 1.0, L: float = 25.0,
                   R: float = 1.0) -> DiagonalQuadratic:
    """Spectrum ``{μ, L}`` ∪ uniform in between (dim ≥ 2), ``x0`` of norm R in a random direction."""
    d = require_int("dim", dim, minimum=2)
    require_positive("mu", mu)
    require_positive("L", L)
    require_positive("R", R)
    if not float(L) >= float(mu):
        raise ValueError(f"L must be >= mu, got L={L}, mu={mu}")
    k1, k2 = jax.random.split(key)
    inner = jax.random.uniform(k1, (d - 2,), minval=float(mu), maxval=float(L))
    eigs = jnp.concatenate([jnp.asarray([float(mu), float(L)]), inner])
    x0 = _start(k2, d, R)
    return DiagonalQuadratic(eigs, x0, jnp.zeros_like(x0), jnp.zeros((), x0.dtype))


# ---------------------------------------------------------------------------------------------
def interpolation_violation(problem: Any, points: np.ndarray, *, L: float, mu: float = 0.0,
                            smooth: bool = True) -> float:
    """The largest violation, over all ordered pairs of ``points`` ``[m, d]``, of the
    interpolation inequality of the class (THG 2017 Thm 4; ``smooth=False``: convexity with the
    subgradient), relative to the scale of the values. 0 for a member of the class (rounding)."""
    return float(_violation(problem, jnp.asarray(points), jnp.asarray(float(L)),
                            jnp.asarray(float(mu)), smooth))


@functools.partial(jax.jit, static_argnums=4)
def _violation(problem: Any, X: jax.Array, L: jax.Array, mu: jax.Array, smooth: bool) -> jax.Array:
    f = jax.vmap(problem.loss)(X)
    g = jax.vmap(problem.grad if smooth else problem.subgrad)(X)
    dx = X[:, None, :] - X[None, :, :]              # x_i - x_j
    dg = g[:, None, :] - g[None, :, :]
    lower = f[None, :] + jnp.einsum("jd,ijd->ij", g, dx)   # f_j + <g_j, x_i - x_j>
    if smooth:
        q = 1.0 / (2.0 * (1.0 - mu / L))
        lower = lower + q * (jnp.sum(dg**2, -1) / L + mu * jnp.sum(dx**2, -1)
                             - 2.0 * mu / L * jnp.sum(dg * dx, -1))
    scale = 1.0 + jnp.max(jnp.abs(f))
    return jnp.max(jnp.maximum(lower - f[:, None], 0.0)) / scale


# ---------------------------------------------------------------------------------------------
def _lower_hull(z: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the lower convex hull of the points ``(z_i, c_i)`` (sorted by z)."""
    order = np.lexsort((c, z))
    hull: list[tuple[float, float]] = []
    for p in zip(z[order], c[order]):
        if hull and p[0] - hull[-1][0] <= 1e-14 * (1.0 + abs(p[0])):
            continue   # same abscissa: the lower value came first
        while len(hull) >= 2 and ((hull[-1][0] - hull[-2][0]) * (p[1] - hull[-2][1])
                                  - (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0])) <= 0.0:
            hull.pop()
        hull.append(p)
    arr = np.array(hull)
    return arr[:, 0], arr[:, 1]


@problem_dataclass
class Interpolant1D:
    """The smooth convex interpolant (THG 2017) of 1-D data ``(x_i, g_i, f_i)``:
    ``f(x) = min_w (L/2)(x - w)² + φ(w)``, φ the lower convex hull of ``(x_i - g_i/L,
    f_i - g_i²/(2L))`` on its vertices' range — convex and L-smooth for any data (an infimal
    convolution of a convex function with (L/2)|·|²), equal to ``f_i`` with gradient ``g_i`` at
    ``x_i`` when the data satisfy the interpolation conditions. ``x*``: the lowest vertex.

    φ is stored as breakpoints ``b`` and slopes ``s`` (padded with empty segments to a fixed
    size, so every horizon shares one compiled program); the minimiser is the exact prox
    ``w*(x) = b_0 + Σ_j (clip(x - s_j/L, b_j, b_{j+1}) - b_j)`` (no argmin: no near-tie errors)."""

    b: jax.Array       # breakpoints [P + 1], non-decreasing
    s: jax.Array       # slopes [P], non-decreasing
    c0: jax.Array      # φ(b_0)
    L: jax.Array
    x0: jax.Array      # [1]
    x_star: jax.Array  # [1]
    f_star: jax.Array

    def _phi(self, w: jax.Array) -> jax.Array:
        return self.c0 + jnp.sum(self.s * (jnp.clip(w, self.b[:-1], self.b[1:]) - self.b[:-1]))

    def _prox(self, x: jax.Array) -> jax.Array:
        lo, hi = self.b[:-1], self.b[1:]
        return self.b[0] + jnp.sum(jnp.clip(x - self.s / self.L, lo, hi) - lo)

    def loss(self, x: jax.Array) -> jax.Array:
        w = self._prox(x[0])
        return 0.5 * self.L * (x[0] - w) ** 2 + self._phi(w)

    def grad(self, x: jax.Array) -> jax.Array:
        return self.L * (x - self._prox(x[0]))

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": loss_gap}


@checked_generator
def make_interpolated_worst_case(key: jax.Array, *, points: Any = (0.0, 1.0),
                                 grads: Any = (0.0, 0.5), values: Any = (0.0, 0.25),
                                 x0: float = 1.0, L: float = 1.0,
                                 num_segments: int = 40) -> Interpolant1D:
    """The 1-D L-smooth convex interpolant of ``(points, grads, values)`` (e.g. a PEP worst
    case projected on its leading direction), started at ``x0``; φ padded to ``num_segments``
    segments (key unused: deterministic). The defaults are two samples of ``x²/4``."""
    del key
    require_positive("L", L)
    require_number("x0", x0)
    P = require_int("num_segments", num_segments, minimum=1)
    arrays = {name: np.asarray(v, dtype=np.float64).reshape(-1)
              for name, v in (("points", points), ("grads", grads), ("values", values))}
    if not len({a.size for a in arrays.values()}) == 1 or arrays["points"].size < 2:
        raise ValueError("points, grads and values must be 1-D of one length >= 2, got sizes "
                         f"{[a.size for a in arrays.values()]}")
    Lf = float(L)
    b, c = _lower_hull(arrays["points"] - arrays["grads"] / Lf,
                       arrays["values"] - arrays["grads"] ** 2 / (2.0 * Lf))
    if b.size < 2:
        raise ValueError("points: the data collapse to one point (no interpolant to build)")
    if b.size - 1 > P:
        raise ValueError(f"num_segments must be >= {b.size - 1} (the hull's segments), got {P}")
    slopes = np.maximum.accumulate(np.diff(c) / np.diff(b))   # convex: rounding cannot invert
    b = np.concatenate([b, np.full(P + 1 - b.size, b[-1])])
    slopes = np.concatenate([slopes, np.full(P - slopes.size, slopes[-1])])
    i = int(np.argmin(c))
    return Interpolant1D(jnp.asarray(b), jnp.asarray(slopes), jnp.asarray(c[0]), jnp.asarray(Lf),
                         jnp.asarray([float(x0)]), jnp.asarray([b[i]]), jnp.asarray(c[i]))
