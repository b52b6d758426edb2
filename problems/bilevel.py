"""Stochastic bilevel problems ``min_x Φ(x) = f(x, y*(x))``, ``y*(x) = argmin_y g(x, y)`` (PAPERS.md §3).

Hao, Gong & Liu, "Bilevel Optimization under Unbounded Smoothness: A New Algorithm and
Convergence Analysis", ICLR 2024 (arXiv 2401.09587): the upper level ``f`` is relaxed smooth
(``(L0, L1)``-smooth, ``‖∇²f‖ ≤ L0 + L1‖∇f‖``: its curvature grows with its gradient, as for
RNNs), the lower level ``g`` is ``μ``-strongly convex in ``y``, and the algorithms see only
stochastic gradients and Hessian-vector products. Every problem here is a *finite sum*:
``f = mean_i f_i`` over ``n_upper`` components, ``g = mean_j g_j`` over ``n_lower`` components, so a
mini-batch is a vector of indices and the truth (``y*(x)``, ``Φ``, ``∇Φ``) is exact.

Generators (the truth is known by construction):

- :func:`make_synthetic` — ``f(x, y) = (1/d) Σ_i h(x_i) + (1/p) Σ_j log(1 + (y_j - c_j)²)`` with
  ``h = cosh`` (``kind="exp"``) or ``h(u) = u⁴/4 + u²/2`` (``kind="quartic"``), and
  ``g(x, y) = ½ (y - Bx)ᵀ Q (y - Bx)``, so ``y*(x) = Bx`` and
  ``∇Φ(x) = h'(x)/d + Bᵀ ρ'(Bx - c)/p`` (``ρ(u) = log(1 + u²)``: nonconvex, ``|ρ'| ≤ 1``). ``f`` is
  ``(L0, L1)``-smooth but not Lipschitz smooth in ``x`` (``cosh'' ≤ 1 + |sinh|``,
  ``3u² + 1 ≤ 4 + 3|u³ + u|``) and Lipschitz in ``y`` — the paper's assumptions (its ``∇_y f`` is
  bounded, here by ``1/√p``). Components: ``f_i = f + σ_f (ξ_iᵀx + ξ'_iᵀy)``,
  ``g_j = ½ (y - Bx)ᵀ (Q + S_j)(y - Bx) + σ_g ζ_jᵀ(y - Bx)`` with ``ξ, ξ', ζ, S`` in antithetic pairs
  (their means are exactly zero) and ``‖S_j‖ ≤ μ/2``: stochastic gradients, Hessian-vector and
  Jacobian-vector products are all noisy, their means exact.
- :func:`make_hyper_representation` — hyper-representation learning: ``x`` = the parameters of a
  small recurrent network (``flax.linen`` ``SimpleCell``, tanh) mapping a sequence to its last
  hidden state ``φ_x(s)``; ``y`` = a ridge head on ``[φ_x(s), 1]``. Lower level: ridge regression of
  the ±1 labels on the training split, ``g_j = ½ (yᵀφ̃_j - t_j)² + (λ/2)‖y‖²`` (``μ ≥ λ``);
  upper level: the logistic loss of the head on the validation split. ``y*(x)`` is the ridge
  solution (a linear solve), ``∇Φ`` is automatic differentiation through it.
- :func:`make_multi_block` — the multi-block problems of Hu et al. (ICML 2023): ``m`` lower-level
  ridge regressions sharing penalty hyperparameters ``x``, sampled ``I`` blocks × ``B`` rows at a
  time (section "Multi-block problems" below).
- :func:`make_hyper_cleaning` — data hyper-cleaning: ``x_i`` is the logit of the weight
  ``σ(x_i)`` of training example ``i``, a known fraction of whose labels are flipped; ``y = W``, a
  linear classifier fitted by weighted ridge regression on one-hot targets,
  ``g_j = ½ σ(x_j) ‖Wᵀa_j - e_{ỹ_j}‖² + (λ/2)‖W‖²`` (``μ ≥ λ``); upper level: softmax
  cross-entropy of ``W`` on a clean validation split. ``y*(x)`` is a weighted ridge solve. The
  recorded ``accuracy`` is the clean test accuracy of ``W = y*(x)``. The defaults are posed so
  that cleaning matters (well-separated classes, ``dim = n_train/4``, small ``λ``: the flipped
  labels are fitted): oracle-clean weights lower the test error from ≈ 0.34 (uniform) to ≈ 0.01.

Oracle protocol (what ``convlab.methods.bilevel`` uses): ``n_upper``, ``n_lower`` (static),
``upper(x, y, idx)`` and ``lower(x, y, idx)`` — the mean of the components over the index
vector ``idx`` (a mini-batch; the methods differentiate them with JAX: one component's
gradient, Hessian-vector or Jacobian-vector product is one oracle call) — and the truth
``y_star(x)``, ``phi(x)``, ``hypergradient(x)``, ``mu`` (strong convexity of ``g`` in ``y``),
plus the starting point ``x0``, ``y0`` (``start`` = ``BilevelPoint(x0, y0)``, the iterate of
every bilevel method). Metrics (``fn(problem, point)``) read the truth at ``point.x`` and are not
counted as oracle calls.

Multi-block problems
--------------------
Hu, Qiu, Guo, Zhang & Yang, "Blockwise Stochastic Variance-Reduced Methods with Parallel Speedup
for Multi-Block Bilevel Optimization", ICML 2023 (PAPERS.md §3, multi-block paragraph):

.. math::
    \\min_x \\Phi(x) = \\frac1m \\sum_{i=1}^m f_i(x, y_i^*(x)), \\qquad
    y_i^*(x) = \\arg\\min_y g_i(x, y),

one lower-level problem (block, task) per ``i``, each ``g_i(x, ·)`` ``mu``-strongly convex. The
instance built here is hyperparameter optimization of group-wise ridge penalties over ``m``
regression tasks (the paper's experiments tune per-task regularization of linear models too):

- ``g_i(x, y) = (1/n) Σ_j ½ (a_ijᵀ y - b_ij)² + ½ Σ_k λ_k(x) y_k²`` (training rows of task i),
  ``λ(x) = mu + exp(M x)`` with ``M ∈ {0,1}^{dim_y × dim_x}`` putting feature k in group
  ``k mod dim_x`` (one log-penalty hyperparameter per group);
- ``f_i(x, y) = (1/n') Σ_j ½ (a'_ijᵀ y - b'_ij)² + (rho/2)‖x‖²`` (validation rows of task i; the
  small ``rho`` keeps the hyperparameters bounded, so Φ has a minimizer, and makes ``∇_x f ≠ 0``).

Tasks share a mean regression vector and differ by ``heterogeneity`` (what makes sampling I < m
blocks noisy); labels carry Gaussian ``noise`` (what makes sampling B rows noisy). The truth is
exact: ``y_i^*(x) = (G_i + diag λ(x))^{-1} r_i`` with ``G_i = A_iᵀA_i/n``, ``r_i = A_iᵀ b_i/n``, and
the hypergradient

.. math::
    \\nabla\\Phi(x) = \\frac1m \\sum_i \\big[\\nabla_x f_i - \\nabla^2_{xy} g_i\\,
        (\\nabla^2_{yy} g_i)^{-1} \\nabla_y f_i\\big](x, y_i^*(x))
      = \\rho x - \\frac1m \\sum_i M^\\top\\big(e^{Mx} \\odot y_i^* \\odot w_i\\big),
    \\quad w_i = (G_i + \\operatorname{diag}\\lambda)^{-1}(V_i y_i^* - q_i),

computed by linear solves (``V_i, q_i``: the validation Gram matrix and moment). The tests check
it against autodiff through the solve.

Stochastic oracles (what the methods of ``convlab.methods.multiblock_bilevel`` call): each takes
``(x, y, i, rows)`` with ``rows`` a ``[B]`` array of row indices of block ``i`` and is the
autodiff derivative of the sampled losses ``g_rows``/``f_rows`` (means over those rows):
``grad_y_g``, ``grad_x_f``, ``grad_y_f``, ``hvp_yy_g(x, y, v, ...) = ∇²_yy g v``,
``jvp_xy_g(x, y, v, ...) = ∇²_xy g v`` and ``hess_yy_g``. One query of one oracle on ``B`` rows
counts ``B`` oracle calls (:func:`multiblock_oracle_calls`); the methods report their exact count per step.
``sample_blocks(key, I)`` draws I distinct blocks uniformly, ``sample_rows(key, I, B)`` B rows
per sampled block (with replacement) for the lower and for the upper level. Sizes are static.

Metrics: :func:`multiblock_hypergrad_norm` and :func:`multiblock_upper_value` (they read
``x`` of a ``MultiBlockIterate``). Backs ``bilevel.multiblock-speedup``.

Backs the claims of ``theory_checks.bilevel`` (a folder: one module per claim).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from convlab.methods.bilevel import BilevelPoint
from convlab.methods.multiblock_bilevel import MultiBlockIterate
from convlab.metrics import tree_norm
from convlab.problem import Static, problem_dataclass
from convlab.validate import require_in_range, require_int, require_positive
from .monotone import antithetic_signs
from convlab.validate import checked_generator

__all__ = [
    "SyntheticBilevel", "HyperRepresentation", "HyperCleaning",
    "make_synthetic", "make_hyper_representation", "make_hyper_cleaning",
    "hypergrad_norm", "upper_value", "lower_gap", "test_accuracy", "divergence_threshold",
    "SYNTHETIC_KINDS", "MultiBlockBilevel", "make_multi_block", "multiblock_hypergrad_norm",
    "multiblock_upper_value", "multiblock_oracle_calls",
    "MetaRepresentation", "make_meta_representation", "local_smoothness", "tanh_rnn",
    "RNNCleaning", "make_rnn_cleaning", "lower_test_accuracy",
]

SYNTHETIC_KINDS = ("exp", "quartic")


# --- metrics (fn(problem, point) -> scalar; the truth, never counted as oracle calls) -------------
def hypergrad_norm(problem: Any, point: BilevelPoint) -> jax.Array:
    """``‖∇Φ(x)‖``, the exact hypergradient's norm at ``point.x``."""
    return tree_norm(problem.hypergradient(point.x))


def upper_value(problem: Any, point: BilevelPoint) -> jax.Array:
    """``Φ(x) = f(x, y*(x))`` at ``point.x``."""
    return problem.phi(point.x)


def lower_gap(problem: Any, point: BilevelPoint) -> jax.Array:
    """``‖y - y*(x)‖``: how well the method's lower iterate tracks the lower solution."""
    return tree_norm(jax.tree.map(jnp.subtract, point.y, problem.y_star(point.x)))


def test_accuracy(problem: Any, point: BilevelPoint) -> jax.Array:
    """Clean test accuracy of the lower solution ``y*(x)`` (classification problems)."""
    return problem.accuracy(point.x)


test_accuracy.__test__ = False  # not a pytest test


def _all_indices(n: int) -> jax.Array:
    return jnp.arange(n)


class _ExactTruth:
    """``phi`` and ``hypergradient`` from ``upper`` and ``y_star`` (autodiff through the exact
    lower solution: the implicit-function hypergradient, exactly)."""

    def phi(self, x: Any) -> jax.Array:
        return self.upper(x, self.y_star(x), _all_indices(self.n_upper))

    def hypergradient(self, x: Any) -> Any:
        return jax.grad(self.phi)(x)

    @property
    def start(self) -> BilevelPoint:
        return BilevelPoint(self.x0, self.y0)


# --- (a) synthetic, relaxed-smooth upper level ----------------------------------------------------
def _h(kind: str, u: jax.Array) -> jax.Array:
    return jnp.cosh(u) if kind == "exp" else 0.25 * u**4 + 0.5 * u**2


def _h_prime(kind: str, u: jax.Array) -> jax.Array:
    return jnp.sinh(u) if kind == "exp" else u**3 + u


def divergence_threshold(kind: str, step_size: float, dim_x: int) -> float:
    """Smallest ``|u|`` from which fixed-step gradient descent on the ``h(u)/d`` part overshoots
    (``|u - η h'(u)/d| > |u|`` iff ``η h'(u)/(d u) > 2``, and ``h'(u)/u`` increases), computed by
    bisection: from there on the coordinate's magnitude grows at every step."""
    ratio = lambda u: float(_h_prime(kind, np.float64(u))) / u
    target = 2.0 * dim_x / step_size
    lo, hi = 1e-9, 1.0
    while ratio(hi) <= target:
        hi *= 2.0
        if hi > 1e6:
            return float("inf")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ratio(mid) <= target else (lo, mid)
    return hi


@problem_dataclass
class SyntheticBilevel(_ExactTruth):
    """Synthetic bilevel problem with ``y*(x) = Bx`` (see the module docstring).

    Attributes:
      B: ``[p, d]``; Q: ``[p, p]`` (spectrum in ``[mu, L_g]``); c: ``[p]`` targets of the upper loss.
      xi_x, xi_y: ``[n_upper, d]``, ``[n_upper, p]`` upper noise (mean zero); sigma_f: its scale.
      zeta, S: ``[n_lower, p]``, ``[n_lower, p, p]`` lower noise (mean zero); sigma_g.
      x0, y0: starting point; mu, L_g: lower strong convexity / smoothness.
      n_upper, n_lower, dim_x, dim_y, kind: static.
    """

    B: jax.Array
    Q: jax.Array
    c: jax.Array
    xi_x: jax.Array
    xi_y: jax.Array
    sigma_f: jax.Array
    zeta: jax.Array
    S: jax.Array
    sigma_g: jax.Array
    x0: jax.Array
    y0: jax.Array
    mu: jax.Array
    L_g: jax.Array
    n_upper: Static[int]
    n_lower: Static[int]
    dim_x: Static[int]
    dim_y: Static[int]
    kind: Static[str]

    def f0(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """The noiseless upper level ``(1/d) Σ h(x_i) + (1/p) Σ log(1 + (y_j - c_j)²)``."""
        return jnp.mean(_h(self.kind, x)) + jnp.mean(jnp.log1p(jnp.square(y - self.c)))

    def upper(self, x: jax.Array, y: jax.Array, idx: jax.Array) -> jax.Array:
        noise = jnp.mean(self.xi_x[idx], axis=0) @ x + jnp.mean(self.xi_y[idx], axis=0) @ y
        return self.f0(x, y) + self.sigma_f * noise

    def lower(self, x: jax.Array, y: jax.Array, idx: jax.Array) -> jax.Array:
        r = y - self.B @ x
        hess = self.Q + jnp.mean(self.S[idx], axis=0)
        return 0.5 * r @ hess @ r + self.sigma_g * jnp.mean(self.zeta[idx], axis=0) @ r

    def y_star(self, x: jax.Array) -> jax.Array:
        return self.B @ x

    def hypergradient(self, x: jax.Array) -> jax.Array:
        """Closed form ``h'(x)/d + Bᵀ ρ'(Bx - c)/p`` (equals the autodiff of ``phi``; tested)."""
        u = self.B @ x - self.c
        return _h_prime(self.kind, x) / self.dim_x + self.B.T @ (2.0 * u / (1.0 + u**2)) / self.dim_y

    def default_metrics(self) -> dict[str, Any]:
        return {"hypergrad_norm": hypergrad_norm, "phi": upper_value, "lower_gap": lower_gap}


@checked_generator
def make_synthetic(key: jax.Array, *, dim_x: int = 10, dim_y: int = 20, kind: str = "exp",
                   n_upper: int = 256, n_lower: int = 256, sigma_f: float = 0.3,
                   sigma_g: float = 0.3, heterogeneity: float = 0.5, mu: float = 1.0,
                   L_g: float = 4.0, init_scale: float = 3.0) -> SyntheticBilevel:
    """Synthetic bilevel problem with a relaxed-smooth upper level and ``y*(x) = Bx``.

    Args:
      key: PRNG key.
      dim_x, dim_y: ``d`` and ``p`` (``B`` is ``p × d``, Gaussian with variance ``1/d``).
      kind: ``"exp"`` (``h = cosh``) or ``"quartic"`` (``h = u⁴/4 + u²/2``).
      n_upper, n_lower: numbers of components (antithetic pairs; an odd last one is noiseless).
      sigma_f, sigma_g: noise scales of the upper and lower components (``>= 0``).
      heterogeneity: ``s ∈ [0, 1]``: ``‖S_j‖ ≤ s μ/2`` (the lower Hessian noise).
      mu, L_g: spectrum of ``Q`` (log-spaced in ``[mu, L_g]``), ``0 < mu <= L_g``.
      init_scale: ``‖x0‖_∞``: ``x0 = init_scale · (random signs)``; ``y0 = 0``.
    """
    d = require_int("dim_x", dim_x, minimum=1)
    p = require_int("dim_y", dim_y, minimum=1)
    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"kind must be one of {SYNTHETIC_KINDS}, got {kind!r}")
    nu = require_int("n_upper", n_upper, minimum=1)
    nl = require_int("n_lower", n_lower, minimum=1)
    require_positive("sigma_f", sigma_f, allow_zero=True)
    require_positive("sigma_g", sigma_g, allow_zero=True)
    require_in_range("heterogeneity", heterogeneity, 0.0, 1.0)
    require_positive("mu", mu)
    require_positive("L_g", L_g)
    if not float(mu) <= float(L_g):
        raise ValueError(f"mu ({mu}) must be <= L_g ({L_g})")
    require_positive("init_scale", init_scale, allow_zero=True)
    arrays = _synthetic_arrays(key, d, p, nu, nl, sigma_f, sigma_g, heterogeneity, mu, L_g, init_scale)
    return SyntheticBilevel(*arrays, nu, nl, d, p, kind)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _synthetic_arrays(key, d, p, nu, nl, sigma_f, sigma_g, s, mu, L_g, init_scale):
    kb, kq, kc, kx, ky, kz, ks, k0 = jax.random.split(key, 8)
    B = jax.random.normal(kb, (p, d)) / jnp.sqrt(d)
    U = jnp.linalg.qr(jax.random.normal(kq, (p, p)))[0]
    spectrum = jnp.exp(jnp.linspace(jnp.log(mu), jnp.log(L_g), p))
    Q = (U * spectrum[None, :]) @ U.T
    Q = 0.5 * (Q + Q.T)
    c = jax.random.normal(kc, (p,))
    up, lo = antithetic_signs(nu), antithetic_signs(nl)
    pairs = lambda k, n, shape: jnp.repeat(jax.random.normal(k, ((n + 1) // 2,) + shape), 2, axis=0)[:n]
    xi_x = up[:, None] * pairs(kx, nu, (d,))
    xi_y = up[:, None] * pairs(ky, nu, (p,))
    zeta = lo[:, None] * pairs(kz, nl, (p,))
    G = pairs(ks, nl, (p, p))
    G = G + jnp.swapaxes(G, 1, 2)
    G = G / jnp.linalg.norm(G, ord=2, axis=(1, 2))[:, None, None]
    S = (0.5 * s * mu) * lo[:, None, None] * G
    x0 = init_scale * jnp.sign(jax.random.normal(k0, (d,)))
    return (B, Q, c, xi_x, xi_y, jnp.asarray(sigma_f, B.dtype), zeta, S, jnp.asarray(sigma_g, B.dtype),
            x0, jnp.zeros((p,), B.dtype), jnp.asarray(mu, B.dtype), jnp.asarray(L_g, B.dtype))


# --- (b) hyper-representation learning with a flax RNN ---------------------------------------------
@functools.lru_cache(maxsize=None)
def rnn(hidden: int, dtype: Any = jnp.float64):
    """The representation network: a ``flax.linen`` Elman RNN (``SimpleCell``, tanh) whose
    parameters and carry have ``dtype`` (the data's: float64 when x64 is enabled)."""
    import flax.linen as nn

    return nn.RNN(nn.SimpleCell(features=hidden, param_dtype=jnp.dtype(dtype)))


def _features(hidden: int, params: Any, seqs: jax.Array) -> jax.Array:
    """``[φ_x(s), 1]``: the RNN's last hidden state with a bias feature, ``[batch, hidden + 1]``."""
    h = rnn(hidden, seqs.dtype).apply({"params": params}, seqs)[:, -1, :]
    return jnp.concatenate([h, jnp.ones(h.shape[:1] + (1,), h.dtype)], axis=1)


def _ridge(features: jax.Array, targets: jax.Array, weights: jax.Array, lam: jax.Array) -> jax.Array:
    """``argmin_y mean_j w_j ½ ‖yᵀφ_j - t_j‖² + (λ/2)‖y‖²`` (``targets`` ``[n]`` or ``[n, C]``)."""
    n = features.shape[0]
    wf = features * weights[:, None]
    gram = wf.T @ features / n + lam * jnp.eye(features.shape[1], dtype=features.dtype)
    return jnp.linalg.solve(gram, wf.T @ targets / n)


def _sequence_data(key: jax.Array, n: int, length: int, dim_in: int, w_true: jax.Array,
                   label_noise: float) -> tuple[jax.Array, jax.Array]:
    """Sequences with i.i.d. Gaussian steps; label = sign of a nonlinear, order-dependent score
    (a decaying, sign-alternating sum of ``tanh(w·s_t)``), flipped with probability ``label_noise``."""
    ks, kf = jax.random.split(key)
    seqs = jax.random.normal(ks, (n, length, dim_in))
    decay = (-0.8) ** jnp.arange(length - 1, -1, -1)
    score = jnp.tanh(seqs @ w_true) @ decay
    labels = jnp.where(score >= 0, 1.0, -1.0)
    flip = jax.random.uniform(kf, (n,)) < label_noise
    return seqs, jnp.where(flip, -labels, labels)


@problem_dataclass
class HyperRepresentation(_ExactTruth):
    """Hyper-representation learning (see the module docstring). ``x`` is a flax params dict."""

    train_seqs: jax.Array
    train_labels: jax.Array
    val_seqs: jax.Array
    val_labels: jax.Array
    test_seqs: jax.Array
    test_labels: jax.Array
    lam: jax.Array
    x0: Any
    y0: jax.Array
    mu: jax.Array
    n_upper: Static[int]
    n_lower: Static[int]
    hidden: Static[int]

    def upper(self, x: Any, y: jax.Array, idx: jax.Array) -> jax.Array:
        margins = self.val_labels[idx] * (_features(self.hidden, x, self.val_seqs[idx]) @ y)
        return jnp.mean(jnp.logaddexp(0.0, -margins))

    def lower(self, x: Any, y: jax.Array, idx: jax.Array) -> jax.Array:
        r = _features(self.hidden, x, self.train_seqs[idx]) @ y - self.train_labels[idx]
        return 0.5 * jnp.mean(jnp.square(r)) + 0.5 * self.lam * jnp.sum(jnp.square(y))

    def y_star(self, x: Any) -> jax.Array:
        feats = _features(self.hidden, x, self.train_seqs)
        return _ridge(feats, self.train_labels, jnp.ones_like(self.train_labels), self.lam)

    def accuracy(self, x: Any) -> jax.Array:
        scores = _features(self.hidden, x, self.test_seqs) @ self.y_star(x)
        return jnp.mean(jnp.where(scores >= 0, 1.0, -1.0) == self.test_labels)

    def default_metrics(self) -> dict[str, Any]:
        return {"phi": upper_value, "hypergrad_norm": hypergrad_norm, "accuracy": test_accuracy}


@checked_generator
def make_hyper_representation(key: jax.Array, *, n_train: int = 256, n_val: int = 256,
                              n_test: int = 512, length: int = 8, dim_in: int = 3,
                              hidden: int = 8, lam: float = 0.1,
                              label_noise: float = 0.05) -> HyperRepresentation:
    """Hyper-representation learning on synthetic sequence classification.

    Args:
      key: PRNG key (data, teacher and the RNN's initialization).
      n_train, n_val, n_test: split sizes (lower level, upper level, accuracy).
      length, dim_in: sequence length and input dimension.
      hidden: RNN width (the head ``y`` has ``hidden + 1`` entries).
      lam: ridge penalty ``λ > 0`` of the head (the lower level's strong convexity ``μ ≥ λ``).
      label_noise: probability ``∈ [0, 0.5)`` that a label is flipped (every split).
    """
    ntr = require_int("n_train", n_train, minimum=2)
    nva = require_int("n_val", n_val, minimum=1)
    nte = require_int("n_test", n_test, minimum=1)
    T = require_int("length", length, minimum=1)
    din = require_int("dim_in", dim_in, minimum=1)
    hid = require_int("hidden", hidden, minimum=1)
    require_positive("lam", lam)
    require_in_range("label_noise", label_noise, 0.0, 0.5, closed="left")
    arrays = _hyper_representation_arrays(key, ntr, nva, nte, T, din, hid, lam, label_noise)
    return HyperRepresentation(*arrays, nva, ntr, hid)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _hyper_representation_arrays(key, ntr, nva, nte, T, din, hid, lam, label_noise):
    kw, ktr, kva, kte, kinit = jax.random.split(key, 5)
    w_true = jax.random.normal(kw, (din,))
    train = _sequence_data(ktr, ntr, T, din, w_true, label_noise)
    val = _sequence_data(kva, nva, T, din, w_true, label_noise)
    test = _sequence_data(kte, nte, T, din, w_true, 0.0)
    x0 = rnn(hid, train[0].dtype).init(kinit, train[0][:1])["params"]
    lam = jnp.asarray(lam, train[0].dtype)
    return (*train, *val, *test, lam, x0, jnp.zeros((hid + 1,), lam.dtype), lam)


# --- (c) data hyper-cleaning ------------------------------------------------------------------------
def _gaussian_classes(key: jax.Array, n: int, means: jax.Array) -> tuple[jax.Array, jax.Array]:
    kl, kx = jax.random.split(key)
    labels = jax.random.randint(kl, (n,), 0, means.shape[0])
    feats = means[labels] + jax.random.normal(kx, (n, means.shape[1]))
    return feats, labels


@problem_dataclass
class HyperCleaning(_ExactTruth):
    """Data hyper-cleaning (see the module docstring). ``x``: ``[n_train]`` weight logits."""

    train_x: jax.Array
    train_labels: jax.Array   # the corrupted labels
    flipped: jax.Array        # 1.0 where the label was flipped
    val_x: jax.Array
    val_labels: jax.Array
    test_x: jax.Array
    test_labels: jax.Array
    lam: jax.Array
    x0: jax.Array
    y0: jax.Array
    mu: jax.Array
    n_upper: Static[int]
    n_lower: Static[int]
    num_classes: Static[int]

    def _onehot(self, labels: jax.Array) -> jax.Array:
        return jax.nn.one_hot(labels, self.num_classes, dtype=self.train_x.dtype)

    def upper(self, x: jax.Array, y: jax.Array, idx: jax.Array) -> jax.Array:
        logits = self.val_x[idx] @ y
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.mean(jnp.sum(logp * self._onehot(self.val_labels[idx]), axis=1))

    def lower(self, x: jax.Array, y: jax.Array, idx: jax.Array) -> jax.Array:
        r = self.train_x[idx] @ y - self._onehot(self.train_labels[idx])
        per_example = 0.5 * jnp.sum(jnp.square(r), axis=1)
        return jnp.mean(jax.nn.sigmoid(x[idx]) * per_example) + 0.5 * self.lam * jnp.sum(jnp.square(y))

    def y_star(self, x: jax.Array) -> jax.Array:
        return _ridge(self.train_x, self._onehot(self.train_labels), jax.nn.sigmoid(x), self.lam)

    def accuracy(self, x: jax.Array) -> jax.Array:
        pred = jnp.argmax(self.test_x @ self.y_star(x), axis=1)
        return jnp.mean(pred == self.test_labels)

    def oracle_x(self, scale: float = 30.0) -> jax.Array:
        """The oracle cleaner's logits: ``+scale`` on clean, ``-scale`` on flipped examples
        (weights ``σ(±30)``: 1 and 0 up to 1e-13). ``accuracy(oracle_x())`` and
        ``accuracy(zeros)`` (uniform weights) are the references of the hyper-cleaning claim."""
        return scale * (1.0 - 2.0 * self.flipped)

    def default_metrics(self) -> dict[str, Any]:
        return {"phi": upper_value, "hypergrad_norm": hypergrad_norm, "accuracy": test_accuracy}


@checked_generator
def make_hyper_cleaning(key: jax.Array, *, n_train: int = 256, n_val: int = 128, n_test: int = 1024,
                        dim: int = 64, num_classes: int = 3, corruption: float = 0.4,
                        separation: float = 5.0, lam: float = 1e-3) -> HyperCleaning:
    """Data hyper-cleaning on Gaussian classes with a known fraction of flipped labels.

    The defaults pose an instance where cleaning *matters* (criterion fixed before any method was
    compared: with ``y*(x)`` solved exactly and averaged over 8 keys, the oracle cleaner — weight
    1 on clean, 0 on flipped examples, ``x = ±30`` — must lower the clean test error by ≥ 0.10
    below uniform weights ``x = 0``, and reach ≤ 0.10 itself). Well-separated classes (mean norm
    5, Bayes error ≈ 0.001) and ``dim = n_train/4`` with a small ridge (``λ = 1e-3``): the linear
    model can fit the flipped labels, so they damage the uniform-weight solution. Measured
    (float64, 8 keys, clean test error uniform → oracle-clean, C = 3, 40% flipped):

    ======================================================  ======================
    n_train, dim, separation, λ                              uniform → oracle
    ======================================================  ======================
    256, 64, 5, 1e-3 (defaults; n_test 1024)                  0.341 → 0.011
    256, 64, 5, 1e-3 (claim 5 full size; n_test 2048)         0.338 → 0.012
    128, 32, 5, 1e-3 (claim 5 quick size; n_test 512)         0.340 → 0.012
    128, 10, 1.5, 1e-2 (the former quick instance)            0.393 → 0.270 (Bayes ≈ 0.23)
    256, 10, 1.5, 1e-2 (the former full instance)             0.340 → 0.256 (Bayes ≈ 0.23)
    128, 10, 4, 1e-2                                          0.141 → 0.014 (gap marginal)
    256, 10, 4, 1e-2                                          0.082 → 0.012 (gap too small)
    128, 64, 4, 1e-2                                          0.465 → 0.157 (oracle too poor)
    128, 100, 4, 1e-3                                         0.562 → 0.185 (oracle too poor)
    ======================================================  ======================

    With few dimensions (``dim = 10``) symmetric noise barely moves the argmax of the ridge fit
    (the noisy one-hot's conditional mean is an affine map of the clean one), so there is little
    to clean; with ``dim ≳ n_train/2`` the clean ~60% alone generalize poorly.

    Args:
      key: PRNG key.
      n_train, n_val, n_test: split sizes (``n_train`` weights are learned; val and test are clean).
      dim: feature dimension (a constant feature is appended).
      num_classes: ``C >= 2``; class means are Gaussian with norm ``separation``.
      corruption: fraction ``∈ [0, 1)`` of training labels replaced by a different random class
        (exactly ``round(corruption · n_train)`` of them; ``flipped`` marks which).
      separation: norm of the class means (``> 0``).
      lam: ridge penalty ``λ > 0`` (``μ ≥ λ``).
    """
    ntr = require_int("n_train", n_train, minimum=2)
    nva = require_int("n_val", n_val, minimum=1)
    nte = require_int("n_test", n_test, minimum=1)
    d = require_int("dim", dim, minimum=1)
    C = require_int("num_classes", num_classes, minimum=2)
    require_in_range("corruption", corruption, 0.0, 1.0, closed="left")
    require_positive("separation", separation)
    require_positive("lam", lam)
    num_flipped = int(round(float(corruption) * ntr))
    arrays = _hyper_cleaning_arrays(key, ntr, nva, nte, d, C, num_flipped, separation, lam)
    return HyperCleaning(*arrays, nva, ntr, C)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _hyper_cleaning_arrays(key, ntr, nva, nte, d, C, num_flipped, separation, lam):
    km, ktr, kva, kte, kp, ks = jax.random.split(key, 6)
    means = jax.random.normal(km, (C, d))
    means = separation * means / jnp.linalg.norm(means, axis=1, keepdims=True)
    bias = lambda a: jnp.concatenate([a, jnp.ones(a.shape[:1] + (1,), a.dtype)], axis=1)
    tr_x, tr_y = _gaussian_classes(ktr, ntr, means)
    va_x, va_y = _gaussian_classes(kva, nva, means)
    te_x, te_y = _gaussian_classes(kte, nte, means)
    flipped = (jax.random.permutation(kp, ntr) < num_flipped)
    shift = jax.random.randint(ks, (ntr,), 1, C)  # a different class, uniformly
    noisy = jnp.where(flipped, (tr_y + shift) % C, tr_y)
    lam = jnp.asarray(lam, tr_x.dtype)
    return (bias(tr_x), noisy, flipped.astype(tr_x.dtype), bias(va_x), va_y, bias(te_x), te_y, lam,
            jnp.zeros((ntr,), tr_x.dtype), jnp.zeros((d + 1, C), tr_x.dtype), lam)


# --- (e) meta hyper-representation: a hand-written tanh RNN encoder as the UPPER variable ---------
def tanh_rnn(params: Any, seqs: jax.Array) -> jax.Array:
    """Last hidden state of the Elman RNN ``h_t = tanh(W_in s_t + W_hh h_{t-1} + b)``, ``h_0 = 0``
    (``params``: dict ``W_in [din, h]``, ``W_hh [h, h]``, ``b [h]``; ``seqs`` ``[..., T, din]``)."""
    def cell(h, s):
        b = params["b"].reshape((1,) * (h.ndim - 1) + (-1,))
        return jnp.tanh(s @ params["W_in"] + h @ params["W_hh"] + b), None

    steps = jnp.moveaxis(seqs, -2, 0)
    h0 = jnp.zeros(seqs.shape[:-2] + (params["b"].shape[0],), seqs.dtype)
    return jax.lax.scan(cell, h0, steps)[0]


def _bias(h: jax.Array) -> jax.Array:
    return jnp.concatenate([h, jnp.ones(h.shape[:-1] + (1,), h.dtype)], axis=-1)


def _orthogonal(key: jax.Array, h: int) -> jax.Array:
    return jnp.linalg.qr(jax.random.normal(key, (h, h)))[0]


@problem_dataclass
class MetaRepresentation:
    """Meta hyper-representation (Hao, Gong & Liu's ``meta_learning`` experiment, synthetic):
    ``m`` regression tasks on sequences share a tanh-RNN encoder ``x`` (the upper variable);
    each task ``t`` fits its own ridge head ``y_t`` on ``[φ_x(s), 1]`` from its support set
    (the lower level); the upper loss is the heads' squared error on the query sets.

    ``g_j(x, y) = Σ_t [½ (y_tᵀφ̃_x(s_tj) - l_tj)² + (λ/2)‖y_t‖²]`` (support sample ``j`` of every
    task; ``∇²_yy g`` is block diagonal with blocks ``G_t + λI``: ``μ = λ``),
    ``f_i(x, y) = mean_t ½ (y_tᵀφ̃_x(q_ti) - l'_ti)²`` (query sample ``i`` of every task).
    ``y*(x)`` is one ridge solve per task; ``∇Φ`` is autodiff through it (the implicit-function
    hypergradient, exactly). ``direction`` is a fixed unit pytree like ``x`` (the fallback probe
    of :func:`local_smoothness` where ``∇Φ = 0``).

    Attributes: support_seqs ``[m, n_s, T, din]``, support_labels ``[m, n_s]``, query_seqs,
    query_labels (``n_q``), lam, x0 (dict), y0 ``[m, h + 1]``, mu, direction; static n_upper
    (= n_q), n_lower (= n_s), tasks, hidden.
    """

    support_seqs: jax.Array
    support_labels: jax.Array
    query_seqs: jax.Array
    query_labels: jax.Array
    lam: jax.Array
    x0: Any
    y0: jax.Array
    mu: jax.Array
    direction: Any
    n_upper: Static[int]
    n_lower: Static[int]
    tasks: Static[int]
    hidden: Static[int]

    def features(self, x: Any, seqs: jax.Array) -> jax.Array:
        return _bias(tanh_rnn(x, seqs))

    def upper(self, x: Any, y: jax.Array, idx: jax.Array) -> jax.Array:
        phi = self.features(x, self.query_seqs[:, idx])                  # [m, b, h + 1]
        r = jnp.einsum("mbk,mk->mb", phi, y) - self.query_labels[:, idx]
        return 0.5 * jnp.mean(jnp.square(r))

    def lower(self, x: Any, y: jax.Array, idx: jax.Array) -> jax.Array:
        phi = self.features(x, self.support_seqs[:, idx])
        r = jnp.einsum("mbk,mk->mb", phi, y) - self.support_labels[:, idx]
        return jnp.sum(0.5 * jnp.mean(jnp.square(r), axis=1) + 0.5 * self.lam * jnp.sum(jnp.square(y), axis=1))

    def y_star(self, x: Any) -> jax.Array:
        phi = self.features(x, self.support_seqs)
        n = phi.shape[1]
        gram = jnp.einsum("mnj,mnk->mjk", phi, phi) / n + self.lam * jnp.eye(phi.shape[-1], dtype=phi.dtype)[None]
        rhs = jnp.einsum("mnj,mn->mj", phi, self.support_labels) / n
        return jnp.linalg.solve(gram, rhs[..., None])[..., 0]

    def phi(self, x: Any) -> jax.Array:
        return self.upper(x, self.y_star(x), jnp.arange(self.n_upper))

    def hypergradient(self, x: Any) -> Any:
        return jax.grad(self.phi)(x)

    @property
    def start(self) -> BilevelPoint:
        return BilevelPoint(self.x0, self.y0)

    def default_metrics(self) -> dict[str, Any]:
        return {"phi": upper_value, "hypergrad_norm": hypergrad_norm}


PROBE = 1e-3  # ‖δ‖ of the local-smoothness probe


def local_smoothness(problem: Any, point: BilevelPoint) -> jax.Array:
    """``‖∇Φ(x + δ) - ∇Φ(x)‖ / ‖δ‖`` with ``δ = PROBE · ∇Φ(x)/‖∇Φ(x)‖`` (``problem.direction``,
    a fixed unit direction, where ``∇Φ(x) = 0``): a finite-difference estimate of the curvature
    along the descent direction (Zhang et al.'s smoothness along the trajectory), the quantity the
    ``(L0, L1)`` premise ``‖∇²Φ‖ ≤ L0 + L1 ‖∇Φ‖`` bounds."""
    x = point.x
    grad = problem.hypergradient(x)
    norm = tree_norm(grad)
    safe = jnp.where(norm > 0, norm, 1.0)
    unit = jax.tree.map(lambda g, d: jnp.where(norm > 0, g / safe, d), grad, problem.direction)
    shifted = jax.tree.map(lambda a, d: a + PROBE * d, x, unit)
    diff = jax.tree.map(jnp.subtract, problem.hypergradient(shifted), grad)
    return tree_norm(diff) / PROBE


@checked_generator
def make_meta_representation(key: jax.Array, *, tasks: int = 8, n_support: int = 20,
                             n_query: int = 20, length: int = 10, dim_in: int = 2, hidden: int = 6,
                             radius: float = 1.0, teacher_radius: float = 1.0, input_scale: float = 1.0,
                             lam: float = 0.1, noise: float = 0.1) -> MetaRepresentation:
    """Synthetic meta hyper-representation: a teacher tanh RNN (recurrent matrix of spectral
    radius ``teacher_radius``) gives every sequence a state; task ``t``'s label is
    ``w_tᵀ h*_T + noise`` with its own readout ``w_t``. The student encoder starts with
    ``W_hh = radius ·`` (a random orthogonal matrix): spectral radius ``radius`` (near 1: the
    regime of exploding/vanishing gradients, where ``‖∇Φ‖`` and the local smoothness vary
    together by orders of magnitude; measured in NOTES.md).

    Args:
      key: PRNG key. tasks: ``m >= 1``. n_support, n_query: samples per task (paper: 20, 20).
      length, dim_in, hidden: sequence length, input and RNN width.
      radius, teacher_radius: spectral radii (``> 0``). input_scale: std of the inputs (``> 0``).
      lam: ridge penalty of the heads (``> 0``; ``μ = λ``). noise: label noise std (``>= 0``).
    """
    m = require_int("tasks", tasks, minimum=1)
    ns = require_int("n_support", n_support, minimum=1)
    nq = require_int("n_query", n_query, minimum=1)
    T = require_int("length", length, minimum=1)
    din = require_int("dim_in", dim_in, minimum=1)
    hid = require_int("hidden", hidden, minimum=1)
    require_positive("radius", radius)
    require_positive("teacher_radius", teacher_radius)
    require_positive("input_scale", input_scale)
    require_positive("lam", lam)
    require_positive("noise", noise, allow_zero=True)
    arrays = _meta_arrays(key, m, ns, nq, T, din, hid, radius, teacher_radius, input_scale, lam, noise)
    return MetaRepresentation(*arrays, nq, ns, m, hid)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _meta_arrays(key, m, ns, nq, T, din, hid, radius, teacher_radius, input_scale, lam, noise):
    kt, kti, kw, ks, kq, ke, keq, kx, kxi, kd = jax.random.split(key, 10)
    teacher = {"W_in": jax.random.normal(kti, (din, hid)) / jnp.sqrt(din),
               "W_hh": teacher_radius * _orthogonal(kt, hid), "b": jnp.zeros((hid,))}
    readout = jax.random.normal(kw, (m, hid)) * jnp.sqrt(2.0)
    sup = input_scale * jax.random.normal(ks, (m, ns, T, din))
    que = input_scale * jax.random.normal(kq, (m, nq, T, din))
    label = lambda seqs, k: (jnp.einsum("mnh,mh->mn", tanh_rnn(teacher, seqs), readout)
                             + noise * jax.random.normal(k, seqs.shape[:2]))
    x0 = {"W_in": jax.random.normal(kxi, (din, hid)) / jnp.sqrt(din),
          "W_hh": radius * _orthogonal(kx, hid), "b": jnp.zeros((hid,))}
    direction = jax.tree.map(lambda a: jax.random.normal(kd, a.shape, a.dtype), x0)
    norm = tree_norm(direction)
    direction = jax.tree.map(lambda a: a / norm, direction)
    lam = jnp.asarray(lam, sup.dtype)
    return (sup, label(sup, ke), que, label(que, keq), lam, x0, jnp.zeros((m, hid + 1), sup.dtype),
            lam, direction)


# --- (f) hyper-cleaning over an RNN lower level (code-faithful; outside the theory's premise) ----
@problem_dataclass
class RNNCleaning:
    """Data hyper-cleaning as the paper's code does it: ``x_i`` is the logit of the weight
    ``σ(x_i)`` of training sequence ``i`` (the upper variable); the LOWER variable is a whole
    tanh-RNN classifier ``y = {W_in, W_hh, b, head}`` (max-pooled hidden states, linear head),
    ``g_j = σ(x_j) CE(y; s_j, ỹ_j) + 1e-4 ‖y‖²`` with a known fraction of flipped labels ``ỹ``;
    upper: cross-entropy of ``y`` on a clean validation split. ``g`` is not strongly convex in
    ``y`` (an RNN) and ``f`` is not relaxed smooth in ``x`` in any sense the theory uses: outside
    the premise of Hao, Gong & Liu's analysis. No exact ``y*``: the recorded metric is the clean
    test accuracy of the method's own lower iterate."""

    train_seqs: jax.Array
    train_labels: jax.Array     # corrupted
    flipped: jax.Array
    val_seqs: jax.Array
    val_labels: jax.Array
    test_seqs: jax.Array
    test_labels: jax.Array
    decay: jax.Array
    x0: jax.Array
    y0: Any
    n_upper: Static[int]
    n_lower: Static[int]
    num_classes: Static[int]

    def logits(self, y: Any, seqs: jax.Array) -> jax.Array:
        def cell(h, s):
            h = jnp.tanh(s @ y["W_in"] + h @ y["W_hh"] + y["b"][None, :])
            return h, h

        h0 = jnp.zeros(seqs.shape[:1] + y["b"].shape, seqs.dtype)
        states = jax.lax.scan(cell, h0, jnp.moveaxis(seqs, 1, 0))[1]     # [T, n, h]
        return _bias(jnp.max(states, axis=0)) @ y["head"]

    def _ce(self, y: Any, seqs: jax.Array, labels: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits(y, seqs), axis=1)
        return -jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0]

    def upper(self, x: jax.Array, y: Any, idx: jax.Array) -> jax.Array:
        return jnp.mean(self._ce(y, self.val_seqs[idx], self.val_labels[idx]))

    def lower(self, x: jax.Array, y: Any, idx: jax.Array) -> jax.Array:
        ce = self._ce(y, self.train_seqs[idx], self.train_labels[idx])
        return jnp.mean(jax.nn.sigmoid(x[idx]) * ce) + self.decay * tree_norm(y) ** 2

    def accuracy_of(self, y: Any) -> jax.Array:
        pred = jnp.argmax(self.logits(y, self.test_seqs), axis=1)
        return jnp.mean(pred == self.test_labels)

    @property
    def start(self) -> BilevelPoint:
        return BilevelPoint(self.x0, self.y0)

    def default_metrics(self) -> dict[str, Any]:
        return {"accuracy": lower_test_accuracy}


def lower_test_accuracy(problem: RNNCleaning, point: BilevelPoint) -> jax.Array:
    """Clean test accuracy of the method's lower iterate ``point.y`` (no exact ``y*`` exists)."""
    return problem.accuracy_of(point.y)


lower_test_accuracy.__test__ = False


@checked_generator
def make_rnn_cleaning(key: jax.Array, *, n_train: int = 128, n_val: int = 64, n_test: int = 256,
                      length: int = 6, dim_in: int = 2, hidden: int = 4, num_classes: int = 2,
                      corruption: float = 0.3, decay: float = 1e-4) -> RNNCleaning:
    """Hyper-cleaning of sequence labels over a small RNN lower level (the paper code's
    ``data_cleaning`` structure at toy size). Labels: ``max_t tanh(w·s_t)`` binned into
    ``num_classes`` balanced classes (a max-pooled RNN can represent it); exactly
    ``round(corruption · n_train)`` training labels replaced by a different class.

    Args:
      key: PRNG key. n_train, n_val, n_test: split sizes. length, dim_in, hidden: sizes.
      num_classes: ``C >= 2``. corruption: fraction ``∈ [0, 1)`` flipped. decay: ``>= 0``, the
      lower level's ``‖y‖²`` weight (paper code: 1e-4).
    """
    ntr = require_int("n_train", n_train, minimum=2)
    nva = require_int("n_val", n_val, minimum=1)
    nte = require_int("n_test", n_test, minimum=1)
    T = require_int("length", length, minimum=1)
    din = require_int("dim_in", dim_in, minimum=1)
    hid = require_int("hidden", hidden, minimum=1)
    C = require_int("num_classes", num_classes, minimum=2)
    require_in_range("corruption", corruption, 0.0, 1.0, closed="left")
    require_positive("decay", decay, allow_zero=True)
    flips = int(round(float(corruption) * ntr))
    arrays = _rnn_cleaning_arrays(key, ntr, nva, nte, T, din, hid, C, flips, decay)
    return RNNCleaning(*arrays, nva, ntr, C)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6, 7, 8))
def _rnn_cleaning_arrays(key, ntr, nva, nte, T, din, hid, C, flips, decay):
    kw, ktr, kva, kte, kp, ks, ki, kh, kr = jax.random.split(key, 9)
    w_true = jax.random.normal(kw, (din,))

    def split(k, n):
        seqs = jax.random.normal(k, (n, T, din))
        return seqs, jnp.max(jnp.tanh(seqs @ w_true), axis=1)

    (tr, s_tr), (va, s_va), (te, s_te) = split(ktr, ntr), split(kva, nva), split(kte, nte)
    edges = jnp.quantile(s_tr, jnp.linspace(0.0, 1.0, C + 1)[1:-1])   # balanced classes
    tr_y, va_y, te_y = (jnp.searchsorted(edges, s).astype(jnp.int32) for s in (s_tr, s_va, s_te))
    flipped = jax.random.permutation(kp, ntr) < flips
    noisy = jnp.where(flipped, (tr_y + jax.random.randint(ks, (ntr,), 1, C)) % C, tr_y)
    y0 = {"W_in": jax.random.normal(ki, (din, hid)) / jnp.sqrt(din),
          "W_hh": _orthogonal(kr, hid), "b": jnp.zeros((hid,)),
          "head": jax.random.normal(kh, (hid + 1, C)) / jnp.sqrt(hid + 1)}
    return (tr, noisy, flipped.astype(tr.dtype), va, va_y, te, te_y, jnp.asarray(decay, tr.dtype),
            jnp.zeros((ntr,), tr.dtype), y0)


# --- (d) multi-block problems (Hu, Qiu, Guo, Zhang & Yang, ICML 2023) ----------------------------
def multiblock_oracle_calls(blocks: int, batch: int, queries: int) -> int:
    """Calls charged for ``queries`` oracle queries on each of ``blocks`` blocks, ``batch`` rows
    each: one call per row and query (a gradient, a Hessian-vector product or a Hessian)."""
    return int(blocks) * int(batch) * int(queries)


def _sq_mean(A: jax.Array, b: jax.Array, y: jax.Array) -> jax.Array:
    """``mean_j ½ (a_jᵀ y - b_j)²`` over the rows of ``A``."""
    r = A @ y - b
    return 0.5 * jnp.mean(r * r)


@problem_dataclass
class MultiBlockBilevel:
    """Multi-block hyperparameter optimization of ridge penalties (module docstring,
    "Multi-block problems").

    Attributes:
      A_train, b_train: training rows of every block, ``[m, n, dim_y]`` and ``[m, n]``.
      A_val, b_val: validation rows, ``[m, n_val, dim_y]`` and ``[m, n_val]``.
      groups: ``M``, ``[dim_y, dim_x]`` 0/1 group assignment of the features.
      mu: the floor of ``λ(x)``: every ``g_i(x, ·)`` is at least ``mu``-strongly convex.
      rho: weight of ``(rho/2)‖x‖²`` in every ``f_i``.
      x0: the starting hyperparameters (zeros: ``λ = mu + 1``).
      m, dim_x, dim_y: static sizes; blocks, batch: default ``I`` and ``B`` of the oracles.
    """

    A_train: jax.Array
    b_train: jax.Array
    A_val: jax.Array
    b_val: jax.Array
    groups: jax.Array
    mu: jax.Array
    rho: jax.Array
    x0: jax.Array
    m: Static[int]
    dim_x: Static[int]
    dim_y: Static[int]
    blocks: Static[int]
    batch: Static[int]

    # --- sampled losses and their autodiff oracles ------------------------------------------------
    def penalty(self, x: jax.Array) -> jax.Array:
        """``λ(x) = mu + exp(M x)``, shape ``[dim_y]``."""
        return self.mu + jnp.exp(self.groups @ x)

    def g_rows(self, x: jax.Array, y: jax.Array, i: Any, rows: jax.Array) -> jax.Array:
        """``g_i(x, y)`` on the training rows ``rows`` of block ``i``."""
        return _sq_mean(self.A_train[i][rows], self.b_train[i][rows], y) + 0.5 * jnp.sum(self.penalty(x) * y * y)

    def f_rows(self, x: jax.Array, y: jax.Array, i: Any, rows: jax.Array) -> jax.Array:
        """``f_i(x, y)`` on the validation rows ``rows`` of block ``i``."""
        return _sq_mean(self.A_val[i][rows], self.b_val[i][rows], y) + 0.5 * self.rho * jnp.sum(x * x)

    def grad_y_g(self, x, y, i, rows):
        """``∇_y g_i(x, y; rows)``."""
        return jax.grad(self.g_rows, argnums=1)(x, y, i, rows)

    def grad_x_f(self, x, y, i, rows):
        """``∇_x f_i(x, y; rows)``."""
        return jax.grad(self.f_rows, argnums=0)(x, y, i, rows)

    def grad_y_f(self, x, y, i, rows):
        """``∇_y f_i(x, y; rows)``."""
        return jax.grad(self.f_rows, argnums=1)(x, y, i, rows)

    def hvp_yy_g(self, x, y, v, i, rows):
        """``∇²_yy g_i(x, y; rows) v`` (forward-over-reverse; no Hessian is formed)."""
        return jax.jvp(lambda y_: self.grad_y_g(x, y_, i, rows), (y,), (v,))[1]

    def jvp_xy_g(self, x, y, v, i, rows):
        """``∇²_xy g_i(x, y; rows) v ∈ R^{dim_x}`` (the cross derivative applied to ``v``)."""
        return jax.grad(lambda x_: jnp.vdot(self.grad_y_g(x_, y, i, rows), v))(x)

    def hess_yy_g(self, x, y, i, rows):
        """``∇²_yy g_i(x, y; rows)``, ``[dim_y, dim_y]`` (small dimensions only)."""
        return jax.jacfwd(self.grad_y_g, argnums=1)(x, y, i, rows)

    # --- sampling --------------------------------------------------------------------------------------
    def sample_blocks(self, key: jax.Array, blocks: int | None = None) -> jax.Array:
        """``I`` distinct blocks drawn uniformly (``[I]`` int32)."""
        count = self.blocks if blocks is None else blocks
        if count > self.m:
            raise ValueError(f"blocks (I = {count}) must be <= m = {self.m}")
        return jax.random.choice(key, self.m, (count,), replace=False).astype(jnp.int32)

    def sample_rows(self, key: jax.Array, blocks: int | None = None, batch: int | None = None):
        """``(rows_g, rows_f)``: ``B`` training and ``B`` validation rows for each of ``I`` sampled
        blocks, uniformly with replacement, each ``[I, B]``."""
        count = self.blocks if blocks is None else blocks
        size = self.batch if batch is None else batch
        k_g, k_f = jax.random.split(key)
        rows_g = jax.random.randint(k_g, (count, size), 0, self.A_train.shape[1])
        rows_f = jax.random.randint(k_f, (count, size), 0, self.A_val.shape[1])
        return rows_g, rows_f

    # --- the truth, exact ---------------------------------------------------------------------------------
    def _grams(self):
        n, n_val = self.A_train.shape[1], self.A_val.shape[1]
        G = jnp.einsum("mnj,mnk->mjk", self.A_train, self.A_train) / n
        r = jnp.einsum("mnj,mn->mj", self.A_train, self.b_train) / n
        V = jnp.einsum("mnj,mnk->mjk", self.A_val, self.A_val) / n_val
        q = jnp.einsum("mnj,mn->mj", self.A_val, self.b_val) / n_val
        return G, r, V, q

    def lower_hessians(self, x: jax.Array) -> jax.Array:
        """Exact ``∇²_yy g_i(x, ·) = G_i + diag λ(x)`` of every block, ``[m, dim_y, dim_y]``."""
        G = self._grams()[0]
        return G + jnp.eye(self.dim_y, dtype=G.dtype)[None] * self.penalty(x)[None, None, :]

    def y_star(self, x: jax.Array) -> jax.Array:
        """Exact lower-level solutions ``y_i^*(x)``, ``[m, dim_y]`` (one linear solve per block)."""
        r = self._grams()[1]
        return jnp.linalg.solve(self.lower_hessians(x), r[..., None])[..., 0]

    def upper(self, x: jax.Array) -> jax.Array:
        """``Φ(x) = (1/m) Σ_i f_i(x, y_i^*(x))`` (all validation rows)."""
        ys = self.y_star(x)
        losses = jax.vmap(_sq_mean)(self.A_val, self.b_val, ys)
        return jnp.mean(losses) + 0.5 * self.rho * jnp.sum(x * x)

    def hypergrad(self, x: jax.Array) -> jax.Array:
        """Exact ``∇Φ(x)`` by the implicit-function formula (linear solves, no autodiff through
        them): ``rho x - (1/m) Σ_i Mᵀ(e^{Mx} ⊙ y_i^* ⊙ w_i)``, ``w_i = H_i^{-1} ∇_y f_i``."""
        _, _, V, q = self._grams()
        H = self.lower_hessians(x)
        ys = self.y_star(x)
        grad_f = jnp.einsum("mjk,mk->mj", V, ys) - q
        w = jnp.linalg.solve(H, grad_f[..., None])[..., 0]
        cross = jnp.exp(self.groups @ x)[None, :] * ys * w          # [m, dim_y]
        return self.rho * x - self.groups.T @ jnp.mean(cross, axis=0)

    def lower_smoothness(self, x: jax.Array) -> jax.Array:
        """``max_i λ_max(∇²_yy g_i(x, ·))``: the lower levels' smoothness constant at ``x``."""
        return jnp.max(jnp.linalg.eigvalsh(self.lower_hessians(x))[:, -1])

    def iterate0(self) -> MultiBlockIterate:
        """The starting iterate ``(x0, y = 0)`` of the multi-block methods."""
        return MultiBlockIterate(self.x0, jnp.zeros((self.m, self.dim_y), self.x0.dtype))

    def default_metrics(self) -> dict[str, Any]:
        return {"hypergrad_norm": multiblock_hypergrad_norm, "upper": multiblock_upper_value}


def _upper_x(params: Any) -> jax.Array:
    """``x`` of a :class:`~convlab.methods.multiblock_bilevel.MultiBlockIterate` (or ``x`` itself)."""
    return getattr(params, "x", params)


def multiblock_hypergrad_norm(problem: MultiBlockBilevel, params: Any) -> jax.Array:
    """``‖∇Φ(x)‖`` (exact) at the iterate's ``x``; the stationarity measure of the claims."""
    return jnp.sqrt(jnp.sum(jnp.square(problem.hypergrad(_upper_x(params)))))


def multiblock_upper_value(problem: MultiBlockBilevel, params: Any) -> jax.Array:
    """``Φ(x)`` (exact) at the iterate's ``x``."""
    return problem.upper(_upper_x(params))


@checked_generator
def make_multi_block(key: jax.Array, *, m: int, dim_x: int, dim_y: int, blocks: int = 1,
                     batch: int = 1, rows: int = 64, val_rows: int = 64, noise: float = 0.5,
                     heterogeneity: float = 1.0, mu: float = 0.1, rho: float = 0.05) -> MultiBlockBilevel:
    """Build a multi-block ridge-hyperparameter problem (module docstring, "Multi-block problems").

    Args:
      key: PRNG key (data of every block; the shared mean regression vector comes from a key
        independent of ``m``).
      m: number of blocks (lower-level problems), >= 1.
      dim_x: number of penalty groups (upper-level dimension), 1 <= dim_x <= dim_y.
      dim_y: features per task (lower-level dimension), >= 1.
      blocks: default ``I`` of :meth:`~MultiBlockBilevel.sample_blocks`, 1 <= I <= m.
      batch: default ``B`` of :meth:`~MultiBlockBilevel.sample_rows`, >= 1.
      rows, val_rows: training and validation rows per block, >= 1.
      noise: label noise standard deviation, >= 0.
      heterogeneity: spread of the tasks' regression vectors around their mean, >= 0.
      mu: floor of the penalties (strong convexity of every ``g_i``), > 0.
      rho: weight of ``(rho/2)‖x‖²`` in the upper level, >= 0.

    Raises:
      TypeError, ValueError: naming the bad argument, before anything is traced.
    """
    m = require_int("m", m, minimum=1)
    dim_x = require_int("dim_x", dim_x, minimum=1)
    dim_y = require_int("dim_y", dim_y, minimum=1)
    if dim_x > dim_y:
        raise ValueError(f"dim_x ({dim_x}) must be <= dim_y ({dim_y}): one penalty per group of features")
    blocks = require_int("blocks", blocks, minimum=1)
    if blocks > m:
        raise ValueError(f"blocks (I = {blocks}) must be <= m = {m}")
    batch = require_int("batch", batch, minimum=1)
    rows = require_int("rows", rows, minimum=1)
    val_rows = require_int("val_rows", val_rows, minimum=1)
    require_positive("noise", noise, allow_zero=True)
    require_positive("heterogeneity", heterogeneity, allow_zero=True)
    require_positive("mu", mu)
    require_positive("rho", rho, allow_zero=True)
    arrays = _multi_block_arrays(key, m, dim_x, dim_y, rows, val_rows, noise, heterogeneity)
    dtype = arrays[0].dtype
    return MultiBlockBilevel(*arrays, jnp.asarray(mu, dtype), jnp.asarray(rho, dtype),
                             jnp.zeros((dim_x,), dtype), m, dim_x, dim_y, blocks, batch)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _multi_block_arrays(key, m, dim_x, dim_y, rows, val_rows, noise, heterogeneity):
    k_mean, k_data = jax.random.split(key)
    k_task, k_a, k_av, k_e, k_ev = jax.random.split(k_data, 5)
    group = np.arange(dim_y) % dim_x
    groups = jnp.asarray(np.eye(dim_x)[group])                       # [dim_y, dim_x]
    scale = jnp.asarray(np.geomspace(1.0, 0.1, dim_x)[group])         # groups matter unequally
    w_mean = jax.random.normal(k_mean, (dim_y,)) * scale
    w = w_mean[None] + heterogeneity * scale[None] * jax.random.normal(k_task, (m, dim_y))
    A = jax.random.normal(k_a, (m, rows, dim_y))
    A_val = jax.random.normal(k_av, (m, val_rows, dim_y))
    b = jnp.einsum("mnj,mj->mn", A, w) + noise * jax.random.normal(k_e, (m, rows))
    b_val = jnp.einsum("mnj,mj->mn", A_val, w) + noise * jax.random.normal(k_ev, (m, val_rows))
    return A, b, A_val, b_val, groups
