"""Smoke test of benchmarks/sweep_vs_loop.py at a tiny size: it runs and writes its record.

Not a timed test: DESIGN.md keeps performance out of the test suite, so nothing here asserts a
speedup; the ratios are measured by hand (see benchmarks/README.md).
"""

import importlib.util
import json
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "sweep_vs_loop.py"


@pytest.fixture(scope="module")
def sweep_vs_loop():
    name = "_convlab_bench_sweep_vs_loop"
    spec = importlib.util.spec_from_file_location(name, BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclass annotations are resolved through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_sweep_vs_loop_quick_smoke(sweep_vs_loop, tmp_path, capsys):
    out = tmp_path / "bench" / "sweep_vs_loop.json"
    record = sweep_vs_loop.main(["--quick", "--steps", "3", "--seeds", "2", "--step-sizes", "2",
                                 "--m", "12", "--n", "5", "--repeat", "1", "--json", str(out)])
    written = json.loads(out.read_text())
    assert isinstance(written, list) and len(written) == 1
    assert written[0] == json.loads(json.dumps(record))
    assert record["name"] == "sweep_vs_loop"
    for field in ("speedup_vs_step_loop", "speedup_vs_numpy", "compile_seconds", "sweep_seconds",
                  "step_loop_seconds", "numpy_seconds", "runs", "steps"):
        assert field in record, field
        assert record[field] > 0, field
    assert record["runs"] == 4 and record["steps"] == 3
    assert record["max_rel_diff"] <= 1e-10  # the three implementations did the same work
    assert record["recompiles_on_new_values"] == 0
    table = capsys.readouterr().out
    assert "speedup_vs_step_loop" in table and "numpy loop" in table


def test_sweep_vs_loop_rejects_bad_sizes(sweep_vs_loop):
    with pytest.raises(SystemExit):
        sweep_vs_loop.main(["--steps", "0"])
