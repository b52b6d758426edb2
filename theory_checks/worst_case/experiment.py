"""``convlab run worst_case``: one method run on its attaining instance (``method`` = gd, fgm,
ogm, ppm, halpern, eag) for ``num_steps`` steps, or heavy ball on the Lessard–Recht–Packard
function from ``x0``; the summary holds the measured normalised value at N, the analytic bound
and (PEPit installed) the PEP worst case."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

import convlab
from convlab.methods import heavy_ball
from convlab.validate import Choice, Float, Int, check_config
from theory_checks import pep
from theory_checks.worst_case import heavy_ball_cycle as HB
from theory_checks.worst_case import instances as I

METHODS = ("gd", "fgm", "ogm", "ppm", "halpern", "eag", "heavy_ball")
DEFAULTS = {"method": "ogm", "num_steps": 8, "relative_step": 1.0, "x0": 3.3, "pep": True}
SCHEMA = {"method": Choice(*METHODS), "num_steps": Int(1, 10**5), "relative_step": Float(0.0, 2.0, "neither"),
          "x0": Float(-1e3, 1e3), "pep": Choice(True, False)}


def validate(config: dict[str, Any]) -> None:
    """Types and ranges of every key (N ≤ 30: the PEP solve grows fast with N)."""
    check_config(config, SCHEMA)
    if config["method"] != "heavy_ball" and config["num_steps"] > 30:
        raise ValueError(f"num_steps must be <= 30 for {config['method']} (the PEP solve), "
                         f"got {config['num_steps']}")


def _measured(method: str, N: int, h: float):
    """The normalised measured value at N and the PEP model (name, parameters) it is read against."""
    Ns = (N,)
    if method == "gd":
        return I.gd_gaps(Ns, (h,))[0][0, 0], ("gd", {"relative_step": h})
    if method == "ogm":
        return I.ogm_gaps(Ns)[0][0, 0], ("ogm", {})
    if method == "fgm":
        return I.fgm_worst_huber(Ns)[0][0, 0], ("fgm", {})
    if method == "ppm":
        return I.ppm_gaps(Ns)[0][0, 0], ("ppm", {"step": I.PPM_STEP})
    if method == "halpern":
        return I.halpern_residuals(Ns)[0, 0], ("halpern", {})
    return I.eag_residuals(Ns)[0, 0], ("eag", {"step": I.EAG_STEP})


def run(config: dict[str, Any], *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """One run; see the module docstring."""
    validate(config)
    N, method = config["num_steps"], config["method"]
    if method == "heavy_ball":
        p = I.W.make_lessard_recht_packard(jax.random.key(0), x0=config["x0"])
        trace = convlab.run(heavy_ball(*HB.parameters()), p, p.x0, key=jax.random.key(0),
                            num_steps=N, progress=progress)
        return trace, {"final_distance": float(np.asarray(trace["distance"])[-1])}
    value, (model, params) = _measured(method, N, config["relative_step"])
    summary = {"measured": float(value)}
    ok, reason = pep.available()
    if config["pep"] and ok:
        summary["pep"] = pep.worst_case(model, N, **params)
    elif config["pep"]:
        summary["pep_unavailable"] = reason
    return {"value": np.asarray([value])}, summary
