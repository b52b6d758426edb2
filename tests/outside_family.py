"""A small outside family, laid out like a built-in one and made discoverable through real
entry-point metadata (a ``*.dist-info`` folder with ``entry_points.txt``) on ``sys.path``."""

from __future__ import annotations

import textwrap
from pathlib import Path

CLAIM = '''"""fake.{name}: a claim of the outside family. Test fixture. [text]"""
import dataclasses

from theory_checks import kinds

ID, KIND = "fake.{name}", "envelope"
CITATION = "A. Author, J. Tests 2026, Thm 1"
STATEMENT = "values of {name} stay <= {bound}"
SIZES = {{"quick": dict(n=3), "full": dict(n=30)}}


@dataclasses.dataclass(frozen=True)
class Evidence:
    values: tuple


def measure(*, n):
    {body}
    return Evidence(tuple([0.5] * n))


def judge(ev):
    return kinds.envelope(ev.values, {bound}, predicted="||x|| <= {bound}")


def draw(ev, verdict, fig):
    fig.axes[0].plot(ev.values)


def negative_controls(ev):
    yield "values doubled", Evidence(tuple(4 * v for v in ev.values))
'''

EXPERIMENT = '''"""`convlab run fake`."""
DEFAULTS = {"n": 3, "scale": 1.0}


def run(config, *, progress=False):
    values = [config["scale"]] * config["n"]
    return {"values": values}, {"total": sum(values)}
'''


def write_outside_family(root: Path, *, crashing: bool = True) -> Path:
    """Write package ``fakefam`` (family ``fake``) and its dist-info under ``root``; return root."""
    package = root / "fakefam"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""An outside family."""\nFAMILY = "fake"\n'
                                         'CITATION = "A. Author, J. Tests 2026"\n')
    claims = {"holds": ("1.0", "pass"), "violated": ("0.1", "pass")}
    if crashing:
        claims["crashes"] = ("1.0", 'raise RuntimeError("boom")')
    for name, (bound, body) in claims.items():
        (package / f"{name}.py").write_text(CLAIM.format(name=name, bound=bound, body=body))
    (package / "experiment.py").write_text(EXPERIMENT)
    info = root / "fakefam-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakefam\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [convlab.families]
        fake = fakefam
        """))
    return root
