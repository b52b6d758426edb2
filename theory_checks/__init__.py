"""Theory checks: predicted rates and bounds as registered Claims, judged into Verdicts.

Importing the package registers every family's claims (``theory_checks.registry``).
"""

from theory_checks import classical  # noqa: F401  (registers the classical claims)
from theory_checks.registry import claims, families
from theory_checks.verdict import Claim, Verdict

__all__ = ["Claim", "Verdict", "claims", "families"]
