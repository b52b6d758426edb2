"""The local linear rate a method must show near a solution: autodiff of its own step map.

Near a fixed point ``s*`` of the step map ``S(s) = method.step(key, s, problem)[0]`` the error
contracts by ``ρ = max |eig(J)|``, ``J = ∂S/∂s (s*)``, per step. When the solutions form a
manifold (matrix factorizations: ``X* Q``; ``F P, G P^{-T}``), every point of it is fixed, so J
has eigenvalue 1 on its tangent space ``T`` and the rate is that of the map induced on the
quotient: with ``Q`` an orthonormal basis of ``T^⊥``, the eigenvalues of ``Qᵀ J Q`` (valid
because ``J T ⊆ T``; :class:`LocalRate` reports how far that holds). The predicted tail rate of
``log ||s_k - s*||`` is then ``-log ρ``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = ["LocalRate", "local_rate", "map_local_rate", "gradient_step", "state_vector"]


class LocalRate(NamedTuple):
    """``rho``: spectral radius of the step map's Jacobian on the transverse directions;
    ``rate = -log rho``; ``eigenvalues`` (moduli, descending) of the transverse map;
    ``fixed_point_residual = ||S(s*) - s*||``; ``invariance_residual = ||(I - P_T) J T||``
    (0 when the given tangent is invariant, as it must be); ``dim``: transverse dimension."""

    rho: float
    rate: float
    eigenvalues: np.ndarray
    fixed_point_residual: float
    invariance_residual: float
    dim: int


def state_vector(state: Any) -> tuple[jax.Array, Any]:
    """The floating-point leaves of ``state`` as one vector, and the inverse map (integer
    leaves such as ``count`` are held fixed)."""
    leaves, treedef = jax.tree.flatten(state)
    is_float = [jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact) for x in leaves]
    vector, unravel = ravel_pytree([x for x, f in zip(leaves, is_float) if f])

    def rebuild(v: jax.Array) -> Any:
        floats = iter(unravel(v))
        return jax.tree.unflatten(treedef, [next(floats) if f else x for x, f in zip(leaves, is_float)])
    return vector, rebuild


def map_local_rate(step_map: Any, point: Any, *, tangent: Any = None) -> LocalRate:
    """The local contraction of a pure map ``vector -> vector`` at its fixed point ``point``.

    Args:
      step_map: one step of the iteration on flat vectors (e.g. :func:`gradient_step`).
      point: the fixed point (a solution), a flat vector.
      tangent: ``[n, t]`` directions spanning the tangent space of the solution set at
        ``point``; ``None`` for an isolated solution.
    """
    vector = jnp.asarray(point)
    jac = np.asarray(jax.jacfwd(step_map)(vector), dtype=np.float64)
    residual = float(np.linalg.norm(np.asarray(step_map(vector)) - np.asarray(vector)))
    n = jac.shape[0]
    if tangent is None:
        basis, invariance = np.eye(n), 0.0
    else:
        t = np.asarray(tangent, dtype=np.float64).reshape(n, -1)
        u, s, _ = np.linalg.svd(t, full_matrices=True)
        rank = int(np.sum(s > s.max() * 1e-10)) if s.size else 0
        span, basis = u[:, :rank], u[:, rank:]
        moved = jac @ span
        invariance = float(np.linalg.norm(moved - span @ (span.T @ moved)))
    moduli = np.sort(np.abs(np.linalg.eigvals(basis.T @ jac @ basis)))[::-1]
    rho = float(moduli[0]) if moduli.size else 0.0
    return LocalRate(rho, float(-np.log(rho)) if rho > 0 else float("inf"), moduli, residual,
                     invariance, int(basis.shape[1]))


def local_rate(method: Any, problem: Any, params: Any, *, tangent: Any = None,
               key: jax.Array | None = None) -> LocalRate:
    """The local contraction of ``method``'s own step map at the solution ``params``.

    The map is differentiated on the float leaves of ``method.init(params)`` (for GD these are
    the params themselves; :func:`state_vector` gives the coordinates ``tangent`` is written in).
    """
    key = jax.random.key(0) if key is None else key
    vector, rebuild = state_vector(method.init(params))

    def step_map(v: jax.Array) -> jax.Array:
        new_state, _ = method.step(key, rebuild(v), problem)
        return state_vector(new_state)[0]
    return map_local_rate(step_map, vector, tangent=tangent)


def gradient_step(loss: Any, step_size: float, unravel: Any = None) -> Any:
    """The reference map ``x -> x - γ ∇loss(x)`` on flat vectors, the gradient taken by
    autodiff of ``loss`` (independent of any hand-written gradient): what GD's theory says the
    step is. ``unravel`` maps a flat vector back to the loss's argument (default: identity)."""
    unravel = (lambda v: v) if unravel is None else unravel

    def step(v: jax.Array) -> jax.Array:
        return v - step_size * ravel_pytree(jax.grad(lambda w: loss(unravel(w)))(v))[0]
    return step
