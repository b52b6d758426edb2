"""Benchmark: a convlab sweep (one compiled program) against Python and NumPy step loops.

Measures the DESIGN.md performance target "A sweep of S seeds x H step sizes runs as one
compiled program: >= 10x the throughput of the same runs as a Python loop over per-step jitted
calls, and >= 5x a NumPy loop, at S*H >= 64".

The same S*H gradient-descent runs on one least-squares problem
``f(x) = ||A x - b||^2 / (2 m)`` (``A`` of shape ``[m, n]``, default 200 x 100; seeds differ in
``x0``, drawn from each seed's key) are executed three ways:

1. ``convlab.sweep`` of ``convlab.run(gd(step_size), ...)``: one compiled call for all runs.
   The first call (trace + compile + run) is timed separately from later calls with *new* step
   values (best of ``--repeat``); the later calls must not recompile, and the number of
   backend compilations they trigger is reported (expected 0).
2. A Python loop over runs and steps calling one ``jax.jit``-compiled GD step (compiled once,
   warmed up before timing, iterate and step size as its only arguments: the leanest per-step
   dispatch, so this ratio is conservative), blocking at the end of each run.
3. A NumPy loop over runs and steps doing the same arithmetic.

All runs are timed in every mode (nothing is extrapolated); the three final iterates must agree
to 1e-10 relative, or the benchmark fails. Run::

    python benchmarks/sweep_vs_loop.py [--quick] [--json FILE]

float64 is enabled here, at the entry point (``main``), as DESIGN.md asks of entry points.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import convlab

__all__ = ["LeastSquares", "main"]

NAME = "sweep_vs_loop"
TARGET_VS_STEP_LOOP = 10.0
TARGET_VS_NUMPY = 5.0
RTOL = 1e-10
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


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


def _iterate(problem: Any, x: jax.Array) -> jax.Array:
    """Metric recording the iterate itself (only 2 records: k = 0 and k = num_steps)."""
    del problem
    return x


def _x0(seed_key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Initial point and run key of one seed (the seed key is split, never reused)."""
    k_x0, k_run = jax.random.split(seed_key)
    return jax.random.normal(k_x0, (n,), jnp.float64), k_run


def _make_run(problem: LeastSquares, num_steps: int):
    n = problem.A.shape[1]

    def make_run(key, hparams):
        x0, k_run = _x0(key, n)
        return convlab.run(convlab.gd(hparams["step_size"]), problem, x0, key=k_run,
                           num_steps=num_steps, record_every=num_steps,
                           metrics={"x": _iterate})

    return make_run


class _CompileCounter:
    """Counts XLA backend compilations while active (via ``jax.monitoring``)."""

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs: Any) -> None:
        if event == _COMPILE_EVENT:
            self.count += 1

    def __enter__(self) -> "_CompileCounter":
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        jax.monitoring.unregister_event_duration_listener(self)


def _time_sweep(make_run, keys, step_sizes, repeat):
    """(first-call seconds, best warm seconds, recompiles in warm calls, final iterates [H, S, n])."""
    grid1 = {"step_size": step_sizes * 1.05}  # the first call uses other values than the timed ones
    t0 = time.perf_counter()
    jax.block_until_ready(convlab.sweep(make_run, keys, grid1))
    first = time.perf_counter() - t0
    best = np.inf
    with _CompileCounter() as compiles:
        for _ in range(repeat):
            t0 = time.perf_counter()
            trace = jax.block_until_ready(convlab.sweep(make_run, keys, {"step_size": step_sizes}))
            best = min(best, time.perf_counter() - t0)
    return first, best, compiles.count, np.asarray(trace["x"][..., -1, :])


def _time_step_loop(problem, x0s, step_sizes, num_steps, repeat):
    """A Python loop over runs and steps of one jitted GD step; best of ``repeat``."""
    step = jax.jit(lambda x, lr: x - lr * problem.grad(x))
    lrs = [jnp.asarray(lr, jnp.float64) for lr in step_sizes]
    jax.block_until_ready(step(x0s[0], lrs[0]))  # compile outside the timing
    best, finals = np.inf, None
    for _ in range(repeat):
        out = []
        t0 = time.perf_counter()
        for lr in lrs:
            for x in x0s:
                for _ in range(num_steps):
                    x = step(x, lr)
                out.append(x.block_until_ready())
        best = min(best, time.perf_counter() - t0)
        finals = out
    return best, np.stack([np.asarray(x) for x in finals]).reshape(len(lrs), len(x0s), -1)


def _time_numpy_loop(problem, x0s, step_sizes, num_steps, repeat):
    """The same runs as a NumPy loop over runs and steps; best of ``repeat``."""
    A, b = np.asarray(problem.A), np.asarray(problem.b)
    m = A.shape[0]
    x0s = [np.asarray(x) for x in x0s]
    best, finals = np.inf, None
    for _ in range(repeat):
        out = []
        t0 = time.perf_counter()
        for lr in step_sizes:
            lr = float(lr)
            for x in x0s:
                for _ in range(num_steps):
                    x = x - lr * (A.T @ (A @ x - b) / m)
                out.append(x)
        best = min(best, time.perf_counter() - t0)
        finals = out
    return best, np.stack(finals).reshape(len(step_sizes), len(x0s), -1)


def _max_rel_diff(x: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-run ``||x - ref||_inf / ||ref||_inf``."""
    num = np.abs(x - ref).max(axis=-1)
    den = np.maximum(np.abs(ref).max(axis=-1), np.finfo(np.float64).tiny)
    return float((num / den).max())


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sweep_vs_loop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer steps (100 instead of 500), all 64 runs still timed")
    parser.add_argument("--json", metavar="FILE", help="write the record (a one-element list) to FILE")
    parser.add_argument("--steps", type=int, help="GD steps per run (default 500, quick 100)")
    parser.add_argument("--seeds", type=int, default=8, help="seeds S (default 8)")
    parser.add_argument("--step-sizes", type=int, default=8, help="step sizes H (default 8)")
    parser.add_argument("--m", type=int, default=200, help="rows of A (default 200)")
    parser.add_argument("--n", type=int, default=100, help="columns of A, the dimension (default 100)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timings per method, the best is kept (default 3; with --quick the loops run once)")
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 100 if args.quick else 500
    for name in ("steps", "seeds", "step_sizes", "m", "n", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table and return the record (written with ``--json``)."""
    args = _parse(argv)
    jax.config.update("jax_enable_x64", True)  # entry point: float64 for rate experiments
    S, H, N = args.seeds, args.step_sizes, args.steps
    loop_repeat = 1 if args.quick else args.repeat

    problem, L = make_problem(jax.random.key(0), args.m, args.n)
    step_sizes = np.linspace(0.1, 1.9, H) / L  # all stable (< 2 / L)
    keys = jax.random.split(jax.random.key(1), S)
    x0s = [_x0(keys[s], args.n)[0] for s in range(S)]
    make_run = _make_run(problem, N)

    first, sweep_s, recompiles, x_sweep = _time_sweep(make_run, keys, step_sizes, args.repeat)
    loop_s, x_loop = _time_step_loop(problem, x0s, step_sizes, N, loop_repeat)
    numpy_s, x_numpy = _time_numpy_loop(problem, x0s, step_sizes, N, loop_repeat)

    diff_loop = _max_rel_diff(x_loop, x_sweep)
    diff_numpy = _max_rel_diff(x_numpy, x_sweep)
    if not (diff_loop <= RTOL and diff_numpy <= RTOL):
        raise RuntimeError(f"final iterates disagree: step loop {diff_loop:.3g}, numpy {diff_numpy:.3g} "
                           f"(relative, tolerance {RTOL:g}); the timings compare different work")

    runs = S * H
    record = {
        "name": NAME,
        "speedup_vs_step_loop": loop_s / sweep_s,
        "speedup_vs_numpy": numpy_s / sweep_s,
        "compile_seconds": max(first - sweep_s, 0.0),
        "sweep_seconds": sweep_s,
        "step_loop_seconds": loop_s,
        "numpy_seconds": numpy_s,
        "runs": runs,
        "steps": N,
        "seeds": S,
        "step_sizes": H,
        "shape": [args.m, args.n],
        "first_call_seconds": first,
        "recompiles_on_new_values": recompiles,
        "max_rel_diff": max(diff_loop, diff_numpy),
        "targets": {"speedup_vs_step_loop": TARGET_VS_STEP_LOOP, "speedup_vs_numpy": TARGET_VS_NUMPY},
        "repeat": {"sweep": args.repeat, "loops": loop_repeat},
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "quick": bool(args.quick),
    }
    _print_table(record)
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([record], indent=2) + "\n")
    return record


def _print_table(r: dict[str, Any]) -> None:
    work = r["runs"] * r["steps"]
    m, n = r["shape"]
    print(f"{NAME}: {r['seeds']} seeds x {r['step_sizes']} step sizes = {r['runs']} GD runs x "
          f"{r['steps']} steps, A {m}x{n}, float64, {r['device']}")
    print(f"all runs timed (no extrapolation); best of {r['repeat']['sweep']} (sweep), "
          f"{r['repeat']['loops']} (loops); final iterates agree to {r['max_rel_diff']:.1e} relative")
    print(f"{'method':<34}{'seconds':>10}{'steps*runs/s':>15}{'x convlab':>11}")
    rows = [("convlab.sweep (one compiled call)", r["sweep_seconds"]),
            ("python loop of jitted gd step", r["step_loop_seconds"]),
            ("numpy loop", r["numpy_seconds"])]
    for label, seconds in rows:
        print(f"{label:<34}{seconds:>10.4f}{work / seconds:>15.3g}{seconds / r['sweep_seconds']:>11.2f}")
    print(f"compile: first call {r['first_call_seconds']:.3f}s, compile ~{r['compile_seconds']:.3f}s "
          f"(first call minus a warm call); recompiles on new step values: "
          f"{r['recompiles_on_new_values']}")
    for key, target in r["targets"].items():
        got = r[key]
        print(f"{key}: {got:.2f}x (target >= {target:g}x: {'met' if got >= target else 'NOT met'})")


if __name__ == "__main__":
    main(sys.argv[1:])
