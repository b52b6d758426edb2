"""Figure groups of ``convlab figures bilevel``: stationarity vs oracle calls for every method,
the weighted-ridge observation vs oracle calls and wall-clock seconds, and the multi-block speedup grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convlab import plots
from theory_checks.bilevel import bo_rep_rate, multiblock_speedup, ridge_observation
from theory_checks.bilevel import instances as I
from theory_checks.generators import load

problems = load("bilevel")


def _sizes(module: Any, quick: bool) -> dict[str, Any]:
    return dict(module.SIZES["quick" if quick else "full"])


def stationarity(out_dir: Any, quick: bool) -> list[str]:
    """Stationarity vs oracle calls (log-log), every method on the synthetic exp and quartic
    problems from a moderate start."""
    s = _sizes(bo_rep_rate, quick)
    fig, axes = plots.new_figure(ncols=2, width=5.0, height=4.0)
    for ax, kind in zip(axes, problems.SYNTHETIC_KINDS):
        p = I.synthetic(kind=kind)
        budget = s["K0"] * s["budgets"][2] * 4
        for i, name in enumerate(I.FIGURE_METHODS):
            r = s["budgets"][2]
            method = I.scheduled_bo_rep(r, p) if name == "bo_rep" else I.synthetic_baseline(name)
            spec = dict(method="bo_rep", r=r, radius=I.z_radius(p)) if name == "bo_rep" else dict(method=name)
            steps = max(40, int(budget / I.calls_per_step(method, p)))
            trace = I.sweep_synthetic(p, I.seeds(3, 7), steps=steps, records=40, **spec)
            calls = np.asarray(trace.oracle_calls)[0]
            pos = calls > 0
            plots.error_curves(ax, calls[pos], np.asarray(trace["hypergrad_norm"])[:, pos], color=f"C{i}",
                               label=I.LABELS[name], logx=True)
        ax.set_xlabel("oracle calls")
        ax.set_ylabel("||∇Φ(x_k)||")
        h = "cosh" if kind == "exp" else "u⁴/4 + u²/2"
        ax.set_title(f"synthetic, h = {h}, ||x0||_∞ = {I.INIT:g}", fontsize=9)
        ax.legend(fontsize=7)
    return [str(plots.save_figure(fig, Path(out_dir) / "bilevel.stationarity_vs_calls.png"))]


def applications_figure(out_dir: Any, quick: bool) -> list[str]:
    """The weighted-ridge observation (issue 16; formerly the applications claim): flax-RNN
    hyper-representation and ridge hyper-cleaning vs oracle calls and vs wall-clock seconds."""
    s = _sizes(ridge_observation, quick)
    ev = ridge_observation.measure(**s)
    seconds = {}
    for app, res in ev.apps.items():
        p = I.app_problem(app, **(s["rep"] if app == "representation" else s["clean"]))
        seconds[app] = {name: I.time_run(I.app_method(name, r.eta, app), p, r.steps)
                        for name, r in res.methods.items()}
    fig, axes = plots.new_figure(ncols=2, nrows=2, width=5.0, height=3.8)
    I.draw_app_curves(axes[0], ev.apps)
    I.draw_app_curves(axes[1], ev.apps, seconds)
    fig.suptitle("median over seeds (band 10-90%); wall-clock: each method's compiled run timed "
                 "once and spread linearly along its trace", fontsize=9)
    return [str(plots.save_figure(fig, Path(out_dir) / "bilevel.ridge_observation.png"))]


def multiblock(out_dir: Any, quick: bool) -> list[str]:
    """The speedup grid: iterations to ε against B (I = m) and against I (B large), log-log."""
    ev = multiblock_speedup.measure(**_sizes(multiblock_speedup, quick))
    fig, _ = plots.new_figure()
    multiblock_speedup.draw(ev, multiblock_speedup.judge(ev), fig)
    return [str(plots.save_figure(fig, Path(out_dir) / "bilevel.multiblock.png"))]


FIGURES = {"stationarity_vs_calls": stationarity, "ridge_observation": applications_figure,
           "multiblock": multiblock}
