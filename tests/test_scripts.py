"""The figure scripts in ``scripts/``: run as a user would, in a fresh interpreter."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from theory_checks import registry

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(*args: str, cwd: pathlib.Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}  # the script decides
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_classical_figures_quick_writes_one_png_per_claim(tmp_path):
    out = tmp_path / "figures"
    proc = _run(str(SCRIPTS / "classical_figures.py"), "--quick", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    expected = {claim.id for claim in registry.claims(["classical"])}
    assert expected, "no classical claims registered"
    written = {p.stem for p in out.glob("*.png")}
    assert expected <= written, f"missing figures: {sorted(expected - written)}"
    if not registry.figure_groups(["classical"]):
        assert written == expected, f"unexpected figures: {sorted(written - expected)}"
    for claim_id in expected:
        assert (out / f"{claim_id}.png").read_bytes()[:8] == PNG_MAGIC
        assert str(out / f"{claim_id}.png") in proc.stdout  # the paths are listed as written
    assert list(tmp_path.iterdir()) == [out], "the script wrote outside --out"


def test_scripts_show_usage(tmp_path):
    for script in ("classical_figures.py", "make_figures.py"):
        proc = _run(str(SCRIPTS / script), "--help", cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "--quick" in proc.stdout and "--out" in proc.stdout


def test_readme_lists_every_script():
    readme = (SCRIPTS / "README.md").read_text()
    for script in sorted(SCRIPTS.glob("*.py")):
        assert f"`{script.name}`" in readme, f"scripts/README.md does not list {script.name}"
