"""The ``convlab`` command line (DESIGN.md): list, check, run, figures, bench.

The top floor: it reads the registry of families (built-in and outside), so it lives above the
engine, which imports neither ``problems`` nor ``theory_checks``. It is an entry point, so it
enables float64 (the library never does).

Exit status: 0 when nothing is violated, 1 when a claim is violated (or could not be
evaluated), 2 on bad input with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # KeyboardInterrupt: the finished claims are in the report
BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"  # present in a source checkout
BENCH_FORWARDED = ("--steps", "--seeds", "--step-sizes", "--repeat")
FIGURE_FORMATS = ("png", "pdf", "svg")


class BadInput(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def _probe_dir(directory: Path, option: str, given: str) -> None:
    """Write/remove a probe file in ``directory`` or, when it does not exist yet, in its nearest
    existing ancestor (nothing is created): a real test of writability (``os.access`` says yes
    to root on read-only mounts)."""
    existing = directory
    for existing in (directory, *directory.parents):
        if existing.exists():
            break
    if not existing.is_dir():
        raise BadInput(f"{option} {given}: {existing} is a file, not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".convlab-probe-"):
            pass
    except OSError as err:
        raise BadInput(f"{option} {given}: not writable ({err.strerror or err})") from None


def check_writable_dir(given: str, option: str) -> Path:
    """``given`` as a writable directory (created if missing), else bad input naming ``option``."""
    path = Path(given)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{option} {given}: is a file; a directory is expected")
    _probe_dir(path, option, given)
    return path


def check_writable_file(given: str, option: str) -> Path:
    """``given`` as a file that can be (re)written, else bad input naming ``option``."""
    path = Path(given)
    if path.is_dir() or given.endswith(("/", os.sep)):
        raise BadInput(f"{option} {given}: is a directory; a file is expected")
    _probe_dir(path.parent if str(path.parent) else Path("."), option, given)
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInput(f"{option} {given}: not writable")
    return path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="convlab", description="Check convergence theorems against measured rates.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    listing = sub.add_parser("list", help="families, claims, figure groups and run keys")
    listing.add_argument("families", nargs="*", metavar="FAMILY")

    check = sub.add_parser("check", help="run claims, write report + figures")
    check.add_argument("families", nargs="*", metavar="FAMILY|CLAIM-ID")
    check.add_argument("--quick", action="store_true", help="small sizes (minutes on a 2-core CPU)")
    check.add_argument("--json", metavar="FILE", help="write the verdicts as JSON records")
    check.add_argument("--out", metavar="DIR", default="convlab_report", help="report directory")

    run = sub.add_parser("run", help="one experiment, saved to the store")
    run.add_argument("family", metavar="FAMILY")
    run.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--out", metavar="DIR", default="convlab_results", help="store directory")
    run.add_argument("--progress", action="store_true", help="show a progress bar")

    figures = sub.add_parser("figures", help="regenerate the papers' figures")
    figures.add_argument("families", nargs="*", metavar="FAMILY|CLAIM-ID")
    figures.add_argument("--quick", action="store_true")
    figures.add_argument("--out", metavar="DIR", default="convlab_figures")
    figures.add_argument("--format", choices=FIGURE_FORMATS, default="png",
                         help="image format of every figure (pdf/svg: vector, for a paper)")

    bench = sub.add_parser("bench", help="performance comparison (benchmarks/)")
    bench.add_argument("--quick", action="store_true", help="small step counts (minutes on a 2-core CPU)")
    bench.add_argument("--json", metavar="FILE", help="write every benchmark's records as one JSON list")
    bench.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks/NAME.py")
    for option in BENCH_FORWARDED:  # passed on to every script (they all take these)
        bench.add_argument(option, type=int, metavar="N", help="forwarded to every benchmark")
    return parser


def _setup_jax() -> None:
    """float64, and JAX's persistent compilation cache (``CONVLAB_CACHE_DIR``, default
    ``~/.cache/convlab/jax``; set it to an empty string to turn the cache off)."""
    import jax

    from convlab import xla_cpu

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("CONVLAB_CACHE_DIR", str(Path.home() / ".cache" / "convlab" / "jax"))
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    xla_cpu.avoid_lapack_pool_hang()   # before the first computation (convlab/xla_cpu.py)


def parse_settings(settings: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """``["key=value", ...]`` over ``defaults``; values parsed to the default's type."""
    config = dict(defaults)
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep:
            raise BadInput(f"--set {item!r}: expected KEY=VALUE")
        if key not in defaults:
            raise BadInput(f"--set {key}: unknown key; known: {', '.join(sorted(defaults))}")
        kind = type(defaults[key])
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value: Any = text.lower() in ("true", "1")
            else:
                value = kind(text)
        except ValueError:
            raise BadInput(f"--set {key}={text}: expected a {kind.__name__}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"--set {key}={text}: must be finite")
        config[key] = value
    return config


def _claims(selectors: Sequence[str]) -> list:
    """The claims of the given families or claim ids; bad names are bad input."""
    from theory_checks import registry

    try:
        return registry.claims(list(selectors))
    except (registry.UnknownFamilyError, ImportError) as err:
        raise BadInput(str(err)) from None


def _evaluate(claim: Any, *, quick: bool, out: Path | None, fmt: str = "png") -> tuple[Any, bool]:
    """``(verdict, crashed)``: a crashing claim becomes an ``inconclusive`` verdict carrying the
    error, so the other claims still run and nothing already measured is lost. A claim raising
    ``SystemExit`` is a crashed claim too. A failing figure is recorded beside the judged verdict
    (``details["figure_error"]``), never replacing it; it counts as a crash for the exit status."""
    import dataclasses
    import time

    from theory_checks.verdict import Verdict, compile_seconds_so_far

    start, compiled = time.perf_counter(), compile_seconds_so_far()
    try:
        evidence = claim.measure(**claim.sizes_for(quick))
        verdict = claim.judge(evidence)
    except (Exception, SystemExit) as err:
        traceback.print_exc()
        crashed = Verdict("inconclusive", claim.statement, float("nan"),
                          details={"error": f"{type(err).__name__}: {err}"})
        return dataclasses.replace(claim.stamp(crashed, quick), seconds=time.perf_counter() - start,
                                   compile_seconds=compile_seconds_so_far() - compiled), True
    figure, failed = None, False
    if out is not None:
        try:
            from convlab.plots import new_figure, save_figure
            fig, _ = new_figure(width=5.5, height=4.0)
            claim.draw(evidence, verdict, fig)
            figure = str(save_figure(fig, Path(out) / f"{claim.id}.{fmt}"))
        except Exception as err:
            traceback.print_exc()
            failed = True
            verdict = dataclasses.replace(verdict, details={
                **dict(verdict.details or {}), "figure_error": f"{type(err).__name__}: {err}"})
    return dataclasses.replace(claim.stamp(verdict, quick), figure=figure,
                               seconds=time.perf_counter() - start,
                               compile_seconds=compile_seconds_so_far() - compiled), failed


def _mark_interrupted(out: Path, done: int, total: int) -> None:
    """Say in ``report.md`` that the run was interrupted, after ``done`` of ``total`` claims."""
    path = out / "report.md"
    note = (f"\n**Interrupted** (KeyboardInterrupt) after {done} of {total} claims; "
            "the claims above finished.\n")
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(note)
    except OSError:
        pass


def _list(args: argparse.Namespace) -> int:
    """Families with their citation; claims (id, kind, citation, statement); figure groups; the
    keys of ``convlab run`` with their defaults."""
    from theory_checks import registry

    try:
        names = registry._check_families(args.families)
        listed = [(name, registry.family(name)) for name in names]
        for name, fam in listed:
            print(f"{name}  [{fam.source}]  {fam.citation()}")
            for claim in fam.claims():
                print(f"  {claim.id:<42} {claim.kind:<12} {claim.citation}")
                print(f"  {'':<42} {claim.statement}")
            groups = ", ".join(fam.figure_groups()) or "-"
            print(f"  figure groups: {groups}")
            experiment = fam.experiment()
            keys = ("-" if experiment is None else
                    " ".join(f"{k}={v}" for k, v in experiment.defaults.items()))
            print(f"  run keys: {keys}")
    except (registry.UnknownFamilyError, ImportError) as err:
        raise BadInput(str(err)) from None
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from theory_checks import report

    out = check_writable_dir(args.out, "--out")  # before any claim runs
    if args.json:
        check_writable_file(args.json, "--json")
    claims = _claims(args.families)
    verdicts, crashed = [], False
    for claim in claims:
        try:
            verdict, failed = _evaluate(claim, quick=args.quick, out=out)
        except KeyboardInterrupt:
            report.write_report(verdicts, out, quick=args.quick)
            _mark_interrupted(out, len(verdicts), len(claims))
            if args.json:
                report.write_json(verdicts, args.json)
            print(f"convlab: interrupted after {len(verdicts)} of {len(claims)} claims; "
                  f"report: {out / 'report.md'}", file=sys.stderr)
            return EXIT_INTERRUPTED
        crashed |= failed
        verdicts.append(verdict)
        print(report.summary_line(verdict), flush=True)
        report.write_report(verdicts, out, quick=args.quick)  # after every claim: nothing is lost
        if args.json:
            report.write_json(verdicts, args.json)
    print(f"report: {out / 'report.md'}")
    violated = any(v.status == "violated" for v in verdicts)
    return EXIT_VIOLATED if violated or crashed else EXIT_OK


def _raised_by_validation(err: BaseException) -> bool:
    """True when ``err`` was raised by an argument check (``convlab/validate.py``, a generator in
    ``problems/``, or ``convlab.run``'s checks before tracing), i.e. bad input, not a failure of
    the run itself (e.g. a fit)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    where = Path(tb.tb_frame.f_code.co_filename).resolve()
    root = Path(__file__).resolve().parents[1]
    return (where == root / "convlab" / "validate.py" or where.parent == root / "problems"
            or (where == root / "convlab" / "run.py" and tb.tb_frame.f_code.co_name != "_run_compiled"))


def _run(args: argparse.Namespace) -> int:
    """Validate the whole config (every key, its type, range and a size budget) and the store
    directory before any problem is built: bad input exits 2 naming the ``--set`` key. Once the
    config is valid, a failure while running (e.g. a fit) is not bad input: one line, exit 1."""
    from theory_checks import registry

    try:
        experiment = registry.experiment(args.family)
    except (registry.UnknownFamilyError, ImportError) as err:
        raise BadInput(str(err)) from None
    config = parse_settings(args.settings, experiment.defaults)
    if experiment.validate is not None:
        try:
            experiment.validate(config)
        except (ValueError, TypeError, OverflowError) as err:
            raise BadInput(f"run {args.family}: --set {err}") from None
    else:  # an outside family without a validator: at least the seed
        seed = config.get("seed", 0)
        if isinstance(seed, int) and not 0 <= seed < 2**63:
            raise BadInput(f"run {args.family}: --set seed must lie in [0, 2**63), got {seed}")
    check_writable_dir(args.out, "--out")
    from convlab.store import Store

    store = Store(args.out)
    key = {"family": args.family, **config}
    if not store.has(key, set_aside=True):  # reused; a corrupt entry is set aside, recomputed
        try:
            result, summary = experiment.run(config, progress=args.progress)
        except (ValueError, TypeError) as err:
            if experiment.validate is None or _raised_by_validation(err):  # before compiling
                raise BadInput(f"run {args.family}: {err}") from None
            print(f"convlab: run {args.family} failed: {type(err).__name__}: {err}", file=sys.stderr)
            return EXIT_VIOLATED
        store.save(key, result, extra={"summary": summary})
    manifest = store.manifest(key)
    print(json.dumps({"path": str(store.path(key)), "config": manifest["config"],
                      "summary": manifest["extra"]["summary"]}, indent=2))
    return EXIT_OK


def _figures(args: argparse.Namespace) -> int:
    """One figure per claim, then the families' figure groups, in ``--format`` (PNG, PDF or
    SVG); exit 1 if anything crashed."""
    from theory_checks import registry, report

    out = check_writable_dir(args.out, "--out")  # before any claim runs
    claims = _claims(args.families)
    crashed = False
    for claim in claims:
        verdict, failed = _evaluate(claim, quick=args.quick, out=out, fmt=args.format)
        crashed |= failed
        print(f"{report.summary_line(verdict)}  -> {verdict.figure}", flush=True)
    whole = [s for s in args.families if "." not in s] if args.families else None  # not claim ids
    from convlab.plots import figure_format

    with figure_format(args.format):
        for family, name, make in ([] if whole == [] else registry.figure_groups(whole)):
            try:
                for path in make(out, args.quick):
                    print(f"{family}/{name}: {path}", flush=True)
            except Exception:
                traceback.print_exc()
                crashed = True
    return EXIT_VIOLATED if crashed else EXIT_OK


def _bench(args: argparse.Namespace) -> int:
    """Run every ``benchmarks/NAME.py`` (not ``_*.py``) in this process through its
    ``main(argv) -> record | [records]``; print a summary; write the flat list of records.

    The persistent compilation cache is turned off, so ``compile_seconds`` is a compile time. A
    benchmark that raises (e.g. its modes' final iterates disagree) becomes an ``error`` record
    and the exit status is 1; the others still run.
    """
    import time

    import jax

    if args.json:
        check_writable_file(args.json, "--json")  # before any benchmark runs
    scripts = sorted(BENCH_DIR.glob("[!_]*.py")) if BENCH_DIR.is_dir() else []  # _*.py: helpers
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in scripts})
        if unknown:
            raise BadInput(f"bench: unknown benchmark(s) {', '.join(unknown)}; "
                           f"known: {', '.join(p.stem for p in scripts)}")
        scripts = [p for p in scripts if p.stem in args.only]
    if not scripts:
        raise BadInput(f"bench: no benchmarks found in {BENCH_DIR} (run from a source checkout)")
    try:
        jax.config.update("jax_enable_compilation_cache", False)
    except AttributeError:  # an older/newer jax without the switch: the cache dir still applies
        jax.config.update("jax_compilation_cache_dir", None)
    argv = ["--quick"] if args.quick else []
    for option in BENCH_FORWARDED:
        value = getattr(args, option[2:].replace("-", "_"))
        argv += [] if value is None else [option, str(value)]
    records, failed, t0 = [], False, time.perf_counter()
    for script in scripts:
        try:
            result = runpy.run_path(str(script))["main"](list(argv))
            records.extend(result if isinstance(result, list) else [result])
        except Exception as err:
            traceback.print_exc()
            failed = True
            records.append({"name": script.stem, "error": f"{type(err).__name__}: {err}"})
    _bench_summary(records, time.perf_counter() - t0)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return EXIT_VIOLATED if failed else EXIT_OK


def _bench_summary(records: list[dict[str, Any]], seconds: float) -> None:
    """One line per record: throughput, the ratios and (matrix sensing) the GEMM fraction."""
    columns = [("sweep_steps_runs_per_second", "steps*runs/s", ".3g"),
               ("speedup_vs_step_loop", "vs loop", ".2f"), ("speedup_vs_numpy", "vs numpy", ".2f"),
               ("speedup_vs_torch", "vs torch", ".2f"), ("compile_seconds", "compile s", ".2f"),
               ("recompiles_on_new_values", "recompiles", "d"), ("gemm_fraction", "gemm frac", ".2f")]
    print(f"{'benchmark':<20}" + "".join(f"{label:>13}" for _, label, _ in columns))
    for r in records:
        if "error" in r:
            print(f"{r['name']:<20}  ERROR: {r['error']}")
            continue
        cells = ["-" if r.get(key) is None else format(r[key], spec) for key, _, spec in columns]
        print(f"{r['name']:<20}" + "".join(f"{cell:>13}" for cell in cells))
    print(f"bench: {len(records)} records in {seconds:.0f}s", flush=True)


COMMANDS = {"list": _list, "check": _check, "run": _run, "figures": _figures, "bench": _bench}


def figures_script(families: Sequence[str], argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scripts/*_figures.py`` scripts: ``[--quick] [--out DIR]`` for
    ``convlab figures FAMILY ...`` (all families when ``families`` is empty)."""
    parser = argparse.ArgumentParser(description=f"Regenerate the figures of {', '.join(families) or 'every family'}.")
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes on a 2-core CPU)")
    parser.add_argument("--out", metavar="DIR", default="convlab_figures",
                        help="directory the figures are written to (default: %(default)s)")
    parser.add_argument("--format", choices=FIGURE_FORMATS, default="png",
                        help="image format (default: %(default)s)")
    args = parser.parse_args(argv)
    return main(["figures", *families, "--out", args.out, "--format", args.format]
                + (["--quick"] if args.quick else []))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convlab`` command."""
    try:
        args = _parser().parse_args(argv)
        if args.version:
            from convlab import __version__
            print(__version__)
            return EXIT_OK
        if not args.command:
            raise BadInput("a command is required: list, check, run, figures or bench")
        _setup_jax()
        return COMMANDS[args.command](args)
    except BadInput as err:
        print(f"convlab: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
