"""Theory checks: predicted rates and bounds as registered Claims, judged into Verdicts.

Importing the package registers every family's claims (``theory_checks.registry``): one module
per family, listed in ``FAMILY_MODULES``.
"""

import importlib

from theory_checks.registry import claims, families
from theory_checks.verdict import Claim, Verdict

FAMILY_MODULES = ("classical", "matrix_sensing", "robust_recovery", "monotone", "small_gain",
                  "bilevel", "bilevel_multiblock")

for _module in FAMILY_MODULES:
    importlib.import_module(f"theory_checks.{_module}")

__all__ = ["Claim", "Verdict", "claims", "families", "FAMILY_MODULES"]
