"""Smoke tests of benchmarks/*.py at tiny sizes: each runs and writes well-formed records.

Not timed tests: DESIGN.md keeps performance out of the test suite, so nothing here asserts a
speedup; the ratios are measured by hand (see benchmarks/README.md). What is asserted: every
record carries its fields, ratios are finite and positive, the modes' final iterates agreed,
the sweep did not recompile for new values, ``gemm_fraction`` is in (0, 1], the torch mode is
recorded as null without torch, and ``convlab bench`` gathers the records of every script.
"""

import importlib.util
import json
import math
import pathlib
import shutil
import sys

import pytest

from theory_checks import cli

BENCH_DIR = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
COMMON = ["--quick", "--steps", "3", "--seeds", "2", "--step-sizes", "2", "--repeat", "1"]
TINY = {  # script -> its size options (tiny problems: the whole module runs in seconds)
    "sweep_vs_loop": ["--m", "12", "--n", "5"],
    "matrix_sensing": ["--n", "6", "--r", "2", "--k", "3", "--m", "60"],
    "monotone": ["--dim", "5", "--components", "3"],
    "games": ["--dim", "6"],
}
MODES = ("sweep", "step_loop", "numpy", "torch")


def _load(name):
    module_name = f"_convlab_bench_{name}"
    spec = importlib.util.spec_from_file_location(module_name, BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclass annotations are resolved through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scripts():
    loaded = {name: _load(name) for name in TINY}
    yield loaded
    for name in TINY:
        sys.modules.pop(f"_convlab_bench_{name}", None)


@pytest.fixture(scope="module")
def records(scripts, tmp_path_factory):
    """``{script: (returned records, written records)}`` from one tiny run of each script."""
    out = {}
    for name, module in scripts.items():
        path = tmp_path_factory.mktemp("bench") / f"{name}.json"
        returned = module.main(COMMON + TINY[name] + ["--json", str(path)])
        out[name] = returned, json.loads(path.read_text())
    return out


def _positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def check_record(record, *, torch_expected):
    for field in ("name", "device", "versions", "runs", "steps", "first_call_seconds"):
        assert field in record, field
    assert record["runs"] == 4 and record["steps"] == 3
    for mode in MODES:
        if mode == "torch" and not torch_expected:
            assert record["torch_seconds"] is None and record["torch_steps_runs_per_second"] is None
            continue
        assert _positive(record[f"{mode}_seconds"]), mode
        assert _positive(record[f"{mode}_steps_runs_per_second"]), mode
    for ratio in ("speedup_vs_step_loop", "speedup_vs_numpy"):
        assert _positive(record[ratio]), ratio
    assert _positive(record["speedup_vs_torch"]) if torch_expected else record["speedup_vs_torch"] is None
    assert record["compile_seconds"] >= 0 and math.isfinite(record["compile_seconds"])
    assert record["recompiles_on_new_values"] == 0  # new numeric values reuse the compiled sweep
    assert 0 <= record["max_rel_diff"] <= record["rtol"] <= 1e-9  # all modes did the same work
    assert record["versions"]["jax"] and record["versions"]["numpy"]


@pytest.mark.parametrize("name", list(TINY))
def test_script_writes_well_formed_records(records, name):
    returned, written = records[name]
    assert isinstance(returned, list) and returned
    assert written == json.loads(json.dumps(returned))
    has_torch = importlib.util.find_spec("torch") is not None
    for record in returned:
        assert record["name"].startswith(name)
        check_record(record, torch_expected=has_torch)


def test_matrix_sensing_reports_its_gemm_fraction(records):
    (record,), _ = records["matrix_sensing"]
    assert record["name"] == "matrix_sensing_k3"
    assert 0 < record["gemm_fraction"] <= 1
    for field in ("gemm_f64_flops", "gemm_f32_flops", "sweep_flops"):
        assert _positive(record[field]), field
    n, k, m = 6, 3, 60  # the count of the module docstring
    assert record["flops_per_step"] == 4 * m * n * n + 4 * n * n * k + 2 * n * n + m + 2 * n * k


def test_torch_mode_is_null_without_torch(scripts, monkeypatch):
    common = sys.modules["_common"]
    monkeypatch.setattr(common, "_import_torch", lambda: None)
    (record,) = scripts["games"].main(COMMON + TINY["games"])
    check_record(record, torch_expected=False)
    assert record["torch_threads"] is None


def test_disagreeing_modes_fail_the_benchmark(scripts, monkeypatch):
    games = scripts["games"]
    monkeypatch.setattr(games, "_euler_step", lambda be, a, x, h, k: x)  # a different method
    with pytest.raises(RuntimeError, match="disagree"):
        games.main(COMMON + TINY["games"])


def test_scripts_reject_bad_sizes(scripts):
    with pytest.raises(SystemExit):
        scripts["sweep_vs_loop"].main(["--steps", "0"])
    with pytest.raises(SystemExit):
        scripts["matrix_sensing"].main(["--m", "0"])


def test_bench_gathers_every_script_and_forwards_the_shared_options(tmp_path, monkeypatch, capsys):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    for name in ("_common.py", "sweep_vs_loop.py"):
        shutil.copy(BENCH_DIR / name, bench / name)
    (bench / "pair.py").write_text("def main(argv):\n"
                                   "    return [{'name': 'a', 'argv': argv}, {'name': 'b'}]\n")
    (bench / "broken.py").write_text("def main(argv):\n    raise RuntimeError('boom')\n")
    monkeypatch.setattr(cli, "BENCH_DIR", bench)
    out = tmp_path / "bench.json"
    status = cli.main(["bench", "--quick", "--json", str(out), "--steps", "2", "--seeds", "2",
                       "--step-sizes", "2", "--repeat", "1"])
    assert status == 1  # broken.py raised; the others still ran
    written = json.loads(out.read_text())
    assert [r["name"] for r in written] == ["broken", "a", "b", "sweep_vs_loop"]
    assert written[0]["error"] == "RuntimeError: boom"
    assert written[1]["argv"] == ["--quick", "--steps", "2", "--seeds", "2", "--step-sizes", "2",
                                  "--repeat", "1"]
    assert written[3]["runs"] == 4 and written[3]["steps"] == 2
    assert "sweep_vs_loop" in capsys.readouterr().out
    assert cli.main(["bench", "--only", "pair", "--json", str(out)]) == 0
    assert [r["name"] for r in json.loads(out.read_text())] == ["a", "b"]
    assert cli.main(["bench", "--only", "nosuch"]) == 2
