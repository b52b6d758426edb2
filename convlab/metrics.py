"""Standard metrics ``fn(problem, x) -> scalar`` recorded by ``run``.

Module-level functions (so repeated runs share one compiled program) that read the truth a
problem knows by construction: ``f_star``, ``x_star``, its ``grad`` or its ``operator``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["loss_gap", "distance_to_solution", "grad_norm", "fixed_point_residual", "tree_norm"]


def tree_norm(tree: Any) -> jax.Array:
    """Euclidean norm of a pytree of arrays."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def loss_gap(problem: Any, x: Any) -> jax.Array:
    """``f(x) - f*`` (needs ``problem.loss`` and ``problem.f_star``)."""
    return problem.loss(x) - problem.f_star


def distance_to_solution(problem: Any, x: Any) -> jax.Array:
    """``||x - x*||`` (needs ``problem.x_star``)."""
    return tree_norm(jax.tree.map(jnp.subtract, x, problem.x_star))


def grad_norm(problem: Any, x: Any) -> jax.Array:
    """``||grad f(x)||``."""
    return tree_norm(problem.grad(x))


def fixed_point_residual(problem: Any, x: Any) -> jax.Array:
    """``||x - T x||`` for the problem's nonexpansive ``operator`` T."""
    return tree_norm(jax.tree.map(jnp.subtract, x, problem.operator(x)))
