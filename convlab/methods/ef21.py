"""EF21 and EF21-W: error feedback for compressed distributed gradient methods.

Backs the ``error_feedback`` family (PAPERS-wave2.md §10). Every client ``i`` keeps an estimate
``g_i`` of its (scaled) gradient and sends only the compressed difference ``C(∇f_i - g_i)``; the
server steps along an average of the estimates. EF21-W reweights clients by ``w_i = L_i/Σ L_j``
(each client tracks ``∇f_i/(n w_i)``, the server averages with weights ``w_i``), which lets the
step use the arithmetic instead of the quadratic mean of the ``L_i``.

The problem provides ``client_grads(x) -> [n, d]`` and ``client_lipschitz`` (``L_i``, EF21-W's
weights). Compressors are small pure functions ``C(key, v, k) -> v'`` (:data:`COMPRESSORS`).
``info["oracle_calls"]`` counts client gradients (``n`` a step), ``info["floats_sent"]`` the
entries the clients send that round (``n·k`` for Top-k and Rand-k, ``n·d`` for ``natural``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from convlab.methods.base import Method, make_method
from convlab.validate import require_int, validate_step_size

__all__ = ["EF21State", "ef21", "ef21_w", "top_k", "rand_k", "natural", "COMPRESSORS",
           "INITS", "compressor_alpha", "client_weights", "floats_per_client",
           "NATURAL_OMEGA", "largest"]

NATURAL_OMEGA = 1.0 / 8.0   # variance of natural compression (Horváth et al. 2019)
INITS = ("exact", "zero")


RANK_LIMIT = 512   # d above which Top-k uses lax.top_k instead of pairwise ranks


def largest(a: jax.Array, k: int) -> jax.Array:
    """Mask of the entries of ``a`` with fewer than ``k`` entries strictly larger: exactly the
    ``k`` largest when there are no ties (ties at the k-th value are all kept). Pairwise ranks
    (``O(d²)``) for ``d <= RANK_LIMIT``: ~15x faster than ``lax.top_k`` on CPU at ``d = 30``."""
    # one materialised ``a``: inside a fusion XLA may recompute it per operand with different
    # rounding (FMA contraction), and an entry then ranks below itself (measured: EF21-W and
    # EF21 parted by 1e-3 on logistic runs before this barrier)
    a = jax.lax.optimization_barrier(a)
    if a.shape[-1] > RANK_LIMIT:
        kth = jax.lax.top_k(a, k)[0][..., -1:]
        return a >= kth
    d = a.shape[-1]
    beats = (a[..., None, :] > a[..., :, None]) & ~jnp.eye(d, dtype=bool).reshape((1,) * (a.ndim - 1) + (d, d))
    return beats.sum(axis=-1) < k


def top_k(key: jax.Array, v: jax.Array, k: int) -> jax.Array:
    """Keep the ``k`` entries of largest magnitude (deterministic; ``key`` unused).
    Contractive: ``||C(v) - v||² <= (1 - k/d)||v||²``; positively homogeneous."""
    del key
    return jnp.where(largest(jnp.abs(v), k), v, 0.0)


def rand_k(key: jax.Array, v: jax.Array, k: int) -> jax.Array:
    """Keep ``k`` uniformly random entries (the ``k`` largest of i.i.d. uniforms), unscaled:
    ``E||C(v) - v||² = (1 - k/d)||v||²`` (contractive in expectation; each draw is positively
    homogeneous)."""
    return jnp.where(largest(jax.random.uniform(key, v.shape, v.dtype), k), v, 0.0)


def natural(key: jax.Array, v: jax.Array, k: int) -> jax.Array:
    """Natural compression (random rounding of ``|v_j|`` to a neighbouring power of 2, unbiased
    with ``ω = 1/8``) scaled by ``1/(1 + ω)``: contractive in expectation with ``α = 1/(1 + ω)``.
    Not positively homogeneous (only under scaling by powers of 2); ``k`` unused."""
    del k
    mag = jnp.abs(v)
    safe = jnp.where(mag > 0, mag, 1.0)
    low = jnp.exp2(jnp.floor(jnp.log2(safe)))
    up = jax.random.uniform(key, v.shape, v.dtype) < (safe / low - 1.0)
    rounded = jnp.where(mag > 0, jnp.sign(v) * low * jnp.where(up, 2.0, 1.0), 0.0)
    return rounded / (1.0 + NATURAL_OMEGA)


COMPRESSORS: dict[str, Callable[[jax.Array, jax.Array, int], jax.Array]] = {
    "top_k": top_k, "rand_k": rand_k, "natural": natural}


def compressor_alpha(name: str, k: int, dim: int) -> float:
    """``α`` of ``E||C(v) - v||² <= (1 - α)||v||²``: ``k/d`` (Top-k, Rand-k), ``1/(1 + ω)``
    (natural)."""
    if name == "natural":
        return 1.0 / (1.0 + NATURAL_OMEGA)
    return k / dim


def floats_per_client(name: str, k: int, dim: int) -> int:
    """Entries one client sends per round."""
    return dim if name == "natural" else k


class EF21State(NamedTuple):
    """``count``; ``params`` (``x_t``); ``client`` (``g_i^t``, ``[n, d]``); ``estimate``
    (the server's ``g^t``)."""

    count: jax.Array
    params: jax.Array
    client: jax.Array
    estimate: jax.Array


def client_weights(method: Method, problem: Any) -> tuple[jax.Array, jax.Array]:
    """``(scale_i, weight_i)``: EF21 ``(1, 1/n)``; EF21-W ``(1/(n w_i), w_i)``,
    ``w_i = L_i / Σ_j L_j``."""
    lip = problem.client_lipschitz
    n = lip.shape[0]
    if not method.option("weighted"):
        return jnp.ones_like(lip), jnp.full_like(lip, 1.0 / n)
    w = lip / lip.sum()
    return 1.0 / (n * w), w


def _init(method: Method, params: jax.Array) -> EF21State:
    n = method.option("num_clients")
    return EF21State(count=jnp.zeros((), jnp.int32), params=params,
                     client=jnp.zeros((n,) + params.shape, params.dtype),
                     estimate=jnp.zeros_like(params))


def compressed_update(method: Method, key: jax.Array, client: jax.Array, targets: jax.Array
                      ) -> jax.Array:
    """``g_i + C(target_i - g_i)`` for every client (client keys split from ``key``)."""
    compress = COMPRESSORS[method.option("compressor")]
    k = method.option("k")
    keys = jax.random.split(key, client.shape[0])
    return client + jax.vmap(lambda kk, v: compress(kk, v, k))(keys, targets - client)


def _exact_start(method: Method, state: EF21State, problem: Any) -> EF21State:
    """``g_i⁰ = scale_i ∇f_i(x⁰)`` (init ``exact``: ``G⁰ = 0``), before round 0."""
    scale, weight = client_weights(method, problem)
    client = problem.client_grads(state.params) * scale[:, None]
    return state._replace(client=client, estimate=weight @ client)


def _step(method: Method, key: jax.Array, state: EF21State, problem: Any):
    n = method.option("num_clients")
    if problem.client_lipschitz.shape[0] != n:
        raise ValueError(f"num_clients ({n}) must equal the problem's number of clients "
                         f"({problem.client_lipschitz.shape[0]})")
    if method.option("init") == "exact":
        state = jax.lax.cond(state.count == 0, lambda s: _exact_start(method, s, problem),
                             lambda s: s, state)
    gamma = jnp.asarray(method.hparams["step_size"], state.params.dtype)
    x = state.params - gamma * state.estimate
    scale, weight = client_weights(method, problem)
    targets = problem.client_grads(x) * scale[:, None]
    client = compressed_update(method, key, state.client, targets)
    sent = n * floats_per_client(method.option("compressor"), method.option("k"), x.shape[0])
    info = {"oracle_calls": jnp.asarray(n, jnp.int32), "floats_sent": jnp.asarray(sent, jnp.int32)}
    return EF21State(state.count + 1, x, client, weight @ client), info


def _factory(name: str, weighted: bool, step_size: Any, num_clients: int, k: int,
             compressor: str, init: str) -> Method:
    n = require_int("num_clients", num_clients, minimum=1)
    k = require_int("k", k, minimum=1)
    if compressor not in COMPRESSORS:
        raise ValueError(f"compressor must be one of {tuple(COMPRESSORS)}, got {compressor!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    return make_method(name, _init, _step, validate=validate_step_size,
                       options={"weighted": weighted, "num_clients": n, "k": k,
                                "compressor": compressor, "init": init},
                       step_size=step_size)


def ef21(step_size: Any, *, num_clients: int, k: int, compressor: str = "top_k",
         init: str = "exact") -> Method:
    r"""EF21 (Richtárik, Sokolov, Fatkhullin 2021).

    .. math::
        x^{t+1} = x^t - \gamma g^t,\quad g_i^{t+1} = g_i^t + C(\nabla f_i(x^{t+1}) - g_i^t),
        \quad g^{t+1} = \tfrac1n \textstyle\sum_i g_i^{t+1}

    Args:
      step_size: ``γ > 0`` (traceable: may be swept); theory ``1/(L + L_QM ξ)``.
      num_clients: ``n`` (static: the shape of the client state).
      k: entries kept by Top-k / Rand-k (static).
      compressor: one of :data:`COMPRESSORS`.
      init: ``exact`` (``g_i⁰ = ∇f_i(x⁰)``, ``G⁰ = 0``) or ``zero`` (``g_i⁰ = 0``).

    References:
      Richtárik, Sokolov, Fatkhullin, "EF21: A New, Simpler, Theoretically Better, and
      Practically Faster Error Feedback", NeurIPS 2021.
    """
    return _factory("ef21", False, step_size, num_clients, k, compressor, init)


def ef21_w(step_size: Any, *, num_clients: int, k: int, compressor: str = "top_k",
           init: str = "exact") -> Method:
    r"""EF21-W (Richtárik, Gasanov, Burlachenko 2024): EF21 on ``φ_i = f_i/(n w_i)``.

    .. math::
        w_i = \frac{L_i}{\sum_j L_j},\quad g_i^{t+1} = g_i^t + C\Big(\frac{\nabla f_i(x^{t+1})}
        {n w_i} - g_i^t\Big),\quad g^{t+1} = \textstyle\sum_i w_i g_i^{t+1}

    Arguments as :func:`ef21`; theory step ``1/(L + L_AM ξ)``.

    References:
      Richtárik, Gasanov, Burlachenko, "Error Feedback Reloaded: From Quadratic to Arithmetic
      Mean of Smoothness Constants", ICLR 2024.
    """
    return _factory("ef21-w", True, step_size, num_clients, k, compressor, init)
