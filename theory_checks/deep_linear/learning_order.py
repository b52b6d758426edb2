"""deep_linear.learning-order: modes are learned in order of their singular value (stronger
first): for every adjacent pair s_α > s_α+1, t_half(α) < t_half(α+1), from decoupled and from
small Gaussian init. Saxe et al. 2014, §2 after eq. (12), Fig. 3. [text]"""

from __future__ import annotations

import dataclasses

import numpy as np

import convlab
from theory_checks import kinds
from theory_checks.deep_linear import instances as I
from theory_checks.verdict import Verdict

ID, KIND = "deep_linear.learning-order", "ordering"
CITATION = I.CITE + ", §2 (after eq. 12), Fig. 3"
STATEMENT = ("modes are learned in order of s: t_half(s_α) < t_half(s_α+1) for every adjacent "
             "pair, decoupled and small Gaussian init (s geometric in [0.5, 6])")
SIZES = {"quick": dict(seeds=6, modes=8, hidden=32, eta=0.005, t_max=24.0),
         "full": dict(seeds=24, modes=8, hidden=32, eta=0.0025, t_max=24.0)}
INITS = ("decoupled", "gaussian")
U0, EPSILON = 1e-3, 1e-4


@dataclasses.dataclass(frozen=True)
class Evidence:
    s: np.ndarray        # truth labels, [init, seed, mode]
    t_half: np.ndarray   # [init, seed, mode]
    eta: float
    hidden: int
    t_max: float


def _measure(*, seeds: int, modes: int, hidden: int, eta: float, t_max: float,
             make_problem=None) -> Evidence:
    steps = int(round(t_max / eta))
    # both inits in one compiled program (decoupled and Gaussian selected by a grid value),
    # shared with half-time-inverse-s (same static sizes)
    trace, extra = convlab.sweep(
        I.mode_run, I.seeds(seeds, 31),
        {"eta": np.array([eta]), "geometric": np.array([1.0]), "gaussian": np.array([0.0, 1.0])},
        static=dict(modes=modes, hidden=hidden, init="by_grid", u0=U0, init_scale=EPSILON,
                    depth=2, steps=steps, record_every=2, spectrum="by_grid",
                    make_method=I.plain_gd, make_problem=make_problem))
    t = I.record_axis(trace) * eta
    target = np.asarray(extra["target"])[0, 0]                       # [init, seed, mode]
    t_half = I.crossing_times(t, np.asarray(trace["modes"])[0, 0], target / 2.0)
    s_all = np.asarray(extra["s"])[0, 0]
    return Evidence(s_all, t_half, float(eta), int(hidden), float(t_max))


def measure(*, seeds: int, modes: int, hidden: int, eta: float, t_max: float) -> Evidence:
    return _measure(seeds=seeds, modes=modes, hidden=hidden, eta=eta, t_max=t_max)


def judge(ev: Evidence) -> Verdict:
    parts = {}
    for i, init in enumerate(INITS):
        order = np.argsort(-ev.s[i], axis=-1)          # by the truth labels, strongest first
        t = np.take_along_axis(ev.t_half[i], order, axis=-1)
        s = np.take_along_axis(ev.s[i], order, axis=-1)[0]
        for a in range(s.size - 1):
            parts[f"{init}: s = {s[a]:.3g} before {s[a + 1]:.3g}"] = kinds.ordering(
                t[:, a], t[:, a + 1], names=(f"s={s[a]:.3g}", f"s={s[a + 1]:.3g}"),
                what="half-learning time")
    primary = max(parts, key=lambda name: parts[name].measured)  # the closest pair
    return kinds.combine(parts, primary)


def draw(ev: Evidence, verdict: Verdict, fig) -> None:
    ax = fig.axes[0]
    for i, init in enumerate(INITS):
        order = np.argsort(-ev.s[i, 0])
        s = ev.s[i, 0][order]
        t = ev.t_half[i][:, order]
        ax.plot(np.arange(s.size), t.mean(axis=0), "o-", color=f"C{i}", label=f"{init} init")
        ax.fill_between(np.arange(s.size), t.min(axis=0), t.max(axis=0), color=f"C{i}", alpha=0.2)
    ax.set_xticks(np.arange(s.size), [f"{v:.2g}" for v in s], fontsize=7)
    ax.set_xlabel("mode (singular value s, descending)")
    ax.set_ylabel("t_half (mean, min-max over seeds)")
    ax.set_title(f"learning order: {verdict.status} (closest pair t ratio {verdict.measured:.3f})",
                 fontsize=9)
    ax.legend(fontsize=7)


def negative_controls(ev: Evidence):
    """A generator pairing the singular values with the singular vectors in reverse order
    (its truth still says s_α on mode α), run through the measure path; and the seeds' times
    with the two weakest modes' times swapped."""
    yield "s paired in reverse", _measure(seeds=ev.s.shape[1], modes=ev.s.shape[2],
                                          hidden=ev.hidden, eta=ev.eta, t_max=ev.t_max,
                                          make_problem=I.reversed_target_problem)
    swapped = ev.t_half.copy()
    weakest = np.argsort(ev.s[1, 0])[:2]
    swapped[1][:, weakest] = swapped[1][:, weakest[::-1]]
    yield "two weakest modes' times swapped", dataclasses.replace(ev, t_half=swapped)
