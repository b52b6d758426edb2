"""Shared machinery of the benchmarks: the four timed modes, agreement check, records, tables.

Backs the DESIGN.md "Performance targets": *a sweep of S seeds x H step sizes runs as one
compiled program: >= 10x the throughput of the same runs as a Python loop over per-step jitted
calls, and >= 5x a NumPy loop, at S*H >= 64*; *no recompilation on a second call with new
numeric values; compile time reported separately*; and, for matrix sensing, *>= 60% of the
machine's own float64 GEMM throughput* (:func:`gemm_chain` measures that limit in the same run).

A benchmark script describes its workload as a :class:`Workload` (a convlab problem, a method
factory ``h -> Method``, an initialiser, the swept values and a :class:`Reference`: the same
arithmetic written once for NumPy and PyTorch arrays) and calls :func:`measure`, which runs the
same ``S * H`` runs four ways, all timed in full (nothing extrapolated):

1. ``sweep``: ``convlab.sweep`` of ``convlab.run`` with the problem passed as ``data=`` (shared,
   not vmapped), the iterate recorded only at k = 0 and k = num_steps. The first call (trace +
   compile + run, other values) is timed apart; the timed calls use the benchmark's values, best
   of ``repeat``, while XLA backend compilations are counted with ``jax.monitoring``
   (``recompiles_on_new_values``, expected 0);
2. ``step_loop``: a Python loop over runs and steps of one ``jax.jit``-compiled ``method.step``
   (compiled and warmed up before timing; the problem, the state, the value, the run key and k
   are its arguments: passing the problem costs no more per call than closing over it, measured,
   and keeps a large operator out of the program's constants), blocking at the end of each run;
3. ``numpy``: the Reference's step in NumPy, looping over runs and steps;
4. ``torch``: the same step on PyTorch CPU tensors, when ``import torch`` works (``None``
   otherwise; torch is the optional ``bench`` extra); the best of torch's default thread count
   and one thread (:func:`_time_torch` says why).

The final iterates of all modes must agree to ``Workload.rtol`` (relative, per run) or
:func:`measure` raises: the timings would compare different work. float64 throughout.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import platform
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

import convlab

__all__ = ["TARGETS", "GEMM_TARGET", "Backend", "Reference", "Workload", "CompileCounter",
           "best_of", "make_parser", "parse", "enable_x64", "measure", "gemm_chain",
           "print_table", "run_script"]

TARGETS = {"speedup_vs_step_loop": 10.0, "speedup_vs_numpy": 5.0}
GEMM_TARGET = 0.6
MODES = ("sweep", "step_loop", "numpy", "torch")
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_LABELS = {"sweep": "convlab.sweep (one compiled call)", "step_loop": "python loop of jitted step",
           "numpy": "numpy loop", "torch": "torch (cpu) loop"}


# --- array backends of the reference loops ----------------------------------------------------
class Backend(NamedTuple):
    """What a Reference step needs beyond ``@``, ``.T``, ``.reshape``, ``.clip`` and arithmetic,
    which NumPy arrays and torch tensors share."""

    name: str
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    sort_desc: Callable[[Any], Any]
    cumsum: Callable[[Any], Any]
    concat: Callable[[list], Any]


NUMPY = Backend("numpy", np.asarray, np.asarray, lambda v: np.sort(v)[::-1], np.cumsum,
                np.concatenate)


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_backend() -> Backend | None:
    """The PyTorch CPU backend (float64 tensors), or ``None`` when torch is not installed."""
    torch = _import_torch()
    if torch is None:
        return None
    return Backend("torch", torch.from_numpy, lambda t: t.numpy(),
                   lambda v: torch.sort(v, descending=True).values, lambda v: torch.cumsum(v, 0),
                   torch.cat)


# --- the workload -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Reference:
    """One method's step written once for NumPy arrays and torch tensors.

    ``arrays``: the problem's NumPy arrays (converted per backend before timing);
    ``init(be, x0) -> state``; ``step(be, arrays, state, h, k) -> state`` (``h`` a Python float,
    ``k`` the 0-based step index); ``final(state) -> iterate``.
    """

    arrays: dict[str, np.ndarray]
    init: Callable[[Backend, Any], Any]
    step: Callable[[Backend, dict, Any, float, int], Any]
    final: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Workload:
    """``seeds x len(values)`` runs of ``method(h)`` on ``problem`` for ``num_steps`` steps.

    ``init(problem, key) -> x0`` draws a seed's start (traceable; seed key split into this key
    and the run's key); ``title``: the table's description; ``info``: extra record fields
    (sizes, method, problem); ``companions``: ``{name: fn()}`` timed alternately with the timed
    sweep calls (best of the same repeat, recorded as ``<name>_seconds``), so a reference
    measurement such as the machine's GEMM rate sees the same load as the sweep it is compared
    with.
    """

    name: str
    problem: Any
    method: Callable[[Any], convlab.Method]
    init: Callable[[Any, jax.Array], jax.Array]
    values: np.ndarray
    seeds: int
    num_steps: int
    reference: Reference
    title: str = ""
    rtol: float = 1e-10
    info: dict = dataclasses.field(default_factory=dict)
    companions: dict = dataclasses.field(default_factory=dict)


# --- timing -------------------------------------------------------------------------------------
class CompileCounter:
    """Counts XLA backend compilations while active (via ``jax.monitoring``)."""

    def __init__(self):
        self.count = 0

    def __call__(self, event: str, duration: float, **kwargs: Any) -> None:
        if event == _COMPILE_EVENT:
            self.count += 1

    def __enter__(self) -> "CompileCounter":
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        jax.monitoring.unregister_event_duration_listener(self)


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """``(best seconds, last result)`` of ``repeat`` calls, each blocked until ready."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best, out


def _iterate(problem: Any, x: jax.Array) -> jax.Array:
    """Metric recording the iterate itself (2 records: k = 0 and k = num_steps)."""
    del problem
    return x


@functools.lru_cache(maxsize=None)
def _make_run(method, init, num_steps):
    """A stable ``make_run(key, hparams, problem)`` for ``convlab.sweep(..., data=problem)``
    (cached: a second measurement of the same workload reuses the compiled sweep)."""
    def make_run(key, hparams, problem):
        k_init, k_run = jax.random.split(key)
        return convlab.run(method(hparams["h"]), problem, init(problem, k_init), key=k_run,
                           num_steps=num_steps, record_every=num_steps, metrics={"x": _iterate})
    return make_run


def _time_sweep(w: Workload, keys: jax.Array, repeat: int) -> dict[str, Any]:
    """The sweep's first call, then ``repeat`` warm calls alternating with the companions."""
    make_run = _make_run(w.method, w.init, w.num_steps)
    timed = {"sweep": lambda: convlab.sweep(make_run, keys, {"h": w.values}, data=w.problem),
             **w.companions}
    t0 = time.perf_counter()
    jax.block_until_ready(convlab.sweep(make_run, keys, {"h": w.values * 0.95}, data=w.problem))
    first = time.perf_counter() - t0  # trace + compile + run, with other values than the timed ones
    for name, fn in w.companions.items():
        jax.block_until_ready(fn())  # compile outside the timing
    best, out = dict.fromkeys(timed, np.inf), {}
    with CompileCounter() as compiles:
        for _ in range(repeat):
            for name, fn in timed.items():
                seconds, out[name] = best_of(fn, 1)
                best[name] = min(best[name], seconds)
    finals = np.asarray(out["sweep"].metrics["x"][:, :, -1]).reshape(w.values.size * keys.shape[0], -1)
    return {"seconds": best.pop("sweep"), "first": first, "recompiles": compiles.count,
            "finals": finals, "companions": best}


def _loop(init, step, final, starts, values, num_steps) -> list:
    """Every run (values outer, seeds inner, as the sweep's ``[H, S]``), step by step."""
    finals = []
    for h in values:
        for start in starts:
            state = init(start)
            for k in range(num_steps):
                state = step(state, h, k)
            finals.append(final(state))
    return finals


def _time_loop(init, step, final, starts, values, num_steps, repeat) -> tuple[float, np.ndarray]:
    seconds, finals = best_of(lambda: _loop(init, step, final, starts, values, num_steps), repeat)
    return seconds, np.stack([np.asarray(x).reshape(-1) for x in finals])


@functools.lru_cache(maxsize=None)
def _jitted_step(method):
    """``step(problem, state, h, run_key, k)`` of ``method(h)``, jitted (cached like the sweep)."""
    @jax.jit
    def step(problem, state, h, key, k):
        return method(h).step(jax.random.fold_in(key, k), state, problem)[0]
    return step


def _time_step_loop(w: Workload, starts, repeat) -> tuple[float, np.ndarray]:
    method, step, problem = w.method, _jitted_step(w.method), w.problem
    values = [jnp.asarray(h, jnp.result_type(float)) for h in w.values]
    init = lambda start: (method(values[0]).init(start[0]), start[1])
    advance = lambda s, h, k: (step(problem, s[0], h, s[1], k), s[1])
    final = lambda s: np.asarray(s[0].params)  # blocks
    jax.block_until_ready(advance(init(starts[0]), values[0], 0))  # compile outside the timing
    return _time_loop(init, advance, final, starts, values, w.num_steps, repeat)


def _time_reference(be: Backend, w: Workload, x0s, repeat) -> tuple[float, np.ndarray]:
    ref = w.reference
    arrays = {name: be.asarray(np.array(a)) for name, a in ref.arrays.items()}
    starts = [be.asarray(np.array(x)) for x in x0s]
    values = [float(h) for h in w.values]
    return _time_loop(lambda x0: ref.init(be, x0), lambda s, h, k: ref.step(be, arrays, s, h, k),
                      lambda s: be.to_numpy(ref.final(s)), starts, values, w.num_steps, repeat)


def _time_torch(w: Workload, x0s, repeat) -> tuple[float | None, np.ndarray | None, int | None]:
    """``(seconds, finals, threads)`` of the torch loop, the best of torch's default thread count
    and one thread (``None``s without torch): with NumPy's BLAS threads alive in the process,
    torch's OpenMP pool can oversubscribe a small machine (measured: 8 ms instead of 15 us per
    200 x 100 least-squares step on 2 cores), while one thread halves its large GEMVs."""
    torch, backend = _import_torch(), torch_backend()
    if torch is None:
        return None, None, None
    default = torch.get_num_threads()
    results = []
    try:
        for threads in sorted({1, default}):
            torch.set_num_threads(threads)
            results.append((*_time_reference(backend, w, x0s, repeat), threads))
    finally:
        torch.set_num_threads(default)
    return min(results, key=lambda r: r[0])


def max_rel_diff(x: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-run ``||x - ref||_inf / ||ref||_inf`` (rows are runs)."""
    num = np.abs(x - ref).max(axis=-1)
    den = np.maximum(np.abs(ref).max(axis=-1), np.finfo(np.float64).tiny)
    return float((num / den).max())


# --- the measurement ----------------------------------------------------------------------------
def measure(w: Workload, *, repeat: int, loop_repeat: int, quick: bool) -> dict[str, Any]:
    """Time the four modes of ``w``, check their final iterates agree, return the record."""
    keys = jax.random.split(jax.random.key(1), w.seeds)
    sweep = _time_sweep(w, keys, repeat)
    split = [jax.random.split(k) for k in keys]
    x0s = [w.init(w.problem, k_init) for k_init, _ in split]
    starts = [(x0, k_run) for x0, (_, k_run) in zip(x0s, split)]
    seconds = {"sweep": sweep["seconds"]}
    finals = {}
    seconds["step_loop"], finals["step_loop"] = _time_step_loop(w, starts, loop_repeat)
    x0s_np = [np.asarray(x) for x in x0s]
    seconds["numpy"], finals["numpy"] = _time_reference(NUMPY, w, x0s_np, loop_repeat)
    seconds["torch"], finals["torch"], threads = _time_torch(w, x0s_np, loop_repeat)
    if finals["torch"] is None:
        del finals["torch"]
    diffs = {mode: max_rel_diff(x, sweep["finals"]) for mode, x in finals.items()}
    if not all(d <= w.rtol for d in diffs.values()):
        raise RuntimeError(f"{w.name}: final iterates disagree with the sweep's "
                           f"{ {m: f'{d:.3g}' for m, d in diffs.items()} } (relative, tolerance "
                           f"{w.rtol:g}); the timings would compare different work")
    record = _record(w, seconds, sweep, diffs, repeat=repeat, loop_repeat=loop_repeat, quick=quick)
    return {**record, "torch_threads": threads}


def _record(w, seconds, sweep, diffs, *, repeat, loop_repeat, quick) -> dict[str, Any]:
    runs = w.seeds * w.values.size
    work = runs * w.num_steps
    ratio = lambda mode: None if seconds[mode] is None else seconds[mode] / seconds["sweep"]
    record = {
        "name": w.name,
        "speedup_vs_step_loop": ratio("step_loop"),
        "speedup_vs_numpy": ratio("numpy"),
        "speedup_vs_torch": ratio("torch"),
        "compile_seconds": max(sweep["first"] - seconds["sweep"], 0.0),
        "first_call_seconds": sweep["first"],
        "recompiles_on_new_values": sweep["recompiles"],
        **{f"{mode}_seconds": seconds[mode] for mode in MODES},
        **{f"{mode}_steps_runs_per_second": None if seconds[mode] is None else work / seconds[mode]
           for mode in MODES},
        "title": w.title,
        "runs": runs, "steps": w.num_steps, "seeds": w.seeds, "step_sizes": int(w.values.size),
        **w.info,
        **{f"{name}_seconds": seconds for name, seconds in sweep["companions"].items()},
        "max_rel_diff": max(diffs.values()),
        "rtol": w.rtol,
        "targets": dict(TARGETS),
        "repeat": {"sweep": repeat, "loops": loop_repeat},
        "quick": bool(quick),
    }
    return {**record, **environment()}


def environment() -> dict[str, Any]:
    """Device and versions, recorded with every result."""
    device = jax.devices()[0]
    return {"device": str(device), "device_kind": device.device_kind,
            "platform": f"{platform.machine()}, {os.cpu_count()} cpus",
            "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                         "numpy": np.__version__,
                         "torch": getattr(_import_torch(), "__version__", None),
                         "python": platform.python_version()}}


# --- the machine's own limit ----------------------------------------------------------------------
def gemm_chain(shape: tuple[int, int, int], dtype: Any, reps: int) -> Callable[[], jax.Array]:
    """A jitted call of ``reps`` GEMM pairs ``V <- c (V Aᵀ) A``: ``4 b m N reps`` FLOPs.

    ``shape = (b, m, N)``: ``V`` is ``[b, N]``, ``A`` is ``[m, N]``, so each pair is the two
    products of a batched least-squares-type step (``[b, N] x [N, m]`` then ``[b, m] x [m, N]``);
    ``c`` keeps the values bounded. All ``reps`` pairs run inside one ``fori_loop``, so per-call
    dispatch (large on a GPU) is amortised as in a sweep. Use as a ``Workload`` companion.
    """
    b, m, N = shape
    k_a, k_v = jax.random.split(jax.random.key(2))
    A = jax.random.normal(k_a, (m, N), dtype)
    V = jax.random.normal(k_v, (b, N), dtype)
    c = jnp.asarray(1.0 / (np.sqrt(m) + np.sqrt(N)) ** 2, dtype)
    chain = jax.jit(lambda A, V: jax.lax.fori_loop(0, reps, lambda i, V: ((V @ A.T) @ A) * c, V))
    return lambda: chain(A, V)


# --- command line, tables, JSON ----------------------------------------------------------------
def make_parser(name: str, doc: str, *, steps: int, quick_steps: int) -> argparse.ArgumentParser:
    """The options every benchmark takes; scripts add their sizes."""
    parser = argparse.ArgumentParser(prog=name, description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"fewer steps ({quick_steps} instead of {steps}), loops best of 2")
    parser.add_argument("--json", metavar="FILE", help="write the records (a list) to FILE")
    parser.add_argument("--steps", type=int, help=f"steps per run (default {steps}, quick {quick_steps})")
    parser.add_argument("--seeds", type=int, default=8, help="seeds S (default 8)")
    parser.add_argument("--step-sizes", type=int, default=8, help="step sizes H (default 8)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timings per mode, the best is kept (default 3; --quick: loops 2)")
    parser.set_defaults(default_steps=(steps, quick_steps))
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
          positive: Sequence[str] = ()) -> argparse.Namespace:
    """Parse, fill the default steps, and insist the counts (and ``positive``) are >= 1."""
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = args.default_steps[1] if args.quick else args.default_steps[0]
    for name in ("steps", "seeds", "step_sizes", "repeat", *positive):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    args.loop_repeat = min(2, args.repeat) if args.quick else args.repeat
    return args


def enable_x64() -> None:
    """float64, at the entry point (DESIGN.md: the library never changes JAX's configuration)."""
    jax.config.update("jax_enable_x64", True)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(r: dict[str, Any]) -> None:
    """The per-benchmark table: mode, seconds, steps*runs/s, time relative to the sweep."""
    print(f"{r['name']}: {r['title']}; {r['seeds']} seeds x {r['step_sizes']} step sizes = {r['runs']} "
          f"runs x {r['steps']} steps, float64, {r['device']}")
    print(f"all runs timed (no extrapolation); best of {r['repeat']['sweep']} (sweep), "
          f"{r['repeat']['loops']} (loops); final iterates agree to {r['max_rel_diff']:.1e} relative")
    print(f"{'mode':<34}{'seconds':>10}{'steps*runs/s':>15}{'x convlab':>11}")
    for mode in MODES:
        seconds = r[f"{mode}_seconds"]
        rate = r[f"{mode}_steps_runs_per_second"]
        rel = None if seconds is None else seconds / r["sweep_seconds"]
        note = "" if seconds is not None else "  (torch not installed)"
        print(f"{_LABELS[mode]:<34}{_fmt(seconds, '10.4f')}{_fmt(rate, '15.3g')}{_fmt(rel, '11.2f')}{note}")
    print(f"compile: first call {r['first_call_seconds']:.3f}s, compile ~{r['compile_seconds']:.3f}s "
          f"(first call minus a warm call); recompiles on new values: {r['recompiles_on_new_values']}")
    for key, target in r["targets"].items():
        got = r[key]
        print(f"{key}: {got:.2f} (target >= {target:g}: {'met' if got >= target else 'NOT met'})")


def run_script(argv: Sequence[str] | None, name: str, doc: str,
               workloads: Callable[[argparse.Namespace], Any], *, steps: int, quick_steps: int,
               sizes: dict[str, tuple[int, str]], configure: Callable = lambda parser: None,
               extend: Callable[[dict], dict] = lambda record: {},
               report: Callable[[dict], str] = lambda record: "") -> list[dict[str, Any]]:
    """A benchmark's ``main``: the common options plus ``--SIZE`` for each ``sizes[SIZE] =
    (default, help)`` (and whatever ``configure(parser)`` adds); enable float64;
    :func:`measure` each workload of ``workloads(args)`` (a Workload or an iterable of them,
    built one at a time), add ``extend(record)``, print the table and ``report(record)``, write
    the records to ``--json`` and return them."""
    parser = make_parser(name, doc, steps=steps, quick_steps=quick_steps)
    for size, (default, text) in sizes.items():
        parser.add_argument(f"--{size}", type=int, default=default, help=f"{text} (default {default})")
    configure(parser)
    args = parse(parser, argv, positive=tuple(sizes))
    enable_x64()
    built = workloads(args)
    records = []
    for w in [built] if isinstance(built, Workload) else built:
        record = measure(w, repeat=args.repeat, loop_repeat=args.loop_repeat, quick=args.quick)
        record.update(extend(record))
        print_table(record)
        print(report(record) + "\n", flush=True)
        records.append(record)
    if args.json:
        out = pathlib.Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(records, indent=2) + "\n")
    return records
