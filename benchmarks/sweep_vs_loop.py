"""Benchmark: a convlab sweep (one compiled program) against step loops, on least squares.

Measures the DESIGN.md performance target "A sweep of S seeds x H step sizes runs as one
compiled program: >= 10x the throughput of the same runs as a Python loop over per-step jitted
calls, and >= 5x a NumPy loop, at S*H >= 64" (and "no recompilation on new numeric values").

The same S*H gradient-descent runs on one least-squares problem
``f(x) = ||A x - b||^2 / (2 m)`` (``A`` of shape ``[m, n]``, default 200 x 100; step sizes
``linspace(0.1, 1.9, H) / L``; seeds differ in ``x0``, drawn from each seed's key) are timed as
a ``convlab.sweep``, a Python loop of a jitted step, a NumPy loop and a PyTorch CPU loop (when
torch is installed); see ``benchmarks/_common.py`` for what each mode does exactly. Run::

    python benchmarks/sweep_vs_loop.py [--quick] [--json FILE] [--m M] [--n N] ...

``main(argv)`` returns the one-element list of records (``--json`` writes it).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # benchmarks/_common.py
import _common  # noqa: E402

import convlab  # noqa: E402

__all__ = ["LeastSquares", "main"]

NAME = "sweep_vs_loop"


@convlab.problem_dataclass
class LeastSquares:
    """``f(x) = ||A x - b||^2 / (2 m)`` with ``A`` of shape ``[m, n]``."""

    A: jax.Array
    b: jax.Array

    def loss(self, x: jax.Array) -> jax.Array:
        r = self.A @ x - self.b
        return 0.5 * jnp.dot(r, r) / self.A.shape[0]

    def grad(self, x: jax.Array) -> jax.Array:
        return self.A.T @ (self.A @ x - self.b) / self.A.shape[0]


def make_problem(key: jax.Array, m: int, n: int) -> tuple[LeastSquares, float]:
    """A random least-squares problem and its smoothness constant ``L = ||A||_2^2 / m``."""
    k_a, k_x, k_noise = jax.random.split(key, 3)
    A = jax.random.normal(k_a, (m, n), jnp.float64)
    b = A @ jax.random.normal(k_x, (n,), jnp.float64) + 0.1 * jax.random.normal(k_noise, (m,), jnp.float64)
    L = float(np.linalg.norm(np.asarray(A), 2) ** 2 / m)
    return LeastSquares(A, b), L


def _init(problem: LeastSquares, key: jax.Array) -> jax.Array:
    return jax.random.normal(key, (problem.A.shape[1],), problem.A.dtype)


def _gd_step(be, a, x, lr, k):
    """``x - lr A^T (A x - b) / m`` on NumPy arrays or torch tensors."""
    return x - lr * (a["A"].T @ (a["A"] @ x - a["b"]) / a["A"].shape[0])


def workload(args) -> _common.Workload:
    problem, L = make_problem(jax.random.key(0), args.m, args.n)
    reference = _common.Reference({"A": np.asarray(problem.A), "b": np.asarray(problem.b)},
                                  init=lambda be, x0: x0, step=_gd_step, final=lambda x: x)
    return _common.Workload(NAME, problem, convlab.gd, _init,
                            values=np.linspace(0.1, 1.9, args.step_sizes) / L, seeds=args.seeds,
                            num_steps=args.steps, reference=reference,
                            title=f"GD on least squares, A {args.m}x{args.n}",
                            info={"problem": "least squares", "method": "gd", "shape": [args.m, args.n]})


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table and return the records (written with ``--json``)."""
    return _common.run_script(argv, NAME, __doc__, workload, steps=500, quick_steps=100,
                              sizes={"m": (200, "rows of A"), "n": (100, "columns of A, the dimension")})


if __name__ == "__main__":
    main(sys.argv[1:])
