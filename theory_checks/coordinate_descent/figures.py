"""Figure group ``rules`` of ``convlab figures coordinate_descent``: the gap of each of the four
rules against iteration on heterogeneous chain and dense quadratics, with each rule's bound
``(1 - rate)^k`` dashed (random rules: the bound on the expected gap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convlab import plots
from theory_checks.coordinate_descent import FAMILY
from theory_checks.coordinate_descent import instances as I


def rule_curves(kind: str, *, seeds: int, steps: int) -> dict[str, Any]:
    batch = I.make_batch(kind, seeds_=seeds, salt=201)
    c = I.batch_constants(batch)
    out = {}
    for r, rule in enumerate(I.RULES):
        k, g = I.run_batch(I.default_method(rule), batch, salt=202 + r, steps=steps, record_every=10)
        out[rule] = (k, g / g[:, :1], np.median(I.rate_constant(rule, c, I.DIM)))
    return out


def draw_rules(curves: dict[str, dict], fig: Any) -> None:
    fig.clear()
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (kind, per_rule) in zip(axes, curves.items()):
        for r, (rule, (k, g, rate)) in enumerate(per_rule.items()):
            plots.error_curves(ax, k, np.maximum(g, 1e-300), label=I.RULE_NAMES[rule], color=f"C{r}")
            plots.bound_curve(ax, k, (1.0 - rate) ** k, label=None, color=f"C{r}")
        ax.set_ylim(1e-14, 2.0)
        ax.set_xlabel("k")
        ax.set_title(f"{kind}, n = {I.DIM}, L_i over [1, 1e3]", fontsize=9)
    axes[0].set_ylabel("gap_k / gap_0 (dashed: each rule's bound, median constant)")
    axes[0].legend(fontsize=6)


def make_rules_figure(out_dir: Any, quick: bool) -> list[str]:
    """Figure group ``rules``: ``<out_dir>/coordinate_descent.rules.png``."""
    seeds, steps = (4, 20000) if quick else (16, 200000)
    curves = {kind: rule_curves(kind, seeds=seeds, steps=steps) for kind in ("chain", "dense")}
    fig, _ = plots.new_figure(width=10.0, height=4.5)
    draw_rules(curves, fig)
    return [str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.rules.png"))]


FIGURES = {"rules": make_rules_figure}
