"""Synthetic problem generators, one module per family; each ``make_*(key, *, ...)`` returns a
Problem pytree (see ``convlab.problem``) with the truth known by construction."""
