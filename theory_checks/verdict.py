"""Claim and Verdict: a theorem's prediction as data, and the outcome of checking it.

A claim is a module (DESIGN.md, "A claim module"): ``ID``, ``KIND``, ``CITATION``, ``STATEMENT``,
``SIZES`` and four pure steps, ``measure(**sizes) -> Evidence`` (runs the experiment),
``judge(evidence) -> Verdict`` (one rule of :mod:`theory_checks.kinds`), ``draw(evidence,
verdict, fig)`` and ``negative_controls(evidence)`` (broken evidence that must be judged
``violated``). :class:`Claim` is that module as a value. Keeping ``judge`` apart from ``measure``
is what makes negative controls possible.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Literal

__all__ = ["Status", "KINDS", "MODES", "Verdict", "Claim", "jsonable", "compile_seconds_so_far"]

Status = Literal["holds", "violated", "inconclusive"]
KINDS = ("envelope", "slope", "scaling", "ordering", "certificate", "local-rate")
MODES = ("quick", "full")


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
      id, family, claim, kind, citation, sizes: filled in by :meth:`Claim.evaluate`.
      figure: path of the PNG drawn for the claim, if any.
      seconds: wall time of measure + judge + draw (compilation included).
      compile_seconds: the part of ``seconds`` JAX spent tracing, lowering and compiling.
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
    citation: str = ""
    sizes: dict[str, Any] = dataclasses.field(default_factory=dict)
    figure: str | None = None
    seconds: float = 0.0
    compile_seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The JSON record of DESIGN.md: id, family, claim, citation, kind, predicted, measured,
        ci, verdict, figure, seconds, compile_seconds, sizes (plus margin and details)."""
        return {
            "id": self.id, "family": self.family, "claim": self.claim, "citation": self.citation,
            "kind": self.kind, "predicted": jsonable(self.predicted),
            "measured": jsonable(self.measured),
            "ci": None if self.ci is None else [jsonable(c) for c in self.ci],
            "verdict": self.status, "figure": self.figure, "seconds": round(self.seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3), "sizes": jsonable(self.sizes),
            "margin": jsonable(self.margin), "details": jsonable(self.details),
        }


def jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become strings ("inf", "nan"); dataclasses (an
    Evidence) and NamedTuples (a RateFit) become dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return jsonable(value._asdict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


_COMPILE_EVENT_PREFIX = "/jax/core/compile/"  # trace, lowering and backend-compile durations
_compiled = {"seconds": 0.0, "listening": False}


def _on_duration(event: str, duration: float, **_: Any) -> None:
    if event.startswith(_COMPILE_EVENT_PREFIX):
        _compiled["seconds"] += duration


def compile_seconds_so_far() -> float:
    """Seconds JAX has spent tracing, lowering and compiling in this process since the first
    call (read off :mod:`jax.monitoring` events; the listener is installed once)."""
    if not _compiled["listening"]:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(_on_duration)
        _compiled["listening"] = True
    return _compiled["seconds"]


def _no_negative_controls(evidence: Any) -> Iterator[tuple[str, Any]]:
    return iter(())


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered theory check: a claim module (DESIGN.md) as a value.

    Attributes:
      id: ``family.short-name``.
      kind: one of :data:`KINDS`.
      citation: the paper (and theorem) the claim comes from.
      statement: the claim in words, as the report shows it.
      sizes: ``{"quick": {...}, "full": {...}}``, passed to ``measure`` as keyword arguments.
      measure: ``measure(**sizes) -> evidence`` (runs the experiment).
      judge: ``judge(evidence) -> Verdict`` (applies a rule of :mod:`theory_checks.kinds`).
      draw: ``draw(evidence, verdict, fig)`` plots onto a matplotlib Figure.
      negative_controls: ``negative_controls(evidence)`` yields ``(name, broken evidence)``;
        each must be judged ``violated``.
      quick_verdict: the verdict documented at quick size (``holds`` unless the family's
        NOTES.md reports a disagreement with the paper).
      module: the claim module's import name.
    """

    id: str
    kind: str
    citation: str
    statement: str
    sizes: dict[str, dict[str, Any]]
    measure: Callable[..., Any]
    judge: Callable[[Any], Verdict]
    draw: Callable[[Any, Verdict, Any], None]
    negative_controls: Callable[[Any], Iterator[tuple[str, Any]]] = _no_negative_controls
    quick_verdict: Status = "holds"
    module: str = ""

    def __post_init__(self):
        if self.id.count(".") != 1 or not all(self.id.split(".")):
            raise ValueError(f"claim id must look like 'family.short-name', got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if set(self.sizes) != set(MODES):
            raise ValueError(f"claim {self.id}: SIZES must have exactly the keys {MODES}, "
                             f"got {sorted(self.sizes)}")

    @classmethod
    def from_module(cls, module: ModuleType) -> "Claim":
        """The claim a module defines (``ID``, ``KIND``, ``CITATION``, ``STATEMENT``, ``SIZES``,
        ``measure``, ``judge``, ``draw``, optionally ``negative_controls`` and
        ``QUICK_VERDICT``); a missing name is an error naming the module."""
        required = ("ID", "KIND", "CITATION", "STATEMENT", "SIZES", "measure", "judge", "draw")
        missing = [name for name in required if not hasattr(module, name)]
        if missing:
            raise ValueError(f"claim module {module.__name__} lacks {', '.join(missing)}")
        return cls(module.ID, module.KIND, module.CITATION, module.STATEMENT, module.SIZES,
                   module.measure, module.judge, module.draw,
                   getattr(module, "negative_controls", _no_negative_controls),
                   getattr(module, "QUICK_VERDICT", "holds"), module.__name__)

    @property
    def family(self) -> str:
        """The problem family, the part of the id before the dot."""
        return self.id.split(".")[0]

    def sizes_for(self, quick: bool) -> dict[str, Any]:
        """The keyword arguments ``measure`` gets in quick or full mode."""
        return dict(self.sizes["quick" if quick else "full"])

    def stamp(self, verdict: Verdict, quick: bool) -> Verdict:
        """``verdict`` with the claim's id, family, statement, kind, citation and sizes."""
        return dataclasses.replace(verdict, id=self.id, family=self.family, claim=self.statement,
                                   kind=self.kind, citation=self.citation,
                                   sizes=self.sizes_for(quick))

    def evaluate(self, *, quick: bool = True, out_dir: str | Path | None = None) -> Verdict:
        """Measure, judge and (with ``out_dir``) draw the claim's figure ``<out_dir>/<id>.png``."""
        from convlab.plots import new_figure, save_figure

        start, compiled = time.perf_counter(), compile_seconds_so_far()
        evidence = self.measure(**self.sizes_for(quick))
        verdict = self.judge(evidence)
        figure = None
        if out_dir is not None:
            fig, _ = new_figure(width=5.5, height=4.0)
            self.draw(evidence, verdict, fig)
            figure = str(save_figure(fig, Path(out_dir) / f"{self.id}.png"))
        return dataclasses.replace(self.stamp(verdict, quick), figure=figure,
                                   seconds=time.perf_counter() - start,
                                   compile_seconds=compile_seconds_so_far() - compiled)
