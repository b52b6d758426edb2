"""The Small-Gain Nash certificate as a library feature: :class:`Region`, :class:`Certificate`
and the pure function :func:`certify` (game, region) -> Certificate.

Sharma, arXiv 2512.06791 (2025), PAPERS.md §5 [text]. Jacobians of a field ``F`` (the
pseudo-gradient, or the natural pseudo-gradient) are taken by autodiff at the region's points;
``μ_i`` is the worst own-block curvature and ``L_ij`` the worst cross-block norm in a base
metric ``P``; ``α*(w) = ½ λ_min(D^{-1/2} C(w) D^{-1/2})`` and ``β`` the worst
``||M^{1/2} J M^{-1/2}||₂``, ``M = diag(w_i P_i)``. Exact for games with a constant Jacobian,
a grid estimate otherwise. Derivations (weights, band, discretisations): games/NOTES.md.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from theory_checks.games.stability import rk4_tail, scaled
from theory_checks.generators import load

games = load("games")

__all__ = ["Region", "Certificate", "certify", "sgn_margin", "optimize_weights",
           "timescale_band", "field_jacobians", "RK4_GUIDELINE_CONSTANT", "FIELDS"]

RK4_GUIDELINE_CONSTANT = 2.5  # the paper's RK4 guideline h <= 2.5 / β ([text])
FIELDS = ("pseudo_gradient", "natural_gradient")
R_SEARCH_BOUND = 1e12  # weight ratios are searched in [1e-12, 1e12]


@dataclasses.dataclass(frozen=True, eq=False)
class Region:
    """A compact ℓ∞ box ``{x : |x_j - center_j| <= radius}`` and the points the constants are
    estimated on.

    Attributes:
      center: centre of the box (usually the equilibrium), shape ``[d]``.
      radius: half-width of the box (>= 0).
      kind: ``"vertices"``: the centre and all ``2^d`` vertices (``d <= 12``); ``"sampled"``:
        the centre and ``num_samples`` points drawn uniformly in the box with NumPy's
        ``default_rng(seed)`` (deterministic).
      num_samples: points drawn for ``kind="sampled"``.
      seed: seed of those draws.
    """

    center: Any
    radius: float
    kind: str = "vertices"
    num_samples: int = 32
    seed: int = 0

    MAX_VERTEX_DIM = 12

    def __post_init__(self):
        center = np.asarray(self.center, dtype=np.float64)
        if center.ndim != 1 or not np.all(np.isfinite(center)):
            raise ValueError(f"region center must be a finite 1-D array, got shape {center.shape}")
        object.__setattr__(self, "center", center)
        if not (np.isfinite(self.radius) and self.radius >= 0):
            raise ValueError(f"region radius must be finite and >= 0, got {self.radius!r}")
        if self.kind not in ("vertices", "sampled"):
            raise ValueError(f"region kind must be 'vertices' or 'sampled', got {self.kind!r}")
        if self.kind == "vertices" and center.size > self.MAX_VERTEX_DIM:
            raise ValueError(f"region: 2^{center.size} vertices are too many (d > "
                             f"{self.MAX_VERTEX_DIM}); use kind='sampled'")
        if self.kind == "sampled" and (not isinstance(self.num_samples, int) or self.num_samples < 1):
            raise ValueError(f"region num_samples must be an integer >= 1, got {self.num_samples!r}")

    def points(self) -> np.ndarray:
        """The estimation points, ``[P, d]`` (the centre first)."""
        d = self.center.size
        if self.kind == "vertices":
            signs = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
            offsets = np.concatenate([np.zeros((1, d)), signs])
        else:
            rng = np.random.default_rng(self.seed)
            offsets = np.concatenate([np.zeros((1, d)),
                                      rng.uniform(-1.0, 1.0, size=(self.num_samples, d))])
        return self.center[None, :] + self.radius * offsets

    def describe(self) -> str:
        how = (f"centre + 2^{self.center.size} vertices" if self.kind == "vertices" else
               f"centre + {self.num_samples} uniform samples (seed {self.seed})")
        return f"ℓ∞ box of radius {self.radius:g} around the centre; {how}"


@dataclasses.dataclass(frozen=True, eq=False)
class Certificate:
    """What SGN returns for a game and a region: a metric, a contraction rate, safe steps.

    Attributes:
      weights: block weights ``w`` (``M = diag(w_i P_i)``); optimised ones have ``w_1 = 1``.
      mu: ``μ_i = min over points of λ_min(sym(P_i^{1/2} J_ii P_i^{-1/2}))``, ``[N]``.
      L: ``L_ij = max over points of ||P_i^{1/2} J_ij P_j^{-1/2}||₂`` (zero diagonal), ``[N, N]``.
      alpha: the SGN margin ``α*(w) = ½ λ_min(D^{-1/2} C(w) D^{-1/2})``.
      beta: ``max over points of ||M^{1/2} J M^{-1/2}||₂`` (Lipschitz constant of the field in
        ``||·||_M`` on the region).
      block_sizes: player dimensions.
      base_metric: ``P`` per coordinate (ones: Euclidean blocks; Fisher information at the
        equilibrium for natural policy gradient).
      field: which vector field was certified (``"pseudo_gradient"`` or ``"natural_gradient"``).
      region: description of the region and the estimation points.
      num_points: number of estimation points.
      band: 2 players: the timescale band ``(r-, r+)`` of ratios ``r = w2/w1`` with
        ``α*(r) > 0`` (NaNs when empty); ``None`` for N != 2.
    """

    weights: np.ndarray
    mu: np.ndarray
    L: np.ndarray
    alpha: float
    beta: float
    block_sizes: tuple[int, ...]
    base_metric: np.ndarray
    field: str
    region: str
    num_points: int
    band: tuple[float, float] | None

    @property
    def certified(self) -> bool:
        """``α* > 0``: the flow contracts in ``||·||_M`` on the region."""
        return bool(self.alpha > 0)

    @property
    def contraction_rate(self) -> float:
        """Flow rate: ``||x(t) - x*||_M <= e^{-α t} ||x(0) - x*||_M`` (0 when not certified)."""
        return float(self.alpha) if self.certified else 0.0

    @property
    def euler_step(self) -> float:
        """Largest certified projected-Euler step ``2α/β²`` (0 when not certified)."""
        return 2.0 * self.alpha / self.beta**2 if self.certified else 0.0

    @property
    def euler_best_step(self) -> float:
        """The step ``α/β²`` with the smallest certified factor ``√(1 - α²/β²)``."""
        return self.alpha / self.beta**2 if self.certified else 0.0

    def euler_factor(self, h: Any) -> Any:
        """Certified per-step contraction ``√(1 - 2hα + h²β²)`` of projected Euler in ``||·||_M``."""
        h = np.asarray(h, dtype=np.float64)
        return np.sqrt(np.maximum(1.0 - 2.0 * h * self.alpha + (h * self.beta) ** 2, 0.0))

    @property
    def rk4_guideline(self) -> float:
        """The paper's RK4 guideline ``2.5/β`` (a stability heuristic, not a contraction
        certificate; 0 when not certified)."""
        return RK4_GUIDELINE_CONSTANT / self.beta if self.certified else 0.0

    def rk4_factor(self, h: Any) -> Any:
        """[derived] Certified per-step factor of RK4 for *linear* fields:
        ``e^{-hα} + Σ_{k>=5} (hβ)^k/k!`` (games/NOTES.md)."""
        h = np.asarray(h, dtype=np.float64)
        return np.exp(-h * self.alpha) + rk4_tail(h * self.beta)

    @property
    def rk4_step(self) -> float:
        """[derived] Largest ``h`` with ``rk4_factor(h) < 1`` (linear fields; 0 when not
        certified). The factor is convex in ``h`` with value 1 at 0, so this set is an interval."""
        if not self.certified:
            return 0.0
        lo, hi = 0.0, 1.0 / self.beta
        while self.rk4_factor(hi) < 1.0:
            lo, hi = hi, 2.0 * hi
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.rk4_factor(mid) < 1.0 else (lo, mid)
            if hi - lo <= 1e-15 * hi:
                break
        return lo

    def metric_diag(self) -> np.ndarray:
        """Diagonal of ``M = diag(w_i P_i)`` per coordinate."""
        return self.weights[games.owner_index(self.block_sizes)] * self.base_metric

    def summary(self) -> dict[str, Any]:
        """JSON-able numbers of the certificate."""
        out = {"weights": self.weights.tolist(), "mu": self.mu.tolist(), "L": self.L.tolist(),
               "alpha": float(self.alpha), "beta": float(self.beta), "certified": self.certified,
               "contraction_rate": self.contraction_rate, "euler_step": self.euler_step,
               "euler_best_step": self.euler_best_step, "rk4_guideline": self.rk4_guideline,
               "rk4_step_linear": self.rk4_step, "field": self.field, "region": self.region,
               "num_points": self.num_points}
        if self.band is not None:
            out["band"] = list(self.band)
        return out


def sgn_margin(mu: Any, L: Any, weights: Any) -> float:
    """``α*(w) = ½ λ_min(D^{-1/2} C(w) D^{-1/2})``, ``C_ii = 2 w_i μ_i``,
    ``C_ij = -(w_i L_ij + w_j L_ji)``, ``D = diag(w)``."""
    mu = np.asarray(mu, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    C = -(w[:, None] * L + (w[:, None] * L).T)
    C[np.diag_indices_from(C)] = 2.0 * w * mu
    s = 1.0 / np.sqrt(w)
    return 0.5 * float(np.linalg.eigvalsh(s[:, None] * C * s[None, :])[0])


def optimize_weights(mu: Any, L: Any, *, tol: float = 1e-12) -> np.ndarray:
    """Block weights maximising ``α*(w)``, normalised to ``w_1 = 1`` (deterministic).

    Two players: ``α*(1, r) = ½(μ1 + μ2 - √((μ1-μ2)² + o(r)²))`` with
    ``o(r) = L12/√r + L21 √r``, maximal at ``r* = L12/L21`` whatever the μ's, clipped to the
    search bounds ``1e±12`` (reached when one coupling vanishes; ``r = 1`` if both do). N
    players: compass (pattern)
    search on ``log w`` from ``w = 1``: try ``±δ`` on each coordinate, keep improvements, halve
    ``δ`` down to ``tol``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    n = mu.size
    if n == 2:
        l12, l21 = L[0, 1], L[1, 0]
        bound = math.log(R_SEARCH_BOUND)
        if l12 > 0 and l21 > 0:  # in logs: no overflow for extreme ratios
            r = math.exp(min(max(math.log(l12) - math.log(l21), -bound), bound))
        elif l12 > 0:
            r = R_SEARCH_BOUND
        elif l21 > 0:
            r = 1.0 / R_SEARCH_BOUND
        else:
            r = 1.0
        return np.array([1.0, r])
    v = np.zeros(n)
    best = sgn_margin(mu, L, np.exp(v))
    step = 1.0
    while step > tol:
        improved = False
        for i in range(1, n):  # w_1 = 1 fixes the scale
            for sign in (1.0, -1.0):
                trial = v.copy()
                trial[i] += sign * step
                value = sgn_margin(mu, L, np.exp(trial))
                if value > best + 1e-15:
                    v, best, improved = trial, value, True
        if not improved:
            step /= 2.0
    return np.exp(v)


def timescale_band(mu: Any, L: Any, alpha: float = 0.0) -> tuple[float, float]:
    """Two players: the ratios ``r = w2/w1`` with ``α*(1, r) > alpha``.

    ``r± = [2P - L12 L21 ± 2√(P(P - L12 L21))] / L21²`` with ``P = (μ1 - α)(μ2 - α)``
    (PAPERS.md §5; needs ``μ_i > α`` and ``P > L12 L21``, else ``(nan, nan)``), with ``r-``
    evaluated as ``(L12/L21)²/r+`` (same value, no cancellation). ``L21 = 0``:
    ``(L12²/(4P), inf)``.
    """
    mu = np.asarray(mu, dtype=np.float64)
    L = np.asarray(L, dtype=np.float64)
    if mu.size != 2:
        raise ValueError(f"timescale_band: 2 players only, got {mu.size}")
    m1, m2 = mu - alpha
    l12, l21 = L[0, 1], L[1, 0]
    P = m1 * m2
    if m1 <= 0 or m2 <= 0 or P <= l12 * l21:
        return (math.nan, math.nan)
    if l21**2 == 0.0:  # L21 = 0, or so small that L21² underflows: the limit of the formula
        return (l12**2 / (4.0 * P), math.inf)
    base = 2.0 * P - l12 * l21
    radical = 2.0 * math.sqrt(P * (P - l12 * l21))
    r_plus = (base + radical) / l21**2
    # r- r+ = (base² - radical²)/L21⁴ = (L12/L21)²: the stable form of r- (base - radical
    # cancels catastrophically when L12 L21 << P)
    return ((l12 / l21) ** 2 / r_plus, r_plus)


@functools.partial(jax.jit, static_argnames=("field",))
def field_jacobians(game: Any, points: jax.Array, field: str) -> jax.Array:
    """Jacobians of ``game.<field>`` at ``points``: ``[P, d]`` -> ``[P, d, d]`` (forward mode)."""
    return jax.vmap(jax.jacfwd(getattr(game, field)))(points)


def certify(game: Any, region: Region, *, weights: Any = None, field: str = "pseudo_gradient",
            base_metric: Any = None) -> Certificate:
    """Certify contraction of ``game``'s ``field`` on ``region`` (the SGN pipeline).

    1. Jacobians ``J(x)`` of the field at the region's points (autodiff);
    2. ``μ_i`` = worst own-block curvature and ``L_ij`` = worst cross-block norm over the points,
       in the base metric ``P`` (``P^{1/2} J P^{-1/2}``);
    3. block weights: ``weights`` if given, else :func:`optimize_weights` (maximal ``α*``);
    4. ``α* = sgn_margin(μ, L, w)`` and ``β`` = worst ``||M^{1/2} J M^{-1/2}||₂`` over the
       points, ``M = diag(w_i P_i)``;
    5. two players: the timescale band ``(r-, r+)`` at ``α = 0``.

    Estimates at finitely many points are exact for games with a constant Jacobian (quadratic
    games); for others (the Markov game) they are the paper's grid estimate of the region's
    extreme values, not a proof.

    Args:
      game: a game of :mod:`problems.games` (``block_sizes`` and the ``field`` method).
      region: where the constants are estimated.
      weights: fixed block weights (one per player), or ``None`` to optimise them.
      field: ``"pseudo_gradient"`` (Euler/RK4/Euclidean PG) or ``"natural_gradient"`` (NPG).
      base_metric: ``P`` per coordinate (default ones).

    Returns:
      A :class:`Certificate`.
    """
    if field not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}, got {field!r}")
    if not isinstance(region, Region):
        raise TypeError(f"region must be a theory_checks.games.certificate.Region, got {region!r}")
    sizes = tuple(int(s) for s in game.block_sizes)
    d, n = sum(sizes), len(sizes)
    if region.center.size != d:
        raise ValueError(f"region center has {region.center.size} coordinates, the game {d}")
    base = np.ones(d) if base_metric is None else np.asarray(base_metric, dtype=np.float64)
    if base.shape != (d,) or not np.all(np.isfinite(base)) or np.any(base <= 0):
        raise ValueError(f"base_metric must be {d} finite positive numbers")
    points = region.points()
    J = np.asarray(field_jacobians(game, jnp.asarray(points), field), dtype=np.float64)
    J = scaled(J, base)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    blocks = [slice(offsets[i], offsets[i + 1]) for i in range(n)]
    mu = np.empty(n)
    L = np.zeros((n, n))
    for i, bi in enumerate(blocks):
        own = J[:, bi, bi]
        mu[i] = np.min(np.linalg.eigvalsh(0.5 * (own + np.swapaxes(own, 1, 2)))[:, 0])
        for j, bj in enumerate(blocks):
            if i != j:
                L[i, j] = np.max(np.linalg.norm(J[:, bi, bj], ord=2, axis=(1, 2)))
    if weights is None:
        w = optimize_weights(mu, L)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"weights must be {n} finite positive numbers, got {weights!r}")
    alpha = sgn_margin(mu, L, w)
    D = w[games.owner_index(sizes)]
    beta = float(np.max(np.linalg.norm(scaled(J, D), ord=2, axis=(1, 2))))
    band = timescale_band(mu, L, 0.0) if n == 2 else None
    return Certificate(w, mu, L, float(alpha), beta, sizes, base, field, region.describe(),
                       int(points.shape[0]), band)
