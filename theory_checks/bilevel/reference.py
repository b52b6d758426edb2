"""The theory's side of the bilevel estimator checks, independent of ``convlab.methods.bilevel``'s
oracles: full-batch derivatives by autodiff of the problem's losses (dense Hessian and cross
Jacobian), the implicit-function hypergradient by a dense solve, the Neumann truncation error,
and the papers' one-step update rules written out with those matrices (NOTES.md,
"hypergradient-estimates")."""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


class Derivatives(NamedTuple):
    """At ``(x, y)``, flat: ``gx = ∇_x f``, ``gy = ∇_y f``, ``g = ∇_y g``, ``H = ∇²_yy g``
    ``[p, p]``, ``J = ∂(∇_y g)/∂x`` ``[p, d]`` (so ``∇²_xy g v = Jᵀ v``)."""

    gx: np.ndarray
    gy: np.ndarray
    g: np.ndarray
    H: np.ndarray
    J: np.ndarray


@jax.jit
def _derivatives(problem: Any, x: Any, y: Any, lower_idx: jax.Array) -> tuple:
    xv, ux = ravel_pytree(x)
    yv, uy = ravel_pytree(y)
    f = lambda a, b: problem.upper(ux(a), uy(b), jnp.arange(problem.n_upper))
    g = lambda a, b: problem.lower(ux(a), uy(b), lower_idx)
    grad_y = jax.grad(g, argnums=1)
    return (*jax.grad(f, argnums=(0, 1))(xv, yv), grad_y(xv, yv),
            jax.jacfwd(grad_y, argnums=1)(xv, yv), jax.jacfwd(grad_y, argnums=0)(xv, yv))


def derivatives(problem: Any, x: Any, y: Any, lower_idx: Any = None) -> Derivatives:
    """:class:`Derivatives` at ``(x, y)`` by autodiff of ``problem.upper``/``lower`` on the full
    batches (or the lower components ``lower_idx``); ``x``, ``y`` may be pytrees."""
    idx = jnp.arange(problem.n_lower) if lower_idx is None else jnp.asarray(lower_idx)
    return Derivatives(*(np.asarray(a, np.float64) for a in _derivatives(problem, x, y, idx)))


def implicit_hypergradient(d: Derivatives) -> np.ndarray:
    """``∇Φ = ∇_x f - ∇²_xy g [∇²_yy g]^{-1} ∇_y f`` (at ``y = y*(x)``)."""
    return d.gx - d.J.T @ np.linalg.solve(d.H, d.gy)


def neumann(d: Derivatives, alpha: float, terms: int) -> np.ndarray:
    """``α Σ_{q<Q} (I - αH)^q ∇_y f`` (StocBiO's series, exact Hessians)."""
    A = np.eye(d.H.shape[0]) - alpha * d.H
    term, total = d.gy.copy(), np.zeros_like(d.gy)
    for _ in range(terms):
        total, term = total + term, A @ term
    return alpha * total


def neumann_error(d: Derivatives, alpha: float, terms: int) -> np.ndarray:
    """The truncation error of the hypergradient with Q Neumann terms [derived]:
    ``h_Q - ∇Φ = Jᵀ H^{-1} (I - αH)^Q ∇_y f``."""
    A = np.linalg.matrix_power(np.eye(d.H.shape[0]) - alpha * d.H, terms)
    return d.J.T @ np.linalg.solve(d.H, A @ d.gy)


@jax.jit
def _lower_steps(problem: Any, x: jax.Array, y: jax.Array, steps: jax.Array, gamma: jax.Array):
    grad = jax.grad(lambda b: problem.lower(x, b, jnp.arange(problem.n_lower)))
    return jax.lax.fori_loop(0, steps, lambda i, b: b - gamma * grad(b), y)


def lower_steps(problem: Any, x: np.ndarray, y: np.ndarray, steps: int, gamma: float) -> np.ndarray:
    """``steps`` full-batch gradient steps on ``g(x, ·)`` (gradient by autodiff of the loss)."""
    return np.asarray(_lower_steps(problem, jnp.asarray(x), jnp.asarray(y), steps, gamma))


def declared(name: str, spec: dict) -> dict:
    """``spec`` completed by the factory's documented defaults (its signature)."""
    from convlab.methods import bilevel as methods  # only the signature is read
    params = inspect.signature(getattr(methods, name)).parameters.values()
    return {**{p.name: p.default for p in params if p.default is not inspect.Parameter.empty}, **spec}


def lower_count(name: str, spec: dict, count: int) -> int:
    """Lower-level steps at outer step ``count``, as each method's paper states it: BO-REP ``R``
    at k = 0, ``N`` when ``k mod I = 0``, else none; StocBiO and AID ``N`` (plus the ``R``
    extra refinement steps at k = 0); TTSA and SOBA one."""
    if name == "bo_rep":
        return spec["refine_steps"] if count == 0 else spec["inner_steps"] if count % spec["period"] == 0 else 0
    if name in ("stocbio", "aid"):
        return spec["inner_steps"] + (spec["refine_steps"] if count == 0 else 0)
    if name == "ttsa":
        return 1 + (spec["refine_steps"] if count == 0 else 0)
    return 1


class Flat(NamedTuple):
    """A bilevel method's state as flat float vectors."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    m: np.ndarray


def reference_step(name: str, spec: dict, problem: Any, count: int, s: Flat) -> Flat:
    """One step of method ``name`` (hyperparameters ``spec``) on a problem whose every
    mini-batch is the full batch: the paper's rule with dense matrices."""
    spec = declared(name, spec)
    if name in ("soba", "ma_soba"):
        d = derivatives(problem, s.x, s.y)
        h = d.gx - d.J.T @ s.z
        theta = spec.get("averaging", 1.0)
        m = (1.0 - theta) * s.m + theta * h
        return Flat(s.x - spec["step_size"] * m, s.y - spec["lower_step"] * d.g,
                    s.z - spec["z_step"] * (d.H @ s.z - d.gy), m)
    y = lower_steps(problem, s.x, s.y, lower_count(name, spec, count), spec["lower_step"])
    d = derivatives(problem, s.x, y)
    if name == "bo_rep":
        z = s.z - spec["z_step"] * (d.H @ s.z - d.gy)
        norm = np.linalg.norm(z)
        if spec["z_radius"] is not None and norm > spec["z_radius"]:
            z = z * spec["z_radius"] / norm
        beta = spec["momentum"]
        m = beta * s.m + (1.0 - beta) * (d.gx - d.J.T @ z)
        return Flat(s.x - spec["step_size"] * m / np.linalg.norm(m), y, z, m)
    z = (np.linalg.solve(d.H, d.gy) if name == "aid"
         else neumann(d, spec["neumann_step"], spec["neumann_terms"]))
    return Flat(s.x - spec["step_size"] * (d.gx - d.J.T @ z), y, z, s.m)


@jax.jit
def _mean_JH(problem: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """``mean_j J_jᵀ H_j`` over the lower components."""
    def one(j):
        _, _, _, H, J = _derivatives(problem, x, y, j[None])
        return J.T @ H
    return jnp.mean(jax.vmap(one)(jnp.arange(problem.n_lower)), axis=0)


def expected_bo_rep_hypergradient(problem: Any, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                                  nu: float, batch: int = 1) -> np.ndarray:
    """``E h`` of one BO-REP step at ``(x, y)`` from ``z`` when the Hessian- and Jacobian-vector
    products share one mini-batch ``ζ`` of ``batch`` components drawn uniformly with replacement
    and ``∇_y f`` is exact [derived]: ``h = ∇_x f - J_ζᵀ (z - ν(H_ζ z - ∇_y f))``, so
    ``E h = ∇_x f - J̄ᵀ(z - ν(H̄ z - ∇_y f)) + ν Cov z`` with
    ``Cov = E[J_ζᵀ H_ζ] - J̄ᵀ H̄ = (mean_j J_jᵀ H_j - J̄ᵀ H̄) / batch``."""
    d = derivatives(problem, x, y)
    JH = np.asarray(_mean_JH(problem, jnp.asarray(x), jnp.asarray(y)))
    mean_h = d.gx - d.J.T @ (z - nu * (d.H @ z - d.gy))
    return mean_h + nu * (JH - d.J.T @ d.H) @ z / batch
