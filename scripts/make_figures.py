"""Regenerate the figures of every family registered in ``theory_checks`` (``convlab figures``).

Usage::

    python scripts/make_figures.py [--quick] [--out DIR]

Runs ``convlab figures FAMILY`` for each family of ``theory_checks.registry.families()``, one
after the other, all writing into ``DIR``. A family that fails is reported and the others still
run; the exit status is the worst one seen (0 ok, 1 a family failed, 2 bad input).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import jax


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes on a 2-core CPU)")
    parser.add_argument("--out", metavar="DIR", default="convlab_figures",
                        help="directory the PNGs are written to (default: %(default)s)")
    args = parser.parse_args(argv)

    jax.config.update("jax_enable_x64", True)  # entry point: rate experiments run in float64
    from convlab import cli
    from theory_checks import registry  # importing theory_checks registers every family

    status, failed = cli.EXIT_OK, []
    for family in registry.families():
        start = time.perf_counter()
        print(f"== {family}", flush=True)
        try:
            code = cli.main(["figures", family, "--out", args.out] + (["--quick"] if args.quick else []))
        except Exception:  # one broken family must not lose the others' figures
            traceback.print_exc()
            code = cli.EXIT_VIOLATED
        if code != cli.EXIT_OK:
            failed.append(family)
        status = max(status, code)
        print(f"== {family}: {'ok' if code == cli.EXIT_OK else f'failed (exit {code})'} "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
    if failed:
        print(f"failed families: {', '.join(failed)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
