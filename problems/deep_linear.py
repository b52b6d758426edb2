"""Deep linear networks on whitened data (PAPERS-wave2.md §9; Saxe, McClelland & Ganguli 2014).

:func:`make_deep_linear` builds ``f(W_1, ..., W_D) = ½ ||Σ31 - W_D ⋯ W_1||_F²`` (whitened
inputs ``Σ11 = I``, sums not means, so ``τ = 1`` and GD's step ``η`` is the time increment of
the gradient flow, ``t = kη``) with ``Σ31 = U diag(s) Vᵀ`` for random orthogonal ``U, V`` and
the given singular values ``s``. The truth is known by construction: ``s``, ``U``, ``V``,
``f* = 0`` (the hidden width is at least the number of modes) and the initial mode strengths
``u_α(0) = u_αᵀ W_D⋯W_1 v_α``.

Initializations (``init``):

- ``"decoupled"``: balanced, on the invariant manifold of the paper's eq. (8):
  ``W_1 = R_1 diag(a) Vᵀ``, ``W_i = R_i diag(a) R_{i-1}ᵀ``, ``W_D = U diag(a) R_{D-1}ᵀ`` with
  ``R_i`` random orthonormal columns and ``a = u0^{1/D}``, so every mode starts at ``u0`` and
  GD moves each mode by ``a <- a + η a^{D-1}(s - a^D)`` exactly (NOTES.md);
- ``"gaussian"``: i.i.d. entries of standard deviation ``init_scale / sqrt(fan_in)``;
- ``"orthogonal"``: every layer ``init_scale`` times a random orthogonal matrix (square layers:
  ``hidden`` must equal the number of modes).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.metrics import loss_gap
from convlab.problem import Static, problem_dataclass
from convlab.validate import (checked_generator, is_concrete, require_finite, require_int,
                              require_positive)

__all__ = ["DeepLinear", "make_deep_linear", "INITS", "mode_strengths", "product"]

INITS = ("decoupled", "gaussian", "orthogonal")


def product(params: Any) -> jax.Array:
    """``W_D ⋯ W_1`` of the layers ``params = (W_1, ..., W_D)``."""
    out = params[0]
    for w in params[1:]:
        out = w @ out
    return out


def _random_orthogonal(key: jax.Array, dim: int) -> jax.Array:
    q, r = jnp.linalg.qr(jax.random.normal(key, (dim, dim)))
    return q * jnp.sign(jnp.diag(r))[None, :]


@problem_dataclass
class DeepLinear:
    """``f(W) = ½ ||Σ31 - W_D ⋯ W_1||_F²``, ``Σ31 = U diag(s) Vᵀ``; layers ``x0 = (W_1..W_D)``."""

    sigma31: jax.Array
    U: jax.Array
    V: jax.Array
    s: jax.Array
    u0: jax.Array       # initial mode strengths u_αᵀ W_D⋯W_1(0) v_α, [modes]
    x0: tuple
    f_star: jax.Array
    depth: Static[int]
    init: Static[str]

    def loss(self, params: Any) -> jax.Array:
        return 0.5 * jnp.sum((self.sigma31 - product(params)) ** 2)

    def grad(self, params: Any) -> tuple:
        """``∂f/∂W_i = -(W_D⋯W_{i+1})ᵀ (Σ31 - W_D⋯W_1) (W_{i-1}⋯W_1)ᵀ`` (backprop by hand)."""
        residual = self.sigma31 - product(params)
        below = [jnp.eye(params[0].shape[1], dtype=params[0].dtype)]
        for w in params[:-1]:
            below.append(w @ below[-1])
        above = [jnp.eye(params[-1].shape[0], dtype=params[-1].dtype)]
        for w in params[:0:-1]:
            above.append(above[-1] @ w)
        above = above[::-1]  # above[i] = W_D ⋯ W_{i+1}
        return tuple(-(above[i].T @ residual @ below[i].T) for i in range(len(params)))

    def mode_strengths(self, params: Any) -> jax.Array:
        """``u_α = u_αᵀ W_D⋯W_1 v_α`` for every mode α."""
        return mode_strengths(self, params)

    def default_metrics(self) -> dict[str, Any]:
        return {"modes": mode_strengths, "off_diagonal": off_diagonal, "gap": loss_gap}


def mode_strengths(problem: DeepLinear, params: Any) -> jax.Array:
    """Metric: the mode strengths ``diag(Uᵀ W_D⋯W_1 V)``, ``[modes]``."""
    return jnp.diagonal(problem.U.T @ product(params) @ problem.V)


def off_diagonal(problem: DeepLinear, params: Any) -> jax.Array:
    """Metric: ``||offdiag(Uᵀ W_D⋯W_1 V)||_F``, zero on the decoupled manifold."""
    m = problem.U.T @ product(params) @ problem.V
    return jnp.linalg.norm(m - jnp.diag(jnp.diagonal(m)))


@checked_generator
def make_deep_linear(key: jax.Array, *, singular_values: Any, depth: int = 2,
                     hidden: int | None = None, init: str = "decoupled", u0: float = 1e-3,
                     init_scale: float = 1e-3) -> DeepLinear:
    """A whitened deep linear regression with known singular values.

    Args:
      key: typed PRNG key.
      singular_values: the ``n`` target singular values ``s_α > 0`` (input and output
        dimension ``n``); a traced array inside a sweep.
      depth: ``D >= 2`` weight layers (``N_l = D + 1`` layers of units in the paper's count).
      hidden: hidden width ``>= n`` (default ``n``).
      init: one of :data:`INITS`.
      u0: initial strength of every mode for ``init="decoupled"``, ``0 < u0 < min(s)``.
      init_scale: ``ε`` of the Gaussian (std ``ε/sqrt(fan_in)``) and orthogonal inits, > 0.
    """
    require_finite("singular_values", singular_values)
    s = jnp.asarray(singular_values)
    if s.ndim != 1 or s.shape[0] < 1:
        raise ValueError(f"singular_values must be a non-empty 1-D sequence, got shape {s.shape}")
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(jnp.result_type(float))
    n = int(s.shape[0])
    D = require_int("depth", depth, minimum=2)
    h = n if hidden is None else require_int("hidden", hidden, minimum=1)
    if h < n:
        raise ValueError(f"hidden ({h}) must be >= the number of modes ({n}) so that f* = 0")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "orthogonal" and h != n:
        raise ValueError(f"hidden ({h}) must equal the number of modes ({n}) for init='orthogonal'")
    require_positive("u0", u0)
    require_positive("init_scale", init_scale)
    if is_concrete(s):
        s_np = np.asarray(s)
        if not np.all(np.isfinite(s_np)) or not np.all(s_np > 0):
            raise ValueError(f"singular_values must be finite and > 0, got {s_np.tolist()}")
        if init == "decoupled" and is_concrete(u0) and not float(u0) < float(s_np.min()):
            raise ValueError(f"u0 ({u0}) must be < min(singular_values) ({s_np.min()})")
    k_u, k_v, k_layers = jax.random.split(key, 3)
    U, V = _random_orthogonal(k_u, n), _random_orthogonal(k_v, n)
    sigma31 = (U * s[None, :]) @ V.T
    layer_keys = jax.random.split(k_layers, D)
    dims = [n] + [h] * (D - 1) + [n]  # dims[i] -> dims[i+1] is layer i+1
    if init == "decoupled":
        a = jnp.full((n,), jnp.asarray(u0, s.dtype) ** (1.0 / D))
        R = [_random_orthogonal(k, h)[:, :n] for k in layer_keys[: D - 1]]
        left = [R[i] for i in range(D - 1)] + [U]       # output basis of layer i+1
        right = [V] + [R[i] for i in range(D - 1)]      # input basis of layer i+1
        x0 = tuple((left[i] * a[None, :]) @ right[i].T for i in range(D))
    elif init == "gaussian":
        x0 = tuple(init_scale / jnp.sqrt(dims[i]) * jax.random.normal(layer_keys[i], (dims[i + 1], dims[i]), s.dtype)
                   for i in range(D))
    else:
        x0 = tuple(init_scale * _random_orthogonal(layer_keys[i], n) for i in range(D))
    u_init = jnp.diagonal(U.T @ product(x0) @ V)
    return DeepLinear(sigma31, U, V, s, u_init, x0, jnp.zeros((), s.dtype), D, init)
