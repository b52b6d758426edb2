"""Mini-batch SGD on finite sums, batches drawn with or without replacement.

Backs the ``sgd_stability`` family (PAPERS-wave2.md §11: Wu, Ma & E 2018; Wu & Su 2023): the
linear stability of SGD at interpolating minima depends on the batch size and on how batches
are drawn, so both are structural options here and the step is a sweepable leaf.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods.base import Method, make_method
from convlab.validate import require_int, validate_step_size

__all__ = ["SGDState", "sgd", "sample_batch"]


class SGDState(NamedTuple):
    """State of :func:`sgd`: step ``count`` and current ``params``."""

    count: jax.Array
    params: Any


def _init(method: Method, params: Any) -> SGDState:
    return SGDState(count=jnp.zeros((), jnp.int32), params=params)


def sample_batch(key: jax.Array, num_samples: int, batch_size: int, replace: bool) -> jax.Array:
    """``batch_size`` indices of ``range(num_samples)``: i.i.d. uniform (``replace``) or a
    uniformly random subset (the first ``batch_size`` entries of a random permutation)."""
    if replace:
        return jax.random.randint(key, (batch_size,), 0, num_samples)
    return jax.random.permutation(key, num_samples)[:batch_size]


def _step(method: Method, key: jax.Array, state: SGDState, problem: Any):
    batch_size, replace = method.option("batch_size"), method.option("replace")
    n = int(problem.num_samples)
    if not replace and batch_size > n:
        raise ValueError(f"batch_size ({batch_size}) must be <= the problem's num_samples ({n}) "
                         "when batches are drawn without replacement")
    idx = sample_batch(key, n, batch_size, replace)
    grad = problem.batch_grad(state.params, idx)
    step_size = method.hparams["step_size"]
    params = jax.tree.map(lambda x, g: x - jnp.asarray(step_size, jnp.result_type(x)) * g,
                          state.params, grad)
    info = {"oracle_calls": jnp.asarray(batch_size, jnp.int32)}
    return SGDState(count=state.count + 1, params=params), info


def sgd(step_size: Any, *, batch_size: int, replace: bool = True) -> Method:
    r"""Mini-batch stochastic gradient descent with a constant step.

    .. math::
        \theta_{t+1} = \theta_t - \eta\, \frac{1}{B} \sum_{i \in \xi_t} \nabla \ell_i(\theta_t),
        \qquad |\xi_t| = B

    Args:
      step_size: the step :math:`\eta > 0` (traceable: may be swept).
      batch_size: :math:`B \ge 1`, structural (static).
      replace: ``True``: the :math:`B` indices are i.i.d. uniform on ``range(n)``; ``False``: a
        uniformly random subset of size :math:`B \le n` (``B = n``: full-batch GD).

    Returns:
      A :class:`~convlab.methods.base.Method` using ``problem.batch_grad(params, indices)`` (the
      mean of the per-sample gradients over ``indices``) and ``problem.num_samples``; ``B``
      component-oracle calls per step.

    References:
      Wu, Ma & E, "How SGD Selects the Global Minima in Over-parameterized Learning: A Dynamical
      Stability Perspective", NeurIPS 2018; Wu & Su, "The Implicit Regularization of Dynamical
      Stability in Stochastic Gradient Descent", ICML 2023.
    """
    if not isinstance(replace, (bool, np.bool_)):
        raise TypeError(f"replace must be a bool, got {replace!r}")
    batch_size = require_int("batch_size", batch_size, minimum=1)
    return make_method("sgd", _init, _step, validate=validate_step_size,
                       options={"batch_size": batch_size, "replace": replace},
                       step_size=step_size)
