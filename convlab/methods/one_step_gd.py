"""Gradient descent on a two-factor iterate ``(F, G)`` with the one-step modification.

Xiong, Ding & Du (ICLR 2024, PAPERS.md §1) show that plain GD on the over-parameterized
asymmetric factorization ``F Gᵀ`` converges linearly but at a rate ``Θ(ηα²)`` set by the small
imbalance ``FᵀF − GᵀG`` inherited from an init of scale ``α``, and that modifying *one* step,
once the iterate is close to the solution, removes the ``α`` dependence. This module implements
that modification in the form of PAPERS.md's [derived] note: a change of basis
``F ← F P``, ``G ← G P^{-T}`` (``F Gᵀ`` unchanged) with ``P = sqrt(scale) (FᵀF)^{-1/2}``, after
which every singular value of ``F`` equals ``sqrt(scale)``: the spurious columns of ``F``, of
size ``Θ(α)`` before, become ``Θ(1)``, the imbalance becomes ``Θ(1)`` and the spurious part of the
error then contracts at ``1 − Θ(η·scale)`` instead of ``1 − Θ(ηα²)``.

Trigger (precise): at the start of every step the loss is evaluated at the current iterate;
the first time ``loss(F, G) <= threshold`` (while ``state.modified_at < 0``) the basis change is
applied (inside the jitted step, with ``lax.cond``) and ``state.modified_at`` records the step,
which keeps it from firing again. The gradient step then proceeds from the modified iterate, so the step that
fires is "GD plus one extra step". Backs ``matrix_sensing.one-step-alpha-free``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost
from convlab.validate import require_positive, validate_step_size

__all__ = ["OneStepGDState", "one_step_gd", "rebalance"]


class OneStepGDState(NamedTuple):
    """State of :func:`one_step_gd`: ``count``, ``params`` = ``(F, G)``, and ``modified_at``
    (the step at which the modification fired, or -1)."""

    count: jax.Array
    params: Any
    modified_at: jax.Array


def rebalance(params: Any, scale: Any) -> Any:
    """The basis change ``F ← F P``, ``G ← G P^{-T}``, ``P = sqrt(scale) (FᵀF)^{-1/2}``.

    ``F Gᵀ`` is unchanged (up to rounding) and every singular value of the new ``F`` equals
    ``sqrt(scale)``. ``params`` is any two-leaf pytree ``(F, G)`` (e.g.
    ``problems.matrix_sensing.Factors``); its structure is kept. ``FᵀF`` must be nonsingular.
    """
    leaves, treedef = jax.tree.flatten(params)
    if len(leaves) != 2:
        raise ValueError(f"params must be a two-factor pytree (F, G), got {len(leaves)} leaves")
    F, G = leaves
    gram = F.T @ F
    evals, Q = jnp.linalg.eigh(0.5 * (gram + gram.T))
    root = jnp.sqrt(jnp.asarray(scale, F.dtype))
    P = (Q * (root / jnp.sqrt(evals))[None, :]) @ Q.T            # sqrt(scale) (FᵀF)^{-1/2}
    P_inv_T = (Q * (jnp.sqrt(evals) / root)[None, :]) @ Q.T      # P^{-T} = (FᵀF)^{1/2}/sqrt(scale)
    return jax.tree.unflatten(treedef, [F @ P, G @ P_inv_T])


def _init(method: Method, params: Any) -> OneStepGDState:
    return OneStepGDState(count=jnp.zeros((), jnp.int32), params=params,
                          modified_at=jnp.full((), -1, jnp.int32))


def _step(method: Method, key: jax.Array, state: OneStepGDState, problem: Any):
    del key  # deterministic
    dtype = jnp.result_type(*jax.tree.leaves(state.params))
    step_size = jnp.asarray(method.hparams["step_size"], dtype)
    threshold = jnp.asarray(method.hparams["threshold"], dtype)
    scale = method.hparams["scale"]
    pending = state.modified_at < 0
    # One flat lax.cond: a cond nested in a cond is turned into selects under vmap and ran
    # ~15x slower in a sweep (measured); the loss is therefore evaluated on every step.
    fired = pending & (problem.loss(state.params) <= threshold)
    params = jax.lax.cond(fired, lambda p: rebalance(p, scale), lambda p: p, state.params)
    grad = problem.grad(params)
    params = jax.tree.map(lambda x, g: x - step_size.astype(x.dtype) * g, params, grad)
    modified_at = jnp.where(fired, state.count, state.modified_at)
    cost = oracle_cost(problem)
    # the algorithm needs the loss only while the modification is pending: that is what it
    # is charged for (the implementation evaluates it on every step, see above)
    calls = cost + jnp.where(pending, cost, 0)
    info = {"oracle_calls": jnp.asarray(calls, jnp.int32), "modified": fired}
    return OneStepGDState(count=state.count + 1, params=params, modified_at=modified_at), info


def _validate(hparams: dict[str, Any]) -> None:
    validate_step_size(hparams)
    require_positive("threshold", hparams["threshold"])
    require_positive("scale", hparams["scale"])


def one_step_gd(step_size: Any, *, threshold: Any, scale: Any = 1.0) -> Method:
    r"""Gradient descent on ``(F, G)`` with one basis change once the loss is small.

    Every step is simultaneous gradient descent,

    .. math::
        F_{t+1} = F_t - \eta \nabla_F L(F_t, G_t), \qquad G_{t+1} = G_t - \eta \nabla_G L(F_t, G_t),

    except that at the first step :math:`t_1` with :math:`L(F_{t_1}, G_{t_1}) \le \tau` the iterate
    is first replaced by

    .. math::
        F \leftarrow F P, \quad G \leftarrow G P^{-\top}, \qquad
        P = \sqrt{s}\,(F^\top F)^{-1/2},

    which keeps :math:`F G^\top` and makes every singular value of :math:`F` equal to
    :math:`\sqrt{s}` (the imbalance :math:`F^\top F - G^\top G` becomes :math:`\Theta(s)` instead of
    :math:`\Theta(\alpha^2)`). The trigger is evaluated inside the compiled step (``lax.cond``)
    and fires once.

    Args:
      step_size: :math:`\eta > 0` (traceable).
      threshold: :math:`\tau > 0`, the loss level at which the modification fires (traceable).
      scale: :math:`s > 0`, the squared singular values of :math:`F` after the change (traceable;
        :math:`\|M^\star\|_2`, the natural scale, when known).

    Returns:
      A :class:`~convlab.methods.base.Method`; the problem must provide ``loss`` and ``grad``
      on a two-factor iterate. One oracle call per step for the gradient, plus one for the loss
      check while the modification is pending. ``state.modified_at`` is the step it fired (or -1).

    References:
      Xiong, Ding & Du, "How Over-Parameterization Slows Down Gradient Descent in Matrix Sensing:
      The Curses of Symmetry and Initialization", ICLR 2024 (the one-step modification; the
      form of ``P`` is the one documented in PAPERS.md §1).
    """
    return make_method("one_step_gd", _init, _step, validate=_validate, step_size=step_size,
                       threshold=threshold, scale=scale)
