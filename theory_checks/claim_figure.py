"""A claim's own figure, saved under a figure group's name: the families whose figure groups
(``convlab figures <family>``) redraw a claim's evidence call this, not a copy of their own."""

from __future__ import annotations

import os
from typing import Any

from convlab import plots


def save_claim_figure(module: Any, path: str | os.PathLike, *, quick: bool, width: float,
                      height: float = 4.5) -> str:
    """Measure the claim ``module`` at quick or full size, judge it, draw it with its own
    ``draw`` and save the figure to ``path``; returns the path written."""
    evidence = module.measure(**module.SIZES["quick" if quick else "full"])
    fig, _ = plots.new_figure(width=width, height=height)
    module.draw(evidence, module.judge(evidence), fig)
    return str(plots.save_figure(fig, path))
