"""Classical reference problems with exactly known answers (PAPERS.md §6).

Used to validate the engine itself against tight, exactly known worst-case bounds:

- :func:`make_smooth_convex`: random L-smooth convex finite sums (least squares or Huber
  regression) on consistent underdetermined data, so ``f* = 0`` and the minimizer nearest to
  ``x0`` is known in closed form (Drori & Teboulle 2014 envelope);
- :func:`make_huber_worst_case`: the Huber-type function on which GD with step ``h/L`` attains
  ``f(x_N) - f* = L R^2 / (4 N h + 2)`` exactly (tightness of that envelope);
- :func:`make_strongly_convex_quadratic`: μ-strongly convex, L-smooth quadratics, random or the
  worst case for ``γ = 2/(L+μ)`` (eigenvalues only μ and L, x0 - x* split evenly), where
  ``||x_N - x*|| = ((κ-1)/(κ+1))^N ||x_0 - x*||`` holds with equality;
- :func:`make_nonexpansive_map`: nonexpansive maps built from rotations, box projections and
  reflections around a known fixed point (Halpern/Lieder 2021).

Derivation of the Huber instance (checked by the tests): with ``τ = R/(2Nh+1)`` and
``φ(r) = L r^2/2`` for ``r <= τ``, ``Lτ r - Lτ^2/2`` beyond, ``f(x) = φ(||x||)`` and
``||x_0|| = R``, every GD step moves ``x`` by ``hτ`` towards 0 while ``||x|| > τ``, so
``||x_N|| = R - Nhτ > τ`` and ``f(x_N) = Lτ(R - Nhτ) - Lτ²/2 = L R τ / 2 = L R²/(4Nh+2)``.
For rotations, Halpern's residual is exactly ``2||x_0 - x*|| |sin((k+1)θ/2)| / (k+1)`` per
rotation plane (derived in the tests), so the 1/k law shows with an oscillating factor that
averages out over several random planes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from convlab.metrics import distance_to_solution, fixed_point_residual, grad_norm, loss_gap
from convlab.problem import Static, problem_dataclass
from convlab.validate import is_concrete, require_in_range, require_int, require_positive
from convlab.validate import checked_generator

__all__ = [
    "SmoothConvex", "make_smooth_convex",
    "HuberWorstCase", "make_huber_worst_case",
    "Quadratic", "make_strongly_convex_quadratic",
    "NonexpansiveMap", "make_nonexpansive_map",
]

LOSSES = ("least_squares", "huber")
QUADRATIC_KINDS = ("random", "worst_case")
MAP_KINDS = ("rotation", "averaged_rotation", "rotation_box", "reflection_box")
ATTAINING_MAP_KIND = "point_reflection"  # T(x) = 2x* - x: Halpern meets 2||x0-x*||/(k+1) at even k


def _huber(r: jax.Array, delta: jax.Array) -> jax.Array:
    absr = jnp.abs(r)
    return jnp.where(absr <= delta, 0.5 * r**2, delta * absr - 0.5 * delta**2)


def _random_unit(key: jax.Array, dim: int) -> jax.Array:
    v = jax.random.normal(key, (dim,))
    return v / jnp.linalg.norm(v)


def _random_orthogonal(key: jax.Array, dim: int) -> jax.Array:
    q, r = jnp.linalg.qr(jax.random.normal(key, (dim, dim)))
    return q * jnp.sign(jnp.diag(r))[None, :]


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class SmoothConvex:
    """``f(x) = (1/m) Σ_i ℓ(a_iᵀx - b_i)`` with ``b = A x_true`` (consistent), ``m < dim``.

    ``ℓ`` is ``r²/2`` (least squares) or Huber with threshold ``delta``; both have ``ℓ'' <= 1``,
    so ``L = λ_max(AᵀA)/m``. ``f* = 0``; ``x_star`` is the minimizer nearest ``x0`` (the
    projection of ``x0`` onto ``{Ax = b}``), ``R = ||x0 - x_star||``.
    """

    A: jax.Array
    b: jax.Array
    delta: jax.Array
    x0: jax.Array
    x_star: jax.Array
    L: jax.Array
    f_star: jax.Array
    loss_kind: Static[str]

    @property
    def R(self) -> jax.Array:
        return jnp.linalg.norm(self.x0 - self.x_star)

    def loss(self, x: jax.Array) -> jax.Array:
        r = self.A @ x - self.b
        per = 0.5 * r**2 if self.loss_kind == "least_squares" else _huber(r, self.delta)
        return jnp.mean(per)

    def grad(self, x: jax.Array) -> jax.Array:
        r = self.A @ x - self.b
        dr = r if self.loss_kind == "least_squares" else jnp.clip(r, -self.delta, self.delta)
        return self.A.T @ dr / self.A.shape[0]

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": loss_gap, "distance": distance_to_solution}


@checked_generator
def make_smooth_convex(key: jax.Array, *, num_samples: int, dim: int,
                       loss: str = "least_squares", delta: float = 0.5) -> SmoothConvex:
    """Random L-smooth convex problem with ``f* = 0`` and a known nearest minimizer.

    Args:
      key: PRNG key.
      num_samples: ``m`` rows of ``A``; must be < ``dim`` (non-unique minimizers: convex, not
        strongly convex).
      dim: dimension of ``x``.
      loss: ``"least_squares"`` or ``"huber"``.
      delta: Huber threshold (> 0).
    """
    m = require_int("num_samples", num_samples, minimum=1)
    d = require_int("dim", dim, minimum=2)
    if m >= d:
        raise ValueError(f"num_samples ({m}) must be < dim ({d}) so the problem is not strongly convex")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    require_positive("delta", delta)
    k_a, k_x, k_0 = jax.random.split(key, 3)
    A = jax.random.normal(k_a, (m, d))
    x_true = jax.random.normal(k_x, (d,))
    b = A @ x_true
    x0 = x_true + jax.random.normal(k_0, (d,))
    x_star = x0 - jnp.linalg.pinv(A) @ (A @ x0 - b)
    L = jnp.linalg.eigvalsh(A.T @ A)[-1] / m
    return SmoothConvex(A, b, jnp.asarray(delta, A.dtype), x0, x_star, L, jnp.zeros((), A.dtype), loss)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class HuberWorstCase:
    """``f(x) = φ(||x||)``, φ Huber with slope ``L τ`` beyond ``τ``: the tight GD instance."""

    L: jax.Array
    tau: jax.Array
    x0: jax.Array
    x_star: jax.Array
    f_star: jax.Array

    @property
    def R(self) -> jax.Array:
        return jnp.linalg.norm(self.x0)

    def loss(self, x: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        return jnp.where(r <= self.tau, 0.5 * self.L * r**2, self.L * self.tau * r - 0.5 * self.L * self.tau**2)

    def grad(self, x: jax.Array) -> jax.Array:
        r = jnp.linalg.norm(x)
        scale = jnp.where(r <= self.tau, self.L, self.L * self.tau / jnp.maximum(r, self.tau))
        return scale * x

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": loss_gap}


@checked_generator
def make_huber_worst_case(key: jax.Array, *, num_steps: int, dim: int = 1, L: float = 1.0,
                          R: float = 1.0, relative_step: float = 1.0) -> HuberWorstCase:
    """The instance on which GD with step ``relative_step / L`` for ``num_steps`` steps attains
    ``f(x_N) - f* = L R² / (4 N h + 2)`` exactly (``h = relative_step``); ``x0`` has norm ``R``
    in a random direction of ``R^dim``."""
    n = require_int("num_steps", num_steps, minimum=1)
    d = require_int("dim", dim, minimum=1)
    require_positive("L", L)
    require_positive("R", R)
    require_in_range("relative_step", relative_step, 0.0, 1.0, closed="right")
    tau = R / (2 * n * relative_step + 1)
    x0 = R * _random_unit(key, d)
    zero = jnp.zeros((), x0.dtype)
    return HuberWorstCase(jnp.asarray(L, x0.dtype), jnp.asarray(tau, x0.dtype), x0, jnp.zeros_like(x0), zero)


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class Quadratic:
    """``f(x) = ½ (x - x*)ᵀ H (x - x*)`` with spectrum in ``[mu, L]``; ``f* = 0``."""

    H: jax.Array
    x_star: jax.Array
    x0: jax.Array
    mu: jax.Array
    L: jax.Array
    f_star: jax.Array

    def loss(self, x: jax.Array) -> jax.Array:
        e = x - self.x_star
        return 0.5 * e @ self.H @ e

    def grad(self, x: jax.Array) -> jax.Array:
        return self.H @ (x - self.x_star)

    def default_metrics(self) -> dict[str, Any]:
        return {"distance": distance_to_solution, "gap": loss_gap, "grad_norm": grad_norm}


@checked_generator
def make_strongly_convex_quadratic(key: jax.Array, *, dim: int, mu: float, L: float,
                                   kind: str = "random") -> Quadratic:
    """μ-strongly convex, L-smooth quadratic.

    ``kind="random"``: eigenvalues uniform in ``[mu, L]`` with both ends included, random
    eigenbasis and ``x0``. ``kind="worst_case"``: eigenvalues only ``mu`` and ``L`` and
    ``x0 - x*`` with equal weight on one ``mu`` and one ``L`` eigenvector, where GD with
    ``γ = 2/(L+μ)`` contracts by exactly ``(κ-1)/(κ+1)`` per step.
    """
    d = require_int("dim", dim, minimum=2)
    require_positive("mu", mu)
    require_positive("L", L)
    if is_concrete((mu, L)) and not mu <= L:
        raise ValueError(f"mu ({mu}) must be <= L ({L})")
    if kind not in QUADRATIC_KINDS:
        raise ValueError(f"kind must be one of {QUADRATIC_KINDS}, got {kind!r}")
    k_q, k_e, k_s, k_0 = jax.random.split(key, 4)
    Q = _random_orthogonal(k_q, d)
    if kind == "random":
        inner = jax.random.uniform(k_e, (d - 2,), minval=mu, maxval=L)
        eigs = jnp.concatenate([jnp.array([mu, L]), inner])
        x_star = jax.random.normal(k_s, (d,))
        x0 = x_star + jax.random.normal(k_0, (d,))
    else:
        eigs = jnp.where(jnp.arange(d) % 2 == 0, mu, L).astype(jnp.result_type(float))
        x_star = jax.random.normal(k_s, (d,))
        x0 = x_star + (Q[:, 0] + Q[:, 1]) / jnp.sqrt(2.0)
    H = (Q * eigs[None, :]) @ Q.T
    H = 0.5 * (H + H.T)
    return Quadratic(H, x_star, x0, jnp.asarray(mu, H.dtype), jnp.asarray(L, H.dtype), jnp.zeros((), H.dtype))


# ---------------------------------------------------------------------------------------------
@problem_dataclass
class NonexpansiveMap:
    """``T(x) = c + R S(x - c)``: an orthogonal ``R`` after ``S`` ∈ {identity, averaging with
    identity, box projection, box reflection}; ``c = x_star`` is a fixed point (``S(0) = 0``).
    ``kind="point_reflection"``: ``T(x) = 2c - x``, on which Halpern attains Lieder's bound."""

    rotation: jax.Array
    box: jax.Array
    x_star: jax.Array
    x0: jax.Array
    kind: Static[str]

    def operator(self, x: jax.Array) -> jax.Array:
        z = x - self.x_star
        if self.kind == ATTAINING_MAP_KIND:
            return self.x_star - z
        if self.kind == "rotation":
            return self.x_star + self.rotation @ z
        if self.kind == "averaged_rotation":
            return self.x_star + 0.5 * (z + self.rotation @ z)
        proj = jnp.clip(z, -self.box, self.box)
        inner = proj if self.kind == "rotation_box" else 2.0 * proj - z
        return self.x_star + self.rotation @ inner

    def fixed_point_map(self, x: jax.Array, step_size: Any) -> jax.Array:
        """Averaged map ``(1 - η) x + η T x`` (``η = 1``: ``T`` itself)."""
        return (1.0 - step_size) * x + step_size * self.operator(x)

    def default_metrics(self) -> dict[str, Any]:
        return {"residual": fixed_point_residual, "distance": distance_to_solution}


@checked_generator
def make_nonexpansive_map(key: jax.Array, *, dim: int, kind: str = "rotation_box",
                          box: float = 0.3, min_angle: float = 0.3) -> NonexpansiveMap:
    """Nonexpansive map with a known fixed point: random plane rotations (angles uniform in
    ``[min_angle, π - min_angle]``) in a random basis, composed as ``kind`` says."""
    d = require_int("dim", dim, minimum=2)
    if d % 2:
        raise ValueError(f"dim must be even (rotations act on planes), got {d}")
    if kind not in MAP_KINDS + (ATTAINING_MAP_KIND,):
        raise ValueError(f"kind must be one of {MAP_KINDS + (ATTAINING_MAP_KIND,)}, got {kind!r}")
    require_positive("box", box)
    require_in_range("min_angle", min_angle, 0.0, jnp.pi / 2, closed="neither")
    k_a, k_q, k_s, k_0 = jax.random.split(key, 4)
    angles = jax.random.uniform(k_a, (d // 2,), minval=min_angle, maxval=jnp.pi - min_angle)
    c, s = jnp.cos(angles), jnp.sin(angles)
    blocks = jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)  # [d/2, 2, 2]
    rot = _block_diagonal(blocks)
    Q = _random_orthogonal(k_q, d)
    x_star = jax.random.normal(k_s, (d,))
    x0 = x_star + jax.random.normal(k_0, (d,))
    return NonexpansiveMap(Q @ rot @ Q.T, jnp.asarray(box, x0.dtype), x_star, x0, kind)


def _block_diagonal(blocks: jax.Array) -> jax.Array:
    """``[n, 2, 2]`` blocks -> ``[2n, 2n]`` block-diagonal matrix (traceable)."""
    n = blocks.shape[0]
    eye = jnp.eye(n, dtype=blocks.dtype)
    return jnp.einsum("ij,iab->iajb", eye, blocks).reshape(2 * n, 2 * n)
