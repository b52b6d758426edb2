"""Figure groups of ``convlab figures matrix_sensing``: the four cases side by side, the α sweep
of asymmetric k > r GD, and the one-step modification against plain GD. They reuse the claims'
sweeps through the cache of :mod:`instances` where the configuration covers them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import NullFormatter

from convlab import plots
from theory_checks.matrix_sensing import FAMILY
from theory_checks.matrix_sensing import asymmetric_exact_linear as asym_exact
from theory_checks.matrix_sensing import asymmetric_over_alpha2 as alpha2
from theory_checks.matrix_sensing import instances as I
from theory_checks.matrix_sensing import one_step_alpha_free as one_step
from theory_checks.matrix_sensing import symmetric_exact_linear as sym_exact
from theory_checks.matrix_sensing import symmetric_over_sublinear as sublinear

# figure-only sizes: the over-parameterized widths shown and the four-cases horizon
WIDTHS = {"quick": (3,), "full": (5, 10)}
HORIZON = {"quick": 4000, "full": 20000}


def _mode(quick: bool) -> str:
    return "quick" if quick else "full"


def _save(fig: Any, out_dir: Any, name: str) -> str:
    return str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.{name}.png"))


def _setup(sizes: dict[str, Any]) -> I.Setup:
    return I.Setup(*(sizes[f] for f in ("seeds", "n", "r", "m", "eta", "alpha")))


def _four_case_run(param: str, width: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(k, err [seed, record])`` of GD at α = the problem's α up to the horizon, cut from the
    claims' (cached) sweeps where their configuration covers it, else swept here."""
    over, plain = sublinear.SIZES[mode], alpha2.SIZES[mode]
    exact = (sym_exact if param == "symmetric" else asym_exact).SIZES[mode]
    setup, horizon = _setup(exact), HORIZON[mode]
    row = 0
    if param == "symmetric" and width == over["k"] and over["steps"] >= horizon:
        run = I.sweep(setup, param, width, "gd", over["steps"], over["record_every"], (setup.alpha,))
    elif (param == "asymmetric" and width == plain["k"] and setup.alpha in plain["alphas"]
          and plain["steps"] >= horizon):
        run = I.sweep(setup, param, width, "gd", plain["steps"], plain["record_every"],
                      tuple(plain["alphas"]))
        row = list(plain["alphas"]).index(setup.alpha)
    else:
        run = I.sweep(setup, param, width, "gd", horizon, plain["record_every"], (setup.alpha,))
    cut = run.k <= horizon
    return run.k[cut], run.err[row][:, cut]


def four_cases(out_dir: Any, quick: bool) -> list[str]:
    """Log error vs iteration for the four cases side by side (same η, α, horizon; seed bands)."""
    mode = _mode(quick)
    s = sym_exact.SIZES[mode]
    fig, axes = plots.new_figure(4, 1, width=3.6, height=3.4)
    cases = [("symmetric", "k = r"), ("symmetric", "k > r"), ("asymmetric", "k = r"),
             ("asymmetric", "k > r")]
    for ax, (param, which) in zip(axes, cases):
        widths = (s["r"],) if which == "k = r" else WIDTHS[mode]
        for j, width in enumerate(widths):
            k, err = _four_case_run(param, width, mode)
            plots.error_curves(ax, k, err, label=f"k = {width}",
                               color=f"C{j if which == 'k = r' else j + 1}")
        I.style_time_axes(ax, "||model - M*||_F / ||M*||_F" if ax is axes[0] else "")
        ax.set_title(f"{param}, {which} (r = {s['r']})", fontsize=9)
        ax.set_ylim(1e-16, 10.0)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"GD from a random init of scale α = {s['alpha']:g}, η = {s['eta']:g}, "
                 f"n = {s['n']}: median and 10–90% band over {s['seeds']} seeds", fontsize=10)
    return [_save(fig, out_dir, "four_cases")]


def alpha_sweep(out_dir: Any, quick: bool) -> list[str]:
    """Asymmetric over-parameterized GD for several α: larger α converges faster, rate ∝ α²."""
    ev = alpha2.measure(**alpha2.SIZES[_mode(quick)])
    verdict = alpha2.judge(ev)
    fig, axes = plots.new_figure(2, 1, width=5.0, height=4.0)
    I.draw_alpha_panels(ev, axes, exponent=2.0,
                        title=f"asymmetric GD, k = {ev.width} > r = {ev.setup.r}, G₀ at α/3")
    axes[1].set_title(f"fitted rate vs α: log-log slope {verdict.measured:.2f} (predicted 2)",
                      fontsize=9)
    return [_save(fig, out_dir, "alpha_sweep")]


def one_step_vs_plain(out_dir: Any, quick: bool) -> list[str]:
    """Modified vs plain GD across α: the modification removes the α dependence."""
    plain = alpha2.measure(**alpha2.SIZES[_mode(quick)])
    ev = one_step.measure(**one_step.SIZES[_mode(quick)])
    modified = ev.modified
    fig, axes = plots.new_figure(2, 1, width=5.0, height=4.0)
    left, right = axes
    horizon = modified.k[-1]
    for i, a in enumerate(modified.alphas):
        cut = plain.k <= horizon
        plots.error_curves(left, plain.k[cut], plain.err[i][:, cut], color=f"C{i}", band=None)
        left.lines[-1].set_linestyle("--")
        plots.error_curves(left, modified.k, modified.err[i], label=f"α = {a:g}", color=f"C{i}")
    left.plot([], [], "k--", label="plain GD")
    left.plot([], [], "k-", label="one-step modified")
    I.style_time_axes(left)
    left.set_title(f"asymmetric, k = {modified.width} > r = {modified.setup.r}", fontsize=9)
    left.legend(fontsize=7, loc="lower left", ncol=2)
    for run, marker, name in ((plain, "s", "plain GD"), (modified, "o", "one-step modified"),
                              (ev.exact, "^", "k = r, plain GD")):
        rates = I.rates(run)
        ci = np.array([(f.fit.ci_low, f.fit.ci_high) if f.fit is not None else (np.nan,) * 2
                       for f in run.fits])
        right.errorbar(run.alphas, rates, yerr=[rates - ci[:, 0], ci[:, 1] - rates],
                       fmt=marker + "-", capsize=3, label=name)
    right.set_xscale("log")
    right.set_yscale("log")
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel("init scale α")
    right.set_ylabel("fitted linear rate (per iteration)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    right.set_title("rate vs α: plain GD ∝ α², modified flat at the k = r rate", fontsize=9)
    return [_save(fig, out_dir, "one_step")]


FIGURES = {"four_cases": four_cases, "alpha_sweep": alpha_sweep, "one_step": one_step_vs_plain}
