"""Coordinate and block coordinate descent: random, Lipschitz sampling, Gauss–Southwell (GS),
GS–Lipschitz (GSL); fixed and greedy variable blocks with Lipschitz or Newton block updates.

Backs the ``coordinate_descent`` family (PAPERS-wave2.md §7). The problem provides ``grad``,
``coordinate_lipschitz`` (``L_i``) and, for block updates, ``hessian``. One step updates one
coordinate (or one block); ``info["oracle_calls"]`` counts coordinate (block) updates, 1 a step,
and ``info["coordinate"]`` is the coordinate (first of the block) chosen.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods.base import Method, make_method
from convlab.validate import require_int, require_positive

__all__ = ["CoordinateState", "coordinate_descent", "random_coordinate", "lipschitz_sampling",
           "gauss_southwell", "gauss_southwell_lipschitz", "block_coordinate_descent",
           "greedy_block_coordinate_descent", "RULES", "coordinate_update",
           "selection_probabilities", "coordinate_steps"]

RULES = ("uniform", "lipschitz", "gs", "gsl")
STEPS = ("global", "coordinate")           # 1/L or 1/L_i
DEFAULT_STEP = {"uniform": "global", "lipschitz": "coordinate", "gs": "global", "gsl": "coordinate"}
BLOCK_SELECTIONS = ("random", "cyclic", "gs", "gsl")
BLOCK_UPDATES = ("lipschitz", "newton")
SCORES = ("gs", "gsl")


class CoordinateState(NamedTuple):
    """State of every coordinate method: step ``count`` and current ``params``."""

    count: jax.Array
    params: Any


def _init(method: Method, params: Any) -> CoordinateState:
    return CoordinateState(count=jnp.zeros((), jnp.int32), params=params)


def _validate(hparams: dict[str, Any]) -> None:
    require_positive("step_scale", hparams["step_scale"])


def _cast(value: Any, like: jax.Array) -> jax.Array:
    return jnp.asarray(value, jnp.result_type(like))


# --- single coordinates ---------------------------------------------------------------------
def coordinate_steps(method: Method, problem: Any) -> jax.Array:
    """The step of each coordinate: ``step_scale / L`` (global) or ``step_scale / L_i``."""
    lip = problem.coordinate_lipschitz
    scale = _cast(method.hparams["step_scale"], lip)
    if method.option("step") == "global":
        return jnp.full_like(lip, 1.0) * scale / lip.max()
    return scale / lip


def _scores(rule: str, g: jax.Array, lip: jax.Array) -> jax.Array:
    return jnp.abs(g) if rule == "gs" else jnp.abs(g) / jnp.sqrt(lip)


def selection_probabilities(method: Method, problem: Any, x: jax.Array) -> jax.Array:
    """The law of the chosen coordinate at ``x``: uniform, ``L_i / Σ L_j``, or the greedy
    coordinate (one-hot)."""
    rule = method.option("rule")
    lip = problem.coordinate_lipschitz
    if rule == "uniform":
        return jnp.full_like(lip, 1.0 / lip.shape[0])
    if rule == "lipschitz":
        return lip / lip.sum()
    i = jnp.argmax(_scores(rule, problem.grad(x), lip))
    return jnp.zeros_like(lip).at[i].set(1.0)


def coordinate_update(method: Method, problem: Any, x: jax.Array, i: jax.Array) -> jax.Array:
    """``x - α_i ∇_i f(x) e_i``: the update of coordinate ``i`` (the method's own)."""
    g = problem.grad(x)
    return x.at[i].add(-coordinate_steps(method, problem)[i] * g[i])


def _select(method: Method, key: jax.Array, problem: Any, x: jax.Array) -> jax.Array:
    rule = method.option("rule")
    lip = problem.coordinate_lipschitz
    if rule in ("gs", "gsl"):
        return jnp.argmax(_scores(rule, problem.grad(x), lip))
    p = selection_probabilities(method, problem, x)
    return jax.random.choice(key, lip.shape[0], p=p)


def _step(method: Method, key: jax.Array, state: CoordinateState, problem: Any):
    i = _select(method, key, problem, state.params)
    params = coordinate_update(method, problem, state.params, i)
    info = {"oracle_calls": jnp.asarray(1, jnp.int32), "coordinate": i}
    return CoordinateState(count=state.count + 1, params=params), info


def coordinate_descent(rule: str, step_scale: Any = 1.0, *, step: str | None = None) -> Method:
    r"""One-coordinate descent with a selection ``rule`` (Nutini et al. 2015).

    .. math::
        i_k \sim \text{rule}, \qquad x_{k+1} = x_k - \alpha_{i_k} \nabla_{i_k} f(x_k)\, e_{i_k}

    Rules: ``uniform`` (``i`` uniform), ``lipschitz`` (``P(i) = L_i / Σ L_j``), ``gs``
    (``argmax |∇_i f|``), ``gsl`` (``argmax |∇_i f| / √L_i``). Steps ``α_i = s/L`` (``global``,
    default for uniform and gs) or ``s/L_i`` (``coordinate``, default for lipschitz and gsl).

    Args:
      rule: one of :data:`RULES`.
      step_scale: ``s > 0`` (traceable: may be swept); 1 is the theory's step.
      step: ``"global"`` or ``"coordinate"``; ``None``: the rule's default.

    References:
      Nutini, Schmidt, Laradji, Friedlander, Koepke, "Coordinate Descent Converges Faster with
      the Gauss-Southwell Rule Than Random Selection", ICML 2015.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    step = DEFAULT_STEP[rule] if step is None else step
    if step not in STEPS:
        raise ValueError(f"step must be one of {STEPS}, got {step!r}")
    return make_method(f"cd-{rule}", _init, _step, options={"rule": rule, "step": step},
                       validate=_validate, step_scale=step_scale)


def random_coordinate(step_scale: Any = 1.0) -> Method:
    """Uniform random coordinate, step ``1/L`` (:func:`coordinate_descent`, rule ``uniform``)."""
    return coordinate_descent("uniform", step_scale)


def lipschitz_sampling(step_scale: Any = 1.0) -> Method:
    """``P(i) ∝ L_i``, step ``1/L_i`` (:func:`coordinate_descent`, rule ``lipschitz``)."""
    return coordinate_descent("lipschitz", step_scale)


def gauss_southwell(step_scale: Any = 1.0) -> Method:
    """``argmax |∇_i f|``, step ``1/L`` (:func:`coordinate_descent`, rule ``gs``)."""
    return coordinate_descent("gs", step_scale)


def gauss_southwell_lipschitz(step_scale: Any = 1.0) -> Method:
    """``argmax |∇_i f|/√L_i``, step ``1/L_i`` (:func:`coordinate_descent`, rule ``gsl``)."""
    return coordinate_descent("gsl", step_scale)


# --- blocks ---------------------------------------------------------------------------------
def _block_update(update: str, scale: jax.Array, problem: Any, x: jax.Array, idx: jax.Array,
                  g: jax.Array) -> jax.Array:
    """``x_b ← x_b - s H_bb⁻¹ g_b`` (newton) or ``x_b - s g_b / λ_max(H_bb)`` (lipschitz)."""
    H = problem.hessian(x)[idx][:, idx]
    gb = g[idx]
    if update == "newton":
        delta = jnp.linalg.solve(H, gb)
    else:
        delta = gb / jnp.linalg.eigvalsh(H)[-1]
    return x.at[idx].add(-_cast(scale, x) * delta)


def _fixed_block_step(method: Method, key: jax.Array, state: CoordinateState, problem: Any):
    blocks = jnp.asarray(method.hparams["blocks"])
    selection = method.option("selection")
    x = state.params
    g = problem.grad(x)
    if selection == "random":
        b = jax.random.randint(key, (), 0, blocks.shape[0])
    elif selection == "cyclic":
        b = state.count % blocks.shape[0]
    else:
        scores = _scores(selection, g, problem.coordinate_lipschitz)
        b = jnp.argmax(scores[blocks].sum(axis=1))
    idx = blocks[b]
    params = _block_update(method.option("update"), method.hparams["step_scale"], problem, x, idx, g)
    info = {"oracle_calls": jnp.asarray(1, jnp.int32), "coordinate": idx[0]}
    return CoordinateState(count=state.count + 1, params=params), info


def block_coordinate_descent(blocks: Any, *, selection: str = "random", update: str = "lipschitz",
                             step_scale: Any = 1.0) -> Method:
    r"""Block coordinate descent over a fixed partition into equal-size ``blocks``.

    .. math::
        x_{b} \leftarrow x_{b} - s\, H_{bb}^{-1} \nabla_b f(x) \ \text{(newton)}, \qquad
        x_{b} \leftarrow x_{b} - s\, \nabla_b f(x) / \lambda_{\max}(H_{bb}) \ \text{(lipschitz)}

    Args:
      blocks: sequence of equal-length index sequences (a partition of the coordinates); kept
        as an integer array leaf, so partitions of the same shape share one compiled program.
      selection: ``random`` (uniform block), ``cyclic``, ``gs`` (largest ``Σ_b |g_i|``) or
        ``gsl`` (largest ``Σ_b |g_i|/√L_i``).
      update: ``lipschitz`` or ``newton`` (exact minimisation of a quadratic over the block).
      step_scale: ``s > 0`` (traceable).

    References:
      Nutini, Laradji, Schmidt, "Let's Make Block Coordinate Descent Converge Faster", JMLR 2022.
    """
    if selection not in BLOCK_SELECTIONS:
        raise ValueError(f"selection must be one of {BLOCK_SELECTIONS}, got {selection!r}")
    if update not in BLOCK_UPDATES:
        raise ValueError(f"update must be one of {BLOCK_UPDATES}, got {update!r}")
    try:
        blocks = tuple(tuple(require_int("blocks", i, minimum=0) for i in b) for b in blocks)
    except TypeError as err:
        raise TypeError(f"blocks must be a sequence of index sequences: {err}") from None
    if not blocks or len({len(b) for b in blocks}) != 1 or not blocks[0]:
        raise ValueError("blocks must be a non-empty sequence of equal, non-empty index sequences")
    flat = [i for b in blocks for i in b]
    if len(set(flat)) != len(flat):
        raise ValueError("blocks must not overlap")
    return make_method(f"bcd-{selection}-{update}", _init, _fixed_block_step,
                       options={"selection": selection, "update": update},
                       validate=_validate, step_scale=step_scale,
                       blocks=np.asarray(blocks, dtype=np.int32))


def _greedy_block_step(method: Method, key: jax.Array, state: CoordinateState, problem: Any):
    del key
    x = state.params
    g = problem.grad(x)
    scores = _scores(method.option("score"), g, problem.coordinate_lipschitz)
    _, idx = jax.lax.top_k(scores, method.option("block_size"))
    params = _block_update(method.option("update"), method.hparams["step_scale"], problem, x, idx, g)
    info = {"oracle_calls": jnp.asarray(1, jnp.int32), "coordinate": idx[0]}
    return CoordinateState(count=state.count + 1, params=params), info


def greedy_block_coordinate_descent(block_size: int, *, score: str = "gsl", update: str = "newton",
                                    step_scale: Any = 1.0) -> Method:
    r"""Greedy variable blocks: the ``block_size`` coordinates of largest score, then a block
    update (:func:`block_coordinate_descent`'s ``newton`` or ``lipschitz``).

    Scores: ``gs`` ``|∇_i f|``, ``gsl`` ``|∇_i f|/√L_i``.

    References:
      Nutini, Laradji, Schmidt, "Let's Make Block Coordinate Descent Converge Faster", JMLR 2022
      (variable blocks, block-Newton "Hb" update).
    """
    size = require_int("block_size", block_size, minimum=1)
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if update not in BLOCK_UPDATES:
        raise ValueError(f"update must be one of {BLOCK_UPDATES}, got {update!r}")
    return make_method(f"vb-{score}-{update}", _init, _greedy_block_step,
                       options={"block_size": size, "score": score, "update": update},
                       validate=_validate, step_scale=step_scale)
