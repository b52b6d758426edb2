"""The theory's step maps, written independently of the code under test (convlab's game
dynamics and the games' hand-written oracles): the claims differentiate these to predict rates.

- :func:`field`: the pseudo-gradient ``F(x) = (∇_{x_i} f_i(x))_i`` by autodiff of each player's
  own cost, one player at a time (not the game's ``pseudo_gradient``);
- :func:`euler_map` (``x - hF(x)``) and :func:`rk4_map` (the classical four-stage Runge–Kutta
  method, from its Butcher tableau);
- :func:`markov_value` (the entropy-regularised value from the game's tables: occupancy,
  rewards, entropy) and :func:`natural_map` (``z - η Fisher(z)^{-1} ∇(-V)``, the Fisher
  information of each Bernoulli policy by autodiff of its log-probabilities).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["field", "euler_map", "rk4_map", "RK4_TABLEAU", "markov_value", "natural_field",
           "natural_map"]

Map = Callable[[jax.Array], jax.Array]

# classical RK4 (Hairer, Nørsett & Wanner I, Table II.1.2): stages c, matrix A, weights b
RK4_TABLEAU = (np.array([0.0, 0.5, 0.5, 1.0]),
               np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0],
                         [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]),
               np.array([1.0, 2.0, 2.0, 1.0]) / 6.0)


def _blocks(block_sizes: tuple[int, ...]) -> list[slice]:
    edges = np.concatenate([[0], np.cumsum(block_sizes)]).astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def field(costs: Callable[[jax.Array], jax.Array], block_sizes: tuple[int, ...]) -> Map:
    """``F(x)``: block ``i`` is the gradient of ``costs(x)[i]`` in player i's own coordinates."""
    blocks = _blocks(block_sizes)

    def F(x: jax.Array) -> jax.Array:
        return jnp.concatenate([jax.grad(lambda xi, i=i, sl=sl: costs(x.at[sl].set(xi))[i])(x[sl])
                                for i, sl in enumerate(blocks)])
    return F


def euler_map(F: Map, h: float) -> Map:
    """One explicit Euler step of ``ẋ = -F(x)``."""
    return lambda x: x - h * F(x)


def rk4_map(F: Map, h: float, tableau: Any = RK4_TABLEAU) -> Map:
    """One step of the explicit Runge–Kutta method ``tableau`` on ``ẋ = -F(x)``."""
    _, A, b = tableau

    def step(x: jax.Array) -> jax.Array:
        slopes = []
        for row in A:
            slopes.append(-F(x + h * sum(a * s for a, s in zip(row, slopes) if a != 0.0)))
        return x + h * sum(w * s for w, s in zip(b, slopes))
    return step


def markov_value(game: Any, x: jax.Array) -> jax.Array:
    """``[N]``: each player's regularised value ``Σ_s d(s) Σ_a π(a|s) r_i(s, a) + τ Σ_s
    H(π_i(·|s))`` with ``d = (1-γ)(I - γ P_πᵀ)^{-1} ρ`` (the paper's normalised discounted
    occupancy and unweighted entropy), from the game's tables only."""
    n, s = len(game.block_sizes), game.rho.shape[0]
    z = x.reshape(n, s)
    probs = jnp.stack([jax.nn.sigmoid(z), jax.nn.sigmoid(-z)], axis=-1)  # [N, S, A]
    joint = probs[0][:, :, None] * probs[1][:, None, :]                 # [S, A1, A2]
    p_pi = jnp.einsum("sab,sabt->st", joint, game.transitions)
    occupancy = (1.0 - game.gamma) * jnp.linalg.solve(jnp.eye(s) - game.gamma * p_pi.T, game.rho)
    reward = jnp.einsum("sab,nsab->ns", joint, game.rewards) @ occupancy
    entropy = -jnp.sum(probs * jnp.log(probs), axis=(1, 2))
    return reward + game.tau * entropy


def _fisher(z: jax.Array) -> jax.Array:
    """Fisher information ``Σ_a π_a (∂ log π_a/∂z)²`` of the Bernoulli policy with logit z."""
    logp = lambda t: jnp.stack([jax.nn.log_sigmoid(t), jax.nn.log_sigmoid(-t)])
    score = jax.jacfwd(logp)(z)
    return jnp.sum(jnp.exp(logp(z)) * score**2)


def natural_field(game: Any) -> Map:
    """``Fisher(z)^{-1} F(z)`` with ``F`` by autodiff of ``-markov_value`` (per player)."""
    F = field(lambda x: -markov_value(game, x), game.block_sizes)
    return lambda x: F(x) / jax.vmap(_fisher)(x)


def natural_map(game: Any, eta: float) -> Map:
    """One natural-policy-gradient step ``z - η Fisher(z)^{-1} ∇(-V)(z)``."""
    return euler_map(natural_field(game), eta)
