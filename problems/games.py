"""N-player differentiable games for the Small-Gain Nash family (PAPERS.md §5).

Sharma, "Small-Gain Nash: Certified Contraction to Nash Equilibria in Differentiable Games",
arXiv 2512.06791 (2025); official code github.com/AashVed/SmallGainNash. The generators back the
claims of the ``games`` family (:mod:`theory_checks.games`; the certificate is
:mod:`theory_checks.games.certificate`).

A game is given by its players' costs ``f_i(x)`` over the joint strategy ``x = (x_1, ..., x_N)``
(one flat vector; player ``i`` owns the coordinates of block ``i`` of ``block_sizes``). Its
*pseudo-gradient* ``F(x) = (∇_{x_1} f_1(x), ..., ∇_{x_N} f_N(x))`` is computed by autodiff from
the costs (:meth:`pseudo_gradient`), its Jacobian by forward-over-reverse autodiff
(:meth:`jacobian`); ``project`` is the Euclidean projection onto the strategy set (a product of
coordinate boxes, or everything). Every game knows its Nash equilibrium ``x_star`` by
construction and carries a block metric ``M = diag(w_i P_i)`` (``weights`` ``w`` per player,
``base_metric`` ``P`` per coordinate: ones for Euclidean games, the Fisher information at the
equilibrium for the Markov game) that the ``m_norm`` metric measures in.

Generators (key first, sizes as keyword arguments, validated before tracing):

- :func:`make_toy_game`: the 2-D game ``f1 = ½ μ1 x1² + a x1 x2``, ``f2 = ½ μ2 x2² + b x1 x2``
  (μ = 1, a = 10, b = 0.05 in the paper; M-weights (1, 200));
- :func:`make_lq_game`: the LQ game ``F(x) = H(λ) x``, ``H(λ) = [[μ0 I, λ a R], [λ b Rᵀ, μ0 I]]``,
  ``R`` a random orthogonal ``d/2 x d/2`` matrix (d = 64, μ0 = 1, a = 10, b = 0.05 in the paper);
  optional box constraint ``|x_j| <= box`` (projection = coordinate clipping);
- :func:`make_random_lq_game`: the random ensemble ``H = [[Q1, λ a R], [λ b Rᵀ, Q2]]`` with
  ``Q_i = μ0 I + s G_iᵀ G_i / d_i`` and ``R = G / ||G||₂`` (Gaussian ``G``, ``G_i``). The official
  code uses ``Q_i = G_iᵀ G_i + μ0 I``, i.e. ``s = d_i``, which makes ``β ≈ 130`` and the
  certified Euler steps ~1e-4: ``s`` (``curvature_spread``, default 1) keeps the same structure
  (heterogeneous curvature, non-orthogonal coupling) at a conditioning where runs of a few
  hundred steps show contraction;
- :func:`make_quadratic_game`: random N-player quadratic games (blocks of any size), used to
  test the N-player weight optimisation;
- :func:`make_cubic_game`: a 2-player game with cubic costs whose Jacobian is affine in ``x``
  (it varies over any region, with every extreme of the SGN constants at a box vertex), for
  checking the certificate's region estimate;
- :func:`make_markov_game`: the paper's 2-player, 2-state, 2-action entropy-regularised Markov
  game with softmax policies and exact policy evaluation (γ = 0.9, τ = 1), as in the official
  code (``markov/env.py``): cooperative coordination rewards ±1, transitions that favour
  staying when both players agree, initial state s0, and player costs
  ``f_i = -(J(π) + τ Σ_s H(π_i(·|s)))`` where ``J = Σ_{s,a} d^π(s, a) r(s, a)`` uses the
  normalised discounted occupancy ``d^π = (1-γ)(I - γ P_πᵀ)^{-1} ρ`` and the entropy is an
  unweighted sum over states. Policies are parameterised by one logit per (player, state),
  ``π_i(0|s) = σ(z_i(s))``: for two actions this is the softmax with its gauge direction
  removed, so the Fisher information ``F_i(z) = diag_s σ(z)(1-σ(z))`` is invertible and the
  natural gradient ``F^{-1} ∇f`` equals the one of the full softmax with the pseudo-inverse.
  The uniform policy ``z* = 0`` is the equilibrium (under a uniform opponent every action has
  expected reward 0 and the entropy gradient vanishes); the tests check ``F(z*) = 0``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.metrics import distance_to_solution
from convlab.problem import Static, problem_dataclass
from convlab.validate import require_in_range, require_int, require_positive, require_shape
from convlab.validate import checked_generator

__all__ = [
    "QuadraticGame", "make_toy_game", "make_lq_game", "make_random_lq_game", "make_quadratic_game",
    "CubicGame", "make_cubic_game",
    "MarkovGame", "make_markov_game",
    "m_norm", "lyapunov_kl", "euclidean_norm", "coordinate_0", "coordinate_1",
    "with_weights", "owner_index",
]


# --- metrics (module-level so repeated runs share one compiled program) -----------------------
def m_norm(problem: Any, x: jax.Array) -> jax.Array:
    """``||x - x*||_M`` with ``M = diag(w_i P_i)`` (``problem.metric_diag()``)."""
    e = x - problem.x_star
    return jnp.sqrt(jnp.sum(problem.metric_diag() * e * e))


def euclidean_norm(problem: Any, x: jax.Array) -> jax.Array:
    """``||x - x*||`` (Euclidean)."""
    return distance_to_solution(problem, x)


def coordinate_0(problem: Any, x: jax.Array) -> jax.Array:
    """``x[0]`` (for phase portraits of 2-D games)."""
    del problem
    return x[0]


def coordinate_1(problem: Any, x: jax.Array) -> jax.Array:
    """``x[1]`` (for phase portraits of 2-D games)."""
    del problem
    return x[1]


def lyapunov_kl(problem: "MarkovGame", x: jax.Array) -> jax.Array:
    """``Σ_i w_i Σ_s KL(π_i*(·|s) || π_i(·|s))`` of a :class:`MarkovGame` (see its ``kl``)."""
    return jnp.sum(problem.weights * problem.kl(x))


def owner_index(block_sizes: tuple[int, ...]) -> np.ndarray:
    """Player owning each coordinate: ``[0]*d_1 + [1]*d_2 + ...`` (a static NumPy array)."""
    return np.repeat(np.arange(len(block_sizes)), np.asarray(block_sizes))


def with_weights(problem: Any, weights: Any) -> Any:
    """The same game with metric weights ``weights`` (one per player); no recompilation."""
    weights = jnp.asarray(weights, problem.weights.dtype)
    if weights.shape != problem.weights.shape:
        raise ValueError(f"weights must have shape {problem.weights.shape}, got {weights.shape}")
    return dataclasses.replace(problem, weights=weights)


# The oracles are jitted module-level functions of (game, x): called eagerly (notebooks,
# certification) they compile once per game type and shape instead of dispatching op by op;
# inside a jitted run they are inlined.
@jax.jit
def _pseudo_gradient(game: Any, x: jax.Array) -> jax.Array:
    grads = jax.jacrev(game.player_costs)(x)  # [N, d]
    mask = owner_index(game.block_sizes)[None, :] == np.arange(game.num_players)[:, None]
    return jnp.sum(jnp.where(mask, grads, 0.0), axis=0)


@jax.jit
def _jacobian(game: Any, x: jax.Array) -> jax.Array:
    return jax.jacfwd(game.pseudo_gradient)(x)


@jax.jit
def _natural_gradient(game: Any, x: jax.Array) -> jax.Array:
    return game.pseudo_gradient(x) / game.fisher_diag(x)


class _Game:
    """Shared game machinery: pseudo-gradient by autodiff of the costs, Jacobian, projection,
    block metric. Subclasses define ``player_costs(x) -> [N]`` and the fields ``x_star``,
    ``weights``, ``base_metric``, ``box`` and ``block_sizes``."""

    @property
    def num_players(self) -> int:
        return len(self.block_sizes)

    @property
    def dim(self) -> int:
        return int(sum(self.block_sizes))

    def pseudo_gradient(self, x: jax.Array) -> jax.Array:
        """``F(x) = (∇_{x_i} f_i(x))_i``: row ``i`` of the costs' Jacobian, restricted to block i."""
        return _pseudo_gradient(self, x)

    def jacobian(self, x: jax.Array) -> jax.Array:
        """``∂F/∂x`` at ``x`` (``[d, d]``)."""
        return _jacobian(self, x)

    def project(self, x: jax.Array) -> jax.Array:
        """Euclidean projection onto the strategy set ``{|x_j| <= box}`` (``box = inf``: all of
        R^d). Coordinate clipping is nonexpansive in every diagonal metric ``M``."""
        return jnp.clip(x, -self.box, self.box)

    def metric_diag(self) -> jax.Array:
        """Diagonal of ``M = diag(w_i P_i)`` per coordinate."""
        return self.weights[owner_index(self.block_sizes)] * self.base_metric

    def default_metrics(self) -> dict[str, Any]:
        return {"m_norm": m_norm, "distance": euclidean_norm}


# --- quadratic games ---------------------------------------------------------------------------
@problem_dataclass
class QuadraticGame(_Game):
    """``f_i(x) = ½ e_iᵀ H_ii e_i + Σ_{j≠i} e_iᵀ H_ij e_j`` with ``e = x - x*``, so ``F(x) = H e``.

    Own blocks ``H_ii`` are symmetric; ``H`` is the (constant) Jacobian of ``F`` and ``x_star``
    the unique Nash equilibrium whenever ``H`` is nonsingular. ``kind`` names the generator.
    """

    H: jax.Array
    x_star: jax.Array
    x0: jax.Array
    weights: jax.Array
    base_metric: jax.Array
    box: jax.Array
    block_sizes: Static[tuple[int, ...]]
    kind: Static[str]

    def pseudo_gradient(self, x: jax.Array) -> jax.Array:
        """``F(x) = H (x - x*)`` in closed form: ``∇_{e_i} f_i = (He)_i + H_iiᵀ e_i - H_ii e_i``
        with ``H_ii`` symmetric (equal to the autodiff of :meth:`player_costs`; tested). About 8×
        cheaper than the generic Jacobian of the costs in a batched sweep (benchmarks/games.py)."""
        return self.H @ (x - self.x_star)

    def player_costs(self, x: jax.Array) -> jax.Array:
        e = x - self.x_star
        he = self.H @ e
        costs, start = [], 0
        for size in self.block_sizes:
            sl = slice(start, start + size)
            own = self.H[sl, sl] @ e[sl]
            costs.append(e[sl] @ he[sl] - 0.5 * (e[sl] @ own))
            start += size
        return jnp.stack(costs)


def _random_orthogonal(key: jax.Array, dim: int) -> jax.Array:
    q, r = jnp.linalg.qr(jax.random.normal(key, (dim, dim)))
    return q * jnp.sign(jnp.diag(r))[None, :]


def _box_value(box: float | None) -> float:
    if box is None:
        return float("inf")
    require_positive("box", box)
    return float(box)


def _quadratic_game(H, x0, weights, box, block_sizes, kind) -> QuadraticGame:
    dtype = H.dtype
    d = H.shape[0]
    return QuadraticGame(H, jnp.zeros(d, dtype), x0, jnp.asarray(weights, dtype), jnp.ones(d, dtype),
                         jnp.asarray(box, dtype), tuple(int(b) for b in block_sizes), kind)


@checked_generator
def make_toy_game(key: jax.Array, *, mu1: float = 1.0, mu2: float = 1.0, a: float = 10.0,
                  b: float = 0.05, x0: tuple[float, float] = (0.15, -0.15),
                  weights: tuple[float, float] = (1.0, 200.0)) -> QuadraticGame:
    """The paper's 2-D toy game ``f1 = ½ μ1 x1² + a x1 x2``, ``f2 = ½ μ2 x2² + b x1 x2``.

    ``F(x) = [[μ1, a], [b, μ2]] x``; ``x* = 0``. With the defaults the Euclidean symmetric part
    ``[[1, 5.025], [5.025, 1]]`` is indefinite (the flow leaves Euclidean balls) while the
    SGN metric ``M = diag(1, 200)`` makes ``F`` strongly monotone with margin ``1 - √(ab)``.

    Args:
      key: unused (the toy game is deterministic); accepted for the uniform ``make_*(key, ...)``
        signature.
      mu1, mu2: own curvatures (> 0).
      a, b: couplings (>= 0).
      x0: initial point (the paper's transient-growth start by default).
      weights: metric weights ``(w1, w2)`` of ``m_norm`` (> 0).
    """
    del key
    require_positive("mu1", mu1)
    require_positive("mu2", mu2)
    require_positive("a", a, allow_zero=True)
    require_positive("b", b, allow_zero=True)
    require_shape("x0", x0, (2,))
    require_positive("weights", weights)
    require_shape("weights", weights, (2,))
    H = jnp.array([[mu1, a], [b, mu2]], dtype=jnp.result_type(float))
    return _quadratic_game(H, jnp.asarray(x0, H.dtype), weights, float("inf"), (1, 1), "toy")


def _lq_args(dim, lam, a, b, mu0) -> int:
    d = require_int("dim", dim, minimum=2)
    if d % 2:
        raise ValueError(f"dim must be even (two players of dim/2 coordinates), got {d}")
    require_positive("lam", lam, allow_zero=True)
    require_positive("a", a)
    require_positive("b", b)
    require_positive("mu0", mu0)
    return d


@checked_generator
def make_lq_game(key: jax.Array, *, dim: int = 64, lam: float = 1.0, a: float = 10.0,
                 b: float = 0.05, mu0: float = 1.0, box: float | None = None,
                 weights: tuple[float, float] | None = None) -> QuadraticGame:
    """The LQ game ``F(x) = H(λ) x``, ``H(λ) = [[μ0 I, λ a R], [λ b Rᵀ, μ0 I]]``.

    ``R`` is a random orthogonal ``dim/2 x dim/2`` matrix. Truth by construction: ``x* = 0``;
    with ``w = (b/a, 1)``, ``M^{1/2} H M^{-1/2} = [[μ0 I, λ√(ab) R], [λ√(ab) Rᵀ, μ0 I]]`` is
    symmetric with eigenvalues ``μ0 ± λ√(ab)``, so the true M-margin is ``μ0 - λ√(ab)`` and the
    M-Lipschitz constant ``μ0 + λ√(ab)``; ``H`` itself has the same (real) eigenvalues.

    Args:
      key: PRNG key (``R`` and ``x0``).
      dim: total dimension ``d`` (even; each player owns ``d/2``).
      lam: coupling strength ``λ >= 0``.
      a, b: coupling scales (> 0).
      mu0: own curvature (> 0).
      box: strategy sets ``[-box, box]^{d}`` (projection = clipping); ``None``: unconstrained.
      weights: metric weights of ``m_norm``; default ``(b/a, 1)``.
    """
    d = _lq_args(dim, lam, a, b, mu0)
    box = _box_value(box)
    weights = (b / a, 1.0) if weights is None else weights
    require_positive("weights", weights)
    require_shape("weights", weights, (2,))
    k_r, k_0 = jax.random.split(key)
    half = d // 2
    R = _random_orthogonal(k_r, half)
    eye = jnp.eye(half, dtype=R.dtype)
    H = jnp.block([[mu0 * eye, lam * a * R], [lam * b * R.T, mu0 * eye]])
    x0 = jax.random.normal(k_0, (d,), R.dtype)
    if np.isfinite(box):
        x0 = jnp.clip(x0, -box, box)
    return _quadratic_game(H, x0, weights, box, (half, half), "lq")


@checked_generator
def make_random_lq_game(key: jax.Array, *, dim: int = 64, lam: float = 1.0, a: float = 10.0,
                        b: float = 0.05, mu0: float = 1.0, curvature_spread: float = 1.0,
                        weights: tuple[float, float] | None = None) -> QuadraticGame:
    """One draw of the random LQ ensemble ``H = [[Q1, λ a R], [λ b Rᵀ, Q2]]``.

    ``Q_i = μ0 I + s G_iᵀ G_i / d_i`` (``s = curvature_spread``; eigenvalues in about
    ``[μ0, μ0 + 4s]``), ``R = G / ||G||₂`` with Gaussian ``G`` (spectral norm 1, not orthogonal),
    ``x* = 0``, ``x0`` Gaussian. See the module docstring for the relation to the official
    ensemble (``s = d_i`` there).

    Args:
      key: PRNG key.
      dim, lam, a, b, mu0: as in :func:`make_lq_game`.
      curvature_spread: ``s >= 0``.
      weights: metric weights of ``m_norm``; default ``(b/a, 1)``.
    """
    d = _lq_args(dim, lam, a, b, mu0)
    require_positive("curvature_spread", curvature_spread, allow_zero=True)
    weights = (b / a, 1.0) if weights is None else weights
    require_positive("weights", weights)
    require_shape("weights", weights, (2,))
    half = d // 2
    k_1, k_2, k_r, k_0 = jax.random.split(key, 4)
    g1 = jax.random.normal(k_1, (half, half))
    g2 = jax.random.normal(k_2, (half, half))
    eye = jnp.eye(half, dtype=g1.dtype)
    Q1 = mu0 * eye + curvature_spread * (g1.T @ g1) / half
    Q2 = mu0 * eye + curvature_spread * (g2.T @ g2) / half
    Q1, Q2 = 0.5 * (Q1 + Q1.T), 0.5 * (Q2 + Q2.T)
    g = jax.random.normal(k_r, (half, half))
    R = g / jnp.linalg.norm(g, ord=2)
    H = jnp.block([[Q1, lam * a * R], [lam * b * R.T, Q2]])
    x0 = jax.random.normal(k_0, (d,), g.dtype)
    return _quadratic_game(H, x0, weights, float("inf"), (half, half), "lq_random")


@checked_generator
def make_quadratic_game(key: jax.Array, *, block_sizes: tuple[int, ...] = (2, 2, 2),
                        mu: float = 1.0, coupling: float = 0.3, spread: float = 1.0,
                        weights: tuple[float, ...] | None = None) -> QuadraticGame:
    """A random N-player quadratic game (``x* = 0``).

    ``H_ii = μ I + spread · A_iᵀ A_i / d_i`` (symmetric, ``λ_min >= μ``) and
    ``H_ij = coupling · c_ij · B_ij / ||B_ij||₂`` with Gaussian ``B_ij`` and log-uniform
    ``c_ij ∈ [0.1, 10]``, so ``||H_ij||₂ = coupling · c_ij``: strongly asymmetric couplings that
    only non-uniform block weights can balance.

    Args:
      key: PRNG key.
      block_sizes: player dimensions (>= 2 players, each >= 1).
      mu: own curvature floor (> 0).
      coupling: coupling scale (>= 0).
      spread: own-curvature spread (>= 0).
      weights: metric weights of ``m_norm`` (default all ones).
    """
    if not isinstance(block_sizes, (tuple, list)) or len(block_sizes) < 2:
        raise ValueError(f"block_sizes must list >= 2 player dimensions, got {block_sizes!r}")
    sizes = tuple(require_int("block_sizes", s, minimum=1) for s in block_sizes)
    require_positive("mu", mu)
    require_positive("coupling", coupling, allow_zero=True)
    require_positive("spread", spread, allow_zero=True)
    n = len(sizes)
    weights = (1.0,) * n if weights is None else weights
    require_positive("weights", weights)
    require_shape("weights", weights, (n,))
    keys = jax.random.split(key, n * n + 2)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    d = int(offsets[-1])
    H = jnp.zeros((d, d))
    scales = jnp.exp(jax.random.uniform(keys[-2], (n, n), minval=np.log(0.1), maxval=np.log(10.0)))
    for i in range(n):
        for j in range(n):
            k = keys[i * n + j]
            if i == j:
                A = jax.random.normal(k, (sizes[i], sizes[i]))
                block = mu * jnp.eye(sizes[i]) + spread * (A.T @ A) / sizes[i]
                block = 0.5 * (block + block.T)
            else:
                B = jax.random.normal(k, (sizes[i], sizes[j]))
                block = coupling * scales[i, j] * B / jnp.linalg.norm(B, ord=2)
            H = H.at[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]].set(block)
    x0 = jax.random.normal(keys[-1], (d,), H.dtype)
    return _quadratic_game(H, x0, weights, float("inf"), sizes, "quadratic")


@problem_dataclass
class CubicGame(_Game):
    """Two players, ``f_1 = ½ μ0 |x_1|² + (κ/6) Σ_j x_{1j}³ + a x_1ᵀ R (x_2 - (ε/2) x_2∘x_2)``,
    ``f_2 = ½ μ0 |x_2|² + (κ/6) Σ_j x_{2j}³ + b x_2ᵀ Rᵀ (x_1 - (ε/2) x_1∘x_1)``.

    ``F(0) = 0`` (``x_star = 0``) and the Jacobian is affine in ``x``:
    ``J = [[μ0 I + κ diag(x_1), a R (I - ε diag(x_2))], [b Rᵀ (I - ε diag(x_1)), μ0 I + κ diag(x_2)]]``,
    so the own curvatures, the couplings and the margin all vary over a region; on a box
    ``|x_j| <= r`` all of them are worst at the vertex ``x = -r 1``.
    """

    x_star: jax.Array
    x0: jax.Array
    R: jax.Array
    coefficients: jax.Array   # (μ0, κ, a, b, ε)
    weights: jax.Array
    base_metric: jax.Array
    box: jax.Array
    block_sizes: Static[tuple[int, ...]]

    def player_costs(self, x: jax.Array) -> jax.Array:
        mu0, kappa, a, b, eps = (self.coefficients[i] for i in range(5))
        half = self.block_sizes[0]
        x1, x2 = x[:half], x[half:]
        own = lambda v: 0.5 * mu0 * (v @ v) + kappa / 6.0 * jnp.sum(v**3)
        f1 = own(x1) + a * (x1 @ (self.R @ (x2 - 0.5 * eps * x2 * x2)))
        f2 = own(x2) + b * (x2 @ (self.R.T @ (x1 - 0.5 * eps * x1 * x1)))
        return jnp.stack([f1, f2])


@checked_generator
def make_cubic_game(key: jax.Array, *, dim: int = 4, a: float = 2.0, b: float = 0.125,
                    mu0: float = 1.0, kappa: float = 1.0, eps: float = 1.0,
                    init_scale: float = 0.1, weights: tuple[float, float] | None = None) -> CubicGame:
    """The cubic 2-player game of :class:`CubicGame` (a non-quadratic LQ game).

    At ``x = 0`` its Jacobian is the LQ matrix ``[[μ0 I, a R], [b Rᵀ, μ0 I]]``; over a box of
    radius ``r < 1/ε`` the own curvature ranges over ``μ0 ± κ r`` and the couplings' singular
    values over ``a (1 ± ε r)``, ``b (1 ± ε r)``. Every SGN constant (λ_min of a symmetric part,
    a spectral norm) is a concave or convex function of an affine Jacobian, so its extreme over
    a box is attained at a vertex; at ``x = -r 1`` all are worst at once and, in the weights
    ``(b/a, 1)``, the true margin there is ``μ0 - κ r - √(ab)(1 + ε r)``.

    Args:
      key: PRNG key (``R``, a random orthogonal ``dim/2 x dim/2`` matrix, and ``x0``).
      dim: total dimension (even).
      a, b: coupling scales (> 0).
      mu0: own curvature at the equilibrium (> 0).
      kappa: cubic own curvature (>= 0).
      eps: relative variation of the couplings (>= 0).
      init_scale: ``x0 = init_scale · N(0, I)`` (>= 0).
      weights: metric weights of ``m_norm``; default ``(b/a, 1)``.
    """
    d = require_int("dim", dim, minimum=2)
    if d % 2:
        raise ValueError(f"dim must be even (two players of dim/2 coordinates), got {d}")
    require_positive("a", a)
    require_positive("b", b)
    require_positive("mu0", mu0)
    require_positive("kappa", kappa, allow_zero=True)
    require_positive("eps", eps, allow_zero=True)
    require_positive("init_scale", init_scale, allow_zero=True)
    weights = (b / a, 1.0) if weights is None else weights
    require_positive("weights", weights)
    require_shape("weights", weights, (2,))
    k_r, k_0 = jax.random.split(key)
    R = _random_orthogonal(k_r, d // 2)
    coefficients = jnp.asarray([mu0, kappa, a, b, eps], R.dtype)
    return CubicGame(jnp.zeros(d, R.dtype), init_scale * jax.random.normal(k_0, (d,), R.dtype),
                     R, coefficients, jnp.asarray(weights, R.dtype), jnp.ones(d, R.dtype),
                     jnp.asarray(float("inf"), R.dtype), (d // 2, d // 2))


# --- the entropy-regularised Markov game -------------------------------------------------------
@problem_dataclass
class MarkovGame(_Game):
    """2-player tabular Markov game with binary actions, softmax (logit) policies, exact policy
    evaluation and entropy regularisation (see the module docstring).

    ``x = (z_1(s_0), ..., z_1(s_{S-1}), z_2(s_0), ...)``, ``π_i(0|s) = σ(z_i(s))``.

    Attributes:
      transitions: ``P[s, a1, a2, s']``.
      rewards: ``r[i, s, a1, a2]`` (player ``i``'s reward).
      rho: initial state distribution ``[S]``.
      gamma, tau: discount and entropy weight.
      x_star: equilibrium logits; ``x0``: a default start.
      weights: per-player weights of the Lyapunov function and of ``m_norm``.
      base_metric: Fisher information at ``x_star`` per coordinate (``σ(1-σ)``).
    """

    transitions: jax.Array
    rewards: jax.Array
    rho: jax.Array
    gamma: jax.Array
    tau: jax.Array
    x_star: jax.Array
    x0: jax.Array
    weights: jax.Array
    base_metric: jax.Array
    box: jax.Array
    block_sizes: Static[tuple[int, ...]]

    @property
    def num_states(self) -> int:
        return int(self.rho.shape[0])

    def logits(self, x: jax.Array) -> jax.Array:
        """``[N, S]`` logits ``z_i(s)``."""
        return x.reshape(self.num_players, self.num_states)

    def policies(self, x: jax.Array) -> jax.Array:
        """``[N, S]`` probabilities ``π_i(0|s)``."""
        return jax.nn.sigmoid(self.logits(x))

    def occupancy(self, x: jax.Array) -> jax.Array:
        """Normalised discounted state occupancy ``d = (1-γ)(I - γ P_πᵀ)^{-1} ρ`` (sums to 1)."""
        joint = self._joint(x)
        p_pi = jnp.einsum("sij,sijt->st", joint, self.transitions)
        eye = jnp.eye(self.num_states, dtype=x.dtype)
        return (1.0 - self.gamma) * jnp.linalg.solve(eye - self.gamma * p_pi.T, self.rho)

    def _joint(self, x: jax.Array) -> jax.Array:
        p = self.policies(x)
        pi1 = jnp.stack([p[0], 1.0 - p[0]], axis=-1)  # [S, A]
        pi2 = jnp.stack([p[1], 1.0 - p[1]], axis=-1)
        return pi1[:, :, None] * pi2[:, None, :]  # [S, A1, A2]

    def returns(self, x: jax.Array) -> jax.Array:
        """``J_i = Σ_{s,a} d(s) π(a|s) r_i(s, a)`` (normalised discounted return), ``[N]``."""
        joint = self._joint(x)
        r_pi = jnp.einsum("sij,nsij->ns", joint, self.rewards)  # [N, S]
        return r_pi @ self.occupancy(x)

    def entropies(self, x: jax.Array) -> jax.Array:
        """``Σ_s H(π_i(·|s))``, ``[N]``; ``H = softplus(z) - σ(z) z`` (stable form)."""
        z = self.logits(x)
        return jnp.sum(jax.nn.softplus(z) - jax.nn.sigmoid(z) * z, axis=1)

    def player_costs(self, x: jax.Array) -> jax.Array:
        """``f_i = -(J_i + τ Σ_s H(π_i(·|s)))``."""
        return -(self.returns(x) + self.tau * self.entropies(x))

    def fisher_diag(self, x: jax.Array) -> jax.Array:
        """Fisher information of each player's policy in its own logits (unweighted over states,
        matching the unweighted entropy): ``σ(z)(1 - σ(z))`` per coordinate."""
        p = jax.nn.sigmoid(x)
        return p * (1.0 - p)

    def natural_gradient(self, x: jax.Array) -> jax.Array:
        """Natural pseudo-gradient ``F(x)^{-1} ∇f`` (block-diagonal Fisher, per player)."""
        return _natural_gradient(self, x)

    def kl(self, x: jax.Array) -> jax.Array:
        """``[N]``: ``Σ_s KL(π_i*(·|s) || π_i(·|s))``, computed without cancellation as
        ``log1p(p* expm1(δ)) - p* δ`` with ``δ = z - z*`` and ``p* = σ(z*)`` (the Bregman
        divergence of softplus), accurate to relative rounding down to ``|δ| ~ 1e-8``."""
        z, z_star = self.logits(x), self.logits(self.x_star)
        delta = z - z_star
        p_star = jax.nn.sigmoid(z_star)
        per_state = jnp.log1p(p_star * jnp.expm1(delta)) - p_star * delta
        return jnp.sum(per_state, axis=1)

    def default_metrics(self) -> dict[str, Any]:
        return {"lyapunov": lyapunov_kl, "m_norm": m_norm, "distance": euclidean_norm}


def _official_markov_tables(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Transitions ``P[s, a1, a2, s']`` and the coordination reward ``r[s, a1, a2]`` of the
    official code: in s0, (0,0) stays w.p. 0.9, (1,1) moves to s1 w.p. 0.9, a mismatch is a coin
    flip; s1 mirrors s0; reward +1 when the players match, -1 otherwise, in both states."""
    P = np.zeros((2, 2, 2, 2))
    for s in range(2):
        P[s, 0, 0] = [0.9, 0.1]
        P[s, 1, 1] = [0.1, 0.9]
        P[s, 0, 1] = [0.5, 0.5]
        P[s, 1, 0] = [0.5, 0.5]
    r = np.array([[1.0, -1.0], [-1.0, 1.0]])
    return P.astype(dtype), np.broadcast_to(r, (2, 2, 2, 2)).astype(dtype)  # [player, s, a1, a2]


@checked_generator
def make_markov_game(key: jax.Array, *, gamma: float = 0.9, tau: float = 1.0,
                     reward_scale: float = 1.0, init_scale: float = 0.01,
                     weights: tuple[float, float] = (1.0, 1.0)) -> MarkovGame:
    """The paper's 2-player, 2-state, 2-action entropy-regularised Markov game.

    Both players receive ``reward_scale · r`` (cooperative coordination game of the official
    code); ``ρ = δ_{s0}``; the equilibrium is the uniform policy ``z* = 0``. Larger
    ``reward_scale`` strengthens the cross-player coupling relative to the entropy curvature
    ``τ`` (the SGN certificate fails for ``reward_scale ≳ 1.8``).

    Args:
      key: PRNG key (the default start ``x0 = z* + init_scale · N(0, I)``, as in the official
        experiment).
      gamma: discount ``γ ∈ (0, 1)``.
      tau: entropy weight ``τ > 0``.
      reward_scale: multiplies the rewards (> 0).
      init_scale: standard deviation of ``x0 - z*`` (>= 0).
      weights: per-player Lyapunov/metric weights (> 0).
    """
    require_in_range("gamma", gamma, 0.0, 1.0, closed="neither")
    require_positive("tau", tau)
    require_positive("reward_scale", reward_scale)
    require_positive("init_scale", init_scale, allow_zero=True)
    require_positive("weights", weights)
    require_shape("weights", weights, (2,))
    dtype = jnp.result_type(float)
    P, r = _official_markov_tables(np.dtype(dtype))
    rho = jnp.asarray([1.0, 0.0], dtype)
    x_star = jnp.zeros(4, dtype)
    x0 = x_star + init_scale * jax.random.normal(key, (4,), dtype)
    p = jax.nn.sigmoid(x_star)
    return MarkovGame(jnp.asarray(P), reward_scale * jnp.asarray(r), rho, jnp.asarray(gamma, dtype),
                      jnp.asarray(tau, dtype), x_star, x0, jnp.asarray(weights, dtype),
                      p * (1.0 - p), jnp.asarray(float("inf"), dtype), (2, 2))
