"""Shared instances and the theory's closed forms for the deep_linear family (τ = 1, t = kη).

Closed forms (Saxe et al. 2014; NOTES.md): the balanced mode ODE ``u' = 2u(s - u)`` (eq. 10)
and its solution (12); the half-learning time (11); the depth-D mode ODE
``u' = D u^{2-2/D}(s - u)`` (eq. 15 with ``N_l - 1 = D``) and its half time by quadrature; the
leading coefficient of Euler's global error, ``g' = F'(u) g - u''/2``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate

import convlab
from theory_checks.generators import load

problems = load("deep_linear")

CITE = "Saxe, McClelland & Ganguli, ICLR 2014 (arXiv 1312.6120)"
S_MIN, S_MAX = 0.5, 6.0   # range of the target singular values


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


def random_spectrum(key: jax.Array, modes: int) -> jax.Array:
    """``s_max = S_MAX`` then ``modes - 1`` values log-uniform in ``[S_MIN, S_MAX]``, descending."""
    inner = jnp.exp(jax.random.uniform(key, (modes - 1,), minval=np.log(S_MIN),
                                       maxval=np.log(S_MAX)))
    return jnp.concatenate([jnp.array([S_MAX]), -jnp.sort(-inner)])


def geometric_spectrum(modes: int) -> np.ndarray:
    """``modes`` values geometric from S_MAX down to S_MIN."""
    return np.geomspace(S_MAX, S_MIN, modes)


def plain_gd(step_size: Any):
    return convlab.gd(step_size)


def scaled_gd(factor: float):
    """A broken GD for negative controls: runs at ``factor`` times its step."""
    return _Scaled(factor)


class _Scaled:
    """Hashable ``eta -> gd(factor * eta)`` (a sweep static argument)."""

    def __init__(self, factor: float) -> None:
        self.factor = float(factor)

    def __call__(self, step_size: Any):
        return convlab.gd(self.factor * step_size)

    def __hash__(self) -> int:
        return hash(("scaled_gd", self.factor))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Scaled) and other.factor == self.factor


def targets(p: Any) -> jax.Array:
    """The modes' actual targets ``diag(Uᵀ Σ31 V)`` (read from the data, not the labels ``s``)."""
    return jnp.diagonal(p.U.T @ p.sigma31 @ p.V)


def effective_u0(p: Any) -> jax.Array:
    """Gaussian init, D = 2: the linear phase ``a' = s b, b' = s a`` (``a = W2ᵀu_α``,
    ``b = W1 v_α``) gives ``u = ab ≈ ¼|a0 + b0|² e^{2st}``: the logistic's effective start."""
    w1, w2 = p.x0
    a0 = w2.T @ p.U          # [hidden, modes]
    b0 = w1 @ p.V
    return 0.25 * jnp.sum((a0 + b0) ** 2, axis=0)


# --- the theory's closed forms -----------------------------------------------------------------
def closed_form(t: Any, s: Any, u0: Any) -> np.ndarray:
    """Eq. (12): ``u(t) = s e^{2st} / (e^{2st} - 1 + s/u0)`` (broadcast), overflow-safe."""
    t, s, u0 = (np.asarray(x, dtype=np.float64) for x in (t, s, u0))
    e = np.exp(-2.0 * s * t)
    return s / (1.0 - e + e * s / u0)


def half_time(s: Any, u0: Any) -> np.ndarray:
    """Eq. (11) with ``u_f = s/2``: ``t_half = ln((s - u0)/u0) / (2s)``."""
    s, u0 = np.asarray(s, dtype=np.float64), np.asarray(u0, dtype=np.float64)
    return np.log((s - u0) / u0) / (2.0 * s)


def half_time_depth(depth: int, s: float, u0: float) -> float:
    """``t_half`` of ``u' = D u^{2-2/D}(s - u)`` from ``u0`` to ``s/2`` (quadrature in ln u)."""
    D = float(depth)
    f = lambda x: 1.0 / (D * np.exp(x) ** (1.0 - 2.0 / D) * (s - np.exp(x)))
    return float(integrate.quad(f, np.log(u0), np.log(s / 2.0), limit=200, epsabs=0.0,
                                epsrel=1e-12)[0])


def depth_exponent(depth: int) -> float:
    """The small-u0 law ``t_half ≈ u0^{-(1-2/D)} / ((D-2) s)``: exponent ``-(1 - 2/D)``."""
    return -(1.0 - 2.0 / depth)


def euler_error_coefficient(s: float, u0: float, t_max: float, depth: int = 2) -> float:
    """``max_{t <= t_max} |g(t)|``: GD on the balanced manifold is Euler's scheme for the layer
    strength ``a' = f(a) = a^{D-1}(s - a^D)`` (eq. 8 with every a_i equal), whose global error is
    ``a_k - a(kη) = η h(kη) + O(η²)`` with ``h' = f'(a) h - a''/2``, ``a'' = f'(a) f(a)``; the
    mode strength ``u = a^D`` then errs by ``η g``, ``g = D a^{D-1} h``."""
    D = float(depth)

    def rhs(t, y):
        a, h = y
        f = a ** (D - 1) * (s - a**D)
        df = (D - 1) * a ** (D - 2) * (s - a**D) - D * a ** (2 * D - 2)
        return [f, df * h - 0.5 * df * f]

    sol = integrate.solve_ivp(rhs, (0.0, t_max), [u0 ** (1.0 / D), 0.0], method="DOP853",
                              rtol=1e-11, atol=1e-14, dense_output=True)
    t = np.linspace(0.0, t_max, 20001)
    a, h = sol.sol(t)
    return float(np.max(np.abs(D * a ** (D - 1) * h)))


# --- measurements --------------------------------------------------------------------------------
def crossing_times(t: np.ndarray, u: np.ndarray, level: np.ndarray) -> np.ndarray:
    """First time each curve ``u[..., record, mode]`` reaches ``level[..., mode]`` (linear
    interpolation between records); ``inf`` where it never does (censored)."""
    u = np.asarray(u, dtype=np.float64)
    level = np.asarray(level, dtype=np.float64)[..., None, :]
    above = u >= level
    first = np.argmax(above, axis=-2)                       # [..., mode]
    reached = np.any(above, axis=-2) & (first > 0)
    i = np.clip(first, 1, u.shape[-2] - 1)
    take = lambda x, j: np.take_along_axis(x, j[..., None, :], axis=-2)[..., 0, :]
    u_hi, u_lo = take(u, i), take(u, i - 1)
    t_hi, t_lo = t[i], t[i - 1]
    lv = level[..., 0, :]
    frac = (lv - u_lo) / np.where(u_hi > u_lo, u_hi - u_lo, 1.0)
    return np.where(reached, t_lo + frac * (t_hi - t_lo), np.inf)


def mode_run(key, hp, *, modes: int, hidden: int, init: str, u0: float, init_scale: float,
             depth: int, steps: int, record_every: int, spectrum: str = "random",
             make_method=plain_gd, make_problem=None):
    """GD with step ``hp["eta"]`` on a whitened deep linear net (``spectrum``: "random",
    "geometric", "unit" or "by_grid"; ``init``: one of the generator's or "by_grid", see
    below); returns
    ``(trace, {"s", "target", "u_init", "u_eff"})``. ``hp`` may hold ``u0`` (decoupled)."""
    k_s, k_p, k_r = jax.random.split(key, 3)
    if spectrum == "by_grid":  # hp["geometric"] > 0.5: geometric, else random (one program)
        s = jnp.where(hp["geometric"] > 0.5, jnp.asarray(geometric_spectrum(modes)),
                      random_spectrum(k_s, modes))
    elif spectrum == "random":
        s = random_spectrum(k_s, modes)
    elif spectrum == "geometric":
        s = jnp.asarray(geometric_spectrum(modes))
    else:  # "unit": every s = 1
        s = jnp.ones((modes,))
    make = problems.make_deep_linear if make_problem is None else make_problem
    kwargs = dict(singular_values=s, depth=depth, hidden=hidden, u0=hp.get("u0", u0),
                  init_scale=init_scale)
    if init == "by_grid":  # hp["gaussian"] > 0.5: Gaussian, else decoupled (one program)
        p_dec, p_gauss = make(k_p, init="decoupled", **kwargs), make(k_p, init="gaussian", **kwargs)
        gauss = hp["gaussian"] > 0.5
        pick = lambda a, b: jnp.where(gauss, b, a)
        p = dataclasses.replace(p_dec, x0=jax.tree.map(pick, p_dec.x0, p_gauss.x0),
                                u0=pick(p_dec.u0, p_gauss.u0))  # same key: same U, V, Σ31
    else:
        p = make(k_p, init=init, **kwargs)
    trace = convlab.run(make_method(hp["eta"]), p, p.x0, key=k_r, num_steps=steps,
                        record_every=record_every)
    extra = {"s": p.s, "target": targets(p), "u_init": p.u0,
             "u_eff": effective_u0(p) if depth == 2 and init != "decoupled" else p.u0}
    if init == "by_grid":
        extra["u_eff"] = jnp.where(hp["gaussian"] > 0.5, effective_u0(p), p.u0)
    return trace, extra


def record_axis(trace: Any) -> np.ndarray:
    return np.asarray(trace.k).reshape(-1, trace.k.shape[-1])[0]


# --- broken generators for negative controls (labels say s, the data say otherwise) -------------
def squared_target_problem(key, *, singular_values, **kwargs):
    """Bug: ``Σ31`` built from ``s²`` while the problem's truth says ``s``."""
    import dataclasses

    p = problems.make_deep_linear(key, singular_values=jnp.asarray(singular_values) ** 2, **kwargs)
    return dataclasses.replace(p, s=jnp.asarray(singular_values))


def reversed_target_problem(key, *, singular_values, **kwargs):
    """Bug: the singular values paired with the singular vectors in reverse order."""
    import dataclasses

    s = jnp.asarray(singular_values)
    p = problems.make_deep_linear(key, singular_values=s[::-1], **kwargs)
    return dataclasses.replace(p, s=s)


# --- problems built eagerly, stacked, and run by index (no generator in the compiled program) ---
def stack_problems(ps: list) -> Any:
    """Problems of one structure stacked on a leading axis (for ``sweep(data=...)``)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *ps)


def indexed_run(key, hp, data, *, steps: int, record_every: int, make_method=plain_gd):
    """GD with step ``hp["eta"]`` on problem ``hp["index"]`` of the stacked ``data``."""
    p = jax.tree.map(lambda x: x[hp["index"]], data)
    return convlab.run(make_method(hp["eta"]), p, p.x0, key=key, num_steps=steps,
                       record_every=record_every)
