"""Broken bilevel implementations for the negative controls: realistic one-line bugs, run
through the claims' own measurements (each must be judged ``violated``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from convlab.methods import bilevel as B
from theory_checks.bilevel import instances as I


def _full_cross(problem: Any, x: Any, y: Any, z: Any) -> Any:
    """``∇²_xy g(x, y) z`` on the full lower batch."""
    return B.jvp_xy(problem, x, y, z, jnp.arange(problem.n_lower))


def soba_cross_flipped(method, key, state, problem):
    """SOBA with ``h = ∇_x f + ∇²_xy g z`` (the cross term's sign flipped)."""
    new, info = B._soba_step(method, key, state, problem)
    x, y = state.params
    m = new.momentum + 2.0 * method.hparams["averaging"] * _full_cross(problem, x, y, state.z)
    x_new = x - jnp.asarray(method.hparams["step_size"]) * m
    return new._replace(params=new.params._replace(x=x_new), momentum=m), info


def bo_rep_cross_flipped(method, key, state, problem):
    """BO-REP with ``h = ∇_x f + ∇²_xy g z`` (the cross term's sign flipped)."""
    new, info = B._bo_rep_step(method, key, state, problem)
    x = state.params.x
    beta = jnp.asarray(method.hparams["momentum"])
    m = new.momentum + 2.0 * (1.0 - beta) * _full_cross(problem, x, new.params.y, new.z)
    x_new = x - jnp.asarray(method.hparams["step_size"]) * m / jnp.linalg.norm(m)
    return new._replace(params=new.params._replace(x=x_new), momentum=m), info


def bo_rep_flipped_schedule(r: float, radius: float, *, period: int | None = None,
                            inner: int | None = None) -> Any:
    """:func:`instances.bo_rep_schedule` with the cross term's sign flipped."""
    method = I.bo_rep_schedule(r, radius, period=period, inner=inner)
    return dataclasses.replace(method, step_fn=bo_rep_cross_flipped)


class OneSample:
    """The problem seen through one lower component ``j`` for a whole step."""

    def __init__(self, problem: Any, j: jax.Array):
        self.problem, self.j = problem, j
        self.n_upper, self.n_lower, self.upper = problem.n_upper, problem.n_lower, problem.upper

    def lower(self, x, y, idx):
        return self.problem.lower(x, y, jnp.full_like(idx, self.j))


def stocbio_one_sample(method, key, state, problem):
    """StocBiO whose Neumann terms (and cross product) reuse one Hessian sample."""
    j = jax.random.randint(jax.random.fold_in(key, 99), (), 0, problem.n_lower)
    return B._neumann_step(method, key, state, OneSample(problem, j))


def bo_rep_unnormalized(method, key, state, problem):
    """BO-REP stepping along its momentum, ``x - η m``, without the normalization."""
    new, info = B._bo_rep_step(method, key, state, problem)
    x_new = state.params.x - jnp.asarray(method.hparams["step_size"]) * new.momentum
    return new._replace(params=new.params._replace(x=x_new)), info


def bo_rep_unnormalized_schedule(r: float, radius: float, *, period: int | None = None,
                                 inner: int | None = None) -> Any:
    """:func:`instances.bo_rep_schedule` without the normalization of its x step."""
    method = I.bo_rep_schedule(r, radius, period=period, inner=inner)
    return dataclasses.replace(method, step_fn=bo_rep_unnormalized)
