"""The convlab command line: exit statuses, one-line errors, report/JSON, run + store."""

import json
import shutil
import subprocess

import pytest

from outside_family import write_outside_family
from theory_checks import cli, registry


@pytest.fixture
def fake_family(tmp_path, monkeypatch):
    """The outside family 'fake' (one holding, one violated and one crashing claim), found
    through its entry-point metadata on sys.path."""
    monkeypatch.syspath_prepend(str(write_outside_family(tmp_path / "site")))
    registry._discovered.cache_clear()
    yield
    registry._discovered.cache_clear()


def test_check_writes_report_json_and_figures(tmp_path, fake_family, capsys):
    out, js = tmp_path / "rep", tmp_path / "out.json"
    status = cli.main(["check", "fake", "--quick", "--json", str(js), "--out", str(out)])
    assert status == 1  # one violated, one crashed
    records = {r["id"]: r for r in json.loads(js.read_text())}
    assert records["fake.holds"]["verdict"] == "holds"
    assert records["fake.violated"]["verdict"] == "violated"
    assert records["fake.crashes"]["verdict"] == "inconclusive"
    assert "boom" in records["fake.crashes"]["details"]["error"]
    for r in records.values():
        assert {"id", "family", "claim", "citation", "kind", "predicted", "measured", "ci",
                "verdict", "figure", "seconds", "compile_seconds", "sizes"} <= set(r)
        assert r["citation"] == "A. Author, J. Tests 2026, Thm 1" and r["sizes"] == {"n": 3}
    assert (out / "fake.holds.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "| `fake.holds` |" in report and "VIOLATED" in report


def test_check_runs_single_claims_by_id(tmp_path, fake_family, capsys):
    js = tmp_path / "one.json"
    assert cli.main(["check", "fake.holds", "--quick", "--json", str(js), "--out", str(tmp_path)]) == 0
    assert [r["id"] for r in json.loads(js.read_text())] == ["fake.holds"]
    assert cli.main(["check", "fake.holds", "fake.violated", "--out", str(tmp_path)]) == 1


def test_list_shows_families_claims_citations_and_run_keys(fake_family, capsys):
    assert cli.main(["list", "fake"]) == 0
    out = capsys.readouterr().out
    assert "fake  [entry point fake = fakefam (fakefam)]  A. Author, J. Tests 2026" in out
    for name in ("holds", "violated", "crashes"):
        assert f"fake.{name}" in out
    assert "A. Author, J. Tests 2026, Thm 1" in out and "run keys: n=3 scale=1.0" in out


def test_run_runs_an_outside_family(tmp_path, fake_family, capsys):
    assert cli.main(["run", "fake", "--set", "n=4", "--out", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == {"total": 4.0}


@pytest.mark.parametrize("argv, fragment", [
    (["check", "nosuchfamily"], "family: unknown 'nosuchfamily'"),
    (["check", "classical.nosuchclaim"], "claim: unknown 'classical.nosuchclaim'"),
    (["list", "nosuchfamily"], "family: unknown 'nosuchfamily'"),
    (["figures", "nosuchfamily"], "family: unknown"),
    (["run", "nosuchfamily"], "family: unknown"),
    (["run", "classical", "--set", "foo=1"], "--set foo: unknown key"),
    (["run", "classical", "--set", "num_steps=ten"], "expected a int"),
    (["run", "classical", "--set", "novalue"], "expected KEY=VALUE"),
    (["run", "classical", "--set", "dim=1"], "dim must be >= 2"),
    (["run", "classical", "--set", "h=-1"], "h must lie in (0.0, inf], got -1.0"),
    (["run", "classical", "--set", "h=nan"], "--set h=nan: must be finite"),
    (["run", "classical", "--set", "seed=1180591620717411303424"], "seed must be <="),
    (["run", "classical", "--set", "dim=1000000"], "dim must be <="),
    (["run", "classical", "--set", "problem=rosenbrock"], "problem must be one of"),
    (["frobnicate"], "invalid choice"),
    ([], "a command is required"),
])
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys, tmp_path):
    assert cli.main(argv + (["--out", str(tmp_path)] if argv[:1] == ["run"] else [])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err and err.startswith("convlab: error:")


def test_run_saves_to_the_store_and_reuses_it(tmp_path, capsys):
    argv = ["run", "classical", "--set", "problem=huber_worst_case", "--set", "num_steps=50",
            "--set", "record_every=5", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["summary"]["final"] == pytest.approx(first["summary"]["bound_at_N"], rel=1e-10)
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first
    manifest = json.loads((tmp_path / first["path"].split("/")[-1] / "manifest.json").read_text())
    assert manifest["config"]["num_steps"] == 50 and manifest["provenance"]["precision"] == "float64"


def test_console_script_is_installed():
    exe = shutil.which("convlab") or pytest.fail("the `convlab` console script is not on PATH")
    out = subprocess.run([exe, "check", "nosuchfamily"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1


def test_bench_runs_the_benchmarks_and_writes_json(tmp_path, monkeypatch, capsys):
    """`convlab bench` runs every benchmarks/*.py main(argv); here with a stub script dir."""
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "tiny.py").write_text("def main(argv):\n    return {'name': 'tiny', 'argv': argv}\n")
    monkeypatch.setattr(cli, "BENCH_DIR", bench)
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == [{"name": "tiny", "argv": ["--quick"]}]


def test_bench_without_benchmarks_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "BENCH_DIR", tmp_path / "missing")
    assert cli.main(["bench"]) == 2
    assert "no benchmarks found" in capsys.readouterr().err


def test_figures_draws_every_claim_and_reports_a_crash(tmp_path, fake_family, capsys):
    assert cli.main(["figures", "fake", "--out", str(tmp_path)]) == 1  # fake.crashes crashed
    assert (tmp_path / "fake.holds.png").is_file() and (tmp_path / "fake.violated.png").is_file()
    assert "fake.holds" in capsys.readouterr().out


def test_cli_enables_the_persistent_compilation_cache_only_when_asked(monkeypatch, tmp_path):
    import jax

    monkeypatch.setenv("CONVLAB_CACHE_DIR", "")  # conftest default: off
    before = jax.config.jax_compilation_cache_dir
    cli._setup_jax()
    assert jax.config.jax_compilation_cache_dir == before and jax.config.jax_enable_x64


def test_report_rows_survive_pipes_in_statements(tmp_path, fake_family):
    """Norms such as ||x_k - x*|| (the fake claims predict "||x|| <= 1") must not split a row."""
    assert cli.main(["check", "fake.holds", "--quick", "--out", str(tmp_path)]) == 0
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if "fake.holds" in line)
    assert row.replace("\\|", "").count("|") == 12  # 11 columns


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_figures_format_pdf_and_svg_for_claims_and_figure_groups(tmp_path, fake_family, fmt, magic,
                                                                  monkeypatch):
    """--format reaches the claims' figures and the families' figure groups (which name their
    files *.png and save through convlab.plots.save_figure)."""
    import sys
    for name in [m for m in sys.modules if m.split(".")[0] == "fakefam"]:  # an earlier test's copy
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "site" / "fakefam" / "figures.py").write_text(
        "from pathlib import Path\nfrom convlab import plots\n"
        "def _make(out_dir, quick):\n"
        "    fig, ax = plots.new_figure()\n"
        "    ax.plot([0, 1])\n"
        "    return [str(plots.save_figure(fig, Path(out_dir) / 'fake.group.png'))]\n"
        "FIGURES = {'group': _make}\n")
    out = tmp_path / "figs"
    assert cli.main(["figures", "fake", "--out", str(out), "--format", fmt]) == 1  # fake.crashes
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert written == [f"fake.group.{fmt}", f"fake.holds.{fmt}", f"fake.violated.{fmt}"]
    assert all(magic in (out / name).read_bytes()[:64] for name in written)
    from convlab import plots
    assert plots.save_figure.__name__ == "save_figure"  # restored after the command


def test_figures_rejects_an_unknown_format(tmp_path, capsys):
    assert cli.main(["figures", "--out", str(tmp_path), "--format", "jpg"]) == 2
    assert "--format" in capsys.readouterr().err
