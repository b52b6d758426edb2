"""Robust ℓ1 low-rank recovery by the sub-gradient method (PAPERS.md §2).

Ma & Fattahi, JMLR 2023 (arXiv:2202.08788): SubGM ``U_{t+1} = U_t − η_0 ρ^t D_t`` from a small
initialization ``U_0 = α B`` on ``(1/m)‖y − A(UUᵀ)‖_1`` with gross outliers
(``problems.robust_recovery``, ``convlab.methods.subgm``). Seven claims: the linear rate ``−log ρ``
under outliers (with the escape from α as the power iteration on ``M_0``, the paper's step, and
the generator's model as parts), the same rate and escape for every factor rank ``r'``, an error
floor ordered by α, ℓ2-GD failing under the same outliers, the ℓ2-GD baseline on its own (local
rate, first-order floor), a sample complexity that does not move with ``r'``, and the Sign-RIP
estimate against its definition. The theory's side is written out in ``reference`` and
``model``; broken implementations for the negative controls in ``broken``; derivations,
choices and measured numbers in NOTES.md.
"""

FAMILY = "robust_recovery"
CITATION = "Ma & Fattahi, JMLR 2023 (arXiv:2202.08788)"
