"""convlab's generator modules (``problems.<family>``), even when the name ``problems`` is taken.

A researcher's own ``problems.py`` in the working directory comes first on ``sys.path`` when
Python starts there (a notebook, ``python -c``, pytest), and one process cannot hold two
modules called ``problems``. Families therefore import their generators through
:func:`load`: normally that is plain ``import problems.<family>``; when ``problems`` resolves
to something else, convlab's package is loaded under the private name ``convlab_problems``
(from this distribution's own folder) and the user's module is left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load", "PRIVATE_NAME"]

PRIVATE_NAME = "convlab_problems"
_FOLDER = Path(__file__).resolve().parents[1] / "problems"


def _is_ours(module_or_spec) -> bool:
    locations = getattr(module_or_spec, "submodule_search_locations", None)
    if locations is None:
        locations = getattr(module_or_spec, "__path__", None)
    return locations is not None and any(Path(p).resolve() == _FOLDER for p in locations)


def _package_name() -> str:
    """``problems`` when that name means convlab's package, else the private alias (loaded)."""
    loaded = sys.modules.get("problems")
    if loaded is not None:
        if _is_ours(loaded):
            return "problems"
    else:
        spec = importlib.util.find_spec("problems")
        if spec is not None and _is_ours(spec):
            return "problems"
    if PRIVATE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            PRIVATE_NAME, _FOLDER / "__init__.py", submodule_search_locations=[str(_FOLDER)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PRIVATE_NAME] = module
        spec.loader.exec_module(module)
    return PRIVATE_NAME


def load(family: str) -> ModuleType:
    """convlab's generator module of ``family`` (``problems.<family>``)."""
    return importlib.import_module(f"{_package_name()}.{family}")
