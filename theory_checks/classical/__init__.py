"""Classical references with exact answers (PAPERS.md §6): the engine's own validation.

GD on smooth convex and strongly convex problems, and Halpern's iteration on nonexpansive maps,
against bounds that are exact (and attained) — so a wrong step, gradient or anchor shows. One
module per claim; derivations and measured numbers in NOTES.md.
"""

FAMILY = "classical"
CITATION = ("Drori & Teboulle, Math. Program. 2014; Nesterov, Introductory Lectures 2004; "
            "Lieder, Optim. Lett. 2021")
