"""The report of ``convlab check``: ``report.md`` (one table row per claim) and JSON records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from convlab.atomic import atomic_write_text
from theory_checks.verdict import Verdict

__all__ = ["format_number", "write_report", "write_json", "summary_line"]

_MARK = {"holds": "holds", "violated": "**VIOLATED**", "inconclusive": "_inconclusive_"}


def format_number(value: Any) -> str:
    """Compact text for a number (4 significant digits) or anything else."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(value: Any) -> str:
    """Text for a Markdown table cell: ``|`` (as in norms ||x||) escaped so the row stays whole."""
    return format_number(value).replace("|", "\\|")


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "exact" if ci is None else f"[{format_number(ci[0])}, {format_number(ci[1])}]"


def write_report(verdicts: Sequence[Verdict], out_dir: str | Path, *, quick: bool) -> Path:
    """Write ``<out_dir>/report.md``: a table of claim, predicted, measured (CI), verdict, figure."""
    import jax

    out_dir = Path(out_dir)
    device = jax.devices()[0]
    precision = "float64" if jax.config.jax_enable_x64 else "float32"
    lines = [
        "# convlab check report", "",
        f"JAX {jax.__version__} on {device.platform} ({device.device_kind}), {precision}. "
        f"Mode: {'quick' if quick else 'full'}. "
        + ", ".join(f"{sum(v.status == s for v in verdicts)} {s}"
                    for s in ("holds", "violated", "inconclusive")) + ".", "",
        "| claim | statement | citation | kind | predicted | measured | CI | verdict | "
        "seconds (compile) | sizes | figure |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        figure = f"[png]({Path(v.figure).name})" if v.figure else ""
        sizes = ", ".join(f"{k}={format_number(x)}" for k, x in v.sizes.items())
        lines.append(f"| `{v.id}` | {_cell(v.claim)} | {_cell(v.citation)} | {v.kind} | "
                     f"{_cell(v.predicted)} | {_cell(v.measured)} | {_ci_text(v.ci)} | "
                     f"{_MARK[v.status]} | {v.seconds:.1f} ({v.compile_seconds:.1f}) | "
                     f"{_cell(sizes)} | {figure} |")
    lines += ["", "Measured: envelope = worst ratio measured/bound; slope = fitted rate; "
              "scaling = fitted exponent; ordering = ratio A/B; certificate = largest deviation.", ""]
    return atomic_write_text(out_dir / "report.md", "\n".join(lines))


def write_json(verdicts: Sequence[Verdict], path: str | Path) -> Path:
    """Write the list of JSON records (DESIGN.md) to ``path``."""
    return atomic_write_text(Path(path), json.dumps([v.record() for v in verdicts], indent=2) + "\n")


def summary_line(v: Verdict) -> str:
    """One console line per verdict."""
    return (f"{v.status:>12}  {v.id:<40} measured {format_number(v.measured)} "
            f"vs predicted {format_number(v.predicted)}  ({v.seconds:.1f}s, "
            f"{v.compile_seconds:.1f}s compiling)")
