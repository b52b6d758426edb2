"""Claim and Verdict: a theorem's prediction as data, and the outcome of checking it.

A :class:`Claim` (id ``family.short-name``) couples a citation and a statement with three pure
steps: ``measure(quick) -> evidence`` runs the experiment, ``judge(evidence) -> Verdict`` applies
one of the five rules of :mod:`theory_checks.kinds`, ``draw(evidence, verdict, fig)`` plots it.
Keeping ``judge`` separate from ``measure`` is what makes negative controls possible: tests feed
``judge`` evidence that breaks the claim and expect ``violated``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Callable, Literal

__all__ = ["Status", "KINDS", "Verdict", "Claim"]

Status = Literal["holds", "violated", "inconclusive"]
KINDS = ("envelope", "slope", "scaling", "ordering", "certificate")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Outcome of a check.

    Attributes:
      status: ``holds``, ``violated`` or ``inconclusive``.
      predicted: the prediction, in words or as a number.
      measured: the measured quantity the rule compared (e.g. worst ratio to a bound, a rate).
      ci: confidence interval of ``measured`` (``None`` when the rule is exact).
      margin: signed slack; > 0 on the safe side of the prediction, < 0 past it.
      details: further JSON-able numbers shown in the report.
      id, family, claim, kind: filled in by :meth:`Claim.evaluate`.
      figure: path of the PNG drawn for the claim, if any.
      seconds: wall time of measure + judge + draw.
    """

    status: Status
    predicted: Any
    measured: float
    ci: tuple[float, float] | None = None
    margin: float = float("nan")
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    id: str = ""
    family: str = ""
    claim: str = ""
    kind: str = ""
    figure: str | None = None
    seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The JSON record of DESIGN.md: id, family, claim, kind, predicted, measured, ci,
        verdict, figure, seconds (plus margin and details)."""
        return {
            "id": self.id, "family": self.family, "claim": self.claim, "kind": self.kind,
            "predicted": _jsonable(self.predicted), "measured": _jsonable(self.measured),
            "ci": None if self.ci is None else [_jsonable(c) for c in self.ci],
            "verdict": self.status, "figure": self.figure, "seconds": round(self.seconds, 3),
            "margin": _jsonable(self.margin), "details": _jsonable(self.details),
        }


def _jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become strings ("inf", "nan")."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered theory check.

    Attributes:
      id: ``family.short-name``.
      citation: the paper (and theorem) the claim comes from.
      statement: the claim in words, as the report shows it.
      kind: one of :data:`KINDS`.
      measure: ``measure(quick: bool) -> evidence`` (runs the experiment).
      judge: ``judge(evidence) -> Verdict`` (applies a rule of :mod:`theory_checks.kinds`).
      draw: ``draw(evidence, verdict, fig)`` plots onto a matplotlib Figure.
    """

    id: str
    citation: str
    statement: str
    kind: str
    measure: Callable[[bool], Any]
    judge: Callable[[Any], Verdict]
    draw: Callable[[Any, Verdict, Any], None]

    def __post_init__(self):
        if self.id.count(".") != 1 or not all(self.id.split(".")):
            raise ValueError(f"claim id must look like 'family.short-name', got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def family(self) -> str:
        """The problem family, the part of the id before the dot."""
        return self.id.split(".")[0]

    def evaluate(self, *, quick: bool = True, out_dir: str | Path | None = None) -> Verdict:
        """Measure, judge and (with ``out_dir``) draw the claim's figure ``<out_dir>/<id>.png``."""
        from convlab.plots import new_figure, save_figure

        start = time.perf_counter()
        evidence = self.measure(quick)
        verdict = self.judge(evidence)
        figure = None
        if out_dir is not None:
            fig, _ = new_figure(width=5.5, height=4.0)
            self.draw(evidence, verdict, fig)
            figure = str(save_figure(fig, Path(out_dir) / f"{self.id}.png"))
        return dataclasses.replace(verdict, id=self.id, family=self.family, claim=self.statement,
                                   kind=self.kind, figure=figure,
                                   seconds=time.perf_counter() - start)
