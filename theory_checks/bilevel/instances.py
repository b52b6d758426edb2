"""Shared instances of the bilevel family: the synthetic problem and BO-REP's budget schedule,
the baselines, the application problems and methods, module-level runners for
``convlab.sweep(..., static=...)``, and a per-process cache of the two expensive measurements
(NOTES.md, "Engine notes")."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable

import jax
import jax.flatten_util
import numpy as np

import convlab
from convlab import plots
from convlab.methods import bilevel as methods
from theory_checks.generators import load

problems = load("bilevel")

CITE = "Hao, Gong & Liu, ICLR 2024 (arXiv 2401.09587)"
CITE_MULTIBLOCK = ("Hu, Qiu, Guo, Zhang & Yang, ICML 2023, 'Blockwise Stochastic Variance-Reduced "
                   "Methods with Parallel Speedup for Multi-Block Bilevel Optimization'")
PROBLEM_SEED = 2401
SIGMA = 1.0            # oracle noise of the synthetic problems (upper and lower)
INIT = 2.0             # ‖x0‖_∞ of bo-rep-rate and periodic-update
# the schedule at r = 1 (K0 outer steps); NOTES.md derives how it scales with r = K / K0
BASE = dict(step_size=0.05, one_minus_beta=0.1, period=2, inner=2, lower_step=0.3, z_step=0.3,
            refine=100)
LABELS = {"bo_rep": "BO-REP", "stocbio": "StocBiO", "ttsa": "TTSA", "soba": "SOBA",
          "ma_soba": "MA-SOBA", "aid": "AID (exact solve)"}
FIGURE_METHODS = ("bo_rep", "stocbio", "ttsa", "soba", "ma_soba", "aid")


def seeds(n: int, salt: int) -> jax.Array:
    return jax.random.split(jax.random.key(salt), n)


# --- the synthetic problem and its methods --------------------------------------------------------
def synthetic(init_scale: float = INIT, kind: str = "exp") -> problems.SyntheticBilevel:
    """The synthetic problem of the rate, divergence and period claims (d = 10, p = 20, n = 256
    components per level)."""
    return problems.make_synthetic(jax.random.key(PROBLEM_SEED), kind=kind, init_scale=init_scale,
                                   sigma_f=SIGMA, sigma_g=SIGMA)


def z_radius(problem: Any) -> float:
    """``2 sup‖∇_y f‖/μ = 2/(μ√p)`` (synthetic problems)."""
    return 2.0 / (float(problem.mu) * np.sqrt(problem.dim_y))


def bo_rep_spec(r: float, radius: float, *, period: int | None = None,
                inner: int | None = None) -> dict[str, Any]:
    """BO-REP's arguments with the theory's schedule for ``K = r K0`` outer steps and z radius
    ``radius`` (the declaration the estimator claim's reference rule reads)."""
    return dict(step_size=BASE["step_size"] * r ** -0.75,
                momentum=1.0 - BASE["one_minus_beta"] * r ** -0.5,
                lower_step=BASE["lower_step"] * r ** -0.5, z_step=BASE["z_step"] * r ** -0.5,
                z_radius=radius, period=period or max(1, round(BASE["period"] * r ** 0.5)),
                inner_steps=inner or max(1, round(BASE["inner"] * r ** 0.5)),
                refine_steps=int(round(BASE["refine"] * r ** 0.5)))


def bo_rep_schedule(r: float, radius: float, *, period: int | None = None,
                    inner: int | None = None) -> Any:
    """BO-REP with the theory's schedule for ``K = r K0`` outer steps and z radius ``radius``."""
    return methods.bo_rep(**bo_rep_spec(r, radius, period=period, inner=inner))


def scheduled_bo_rep(r: float, problem: Any, *, period: int | None = None,
                     inner: int | None = None) -> Any:
    """BO-REP with the theory's schedule for ``K = r K0`` outer steps on ``problem``."""
    return bo_rep_schedule(r, z_radius(problem), period=period, inner=inner)


def soba_at(eta: Any) -> Any:
    """SOBA (fixed steps) at step ``eta``, the lower steps of the schedule at r = 1."""
    return methods.soba(eta, lower_step=BASE["lower_step"], z_step=BASE["z_step"])


_G = BASE["lower_step"]
BASELINES = {  # the baselines' arguments on the synthetic problems (declared once, read by the
    # stationarity figure, `convlab run bilevel` and the estimator claim's reference rules)
    "stocbio": dict(step_size=0.1, lower_step=_G, neumann_step=_G, inner_steps=4, neumann_terms=5,
                    batch_upper=4, batch_lower=4, batch_hessian=4),
    "ttsa": dict(step_size=0.05, lower_step=_G, neumann_step=_G, neumann_terms=5),
    "soba": dict(step_size=0.05, lower_step=_G, z_step=_G),
    "ma_soba": dict(step_size=0.05, averaging=0.1, lower_step=_G, z_step=_G),
    "aid": dict(step_size=0.1, lower_step=_G, inner_steps=4, refine_steps=50),
}


def synthetic_baseline(name: str) -> Any:
    """The baselines of the stationarity figure and ``convlab run bilevel``."""
    return getattr(methods, name)(**BASELINES[name])


def synthetic_run(key, hp, problem, *, method: str, steps: int, every: int, r: float = 1.0,
                  radius: float = 0.0, period: int | None = None, inner: int | None = None,
                  factory: Callable[..., Any] = bo_rep_schedule):
    """One run on a synthetic problem: ``bo_rep`` (``factory``'s method for ``r``: the schedule,
    or a broken variant for a negative control), ``soba_at`` (SOBA at ``hp["eta"]``) or a
    baseline of :func:`synthetic_baseline`."""
    if method == "bo_rep":
        m = factory(r, radius, period=period, inner=inner)
    else:
        m = soba_at(hp["eta"]) if method == "soba_at" else synthetic_baseline(method)
    return convlab.run(m, problem, problem.start, key=key, num_steps=steps, record_every=every)


def sweep_synthetic(problem: Any, keys: jax.Array, *, steps: int, records: int,
                    grid: dict | None = None, **spec: Any) -> Any:
    """:func:`synthetic_run` for every seed (and grid point) in one sweep, ``records`` records;
    ``spec`` (method, r, radius, period, inner) is static."""
    every = max(1, steps // records)
    steps = every * (steps // every)
    return convlab.sweep(synthetic_run, keys, grid, data=problem,
                         static=dict(steps=steps, every=every, **spec))


def calls_per_step(method: Any, problem: Any) -> float:
    """Oracle calls per step in the steady state (after the refinement), from the static options
    (the counts every ``info["oracle_calls"]`` reports; tested)."""
    o = dict(method.options)
    if method.name == "aid":
        dim_y = sum(np.size(leaf) for leaf in jax.tree.leaves(problem.y0))
        return problem.n_upper + (o["inner_steps"] + dim_y + 1) * problem.n_lower
    if method.name in ("soba", "ma_soba"):
        return o["batch_lower"] + o["batch_upper"] + 2 * o["batch_hessian"]
    if method.name == "bo_rep":
        return o["batch_upper"] + 2 * o["batch_hessian"] + o["inner_steps"] * o["batch_lower"] / o["period"]
    return o["batch_upper"] + o["neumann_terms"] * o["batch_hessian"] + o["inner_steps"] * o["batch_lower"]


# --- the applications (hyper-representation, hyper-cleaning) -----------------------------------------
APP_BATCH = 8
APP_GRIDS = {  # step sizes tried per method and application (each keeps its best, in hindsight)
    "representation": {"bo_rep": (0.01, 0.03, 0.1, 0.3, 1.0),
                       "stocbio": (0.1, 0.3, 1.0, 3.0, 10.0), "ttsa": (0.1, 0.3, 1.0, 3.0, 10.0),
                       "soba": (0.1, 0.3, 1.0, 3.0, 10.0), "ma_soba": (0.1, 0.3, 1.0, 3.0, 10.0),
                       "aid": (1.0, 3.0, 10.0, 30.0, 100.0)},
    "cleaning": {"bo_rep": (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0),
                 "stocbio": (3.0, 10.0, 30.0, 100.0, 300.0), "ttsa": (1.0, 3.0, 10.0, 30.0, 100.0),
                 "soba": (3.0, 10.0, 30.0, 100.0, 300.0), "ma_soba": (1.0, 3.0, 10.0, 30.0, 100.0),
                 "aid": (100.0, 300.0, 1000.0, 3000.0, 10000.0)},
}
APP_METRICS = {"representation": {"phi": problems.upper_value},
               "cleaning": {"accuracy": problems.test_accuracy}}


def app_method(name: str, eta: Any, app: str) -> Any:
    """The methods of the applications claim (the paper code's structural defaults: I = 2,
    N = 3 on hyper-representation, N = 10 on hyper-cleaning; mini-batches of 8)."""
    b = APP_BATCH
    gamma = 0.1
    inner = 3 if app == "representation" else 10
    batches = dict(batch_upper=b, batch_lower=b, batch_hessian=b)
    if name == "bo_rep":
        return methods.bo_rep(eta, momentum=0.9, lower_step=gamma, z_step=gamma, period=2,
                              inner_steps=inner, refine_steps=50, **batches)
    if name == "stocbio":
        return methods.stocbio(eta, lower_step=gamma, neumann_step=gamma, inner_steps=inner,
                               refine_steps=50, neumann_terms=5, **batches)
    if name == "ttsa":
        return methods.ttsa(eta, lower_step=gamma, neumann_step=gamma, neumann_terms=5,
                            refine_steps=50, **batches)
    if name == "soba":
        return methods.soba(eta, lower_step=gamma, z_step=gamma, **batches)
    if name == "ma_soba":
        return methods.ma_soba(eta, averaging=0.1, lower_step=gamma, z_step=gamma, **batches)
    return methods.aid(eta, lower_step=gamma, inner_steps=inner, refine_steps=50)


def app_problem(app: str, **sizes: Any) -> Any:
    """The hyper-representation or hyper-cleaning instance of the given sizes."""
    key = jax.random.key(PROBLEM_SEED)
    if app == "representation":
        return problems.make_hyper_representation(key, **sizes)
    return problems.make_hyper_cleaning(key, **sizes)


def app_run(key, hp, problem, *, name: str, app: str, steps: int, every: int):
    """One application run at step ``hp["eta"]``, recording only the judged metric (the other
    default metrics would only add compile time)."""
    return convlab.run(app_method(name, hp["eta"], app), problem, problem.start, key=key,
                       num_steps=steps, record_every=every, metrics=APP_METRICS[app])


def app_sweep(name: str, app: str, problem: Any, *, steps: int, records: int,
              keys: jax.Array) -> Any:
    """One compiled sweep over the step grid × seeds (results are small: no chunking)."""
    every = max(1, steps // records)
    steps = every * (steps // every)
    return convlab.sweep(app_run, keys, {"eta": np.asarray(APP_GRIDS[app][name])}, data=problem,
                         static=dict(name=name, app=app, steps=steps, every=every), chunk_size=None)


def cleaning_references(problem: problems.HyperCleaning) -> dict[str, float]:
    """Clean test error of ``y*(x)`` with uniform weights (``x = 0``, every method's start) and
    with the oracle cleaner (weight 1 on clean, 0 on flipped examples)."""
    err = lambda x: 1.0 - float(problem.accuracy(x))
    return {"uniform": err(jax.numpy.zeros_like(problem.x0)), "oracle": err(problem.oracle_x())}


def time_run(method: Any, problem: Any, steps: int) -> float:
    """Seconds of a compiled run of ``steps`` steps (the second, warm call)."""
    every = max(1, steps // 10)
    steps = every * (steps // every)
    run = lambda: jax.block_until_ready(convlab.run(method, problem, problem.start, key=jax.random.key(0),
                                                    num_steps=steps, record_every=every))
    run()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclasses.dataclass(frozen=True)
class MethodResult:
    """One method on one application, at its best step of the grid."""

    loss: np.ndarray        # final loss per seed (inf: diverged)
    eta: float              # the best step
    all_loss: np.ndarray    # mean final loss per step of the grid
    calls: np.ndarray       # oracle calls of the records
    grid: tuple[float, ...]
    curve: np.ndarray       # the recorded metric at the best step, [seed, record]
    steps: int


@dataclasses.dataclass(frozen=True)
class AppResult:
    methods: dict[str, MethodResult]
    metric: str                                  # "phi" or "test error"
    reference: dict[str, float] | None = None    # cleaning: uniform / oracle-clean test error


def draw_app_curves(axes: Any, apps: dict[str, AppResult],
                    seconds: dict[str, dict[str, float]] | None = None) -> None:
    """One panel per application: every method's median curve against oracle calls, or against
    wall-clock ``seconds[app][method]`` spread linearly along the trace."""
    for ax, (app, res) in zip(axes, apps.items()):
        for i, (name, r) in enumerate(res.methods.items()):
            x = r.calls if seconds is None else np.linspace(0.0, seconds[app][name], r.calls.size)
            y = r.curve if app == "representation" else 1.0 - r.curve
            plots.error_curves(ax, x, y, color=f"C{i}", label=f"{LABELS[name]} (η = {r.eta:g})")
        for (what, err), style in zip((res.reference or {}).items(), ("--", ":")):
            ax.axhline(err, color="0.3", ls=style, lw=1.0,
                       label=f"{what} weights, exact y* ({err:.3f})" if what == "uniform" else
                       f"oracle-clean weights, exact y* ({err:.3f})")
        ax.set_xscale("log" if seconds is None else "linear")
        ax.set_xlabel("seconds (compiled run, spread linearly along the trace)" if seconds is not None
                      else "oracle calls")
        ax.set_ylabel("upper objective Φ(x)" if app == "representation" else "clean test error of y*(x)")
        ax.set_title("hyper-representation (flax RNN)" if app == "representation" else
                     "data hyper-cleaning", fontsize=9)
        ax.legend(fontsize=6)



# --- the applications in the paper's regime and code-faithful (issue 16) ----------------------------
# One step grid for every method (the paper tuned every method on one grid {0.001 … 0.5}); a best
# step at an edge widens every method's grid alike by one point (:func:`tune`).
REGIME_GRIDS = {  # per application, shared by every method: ×√10 apart
    "meta": tuple(float(v) for v in np.round(np.logspace(-3, 0, 7), 12)),            # 1e-3 … 1
    "rnn_cleaning": tuple(float(v) for v in np.round(np.logspace(-3, 2, 11), 12)),   # 1e-3 … 100
}
REGIME_METHODS = ("bo_rep", "stocbio", "ttsa", "soba", "ma_soba")
WIDEN = 10 ** 0.5      # factor of one added grid point
MAX_WIDENINGS = 2
FROZEN = 1e-12      # BO-REP's step for the weights-never-move reference (a step must be > 0)
# the paper code's structural defaults: β = 0.9, I = 2; N = 3 (meta-learning), N = 10 (cleaning)
REGIME_INNER = {"meta": 3, "rnn_cleaning": 10}
REGIME_BATCH = 5
REGIME_LOWER_STEP = {"meta": 0.1, "rnn_cleaning": 0.5}   # lower and linear-system steps, alike for all
REGIME_REFINE = 20


def regime_method(name: str, eta: Any, app: str) -> Any:
    """The methods of the regime claims, at upper step ``eta`` (everything else shared)."""
    b, g, n = REGIME_BATCH, REGIME_LOWER_STEP[app], REGIME_INNER[app]
    batches = dict(batch_upper=b, batch_lower=b, batch_hessian=b)
    if name == "bo_rep":
        return methods.bo_rep(eta, momentum=0.9, lower_step=g, z_step=g, period=2, inner_steps=n,
                              refine_steps=REGIME_REFINE, **batches)
    if name == "stocbio":
        return methods.stocbio(eta, lower_step=g, neumann_step=g, inner_steps=n,
                               refine_steps=REGIME_REFINE, neumann_terms=3, **batches)
    if name == "ttsa":
        return methods.ttsa(eta, lower_step=g, neumann_step=g, neumann_terms=3,
                            refine_steps=REGIME_REFINE, **batches)
    if name == "soba":
        return methods.soba(eta, lower_step=g, z_step=g, **batches)
    if name == "ma_soba":
        return methods.ma_soba(eta, averaging=0.1, lower_step=g, z_step=g, **batches)
    raise ValueError(f"method must be one of {REGIME_METHODS}, got {name!r}")


def regime_steps(name: str, app: str, problem: Any, budget: int, records: int) -> tuple[int, int]:
    """``(steps, every)``: as many steps as ``budget`` oracle calls pay for, the refinement's
    calls included (equal budgets; the measured final counts are reported)."""
    m = regime_method(name, 1.0, app)
    refine = dict(m.options).get("refine_steps", 0) * dict(m.options)["batch_lower"]
    steps = max(records, int((budget - refine) / calls_per_step(m, problem)))
    every = max(1, steps // records)
    return every * (steps // every), every


def flat_x(problem: Any, point: Any) -> jax.Array:
    """The upper iterate, flattened (recorded so that Φ, ‖∇Φ‖ and the local smoothness are
    computed afterwards by one compiled program for every method, not compiled into each run)."""
    return jax.flatten_util.ravel_pytree(point.x)[0]


REGIME_METRICS = {"meta": {"x": flat_x}, "rnn_cleaning": {"accuracy": problems.lower_test_accuracy}}


@jax.jit
def premise_at(problem: Any, flat: jax.Array) -> dict[str, jax.Array]:
    """Φ, ‖∇Φ‖ and the local smoothness ‖∇Φ(x + δ) - ∇Φ(x)‖/‖δ‖ at flattened iterates
    ``flat [..., dim_x]`` (vmapped; non-finite iterates give non-finite values)."""
    unravel = jax.flatten_util.ravel_pytree(problem.x0)[1]

    def one(v):
        point = methods.BilevelPoint(unravel(v), problem.y0)
        return {"phi": problems.upper_value(problem, point),
                "hypergrad_norm": problems.hypergrad_norm(problem, point),
                "smoothness": problems.local_smoothness(problem, point)}

    lead = flat.shape[:-1]
    out = jax.vmap(one)(flat.reshape(-1, flat.shape[-1]))
    return {k: v.reshape(lead) for k, v in out.items()}


def regime_run(key, hp, problem, *, name: str, app: str, steps: int, every: int):
    """One regime-claim run at upper step ``hp["eta"]``."""
    return convlab.run(regime_method(name, hp["eta"], app), problem, problem.start, key=key,
                       num_steps=steps, record_every=every, metrics=REGIME_METRICS[app])


def regime_sweep(name: str, app: str, problem: Any, grid: tuple[float, ...], *, steps: int,
                 every: int, keys: jax.Array) -> Any:
    """One compiled sweep of one method over ``grid`` × seeds."""
    return convlab.sweep(regime_run, keys, {"eta": np.asarray(grid, dtype=float)}, data=problem,
                         static=dict(name=name, app=app, steps=steps, every=every), chunk_size=None)


@dataclasses.dataclass(frozen=True)
class Tuned:
    """One method tuned on the shared grid: the final loss per grid step and seed (inf:
    diverged), the recorded traces (``[eta, seed, record]`` per metric), oracle calls of the
    records, the sweep's seconds (compile included) and its warm per-run seconds."""

    grid: tuple[float, ...]
    loss: np.ndarray                 # [eta, seed]
    traces: dict[str, np.ndarray]    # metric -> [eta, seed, record]
    calls: np.ndarray                # [record]
    steps: int

    @property
    def best(self) -> int:
        return int(np.argmin(np.mean(self.loss, axis=1)))

    @property
    def eta(self) -> float:
        return self.grid[self.best]

    @property
    def at_edge(self) -> str | None:
        """"low"/"high" when the best step is the grid's first/last point (all-inf losses never
        count as an edge hit: a method diverged everywhere is judged as such)."""
        if not np.any(np.isfinite(np.mean(self.loss, axis=1))):
            return None
        return "low" if self.best == 0 else "high" if self.best == len(self.grid) - 1 else None


def _losses(traces: dict[str, np.ndarray], diverged: np.ndarray, metric: str) -> np.ndarray:
    final = traces[metric][..., -1]
    loss = final if metric != "accuracy" else 1.0 - final
    return np.where(diverged >= 0, np.inf, np.nan_to_num(loss, nan=np.inf, posinf=np.inf))


def tune(app: str, problem: Any, *, budget: int, records: int, keys: jax.Array, metric: str,
         methods_: tuple[str, ...] = REGIME_METHODS, reference: bool = False
         ) -> tuple[dict[str, Tuned], list[dict], dict[str, float]]:
    """Every method on the application's shared grid (:data:`REGIME_GRIDS`) at ``budget`` calls; while some method's best
    step sits at an edge, every method's grid is widened alike by one point on that side (at most
    :data:`MAX_WIDENINGS` times). Returns the tuned methods, the edge hits of each round and each
    method's measured execution seconds per run (its sweep's wall-clock less JAX's compile time,
    over the runs of the sweep: every method's sweep has the same batch shape). ``reference``:
    the first method also runs at step :data:`FROZEN` (x moves at most ``steps · 1e-12``: the
    no-upper-update reference; step 0 is rejected by the methods), kept under ``"<name>@0"``."""
    from theory_checks.verdict import compile_seconds_so_far

    grid = tuple(REGIME_GRIDS[app])
    done: dict[str, Tuned] = {}
    hits: list[dict] = []
    seconds: dict[str, float] = {}
    new_points = grid
    for round_ in range(MAX_WIDENINGS + 1):
        for name in methods_:
            points = ((FROZEN,) + new_points) if reference and round_ == 0 and name == methods_[0] else new_points
            steps, every = regime_steps(name, app, problem, budget, records)
            wall, compiled = time.perf_counter(), compile_seconds_so_far()
            trace = jax.block_until_ready(regime_sweep(name, app, problem, points, steps=steps,
                                                       every=every, keys=keys))
            run_s = time.perf_counter() - wall - (compile_seconds_so_far() - compiled)
            seconds.setdefault(name, run_s / (len(points) * keys.shape[0]))
            if "x" in trace.metrics:   # Φ, ‖∇Φ‖, local smoothness from the recorded iterates
                traces = {k: np.asarray(v) for k, v in premise_at(problem, trace["x"]).items()}
            else:
                traces = {k: np.asarray(v) for k, v in trace.metrics.items()}
            loss = _losses(traces, np.asarray(trace.diverged), metric)
            calls = np.asarray(trace.oracle_calls)[0, 0]
            if len(points) > len(new_points):   # split off the step-0 reference
                done[f"{name}@0"] = Tuned((FROZEN,), loss[:1], {k: v[:1] for k, v in traces.items()}, calls, steps)
                loss, traces = loss[1:], {k: v[1:] for k, v in traces.items()}
            if name in done:  # merge the added points in grid order
                old = done[name]
                order = np.argsort(np.asarray(old.grid + new_points))
                cat = lambda a, b: np.concatenate([a, b], axis=0)[order]
                done[name] = Tuned(tuple(float(v) for v in np.asarray(old.grid + new_points)[order]),
                                   cat(old.loss, loss), {k: cat(old.traces[k], traces[k]) for k in traces},
                                   calls, steps)
            else:
                done[name] = Tuned(grid, loss, traces, calls, steps)
        grid = done[methods_[0]].grid
        edges = {name: done[name].at_edge for name in methods_ if done[name].at_edge}
        hits.append(edges)
        if not edges or round_ == MAX_WIDENINGS:
            break
        sides = set(edges.values())
        new_points = tuple(([grid[0] / WIDEN] if "low" in sides else []) +
                           ([grid[-1] * WIDEN] if "high" in sides else []))
    return done, hits, seconds


# --- a per-process cache of the expensive measurements -------------------------------------------------
_SHARED: dict[str, Any] = {}


def shared(name: str, measure: Callable[..., Any], **sizes: Any) -> Any:
    """``measure(**sizes)``, computed once per process for each ``(name, sizes)``: the
    applications and multi-block measurements (~50 s each at quick size) are drawn again by
    their figure groups."""
    key = name + json.dumps(sizes, sort_keys=True, default=repr)
    if key not in _SHARED:
        _SHARED[key] = measure(**sizes)
    return _SHARED[key]
