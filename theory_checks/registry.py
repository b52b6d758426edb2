"""Discovery of families, their claims, figure groups and experiments (DESIGN.md).

A family is a package laid out as ``theory_checks/<family>/``: ``__init__`` (``FAMILY``,
``CITATION``), one module per claim (a module defining ``ID``), optionally ``figures.py``
(``FIGURES = {name: make(out_dir, quick) -> paths}``) and ``experiment.py`` (``DEFAULTS``,
``run(config, *, progress=False) -> (result, summary)``, optionally ``validate(config)``,
which checks every key before any problem is built). Built-in families are found by scanning
this package's folders; outside ones through the entry-point group ``convlab.families``
(``name = "package.or.module"``; a single module defining ``ID`` is a one-claim family). Nothing
is imported until asked for, and asking for one family imports only that family.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import pkgutil
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from theory_checks.verdict import Claim

__all__ = ["ENTRY_POINT_GROUP", "Family", "Experiment", "UnknownFamilyError", "families",
           "family", "claims", "figure_groups", "experiment"]

ENTRY_POINT_GROUP = "convlab.families"
_HERE = Path(__file__).resolve().parent


class UnknownFamilyError(ValueError):
    """A family, claim id or experiment that no family provides."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What ``convlab run FAMILY`` runs: ``run(config, progress=False) -> (result, summary)``.

    ``defaults`` lists every accepted key with its default value (``--set`` may override only
    those); ``result`` is a Trace or dict of arrays saved to the store, ``summary`` a dict of
    numbers printed and saved with it.
    """

    family: str
    defaults: dict[str, Any]
    run: Callable[..., tuple[Any, dict[str, Any]]]
    validate: Callable[[dict[str, Any]], None] | None = None  # raises naming the key; before run


@dataclasses.dataclass(frozen=True)
class Family:
    """A discovered family: its name, the module that holds it and where it came from."""

    name: str
    module: str
    source: str  # "built-in" or "entry point <name> = <value> (<distribution>)"

    def load(self) -> ModuleType:
        """The family's package (or single module); an import error names the family."""
        try:
            module = importlib.import_module(self.module)
        except Exception as err:
            raise ImportError(f"family {self.name!r} ({self.source}): importing {self.module} "
                              f"failed: {type(err).__name__}: {err}") from err
        declared = getattr(module, "FAMILY", self.name)
        if declared != self.name:
            raise ImportError(f"family {self.name!r} ({self.source}): {self.module}.FAMILY is "
                              f"{declared!r}")
        return module

    def citation(self) -> str:
        return getattr(self.load(), "CITATION", "")

    def _submodules(self) -> list[ModuleType]:
        package = self.load()
        if not hasattr(package, "__path__"):  # a single module is its own (only) member
            return [package]
        names = sorted(info.name for info in pkgutil.iter_modules(package.__path__)
                       if not info.ispkg and not info.name.startswith("_"))
        return [importlib.import_module(f"{package.__name__}.{name}") for name in names]

    def claims(self) -> list[Claim]:
        """The family's claims, one per module defining ``ID``, in module-name order."""
        found = [Claim.from_module(m) for m in self._submodules() if hasattr(m, "ID")]
        for claim in found:
            if claim.family != self.name:
                raise ImportError(f"family {self.name!r}: claim {claim.id!r} belongs to "
                                  f"family {claim.family!r}")
        return found

    def _member(self, name: str) -> ModuleType | None:
        package = self.load()
        if not hasattr(package, "__path__"):
            return package
        if importlib.util.find_spec(f"{package.__name__}.{name}") is None:
            return None
        return importlib.import_module(f"{package.__name__}.{name}")

    def figure_groups(self) -> dict[str, Callable]:
        module = self._member("figures")
        return dict(getattr(module, "FIGURES", {})) if module is not None else {}

    def experiment(self) -> Experiment | None:
        module = self._member("experiment")
        if module is None or not hasattr(module, "DEFAULTS") or not hasattr(module, "run"):
            return None
        return Experiment(self.name, dict(module.DEFAULTS), module.run,
                          getattr(module, "validate", None))


def _built_in() -> dict[str, Family]:
    return {info.name: Family(info.name, f"theory_checks.{info.name}", "built-in")
            for info in pkgutil.iter_modules([str(_HERE)]) if info.ispkg}


def _entry_points() -> dict[str, Family]:
    found = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", "?")
        found[ep.name] = Family(ep.name, ep.value, f"entry point {ep.name} = {ep.value} ({dist})")
    return found


@functools.lru_cache(maxsize=1)
def _discovered() -> dict[str, Family]:
    built_in = _built_in()
    outside = {name: fam for name, fam in _entry_points().items() if name not in built_in}
    return dict(sorted({**built_in, **outside}.items()))


def families() -> list[str]:
    """Every family's name, sorted: built-in folders and entry points (a built-in wins a clash)."""
    return list(_discovered())


def family(name: str) -> Family:
    """The family called ``name``."""
    known = _discovered()
    if name not in known:
        raise UnknownFamilyError(f"family: unknown {name!r}; known: {', '.join(known)}")
    return known[name]


def _check_families(names: list[str] | None) -> list[str]:
    known = families()
    names = list(names) if names else known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownFamilyError(f"family: unknown {', '.join(map(repr, unknown))}; "
                                 f"known: {', '.join(known)}")
    return names


def claims(selectors: list[str] | None = None) -> list[Claim]:
    """Claims of the given families or claim ids (all when ``None``), without repeats."""
    selectors = list(selectors) if selectors else families()
    _check_families([s.split(".")[0] for s in selectors])
    chosen: dict[str, Claim] = {}
    for selector in selectors:
        members = family(selector.split(".")[0]).claims()
        if "." in selector:
            members = [c for c in members if c.id == selector]
            if not members:
                known = ", ".join(c.id for c in family(selector.split(".")[0]).claims())
                raise UnknownFamilyError(f"claim: unknown {selector!r}; known: {known}")
        chosen.update((c.id, c) for c in members)
    return list(chosen.values())


def figure_groups(names: list[str] | None = None) -> list[tuple[str, str, Callable]]:
    """``(family, name, make)`` for every figure group of the given families."""
    return [(fam, name, make) for fam in _check_families(names)
            for name, make in family(fam).figure_groups().items()]


def experiment(name: str) -> Experiment:
    """The experiment of family ``name`` (what ``convlab run`` runs)."""
    found = family(name).experiment()
    if found is None:
        raise UnknownFamilyError(f"family: {name!r} has no runnable experiment")
    return found
