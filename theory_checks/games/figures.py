"""Figure group ``toy_phase`` of ``convlab figures games``: the toy game's flow leaves the
Euclidean ball but stays inside the SGN ellipse ``||x||_M = ||x_0||_M``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

import convlab
from convlab import plots
from convlab.methods import game_dynamics
from theory_checks.games import FAMILY
from theory_checks.games.certificate import Region, certify
from theory_checks.generators import load

games = load("games")

TOY_STEPS, TOY_H = 2000, 0.005  # RK4 with h = 0.005: the flow up to t = 10


def toy_trajectory() -> dict[str, Any]:
    """The toy game in its SGN weights, RK4 with a small step: the flow up to t = 10."""
    game = games.make_toy_game(jax.random.key(0))
    cert = certify(game, Region(np.zeros(2), 1.0))
    game = games.with_weights(game, cert.weights)
    trace = convlab.run(game_dynamics.rk4(TOY_H), game, game.x0, key=jax.random.key(0),
                        num_steps=TOY_STEPS, metrics={"x1": games.coordinate_0, "x2": games.coordinate_1,
                                                      "m_norm": games.m_norm,
                                                      "distance": games.euclidean_norm})
    return {"x1": np.asarray(trace["x1"]), "x2": np.asarray(trace["x2"]),
            "m_norm": np.asarray(trace["m_norm"]), "distance": np.asarray(trace["distance"]),
            "t": np.asarray(trace.k) * TOY_H, "weights": cert.weights, "alpha": cert.alpha}


def draw_toy(tr: dict[str, Any], fig: Any) -> None:
    """Euclidean view, SGN view and both norms along the flow."""
    fig.clear()
    fig.set_size_inches(11.0, 4.0)
    ax, bx, cx = fig.subplots(1, 3)
    w = tr["weights"]
    t = np.linspace(0, 2 * np.pi, 400)
    r0 = tr["distance"][0]
    e0 = tr["m_norm"][0]
    for axis, title in ((ax, "Euclidean view: leaves the ball"), (bx, "SGN view: stays in the ellipse")):
        axis.plot(tr["x1"], tr["x2"], color="C3", linewidth=1.5, label="flow (RK4, h = 0.005)")
        axis.plot(tr["x1"][0], tr["x2"][0], "ko", markersize=4, label="start")
        axis.axhline(0.0, color="0.7", linewidth=0.6)
        axis.axvline(0.0, color="0.7", linewidth=0.6)
        axis.set_xlabel("x1")
        axis.set_ylabel("x2")
        axis.set_title(title, fontsize=9)
    ax.plot(r0 * np.cos(t), r0 * np.sin(t), "C0--", label="Euclidean ball ||x|| = ||x_0||")
    ax.set_xlim(-0.3, 0.9)
    ax.set_ylim(-0.6, 0.6)
    ax.set_aspect("equal")
    bx.plot(e0 / np.sqrt(w[0]) * np.cos(t), e0 / np.sqrt(w[1]) * np.sin(t), "C0--",
            label=f"SGN ellipse ||x||_M = ||x_0||_M, w = (1, {w[1]:.0f})")
    bx.set_xlim(-2.4, 2.4)
    bx.set_ylim(-0.6, 0.6)
    for axis in (ax, bx):
        axis.legend(fontsize=7, loc="upper right")
    cx.semilogy(tr["t"], tr["distance"] / r0, color="C3", label="||x(t)|| / ||x_0||")
    cx.semilogy(tr["t"], tr["m_norm"] / e0, color="C0", label="||x(t)||_M / ||x_0||_M")
    cx.semilogy(tr["t"], np.exp(-tr["alpha"] * tr["t"]), "k--", label=f"e^(-α t), α = {tr['alpha']:.4f}")
    cx.set_xlabel("t")
    cx.set_title("norms along the flow", fontsize=9)
    cx.legend(fontsize=7)
    fig.suptitle("toy game f1 = ½x1² + 10 x1x2, f2 = ½x2² + 0.05 x1x2", fontsize=10)


def make_toy_figure(out_dir: Any, quick: bool) -> list[str]:
    """Figure group ``toy_phase``: ``<out_dir>/games.toy_phase.png``."""
    del quick  # the same tiny run either way
    fig, _ = plots.new_figure()
    draw_toy(toy_trajectory(), fig)
    return [str(plots.save_figure(fig, Path(out_dir) / f"{FAMILY}.toy_phase.png"))]


FIGURES = {"toy_phase": make_toy_figure}
