"""Robust ℓ1 low-rank recovery by the sub-gradient method (PAPERS.md §2).

Ma & Fattahi, JMLR 2023 (arXiv:2202.08788): SubGM ``U_{t+1} = U_t − η_0 ρ^t D_t`` from a small
initialization ``U_0 = α B`` on ``(1/m)‖y − A(UUᵀ)‖_1`` with gross outliers
(``problems.robust_recovery``, ``convlab.methods.subgm``). Five claims: the linear rate ``−log ρ``
under outliers, the same rate for every factor rank ``r'``, an error floor ordered by α, ℓ2-GD
failing under the same outliers, and a sample complexity that does not move with ``r'``.
One module per claim; the Sign-RIP estimate of the claims' operators in ``sign_rip``;
derivations, choices and measured numbers in NOTES.md.
"""

FAMILY = "robust_recovery"
CITATION = "Ma & Fattahi, JMLR 2023 (arXiv:2202.08788)"
