"""The methods the monotone family compares, with the step sizes used throughout the family
(figures, ``convlab run monotone``, the notebook). Not a claim."""

from __future__ import annotations

import math
from typing import Any

import jax

import convlab
from convlab.methods.extragradient import eag, eg, vr_eg
from convlab.methods.inexact_halpern import inexact_halpern
from convlab.methods.vr_halpern import page_batch_size, vr_halpern

__all__ = ["figure_methods", "run_for_epochs"]


def figure_methods(p: Any) -> dict[str, dict[str, Any]]:
    """The methods compared on problem ``p``, with the step sizes used throughout the family:
    ``{id: {"label", "method", "calls_per_step" (expected), "stochastic"}}``. Halpern and
    VR-Halpern only where ``F`` is cocoercive (the forward-backward map of a merely monotone
    ``F`` is not nonexpansive)."""
    n, L, L_avg = p.n_components, float(p.L), float(p.L_avg)
    p_ref = 1.0 / n
    eta_in = math.sqrt(n) / L_avg
    inner = inexact_halpern(eta_in, 0.5 * math.sqrt(p_ref * (1 - p_ref)) / (1.0 + eta_in * L_avg))
    methods = {}
    if p.cocoercive:
        b, q = page_batch_size(n), 1.0 / math.sqrt(n)
        methods["halpern"] = dict(label="Halpern (η = 2/L)", method=convlab.halpern(2.0 / L),
                                  calls_per_step=n, stochastic=False)
        methods["vr_halpern"] = dict(label="VR-Halpern (η = 1/L_avg)",
                                     method=vr_halpern(1.0 / L_avg),
                                     calls_per_step=2 * b * (1 - q) + q * n, stochastic=True)
    methods["eg"] = dict(label="EG (η = 0.9/L)", method=eg(0.9 / L), calls_per_step=2 * n,
                         stochastic=False)
    methods["eag"] = dict(label="EAG (η = 0.5/L)", method=eag(0.5 / L), calls_per_step=2 * n,
                          stochastic=False)
    methods["vr_eg"] = dict(label="VR-EG (γ = 0.99√p/L_avg)",
                            method=vr_eg(0.99 * math.sqrt(p_ref) / L_avg),
                            calls_per_step=3.0, stochastic=True)
    methods["inexact_halpern"] = dict(label="inexact Halpern + VR-FoRB", method=inner,
                                      calls_per_step=1.6 * n, stochastic=True)
    return methods


def run_for_epochs(entry: dict[str, Any], p: Any, key: jax.Array, epochs: float, *,
                   records: int = 400, progress: bool = False) -> Any:
    """Run a :func:`figure_methods` entry for about ``epochs`` epochs (15% margin), ~``records``
    records."""
    steps = max(1, math.ceil(1.15 * epochs * p.n_components / entry["calls_per_step"]))
    every = max(1, steps // records)
    steps = max(every, -(-steps // every) * every)
    return convlab.run(entry["method"], p, p.x0, key=key, num_steps=steps, record_every=every,
                       progress=progress)
