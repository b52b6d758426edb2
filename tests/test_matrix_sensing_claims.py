"""Family-specific tests of the matrix sensing claims (the claim harness, tests/test_claims.py,
checks verdicts, negative controls, figures and records): what each claim measured beyond its
status, why each negative control is violated, the fitting helpers on synthetic traces, the
figure groups and the ``convlab run matrix_sensing`` experiment."""

import dataclasses
import importlib.util
import pathlib

import numpy as np
import pytest

import convlab
from theory_checks import registry
from theory_checks.matrix_sensing import fits
from theory_checks.matrix_sensing import instances as I
from theory_checks.matrix_sensing import symmetric_over_sublinear

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SYM_EXACT = "matrix_sensing.symmetric-exact-linear"
SYM_OVER = "matrix_sensing.symmetric-over-sublinear"
ASYM_EXACT = "matrix_sensing.asymmetric-exact-linear"
ALPHA2 = "matrix_sensing.asymmetric-over-alpha2"
ONE_STEP = "matrix_sensing.one-step-alpha-free"


def _controls(measured, claim_id):
    """``{name: verdict}`` of the claim's negative controls, and the broken evidence."""
    claim, ev, _ = measured(claim_id)
    broken = dict(claim.negative_controls(ev))
    return {name: claim.judge(b) for name, b in broken.items()}, broken


def test_registry_lists_the_three_figure_groups():
    names = [name for _, name, _ in registry.figure_groups(["matrix_sensing"])]
    assert names == ["four_cases", "alpha_sweep", "one_step"]
    assert len(registry.claims(["matrix_sensing"])) == 5


# --- what each claim measured, beyond its status ---------------------------------------------
def test_linear_claims_fit_a_positive_rate_that_does_not_drift(measured):
    for claim_id in (SYM_EXACT, ASYM_EXACT):
        _, ev, verdict = measured(claim_id)
        assert verdict.ci[0] > 0
        assert ev.drift["verdict"] == "linear"
        assert ev.drift["ratio_ci"][0] > ev.drift["threshold"]


def test_sublinear_claim_has_both_fits(measured):
    _, ev, verdict = measured(SYM_OVER)
    assert abs(verdict.measured - 1.0) <= symmetric_over_sublinear.POWER_TOL
    drift = verdict.details["drift"]
    assert drift["verdict"] == "sublinear" and drift["ratio_ci"][1] < drift["threshold"]
    # the linear rates of the two halves are those of a power law, whatever its exponent
    assert drift["ratio"] == pytest.approx(drift["power_law_ratio"], rel=0.05)


def test_alpha_claims_judge_local_rates_where_the_limit_was_reached(measured):
    _, ev, verdict = measured(ALPHA2)
    judged = [row["alpha"] for row in verdict.details["per_alpha"] if row["local"] == "judged"]
    assert judged == [0.045, 0.065, 0.1]   # α = 0.03 ends at ~4e-6 at the quick horizon
    for a in judged:
        assert abs(verdict.details[f"local rate (α = {a:g})"]["measured"] - 1.0) < 1e-3
    _, ev, verdict = measured(ONE_STEP)
    assert verdict.details["modified step"]["measured"] < 1e-12
    assert verdict.details["modified step"]["fired_same_step"]


def test_alpha_claim_rate_over_alpha_squared_is_flat(measured):
    _, ev, verdict = measured(ALPHA2)
    ratios = np.array([row["rate_over_alpha2"] for row in verdict.details["per_alpha"]])
    assert len(ratios) >= 4
    assert ratios.max() / ratios.min() < 4 ** (I.RATE_EXPONENT_TOL / 2)  # consistent with the band
    # larger α converges faster
    assert np.all(np.diff([row["rate"] for row in verdict.details["per_alpha"]]) > 0)


def test_one_step_claim_fired_and_matches_the_exact_rate(measured):
    _, ev, verdict = measured(ONE_STEP)
    assert np.all(np.isfinite(ev.trigger))  # fired for every seed and α
    ratio_lo, ratio_hi = verdict.details["rate_ratio_ci"]
    assert 1 / I.CLOSE_FACTOR < ratio_lo <= ratio_hi < I.CLOSE_FACTOR
    for row in verdict.details["per_alpha"]:  # the window starts after the modification fired
        assert row["window"][0] > ev.trigger.max()


# --- why each negative control is violated (the harness checks that it is) --------------------
def test_linear_controls_are_rejected_for_their_reasons(measured):
    for claim_id in (SYM_EXACT, ASYM_EXACT):
        verdicts, broken = _controls(measured, claim_id)
        part = lambda name, which: verdicts[name].details[which]
        assert np.all(broken["α = 3 (diverges)"].diverged >= 0)  # every run diverged
        # a broken step: the measured rate leaves the theory map's, the method's own map too
        for name, low, high in (("GD step 1.2η", 1.1, 1.3), ("gradient missing its factor 2", 0.4, 0.7)):
            rate = part(name, "local rate")
            assert rate["status"] == "violated" and low < rate["measured"] < high
            assert rate["implementation_mismatch"] > 0.1
        # wrong generators: GD converges to 1.02 M*; the operator's normalisation is 1.69
        assert part("y = A(1.02 M*)", "limit is a solution")["status"] == "violated"
        assert part("A scaled by 1.3", "operator")["measured"] == pytest.approx(0.69, abs=0.05)
    verdicts, _ = _controls(measured, SYM_EXACT)
    assert verdicts["symmetric k > r instance"].details["linear"]["drift"]["verdict"] == "sublinear"
    verdicts, _ = _controls(measured, ASYM_EXACT)
    # the balanced init (measured drift ratio 0.62 vs threshold 0.74) decays like c/t
    assert verdicts["balanced init, k > r"].details["linear"]["drift"]["verdict"] == "sublinear"


def test_local_rates_match_the_theory_map_at_the_limit(measured):
    """Per seed, the measured window rate is the linearised theory map's (NOTES.md: within
    1e-3 measured), the method's own map gives the same, and the transient the window sees is
    why −log ρ alone would be 1–12% below the fitted rate."""
    for claim_id in (SYM_EXACT, ASYM_EXACT):
        _, ev, verdict = measured(claim_id)
        rate = verdict.details["local rate"]
        assert abs(verdict.measured - 1.0) < 1e-3 and rate["implementation_mismatch"] < 1e-9
        assert np.all(np.asarray(rate["window_rate_over_minus_log_rho"]) >= 1.0)
        assert verdict.details["limit is a solution"]["measured"] < 1e-12
    _, ev, _ = measured(SYM_EXACT)   # one orbit: the same −log ρ at every seed's limit
    assert np.ptp(ev.local.rho_rate) < 1e-10 and ev.local.tangent_dim == 1
    _, ev, _ = measured(ASYM_EXACT)  # the rate depends on the limit's balance
    assert np.ptp(ev.local.rho_rate) > 1e-4 and ev.local.tangent_dim == 4


def test_sublinear_control_has_a_huge_exponent(measured):
    verdicts, _ = _controls(measured, SYM_OVER)
    assert verdicts["k = r trace"].measured > 2.0


def test_alpha_controls_swap_the_laws(measured):
    verdicts, _ = _controls(measured, ALPHA2)
    assert abs(verdicts["one-step modified GD"].measured) < 0.25
    assert verdicts["GD step 1.2η"].details["local rate (α = 0.1)"]["status"] == "violated"
    verdicts, _ = _controls(measured, ONE_STEP)
    plain = verdicts["plain GD"]
    assert plain.details["exponent"]["status"] == "violated"
    assert plain.details["close to k = r"]["status"] == "violated"
    assert plain.measured == pytest.approx(2.0, abs=0.3)
    broken = verdicts["one-step GD step 1.2η"].details
    assert broken["modified step"]["status"] == "violated"
    assert all(broken[f"local rate (α = {a:g})"]["status"] == "violated" for a in (0.03, 0.1))


def test_missing_fit_windows_are_inconclusive(measured):
    claim, ev, _ = measured(SYM_EXACT)
    missing = dataclasses.replace(ev, fit=None, drift={"verdict": "undecided"})
    assert claim.judge(missing).status == "inconclusive"
    claim4, ev4, _ = measured(ALPHA2)
    no_window = fits.LinearFit(None, None, {"verdict": "undecided"})
    broken = dataclasses.replace(ev4, fits=(no_window,) + ev4.fits[1:])
    assert claim4.judge(broken).status == "inconclusive"


# --- the fitting helpers on synthetic traces ---------------------------------------------------
def _noisy(curve, seeds=8, noise=0.01):
    rng = np.random.default_rng(0)
    return curve[None, :] * np.exp(noise * rng.normal(size=(seeds, curve.size)))


def test_power_law_drift_is_exponent_free():
    a, b = 100.0, 1000.0
    k = np.linspace(a, b, 2001)
    for p in (0.5, 1.0, 3.0):
        fit = [convlab.fit_rate(k, k**-p, window=w) for w in ((a, (a + b) / 2), ((a + b) / 2, b))]
        assert fit[1].rate / fit[0].rate == pytest.approx(fits.power_law_drift(a, b, k), rel=1e-9)
    assert fits.power_law_drift(a, b) == pytest.approx(0.38, abs=0.005)
    assert fits.power_law_drift(a, 2 * a) > 0.7  # a short window barely separates the laws


def test_drift_test_separates_linear_from_power_laws():
    k = np.arange(0.0, 2001.0, 5.0)
    linear = fits.drift_test(k, _noisy(np.exp(-0.01 * k)), (200.0, 2000.0))
    assert linear["verdict"] == "linear" and linear["ratio"] == pytest.approx(1.0, abs=0.05)
    power = fits.drift_test(k, _noisy((1.0 + k) ** -1.0), (200.0, 2000.0))
    assert power["verdict"] == "sublinear"
    one_run = fits.drift_test(k, (1.0 + k) ** -2.0, (200.0, 2000.0))  # OLS-CI branch
    assert one_run["verdict"] == "sublinear"
    narrow = fits.drift_test(k, _noisy(np.exp(-0.01 * k)), (1500.0, 2000.0))
    assert narrow["verdict"] == "undecided"


def test_late_window_starts_in_the_local_regime_and_stops_at_the_floor():
    k = np.arange(0.0, 1001.0)
    err = np.maximum(np.exp(-0.05 * k), 1e-16)
    lo, hi = fits.late_window(k, err[None, :])
    assert err[int(lo)] <= fits.LATE_START and err[int(lo) - 1] > fits.LATE_START
    assert err[int(hi)] > 1e4 * np.finfo(float).eps and err[int(hi) + 1] <= 1e4 * np.finfo(float).eps
    assert fits.late_window(k, np.ones((2, k.size))) is None  # never gets into the local regime


# --- figures, script, experiment ---------------------------------------------------------------
def test_figure_script_writes_claim_and_group_figures(tmp_path, measured, capsys):
    """scripts/matrix_sensing_figures.py --quick, in-process: the sweeps the claims measured
    are reused through the cache of ``instances``."""
    claim_ids = [c.id for c in registry.claims(["matrix_sensing"])]
    for claim_id in claim_ids:
        measured(claim_id)
    script = ROOT / "scripts" / "matrix_sensing_figures.py"
    spec = importlib.util.spec_from_file_location("ms_figures", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figs"
    assert module.main(["--quick", "--out", str(out)]) == 0
    written = {p.stem for p in out.glob("*.png")}
    expected = set(claim_ids) | {f"matrix_sensing.{n}" for n in ("four_cases", "alpha_sweep", "one_step")}
    assert written == expected
    listed = capsys.readouterr().out
    for path in out.glob("*.png"):
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert str(path) in listed  # every written path is listed


def test_run_experiment_small(tmp_path):
    experiment = registry.experiment("matrix_sensing")
    config = {**experiment.defaults, "num_steps": 200, "record_every": 10}
    trace, summary = experiment.run(config)
    assert summary["diverged"] == -1 and summary["relative_final_error"] < 1.0
    sym = {**config, "parameterization": "symmetric"}
    assert experiment.run(sym)[1]["diverged"] == -1
    with pytest.raises(ValueError, match="method"):
        experiment.run({**sym, "method": "one_step"})
    with pytest.raises(ValueError, match="parameterization"):
        experiment.run({**config, "parameterization": "hermitian"})
