"""Theory checks: predicted rates and bounds as claims, judged into Verdicts.

One folder per family (``theory_checks/<family>/``, one module per claim), found by
:mod:`theory_checks.registry` when asked for; outside families plug in through the entry-point
group ``convlab.families``. Importing this package imports no family.
"""

from theory_checks.verdict import Claim, Verdict

__all__ = ["Claim", "Verdict"]
