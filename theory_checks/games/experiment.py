"""``convlab run games``: certify a game and run one method at ``h_rel`` x its largest certified
step; the summary compares the final ``||x_N - x*||_M`` ratio with the certified bound."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.validate import SEED_MAX, Choice, Float, Int, check_config, require_budget
from convlab.methods import game_dynamics
from theory_checks.games import instances as I
from theory_checks.games.certificate import Region, certify
from theory_checks.generators import load

games = load("games")

DEFAULTS = {"game": "lq", "method": "euler", "lam": 1.0, "h_rel": 0.5, "num_steps": 400,
            "record_every": 2, "seed": 0, "dim": 64}
GAMES = ("lq", "lq_random", "toy", "markov")
METHODS = ("euler", "rk4", "npg", "epg")
SCHEMA = {"game": Choice(*GAMES), "method": Choice(*METHODS), "lam": Float(0.0, 1e6, "right"),
          "h_rel": Float(0.0, np.inf, "right"), "num_steps": Int(1, 10**7), "record_every": Int(1),
          "seed": Int(0, SEED_MAX), "dim": Int(1, 10**4)}


def validate(config: dict[str, Any]) -> None:
    """Every key (used by the chosen game or not): types, ranges and a size budget."""
    check_config(config, SCHEMA)
    if (config["game"] == "markov") != (config["method"] in ("npg", "epg")):
        raise ValueError(f"method {config['method']!r} does not apply to game {config['game']!r} "
                         "(npg/epg: markov; euler/rk4: the quadratic games)")
    require_budget("dim", float(config["dim"]) ** 2, 1e8)
    require_budget("num_steps", float(config["num_steps"]) * config["dim"] ** 2, 1e12, "operations")


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """Certify a game and run one method at ``h_rel`` x its largest certified step."""
    name, method = config["game"], config["method"]
    if name not in GAMES:
        raise ValueError(f"game must be one of {GAMES}, got {name!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if (name == "markov") != (method in ("npg", "epg")):
        raise ValueError(f"method {method!r} does not apply to game {name!r} "
                         "(npg/epg: markov; euler/rk4: the quadratic games)")
    if not config["h_rel"] > 0:
        raise ValueError(f"h_rel must be > 0, got {config['h_rel']}")
    key = jax.random.key(config["seed"])
    if name == "lq":
        game = I.lq_game(config["lam"], dim=config["dim"], key=key)
        region = I.lq_region(config["dim"])
    elif name == "lq_random":
        game = games.make_random_lq_game(key, dim=config["dim"], lam=config["lam"],
                                         curvature_spread=I.ENSEMBLE_SPREAD)
        region = I.lq_region(config["dim"])
    elif name == "toy":
        game, region = games.make_toy_game(key), Region(np.zeros(2), 1.0)
    else:
        game = games.make_markov_game(key)
        region = Region(np.zeros(4), I.MARKOV_RADIUS)
    kw = ({"field": "natural_gradient", "base_metric": np.asarray(game.base_metric)}
          if method == "npg" else {})
    cert = certify(game, region, **kw)
    if not cert.certified:
        raise ValueError(f"SGN does not certify this game (α* = {cert.alpha:.4g} <= 0): no safe step")
    largest = cert.rk4_step if method == "rk4" else cert.euler_step
    h = config["h_rel"] * largest
    factory = {"euler": game_dynamics.projected_euler, "rk4": game_dynamics.rk4,
               "npg": game_dynamics.natural_pg, "epg": game_dynamics.euclidean_pg}[method]
    game = games.with_weights(game, cert.weights)
    trace = convlab.run(factory(h), game, game.x0, key=key, num_steps=config["num_steps"],
                        record_every=config["record_every"], progress=progress)
    m = np.asarray(trace["m_norm"])
    factor = cert.rk4_factor(h) if method == "rk4" else cert.euler_factor(h)
    return trace, {"alpha": cert.alpha, "beta": cert.beta, "weights": cert.weights.tolist(),
                   "step": float(h), "certified_factor": float(factor),
                   "final_m_norm_ratio": float(m[-1] / m[0]),
                   "certified_bound_at_N": float(factor ** config["num_steps"]),
                   "diverged": int(trace.diverged)}

