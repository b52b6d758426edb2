"""Quadratics for coordinate descent with exact coordinate constants (PAPERS-wave2.md §7).

``f(x) = ½ xᵀAx - bᵀx`` with ``A`` positive definite, ``b = A x*`` (``x*`` known by
construction), coordinate Lipschitz constants ``L_i = A_ii``, ``L = max L_i``, ``L̄ = mean L_i``,
``μ = λ_min(A)`` and, for ``dim <= MAX_ENUMERATION_DIM``, the strong convexity constants in the
ℓ1 norm and in ``||x||_L = Σ √L_i |x_i|`` by vertex enumeration (Nutini et al. 2015):

    μ1 = 1 / max_{z ∈ {±1}ⁿ} zᵀA⁻¹z,        μ_L = 1 / max_z zᵀ D^½ A⁻¹ D^½ z,   D = diag L_i,

with the maximising vertices kept (``z1``, ``zL``): from ``x0 = x* + A⁻¹z1`` (all ``|g_i|`` equal)
one Gauss–Southwell step with ``1/L`` on a constant-diagonal ``A`` contracts the gap by exactly
``1 - μ1/L``; from ``x0 = x* + A⁻¹D^½ zL`` one GSL step contracts it by exactly ``1 - μ_L``.

- :func:`make_quadratic`: kinds ``identity``, ``diagonal`` (``L_i`` log-spaced over ``spread``),
  ``dense`` (a random correlation matrix scaled to heterogeneous ``L_i``), ``chain`` (a weighted
  path Laplacian plus a heterogeneous diagonal), ``correlation`` (unit diagonal: ``L_i = L``),
  ``least_squares`` (``MᵀM/m + ridge`` with columns scaled heterogeneously, sparse ``M``).
- :func:`make_lattice_quadratic`: label propagation on a ``side × side`` lattice, with the
  red–black, row-stripe (forest) and random-halves partitions of :func:`lattice_partition`.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.problem import problem_dataclass
from convlab.validate import checked_generator, require_in_range, require_int, require_positive

__all__ = ["CoordinateQuadratic", "make_quadratic", "make_lattice_quadratic", "lattice_partition",
           "strong_convexity_constants", "gap", "KINDS", "STARTS", "PARTITIONS",
           "MAX_ENUMERATION_DIM"]

KINDS = ("identity", "diagonal", "dense", "chain", "correlation", "least_squares")
STARTS = ("random", "gs_attaining", "gsl_attaining", "bottom")
PARTITIONS = ("red_black", "row_stripes", "random_halves")
MAX_ENUMERATION_DIM = 14  # 2^13 vertices (z and -z give the same value)


def _vertices(n: int) -> np.ndarray:
    """``{±1}ⁿ`` with ``z_0 = +1``: ``[2^(n-1), n]`` (the quadratic forms are even in z)."""
    rest = np.array(list(itertools.product((1.0, -1.0), repeat=n - 1))).reshape(-1, n - 1)
    return np.concatenate([np.ones((rest.shape[0], 1)), rest], axis=1)


def strong_convexity_constants(A: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(μ1, μ_L, z1, zL)`` of the quadratic with Hessian ``A`` by vertex enumeration (traceable;
    ``A.shape[0] <= MAX_ENUMERATION_DIM``). ``z1``/``zL`` are the maximising vertices."""
    n = A.shape[0]
    Z = jnp.asarray(_vertices(n), A.dtype)
    inv = jnp.linalg.inv(A)
    inv = 0.5 * (inv + inv.T)
    sqrt_l = jnp.sqrt(jnp.diag(A))
    q1 = jnp.einsum("vi,ij,vj->v", Z, inv, Z)
    qL = jnp.einsum("vi,ij,vj->v", Z * sqrt_l[None, :], inv, Z * sqrt_l[None, :])
    return 1.0 / q1.max(), 1.0 / qL.max(), Z[q1.argmax()], Z[qL.argmax()]


def gap(problem: Any, x: jax.Array) -> jax.Array:
    """``f(x) - f* = ½ (x - x*)ᵀA(x - x*)``, computed from the error (``f(x) - f*`` loses its
    digits near 1e-13 relative, PAPERS-wave2.md §7)."""
    e = x - problem.x_star
    return 0.5 * e @ (problem.A @ e)


@problem_dataclass
class CoordinateQuadratic:
    """``f(x) = ½ xᵀAx - bᵀx``, ``b = A x*``, with its coordinate constants (see module doc).

    ``mu1``/``mu_L``/``z1``/``zL`` are NaN when ``dim > MAX_ENUMERATION_DIM``."""

    A: jax.Array
    b: jax.Array
    x_star: jax.Array
    x0: jax.Array
    coordinate_lipschitz: jax.Array  # L_i = A_ii
    L: jax.Array                     # max L_i
    L_bar: jax.Array                 # mean L_i
    mu: jax.Array                    # λ_min(A)
    mu1: jax.Array
    mu_L: jax.Array
    z1: jax.Array
    zL: jax.Array
    f_star: jax.Array

    @property
    def dim(self) -> int:
        return self.A.shape[0]

    def loss(self, x: jax.Array) -> jax.Array:
        return 0.5 * x @ (self.A @ x) - self.b @ x

    def grad(self, x: jax.Array) -> jax.Array:
        return self.A @ x - self.b

    def hessian(self, x: jax.Array) -> jax.Array:
        del x
        return self.A

    def default_metrics(self) -> dict[str, Any]:
        return {"gap": gap}


def _spread_values(order: jax.Array, n: int, spread: jax.Array) -> jax.Array:
    """``spread^(j/(n-1))``, j = 0..n-1, in the random order of ``argsort(order)``:
    heterogeneous ``L_i`` in [1, spread]."""
    values = spread ** (jnp.arange(n) / max(n - 1, 1))
    return values[jnp.argsort(order)]


def _correlation(G: jax.Array) -> jax.Array:
    n = G.shape[0]
    C = G @ G.T / (2 * n) + 0.1 * jnp.eye(n)
    s = 1.0 / jnp.sqrt(jnp.diag(C))
    C = C * s[:, None] * s[None, :]
    return 0.5 * (C + C.T)


def _draws(key: jax.Array, n: int, samples: int) -> dict[str, jax.Array]:
    """Every random number the generator uses, from one normal and one uniform draw (one
    threefry kernel each keeps the compiled generator small)."""
    k_n, k_u = jax.random.split(key)
    normal_sizes = {"G": (n, 2 * n), "M": (samples, n), "x_star": (n,), "x0": (n,)}
    uniform_sizes = {"order": (n,), "w": (n - 1,), "mask": (samples, n)}
    out = {}
    for sizes, draw in ((normal_sizes, jax.random.normal), (uniform_sizes, jax.random.uniform)):
        flat = draw(k_n if draw is jax.random.normal else k_u,
                    (sum(int(np.prod(v)) for v in sizes.values()),))
        start = 0
        for name, shape in sizes.items():
            size = int(np.prod(shape))
            out[name] = flat[start:start + size].reshape(shape)
            start += size
    return out


def _hessian(r: dict[str, jax.Array], kind: jax.Array, n: int, spread: jax.Array,
             density: jax.Array) -> jax.Array:
    """The Hessian of kind ``KINDS[kind]`` (one compiled program for every kind)."""
    def chain(_):
        w = 0.5 + r["w"]
        lap = jnp.diag(jnp.concatenate([w, jnp.zeros(1)]) + jnp.concatenate([jnp.zeros(1), w]))
        lap = lap - jnp.diag(w, 1) - jnp.diag(w, -1)
        return lap + jnp.diag(_spread_values(r["order"], n, spread))

    def least_squares(_):  # sparse M, columns scaled by spread^(u), a small ridge
        M = r["M"] * (r["mask"] < density)
        M = M * jnp.sqrt(_spread_values(r["order"], n, spread))[None, :]
        return M.T @ M / M.shape[0] + 1e-2 * jnp.eye(n)

    def dense(_):
        s = jnp.sqrt(_spread_values(r["order"], n, spread))
        return _correlation(r["G"]) * s[:, None] * s[None, :]

    branches = {"identity": lambda _: jnp.eye(n),
                "diagonal": lambda _: jnp.diag(_spread_values(r["order"], n, spread)),
                "dense": dense, "chain": chain,
                "correlation": lambda _: _correlation(r["G"]),
                "least_squares": least_squares}
    return jax.lax.switch(kind, [branches[name] for name in KINDS], None)


@functools.partial(jax.jit, static_argnames=("n", "samples"))
def _build(key, kind, start, spread, density, *, n: int, samples: int):
    r = _draws(key, n, samples)
    A = _hessian(r, kind, n, spread, density)
    A = 0.5 * (A + A.T)
    lip = jnp.diag(A)
    eigvals, eigvecs = jnp.linalg.eigh(A)
    x_star = r["x_star"]
    if n <= MAX_ENUMERATION_DIM:
        mu1, mu_L, z1, zL = strong_convexity_constants(A)
    else:
        mu1 = mu_L = jnp.full((), jnp.nan)
        z1 = zL = jnp.full((n,), jnp.nan)
    solve = lambda v: eigvecs @ ((eigvecs.T @ v) / eigvals)
    directions = jnp.stack([r["x0"], solve(z1), solve(jnp.sqrt(lip) * zL), eigvecs[:, 0]])
    x0 = x_star + directions[start]
    return CoordinateQuadratic(A, A @ x_star, x_star, x0, lip, lip.max(), lip.mean(), eigvals[0],
                               mu1, mu_L, z1, zL, jnp.zeros((), A.dtype))


@checked_generator
def make_quadratic(key: jax.Array, *, dim: int, kind: str = "dense", spread: float = 1000.0,
                   start: str = "random", samples: int = 0, density: float = 0.2
                   ) -> CoordinateQuadratic:
    """A strongly convex quadratic with known ``x*`` and exact coordinate constants.

    Args:
      key: typed PRNG key.
      dim: ``n`` (>= 2); the vertex constants are computed for ``n <= 14``, NaN beyond.
      kind: one of :data:`KINDS` (module docstring).
      spread: ratio of the largest to the smallest heterogeneous ``L_i``-scale (>= 1).
      start: ``random`` (``x0 = x* + N(0, I)``), ``gs_attaining`` (``x* + A⁻¹z1``),
        ``gsl_attaining`` (``x* + A⁻¹D^½ zL``), ``bottom`` (``x*`` + the λ_min eigenvector).
      samples: rows of ``M`` for ``least_squares`` (default ``2 dim``).
      density: fraction of nonzeros of ``M`` for ``least_squares``, in (0, 1].
    """
    n = require_int("dim", dim, minimum=2, maximum=4096)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    require_positive("spread", spread, maximum=1e12)
    if spread < 1.0:
        raise ValueError(f"spread must be >= 1, got {spread!r}")
    m = require_int("samples", samples, minimum=0, maximum=10**6) or 2 * n
    require_in_range("density", density, 0.0, 1.0, closed="right")
    if start in ("gs_attaining", "gsl_attaining") and n > MAX_ENUMERATION_DIM:
        raise ValueError(f"start={start!r} needs the vertex constants: dim must be <= "
                         f"{MAX_ENUMERATION_DIM}, got {n}")
    dtype = jnp.result_type(float)
    return _build(key, KINDS.index(kind), STARTS.index(start), jnp.asarray(spread, dtype),
                  jnp.asarray(density, dtype), n=n, samples=m)


# --- the lattice quadratic of the message-passing comparison --------------------------------
def lattice_partition(side: int, kind: str, key: jax.Array | None = None) -> tuple[tuple[int, ...], ...]:
    """Two blocks of the ``side × side`` lattice (node ``r·side + c``): ``red_black``
    (checkerboard: each block induces no edge), ``row_stripes`` (even/odd rows: each block
    induces disjoint paths, a forest solved by tridiagonal elimination), ``random_halves``
    (a random equal split; needs ``key``)."""
    side = require_int("side", side, minimum=2)
    if kind not in PARTITIONS:
        raise ValueError(f"kind must be one of {PARTITIONS}, got {kind!r}")
    r, c = np.divmod(np.arange(side * side), side)
    if kind == "red_black":
        colour = (r + c) % 2
    elif kind == "row_stripes":
        colour = r % 2
    else:
        if key is None:
            raise ValueError("key: random_halves needs a typed PRNG key")
        perm = np.asarray(jax.random.permutation(key, side * side))
        colour = np.zeros(side * side, int)
        colour[perm[: side * side // 2]] = 1
    return tuple(tuple(int(i) for i in np.flatnonzero(colour == b)) for b in (0, 1))


def lattice_edges(side: int) -> np.ndarray:
    """``[num_edges, 2]`` horizontal and vertical neighbour pairs of the lattice."""
    idx = np.arange(side * side).reshape(side, side)
    horizontal = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)
    vertical = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1)
    return np.concatenate([horizontal, vertical])


@checked_generator
def make_lattice_quadratic(key: jax.Array, *, side: int = 20, num_labels: int = 40,
                           label_weight: float = 1.0, ridge: float = 1e-3) -> CoordinateQuadratic:
    """Label propagation on a ``side × side`` lattice: ``f(x) = ½ Σ_edges w_ij (x_i - x_j)² +
    ½ label_weight Σ_labelled (x_i - y_i)² + ½ ridge ||x||²`` with ``w_ij ~ U(0.5, 1.5)`` and
    ``num_labels`` random labelled nodes with labels ±1; ``A`` is that Hessian (constants of
    the vertex enumeration are NaN: ``n = side²`` is too large)."""
    side = require_int("side", side, minimum=2, maximum=64)
    n = side * side
    labels = require_int("num_labels", num_labels, minimum=1, maximum=n)
    require_positive("label_weight", label_weight, maximum=1e8)
    require_positive("ridge", ridge, maximum=1e8)
    dtype = jnp.result_type(float)
    return _build_lattice(key, jnp.asarray(label_weight, dtype), jnp.asarray(ridge, dtype),
                          side=side, labels=labels)


@functools.partial(jax.jit, static_argnames=("side", "labels"))
def _build_lattice(key, label_weight, ridge, *, side: int, labels: int):
    n = side * side
    edges = lattice_edges(side)
    u = jax.random.uniform(key, (edges.shape[0] + 2 * n,))
    w = 0.5 + u[:edges.shape[0]]
    i, j = jnp.asarray(edges[:, 0]), jnp.asarray(edges[:, 1])
    A = jnp.zeros((n, n)).at[i, j].add(-w).at[j, i].add(-w)
    A = A + jnp.diag(-A.sum(axis=1))
    chosen = jnp.argsort(u[edges.shape[0]:edges.shape[0] + n])[:labels]
    c = jnp.zeros(n).at[chosen].set(label_weight)
    signs = jnp.where(u[edges.shape[0] + n:edges.shape[0] + n + labels] < 0.5, 1.0, -1.0)
    y = jnp.zeros(n).at[chosen].set(signs)
    A = A + jnp.diag(c + ridge)
    A = 0.5 * (A + A.T)
    b = c * y
    eigvals, eigvecs = jnp.linalg.eigh(A)
    x_star = eigvecs @ ((eigvecs.T @ b) / eigvals)
    lip = jnp.diag(A)
    nan = jnp.full((), jnp.nan)
    return CoordinateQuadratic(A, b, x_star, jnp.zeros(n), lip, lip.max(), lip.mean(), eigvals[0],
                               nan, nan, jnp.full((n,), jnp.nan), jnp.full((n,), jnp.nan),
                               jnp.zeros((), A.dtype))
