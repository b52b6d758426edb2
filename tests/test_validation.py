"""Issue 15 items 5-9 and 11: bad input named before any work; figure failures and interrupts."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from convlab import validate as V
from theory_checks import cli, registry
from theory_checks.verdict import Verdict

FAMILIES = ("bilevel", "classical", "games", "matrix_sensing", "monotone", "robust_recovery")


def _run(capsys, tmp_path, family, *settings):
    argv = ["run", family, "--out", str(tmp_path / "store")]
    for s in settings:
        argv += ["--set", s]
    code = cli.main(argv)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_experiment_declares_a_validator_that_accepts_its_defaults(family):
    experiment = registry.experiment(family)
    assert experiment.validate is not None
    experiment.validate(dict(experiment.defaults))


@pytest.mark.parametrize("family,setting,named", [
    ("classical", "h=nan", "h"), ("games", "h_rel=inf", "h_rel"),
    ("classical", "kind=nosuch", "kind"), ("classical", "h=-5", "h"),
    ("classical", f"seed={2**70}", "seed"), ("classical", "seed=-1", "seed"),
    ("classical", "dim=1000000", "dim"), ("classical", f"num_steps={10**12}", "num_steps"),
    ("bilevel", "steps=0", "steps"), ("bilevel", "steps=-5", "steps"), ("bilevel", "records=0", "records"),
    ("monotone", "epochs=0", "epochs"), ("robust_recovery", "alpha=0", "alpha"),
    ("matrix_sensing", "r=50", "r"), ("robust_recovery", "outlier_fraction=1.5", "outlier_fraction"),
    ("matrix_sensing", "num_measurements=100000000", "num_measurements"),
])
def test_bad_settings_exit_2_naming_the_key_before_any_work(capsys, tmp_path, family, setting, named):
    code, err = _run(capsys, tmp_path, family, setting)
    assert code == 2
    assert len(err.splitlines()) == 1 and named in err, err
    assert "np.float64" not in err and "Traceback" not in err
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_unused_keys_are_validated_too(capsys, tmp_path):
    code, err = _run(capsys, tmp_path, "classical", "problem=quadratic", "h=-5")
    assert code == 2 and "h" in err and "-5" in err


def test_a_bad_step_count_is_reported_before_a_huge_dimension(capsys, tmp_path):
    code, err = _run(capsys, tmp_path, "classical", "num_steps=-1", "dim=100000000")
    assert code == 2 and "num_steps" in err


def test_a_failure_after_validation_is_not_bad_input(capsys, tmp_path, monkeypatch):
    experiment = registry.experiment("classical")

    def failing(config, *, progress=False):
        raise ValueError("fit_rate: no decaying window")

    monkeypatch.setattr(registry, "experiment", lambda name: dataclasses.replace(experiment, run=failing))
    code, err = _run(capsys, tmp_path, "classical")
    assert code == 1 and "fit_rate" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [
    ["run", "classical", "--out", "{file}"], ["check", "nosuchclaim", "--out", "{file}"],
    ["check", "nosuchclaim", "--json", "{dir}"], ["figures", "nosuchclaim", "--out", "{file}"],
    ["bench", "--json", "{dir}"], ["run", "classical", "--out", "{file}/sub"],
])
def test_output_paths_are_checked_first(capsys, tmp_path, argv):
    file = tmp_path / "a_file"
    file.write_text("x")
    argv = [a.format(file=file, dir=tmp_path) for a in argv]
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "directory" in err or "file" in err  # the path problem, not the unknown claim


def test_unwritable_directory_is_bad_input(capsys, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", refuse)
    code = cli.main(["check", "nosuchclaim", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "not writable" in err


# --- item 9: generators ---------------------------------------------------------------------

def test_helpers_reject_non_numbers_naming_the_argument():
    for bad in (True, "1.0", None, np.ones(3)):
        with pytest.raises((TypeError, ValueError), match="mu"):
            V.require_number("mu", bad)
    for bad in ("x", None, True):
        with pytest.raises(TypeError, match="step"):
            V.require_positive("step", bad)
    with pytest.raises(ValueError, match="L"):
        V.require_positive("L", 1e308, maximum=1e150)
    assert V.require_number("x", np.float64(2.5)) == 2.5


def test_generators_reject_raw_keys_and_nonsense():
    from problems import classical, games, robust_recovery

    key = jax.random.key(0)
    with pytest.raises(TypeError, match="key"):
        classical.make_strongly_convex_quadratic(jax.random.PRNGKey(0), dim=3, mu=0.1, L=1.0)
    with pytest.raises(TypeError, match="key"):
        classical.make_strongly_convex_quadratic(np.zeros(2, np.uint32), dim=3, mu=0.1, L=1.0)
    with pytest.raises(ValueError, match="x0"):
        games.make_toy_game(key, x0=(np.nan, 0.0))
    with pytest.raises(ValueError, match="L"):
        classical.make_strongly_convex_quadratic(key, dim=3, mu=0.1, L=1e308)
    with pytest.raises(ValueError, match="noise_std"):
        robust_recovery.make_robust_recovery(key, dim=5, rank=1, num_measurements=50, noise_std=1e308)
    with pytest.raises(TypeError, match="dim"):
        classical.make_strongly_convex_quadratic(key, dim=True, mu=0.1, L=1.0)
    with pytest.raises(TypeError, match="mu"):
        classical.make_strongly_convex_quadratic(key, dim=3, mu=np.ones(2), L=1.0)


def test_the_decorator_does_not_change_generated_numbers():
    from problems import classical

    key = jax.random.key(3)
    a = classical.make_strongly_convex_quadratic(key, dim=4, mu=0.1, L=1.0)
    b = classical.make_strongly_convex_quadratic.__wrapped__(key, dim=4, mu=0.1, L=1.0)
    assert all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# --- item 11: check keeps judged verdicts and finished claims --------------------------------

class _Claim:
    statement, family, kind, citation = "a claim", "fake", "rate", "-"

    def __init__(self, cid, *, draw_fails=False, raises=None):
        self.id, self.draw_fails, self.raises = cid, draw_fails, raises

    def sizes_for(self, quick):
        return {}

    def measure(self):
        if self.raises is not None:
            raise self.raises
        return 1.0

    def judge(self, evidence):
        return Verdict("holds", 1.0, 1.0)

    def draw(self, evidence, verdict, fig):
        if self.draw_fails:
            raise RuntimeError("no backend")

    def stamp(self, verdict, quick):
        return dataclasses.replace(verdict, id=self.id, family=self.family)


def test_a_failing_figure_is_recorded_beside_the_verdict(tmp_path):
    verdict, failed = cli._evaluate(_Claim("fake.a", draw_fails=True), quick=True, out=tmp_path)
    assert verdict.status == "holds" and verdict.measured == 1.0
    assert "no backend" in verdict.details["figure_error"] and failed


def test_systemexit_in_a_claim_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    claims = [_Claim("fake.a"), _Claim("fake.b", raises=SystemExit(3)), _Claim("fake.c")]
    monkeypatch.setattr(cli, "_claims", lambda selectors: claims)
    code = cli.main(["check", "--out", str(tmp_path), "--json", str(tmp_path / "v.json")])
    import json
    records = json.loads((tmp_path / "v.json").read_text())
    assert [r["verdict"] for r in records] == ["holds", "inconclusive", "holds"]
    assert code == 1


def test_keyboard_interrupt_keeps_the_finished_claims(tmp_path, monkeypatch, capsys):
    claims = [_Claim("fake.a"), _Claim("fake.b", raises=KeyboardInterrupt()), _Claim("fake.c")]
    monkeypatch.setattr(cli, "_claims", lambda selectors: claims)
    code = cli.main(["check", "--out", str(tmp_path), "--json", str(tmp_path / "v.json")])
    import json
    records = json.loads((tmp_path / "v.json").read_text())
    assert [r["id"] for r in records] == ["fake.a"]
    assert "Interrupted" in (tmp_path / "report.md").read_text()
    assert code != 0
