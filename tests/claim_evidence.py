"""Shared by the ``test_<family>_claims.py`` modules: measure claims once, keep their evidence.

Each module's fixture measures its family's claims at quick size once and keeps
``{claim id: (evidence, verdict)}``; negative controls then feed ``judge`` evidence that breaks
the claim.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def measure_and_judge(claims: Sequence[Any], only: Iterable[str] | None = None) -> dict[str, tuple]:
    """``{claim.id: (evidence, verdict)}`` for every claim (or those whose id is in ``only``)."""
    only = None if only is None else set(only)
    results = {}
    for claim in claims:
        if only is None or claim.id in only:
            evidence = claim.measure(True)
            results[claim.id] = (evidence, claim.judge(evidence))
    return results


def judge(claims: Sequence[Any], claim_id: str, evidence: Any) -> Any:
    """The verdict of claim ``claim_id`` on ``evidence`` (a negative control's, typically)."""
    return next(c for c in claims if c.id == claim_id).judge(evidence)
