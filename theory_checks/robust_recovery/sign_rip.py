"""The Sign-RIP estimate of a claim's operators (not a claim): the largest sampled δ over the
instances, reported in linear-rate's details. The estimator itself is the library's
``problems.robust_recovery.sign_rip_estimate``; what the numbers say is in NOTES.md."""

from __future__ import annotations

import jax

from theory_checks.robust_recovery import instances as I
from theory_checks.generators import load

problems = load("robust_recovery")


def operators_sign_rip(*, salt: int, instances: int, dim: int, rank: int, m: int, p: float,
                       kind: str) -> dict[str, float]:
    """Sign-RIP of operators ``0..instances-1`` of claim ``salt`` for ``r' = r`` (rank-2r
    directions, the rank of ``UUᵀ − X*``): the largest δ and the smallest φ."""
    deltas, phis = [], []
    for i in range(instances):
        prob = I.problem(salt, i, dim=dim, rank=rank, m=m, p=p, noise=0.0, kind=kind)
        est = problems.sign_rip_estimate(prob, jax.random.key(7), direction_rank=2 * rank)
        deltas.append(est.delta)
        phis.append(est.phi_min)
    return {"delta": float(max(deltas)), "phi_min": float(min(phis)),
            "direction_rank": est.direction_rank}
