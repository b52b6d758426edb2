"""Regenerate the classical family's figures (PAPERS.md §6): one PNG per registered claim.

Usage::

    python scripts/classical_figures.py [--quick] [--out DIR]

The same machinery as ``convlab figures classical``: each claim registered under the
``classical`` family (``theory_checks.classical``) is measured, judged and drawn to
``DIR/<claim id>.png``, and every figure group the family registers is written too. Nothing is
plotted here; the figures live with the claims.
"""

from __future__ import annotations

import argparse
import sys

import jax

FAMILY = "classical"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds on a 2-core CPU)")
    parser.add_argument("--out", metavar="DIR", default="convlab_figures",
                        help="directory the PNGs are written to (default: %(default)s)")
    args = parser.parse_args(argv)

    jax.config.update("jax_enable_x64", True)  # entry point: rate experiments run in float64
    from convlab import cli

    return cli.main(["figures", FAMILY, "--out", args.out] + (["--quick"] if args.quick else []))


if __name__ == "__main__":
    sys.exit(main())
