"""Benchmark: GD on symmetric matrix sensing at paper size, against step loops and GEMM.

Measures two DESIGN.md performance targets on the matrix sensing family (PAPERS.md §1):

- "Matrix sensing at paper size reaches >= 60% of the machine's own float64 GEMM throughput
  (measured in the same run) -- the measurement operator is shared, so a batched step is a GEMM";
- "a sweep of S seeds x H step sizes runs as one compiled program: >= 10x ... a Python loop over
  per-step jitted calls, and >= 5x a NumPy loop, at S*H >= 64".

Workload: ``problems.matrix_sensing.make_symmetric_sensing`` at paper size ``n = 50, r = 3``,
``k in {3, 5, 10}`` (one record each; ``--quick``: ``k = 10`` only), ``m = 2000`` Gaussian
measurements (the size the matrix sensing claims use; RIP needs ``m`` of order ``n r``), init
scale ``alpha = 0.1``; plain
``convlab.gd`` with step sizes ``linspace(0.02, 0.2, H)`` (``sigma_1 = 1``; the claims use 0.1);
8 seeds (``X_0`` drawn by ``problem.init``) x 8 step sizes = 64 runs. The problem goes to
``convlab.sweep`` as ``data=`` (shared, not vmapped), so the batched step's two products with
``A`` are GEMMs ``[B, n^2] x [n^2, m]`` and ``[B, m] x [m, n^2]`` (checked in the compiled HLO,
see benchmarks/README.md). The four modes are those of ``benchmarks/_common.py``.

FLOPs per run and step (counted from the shapes, GD on ``L = |A(X X^T) - y|^2 / (2m)``)::

    X X^T                    2 n^2 k
    A vec(X X^T) - y         2 m n^2 + m
    r^T A, / m               2 m n^2 + n^2
    S + S^T, (S + S^T) X     n^2 + 2 n^2 k
    X - eta G                2 n k
    total                    4 m n^2 + 4 n^2 k + 2 n^2 + m + 2 n k

(the run's divergence check, step counter and the two recordings are not counted; at paper size
the two ``A`` products are 99.6% of the total). ``gemm_fraction = flops_per_step * steps * runs /
sweep_seconds / gemm_f64_flops``, where ``gemm_f64_flops`` is the rate of
:func:`_common.gemm_chain`: ``steps`` pairs of the step's own GEMM shapes (``B = runs``) in one
jitted loop, timed alternately with the sweep's timed calls (best of the same repeat), so both
see the same load; ``gemm_f32_flops`` likewise in float32, for reference. Run::

    python benchmarks/matrix_sensing.py [--quick] [--json FILE] [--n N] [--m M] [--k K ...]

``main(argv)`` returns the records, one per ``k`` (``--json`` writes them).
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # benchmarks/_common.py
import _common  # noqa: E402

import convlab  # noqa: E402
from problems.matrix_sensing import make_symmetric_sensing  # noqa: E402

__all__ = ["flops_per_step", "main"]

NAME = "matrix_sensing"


def flops_per_step(n: int, k: int, m: int) -> int:
    """FLOPs of one GD step of one run (see the module docstring for the count)."""
    return 4 * m * n * n + 4 * n * n * k + 2 * n * n + m + 2 * n * k


def _init(problem: Any, key: jax.Array) -> jax.Array:
    return problem.init(key)


def _gd_step(be, a, X, lr, k):
    """One GD step on NumPy arrays or torch tensors (the same arithmetic as ``problem.grad``)."""
    n = X.shape[0]
    r = a["A"] @ (X @ X.T).reshape(-1) - a["y"]
    S = (r @ a["A"]).reshape(n, n) / a["A"].shape[0]
    return X - lr * ((S + S.T) @ X)


def workload(args, k: int) -> _common.Workload:
    problem = make_symmetric_sensing(jax.random.key(0), n=args.n, r=args.r, k=k,
                                     num_measurements=args.m, alpha=0.1)
    reference = _common.Reference({"A": np.asarray(problem.A), "y": np.asarray(problem.y)},
                                  init=lambda be, x0: x0, step=_gd_step, final=lambda x: x)
    shape = (args.seeds * args.step_sizes, args.m, args.n * args.n)  # the step's GEMMs
    info = {"problem": "symmetric matrix sensing", "method": "gd", "n": args.n, "r": args.r,
            "k": k, "m": args.m, "flops_per_step": flops_per_step(args.n, k, args.m),
            "gemm_shape": list(shape), "gemm_reps": args.steps}
    companions = {f"gemm_{name}": _common.gemm_chain(shape, dtype, args.steps)
                  for name, dtype in (("f64", jnp.float64), ("f32", jnp.float32))}
    return _common.Workload(f"{NAME}_k{k}", problem, convlab.gd, _init,
                            values=np.linspace(0.02, 0.2, args.step_sizes), seeds=args.seeds,
                            num_steps=args.steps, reference=reference, rtol=1e-9, info=info,
                            companions=companions,
                            title=f"GD on symmetric matrix sensing, n={args.n} r={args.r} k={k} m={args.m}")


def gemm_fields(r: dict[str, Any]) -> dict[str, Any]:
    """``gemm_fraction`` of a record: its sweep's FLOP rate over the float64 GEMM rate (both
    best of the same interleaved repeats)."""
    b, m, N = r["gemm_shape"]
    gemm = {name: 4.0 * b * m * N * r["gemm_reps"] / r[f"gemm_{name}_seconds"] for name in ("f64", "f32")}
    flops = r["flops_per_step"] * r["steps"] * r["runs"] / r["sweep_seconds"]
    return {"sweep_flops": flops, "gemm_fraction": flops / gemm["f64"], "gemm_f64_flops": gemm["f64"],
            "gemm_f32_flops": gemm["f32"], "targets": {**r["targets"], "gemm_fraction": _common.GEMM_TARGET}}


def gemm_line(r: dict[str, Any]) -> str:
    return (f"sweep {r['sweep_flops'] / 1e9:.1f} GFLOP/s; GEMM {r['gemm_shape']}: float64 "
            f"{r['gemm_f64_flops'] / 1e9:.1f} GFLOP/s, float32 {r['gemm_f32_flops'] / 1e9:.1f} GFLOP/s")


def workloads(args) -> Iterator[_common.Workload]:
    """One workload per factor width ``k`` (built when measured)."""
    for k in args.k or ([10] if args.quick else [3, 5, 10]):
        yield workload(args, k)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the tables and return the records (written with ``--json``)."""
    add_k = lambda parser: parser.add_argument(
        "--k", type=int, nargs="+", help="factor widths, one record each (default 3 5 10; quick 10)")
    return _common.run_script(argv, NAME, __doc__, workloads, steps=50, quick_steps=20,
                              sizes={"n": (50, "M* is n x n"), "r": (3, "rank of M*"),
                                     "m": (2000, "measurements")},
                              configure=add_k, extend=gemm_fields, report=gemm_line)


if __name__ == "__main__":
    main(sys.argv[1:])
