"""The registry of claims, figure groups and runnable experiments, keyed by family.

Family modules (``theory_checks.classical``, ...) register what they provide at import;
``theory_checks/__init__`` imports them all, and the command line reads the registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from theory_checks.verdict import Claim

__all__ = ["register", "register_figures", "register_experiment", "claims", "families",
           "figure_groups", "experiment", "Experiment", "UnknownFamilyError"]

_CLAIMS: dict[str, Claim] = {}
_FIGURES: dict[str, dict[str, Callable]] = {}
_EXPERIMENTS: dict[str, "Experiment"] = {}


class UnknownFamilyError(ValueError):
    """A family name that no module registered."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What ``convlab run FAMILY`` runs: ``run(config, progress=False) -> (result, summary)``.

    ``defaults`` lists every accepted key with its default value (``--set`` may override only
    those); ``result`` is a Trace or dict of arrays saved to the store, ``summary`` a dict of
    numbers printed and saved with it.
    """

    family: str
    defaults: dict[str, Any]
    run: Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]]


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids are unique)."""
    if claim.id in _CLAIMS:
        raise ValueError(f"claim {claim.id!r} is registered twice")
    _CLAIMS[claim.id] = claim
    return claim


def register_figures(family: str, name: str, make: Callable) -> None:
    """Register a figure group: ``make(out_dir, quick) -> list of written paths``."""
    _FIGURES.setdefault(family, {})[name] = make


def register_experiment(experiment: Experiment) -> None:
    """Register the experiment ``convlab run <family>`` runs."""
    _EXPERIMENTS[experiment.family] = experiment


def families() -> list[str]:
    """All families that registered anything, sorted."""
    return sorted({c.family for c in _CLAIMS.values()} | set(_FIGURES) | set(_EXPERIMENTS))


def _check_families(names: list[str] | None) -> list[str]:
    known = families()
    names = list(names) if names else known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownFamilyError(f"family: unknown {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(known)}")
    return names


def claims(names: list[str] | None = None) -> list[Claim]:
    """Registered claims of the given families (all when ``None``), in registration order."""
    wanted = _check_families(names)
    return [c for c in _CLAIMS.values() if c.family in wanted]


def figure_groups(names: list[str] | None = None) -> list[tuple[str, str, Callable]]:
    """``(family, name, make)`` for every figure group of the given families."""
    wanted = _check_families(names)
    return [(fam, name, make) for fam in wanted for name, make in _FIGURES.get(fam, {}).items()]


def experiment(family: str) -> Experiment:
    """The experiment registered for ``family``."""
    _check_families([family])
    if family not in _EXPERIMENTS:
        raise UnknownFamilyError(f"family: {family!r} has no runnable experiment")
    return _EXPERIMENTS[family]
