"""Multi-block bilevel problems: m lower-level ridge regressions sharing hyperparameters x.

Hu, Qiu, Guo, Zhang & Yang, "Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup
for Multi-Block Bilevel Optimization", ICML 2023 (PAPERS.md §3, multi-block paragraph):

.. math::
    \\min_x \\Phi(x) = \\frac1m \\sum_{i=1}^m f_i(x, y_i^*(x)), \\qquad
    y_i^*(x) = \\arg\\min_y g_i(x, y),

one lower-level problem (block, task) per ``i``, each ``g_i(x, ·)`` ``mu``-strongly convex. The
instance built here is hyperparameter optimization of group-wise ridge penalties over ``m``
regression tasks (the paper's experiments tune per-task regularization of linear models too):

- ``g_i(x, y) = (1/n) Σ_j ½ (a_ijᵀ y - b_ij)² + ½ Σ_k λ_k(x) y_k²`` (training rows of task i),
  ``λ(x) = mu + exp(M x)`` with ``M ∈ {0,1}^{dim_y × dim_x}`` putting feature k in group
  ``k mod dim_x`` (one log-penalty hyperparameter per group);
- ``f_i(x, y) = (1/n') Σ_j ½ (a'_ijᵀ y - b'_ij)² + (rho/2)‖x‖²`` (validation rows of task i; the
  small ``rho`` keeps the hyperparameters bounded, so Φ has a minimizer, and makes ``∇_x f ≠ 0``).

Tasks share a mean regression vector and differ by ``heterogeneity`` (what makes sampling I < m
blocks noisy); labels carry Gaussian ``noise`` (what makes sampling B rows noisy). The truth is
exact: ``y_i^*(x) = (G_i + diag λ(x))^{-1} r_i`` with ``G_i = A_iᵀA_i/n``, ``r_i = A_iᵀ b_i/n``, and
the hypergradient

.. math::
    \\nabla\\Phi(x) = \\frac1m \\sum_i \\big[\\nabla_x f_i - \\nabla^2_{xy} g_i\\,
        (\\nabla^2_{yy} g_i)^{-1} \\nabla_y f_i\\big](x, y_i^*(x))
      = \\rho x - \\frac1m \\sum_i M^\\top\\big(e^{Mx} \\odot y_i^* \\odot w_i\\big),
    \\quad w_i = (G_i + \\operatorname{diag}\\lambda)^{-1}(V_i y_i^* - q_i),

computed by linear solves (``V_i, q_i``: the validation Gram matrix and moment). The tests check
it against autodiff through the solve.

Stochastic oracles (what the methods of ``convlab.methods.multiblock_bilevel`` call): each takes
``(x, y, i, rows)`` with ``rows`` a ``[B]`` array of row indices of block ``i`` and is the
autodiff derivative of the sampled losses ``g_rows``/``f_rows`` (means over those rows):
``grad_y_g``, ``grad_x_f``, ``grad_y_f``, ``hvp_yy_g(x, y, v, ...) = ∇²_yy g v``,
``jvp_xy_g(x, y, v, ...) = ∇²_xy g v`` and ``hess_yy_g``. One query of one oracle on ``B`` rows
counts ``B`` oracle calls (:func:`oracle_calls`); the methods report their exact count per step.
``sample_blocks(key, I)`` draws I distinct blocks uniformly, ``sample_rows(key, I, B)`` B rows
per sampled block (with replacement) for the lower and for the upper level. Sizes are static.

Backs ``bilevel.multiblock-speedup`` (``theory_checks.bilevel_multiblock``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods.multiblock_bilevel import MultiBlockIterate
from convlab.problem import Static, problem_dataclass
from convlab.validate import require_int, require_positive

__all__ = ["MultiBlockBilevel", "make_multi_block", "hypergrad_norm", "upper_value", "oracle_calls"]


def oracle_calls(blocks: int, batch: int, queries: int) -> int:
    """Calls charged for ``queries`` oracle queries on each of ``blocks`` blocks, ``batch`` rows
    each: one call per row and query (a gradient, a Hessian-vector product or a Hessian)."""
    return int(blocks) * int(batch) * int(queries)


def _sq_mean(A: jax.Array, b: jax.Array, y: jax.Array) -> jax.Array:
    """``mean_j ½ (a_jᵀ y - b_j)²`` over the rows of ``A``."""
    r = A @ y - b
    return 0.5 * jnp.mean(r * r)


@problem_dataclass
class MultiBlockBilevel:
    """Multi-block hyperparameter optimization of ridge penalties (see the module docstring).

    Attributes:
      A_train, b_train: training rows of every block, ``[m, n, dim_y]`` and ``[m, n]``.
      A_val, b_val: validation rows, ``[m, n_val, dim_y]`` and ``[m, n_val]``.
      groups: ``M``, ``[dim_y, dim_x]`` 0/1 group assignment of the features.
      mu: the floor of ``λ(x)``: every ``g_i(x, ·)`` is at least ``mu``-strongly convex.
      rho: weight of ``(rho/2)‖x‖²`` in every ``f_i``.
      x0: the starting hyperparameters (zeros: ``λ = mu + 1``).
      m, dim_x, dim_y: static sizes; blocks, batch: default ``I`` and ``B`` of the oracles.
    """

    A_train: jax.Array
    b_train: jax.Array
    A_val: jax.Array
    b_val: jax.Array
    groups: jax.Array
    mu: jax.Array
    rho: jax.Array
    x0: jax.Array
    m: Static[int]
    dim_x: Static[int]
    dim_y: Static[int]
    blocks: Static[int]
    batch: Static[int]

    # --- sampled losses and their autodiff oracles ------------------------------------------------
    def penalty(self, x: jax.Array) -> jax.Array:
        """``λ(x) = mu + exp(M x)``, shape ``[dim_y]``."""
        return self.mu + jnp.exp(self.groups @ x)

    def g_rows(self, x: jax.Array, y: jax.Array, i: Any, rows: jax.Array) -> jax.Array:
        """``g_i(x, y)`` on the training rows ``rows`` of block ``i``."""
        return _sq_mean(self.A_train[i][rows], self.b_train[i][rows], y) + 0.5 * jnp.sum(self.penalty(x) * y * y)

    def f_rows(self, x: jax.Array, y: jax.Array, i: Any, rows: jax.Array) -> jax.Array:
        """``f_i(x, y)`` on the validation rows ``rows`` of block ``i``."""
        return _sq_mean(self.A_val[i][rows], self.b_val[i][rows], y) + 0.5 * self.rho * jnp.sum(x * x)

    def grad_y_g(self, x, y, i, rows):
        """``∇_y g_i(x, y; rows)``."""
        return jax.grad(self.g_rows, argnums=1)(x, y, i, rows)

    def grad_x_f(self, x, y, i, rows):
        """``∇_x f_i(x, y; rows)``."""
        return jax.grad(self.f_rows, argnums=0)(x, y, i, rows)

    def grad_y_f(self, x, y, i, rows):
        """``∇_y f_i(x, y; rows)``."""
        return jax.grad(self.f_rows, argnums=1)(x, y, i, rows)

    def hvp_yy_g(self, x, y, v, i, rows):
        """``∇²_yy g_i(x, y; rows) v`` (forward-over-reverse; no Hessian is formed)."""
        return jax.jvp(lambda y_: self.grad_y_g(x, y_, i, rows), (y,), (v,))[1]

    def jvp_xy_g(self, x, y, v, i, rows):
        """``∇²_xy g_i(x, y; rows) v ∈ R^{dim_x}`` (the cross derivative applied to ``v``)."""
        return jax.grad(lambda x_: jnp.vdot(self.grad_y_g(x_, y, i, rows), v))(x)

    def hess_yy_g(self, x, y, i, rows):
        """``∇²_yy g_i(x, y; rows)``, ``[dim_y, dim_y]`` (small dimensions only)."""
        return jax.jacfwd(self.grad_y_g, argnums=1)(x, y, i, rows)

    # --- sampling --------------------------------------------------------------------------------------
    def sample_blocks(self, key: jax.Array, blocks: int | None = None) -> jax.Array:
        """``I`` distinct blocks drawn uniformly (``[I]`` int32)."""
        count = self.blocks if blocks is None else blocks
        if count > self.m:
            raise ValueError(f"blocks (I = {count}) must be <= m = {self.m}")
        return jax.random.choice(key, self.m, (count,), replace=False).astype(jnp.int32)

    def sample_rows(self, key: jax.Array, blocks: int | None = None, batch: int | None = None):
        """``(rows_g, rows_f)``: ``B`` training and ``B`` validation rows for each of ``I`` sampled
        blocks, uniformly with replacement, each ``[I, B]``."""
        count = self.blocks if blocks is None else blocks
        size = self.batch if batch is None else batch
        k_g, k_f = jax.random.split(key)
        rows_g = jax.random.randint(k_g, (count, size), 0, self.A_train.shape[1])
        rows_f = jax.random.randint(k_f, (count, size), 0, self.A_val.shape[1])
        return rows_g, rows_f

    # --- the truth, exact ---------------------------------------------------------------------------------
    def _grams(self):
        n, n_val = self.A_train.shape[1], self.A_val.shape[1]
        G = jnp.einsum("mnj,mnk->mjk", self.A_train, self.A_train) / n
        r = jnp.einsum("mnj,mn->mj", self.A_train, self.b_train) / n
        V = jnp.einsum("mnj,mnk->mjk", self.A_val, self.A_val) / n_val
        q = jnp.einsum("mnj,mn->mj", self.A_val, self.b_val) / n_val
        return G, r, V, q

    def lower_hessians(self, x: jax.Array) -> jax.Array:
        """Exact ``∇²_yy g_i(x, ·) = G_i + diag λ(x)`` of every block, ``[m, dim_y, dim_y]``."""
        G = self._grams()[0]
        return G + jnp.eye(self.dim_y, dtype=G.dtype)[None] * self.penalty(x)[None, None, :]

    def y_star(self, x: jax.Array) -> jax.Array:
        """Exact lower-level solutions ``y_i^*(x)``, ``[m, dim_y]`` (one linear solve per block)."""
        r = self._grams()[1]
        return jnp.linalg.solve(self.lower_hessians(x), r[..., None])[..., 0]

    def upper(self, x: jax.Array) -> jax.Array:
        """``Φ(x) = (1/m) Σ_i f_i(x, y_i^*(x))`` (all validation rows)."""
        ys = self.y_star(x)
        losses = jax.vmap(_sq_mean)(self.A_val, self.b_val, ys)
        return jnp.mean(losses) + 0.5 * self.rho * jnp.sum(x * x)

    def hypergrad(self, x: jax.Array) -> jax.Array:
        """Exact ``∇Φ(x)`` by the implicit-function formula (linear solves, no autodiff through
        them): ``rho x - (1/m) Σ_i Mᵀ(e^{Mx} ⊙ y_i^* ⊙ w_i)``, ``w_i = H_i^{-1} ∇_y f_i``."""
        _, _, V, q = self._grams()
        H = self.lower_hessians(x)
        ys = self.y_star(x)
        grad_f = jnp.einsum("mjk,mk->mj", V, ys) - q
        w = jnp.linalg.solve(H, grad_f[..., None])[..., 0]
        cross = jnp.exp(self.groups @ x)[None, :] * ys * w          # [m, dim_y]
        return self.rho * x - self.groups.T @ jnp.mean(cross, axis=0)

    def lower_smoothness(self, x: jax.Array) -> jax.Array:
        """``max_i λ_max(∇²_yy g_i(x, ·))``: the lower levels' smoothness constant at ``x``."""
        return jnp.max(jnp.linalg.eigvalsh(self.lower_hessians(x))[:, -1])

    def iterate0(self) -> MultiBlockIterate:
        """The starting iterate ``(x0, y = 0)`` of the multi-block methods."""
        return MultiBlockIterate(self.x0, jnp.zeros((self.m, self.dim_y), self.x0.dtype))

    def default_metrics(self) -> dict[str, Any]:
        return {"hypergrad_norm": hypergrad_norm, "upper": upper_value}


def _upper_x(params: Any) -> jax.Array:
    """``x`` of a :class:`~convlab.methods.multiblock_bilevel.MultiBlockIterate` (or ``x`` itself)."""
    return getattr(params, "x", params)


def hypergrad_norm(problem: MultiBlockBilevel, params: Any) -> jax.Array:
    """``‖∇Φ(x)‖`` (exact) at the iterate's ``x``; the stationarity measure of the claims."""
    return jnp.sqrt(jnp.sum(jnp.square(problem.hypergrad(_upper_x(params)))))


def upper_value(problem: MultiBlockBilevel, params: Any) -> jax.Array:
    """``Φ(x)`` (exact) at the iterate's ``x``."""
    return problem.upper(_upper_x(params))


def make_multi_block(key: jax.Array, *, m: int, dim_x: int, dim_y: int, blocks: int = 1,
                     batch: int = 1, rows: int = 64, val_rows: int = 64, noise: float = 0.5,
                     heterogeneity: float = 1.0, mu: float = 0.1, rho: float = 0.05) -> MultiBlockBilevel:
    """Build a multi-block ridge-hyperparameter problem (module docstring).

    Args:
      key: PRNG key (data of every block; the shared mean regression vector comes from a key
        independent of ``m``).
      m: number of blocks (lower-level problems), >= 1.
      dim_x: number of penalty groups (upper-level dimension), 1 <= dim_x <= dim_y.
      dim_y: features per task (lower-level dimension), >= 1.
      blocks: default ``I`` of :meth:`~MultiBlockBilevel.sample_blocks`, 1 <= I <= m.
      batch: default ``B`` of :meth:`~MultiBlockBilevel.sample_rows`, >= 1.
      rows, val_rows: training and validation rows per block, >= 1.
      noise: label noise standard deviation, >= 0.
      heterogeneity: spread of the tasks' regression vectors around their mean, >= 0.
      mu: floor of the penalties (strong convexity of every ``g_i``), > 0.
      rho: weight of ``(rho/2)‖x‖²`` in the upper level, >= 0.

    Raises:
      TypeError, ValueError: naming the bad argument, before anything is traced.
    """
    m = require_int("m", m, minimum=1)
    dim_x = require_int("dim_x", dim_x, minimum=1)
    dim_y = require_int("dim_y", dim_y, minimum=1)
    if dim_x > dim_y:
        raise ValueError(f"dim_x ({dim_x}) must be <= dim_y ({dim_y}): one penalty per group of features")
    blocks = require_int("blocks", blocks, minimum=1)
    if blocks > m:
        raise ValueError(f"blocks (I = {blocks}) must be <= m = {m}")
    batch = require_int("batch", batch, minimum=1)
    rows = require_int("rows", rows, minimum=1)
    val_rows = require_int("val_rows", val_rows, minimum=1)
    require_positive("noise", noise, allow_zero=True)
    require_positive("heterogeneity", heterogeneity, allow_zero=True)
    require_positive("mu", mu)
    require_positive("rho", rho, allow_zero=True)
    arrays = _arrays(key, m, dim_x, dim_y, rows, val_rows, noise, heterogeneity)
    dtype = arrays[0].dtype
    return MultiBlockBilevel(*arrays, jnp.asarray(mu, dtype), jnp.asarray(rho, dtype),
                             jnp.zeros((dim_x,), dtype), m, dim_x, dim_y, blocks, batch)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _arrays(key, m, dim_x, dim_y, rows, val_rows, noise, heterogeneity):
    k_mean, k_data = jax.random.split(key)
    k_task, k_a, k_av, k_e, k_ev = jax.random.split(k_data, 5)
    group = np.arange(dim_y) % dim_x
    groups = jnp.asarray(np.eye(dim_x)[group])                       # [dim_y, dim_x]
    scale = jnp.asarray(np.geomspace(1.0, 0.1, dim_x)[group])         # groups matter unequally
    w_mean = jax.random.normal(k_mean, (dim_y,)) * scale
    w = w_mean[None] + heterogeneity * scale[None] * jax.random.normal(k_task, (m, dim_y))
    A = jax.random.normal(k_a, (m, rows, dim_y))
    A_val = jax.random.normal(k_av, (m, val_rows, dim_y))
    b = jnp.einsum("mnj,mj->mn", A, w) + noise * jax.random.normal(k_e, (m, rows))
    b_val = jnp.einsum("mnj,mj->mn", A_val, w) + noise * jax.random.normal(k_ev, (m, val_rows))
    return A, b, A_val, b_val, groups
