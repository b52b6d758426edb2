"""Broken game dynamics that the negative controls run through the claims' own measure paths:
one-line bugs of the kind a real implementation has (a step off by a constant, a wrong RK4
stage). Not for use outside the controls."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from convlab.methods.base import Method, make_method
from convlab.methods.game_dynamics import GameState, projected_euler
from theory_checks.games.reference import RK4_TABLEAU, rk4_map

__all__ = ["scaled_step", "rk4_wrong_stage", "WRONG_STAGE_TABLEAU"]

# the third stage taken a full step from x (A[2, 1] = 1 instead of 1/2)
WRONG_STAGE_TABLEAU = (RK4_TABLEAU[0], RK4_TABLEAU[1] * np.array([1, 1, 2, 1])[:, None],
                       RK4_TABLEAU[2])


def scaled_step(factory: Any, factor: float) -> Any:
    """``factory`` whose step is ``factor`` x the one asked for (a wrong step constant)."""
    return lambda h: factory(factor * h)


def _init(method: Method, params: Any) -> GameState:
    return GameState(count=jnp.zeros((), jnp.int32), params=params)


def _wrong_stage_step(method: Method, key: Any, state: GameState, problem: Any):
    del key
    h = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    params = problem.project(rk4_map(problem.pseudo_gradient, h, WRONG_STAGE_TABLEAU)(state.params))
    return GameState(state.count + 1, params), {"oracle_calls": jnp.asarray(4, jnp.int32)}


def rk4_wrong_stage(step_size: Any) -> Method:
    """RK4 whose third stage is evaluated at ``x - h k2`` instead of ``x - (h/2) k2``."""
    return make_method("rk4_wrong_stage", _init, _wrong_stage_step, step_size=step_size)


EULER_SCALED = scaled_step(projected_euler, 1.2)  # Euler with a 1.2x step
