"""Property and unit tests of ``convlab.fit_rate`` (diffrax ``test_ode_order`` style): known
synthetic rates are recovered, CIs cover the truth, the automatic window skips the floor, diverged
seeds are left out, bad input is rejected."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convlab
from convlab.rates import auto_window
from toy_problems import quadratic_from

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, database=None)


def linear_data(rate, *, num=121, decades=10.0, noise=0.0, seeds=None, scale=3.0, rng=0):
    """``err = scale * exp(-rate k) * exp(noise * N(0,1))`` down to ``10^-decades``."""
    k = np.linspace(0.0, decades * np.log(10) / rate, num)
    shape = (num,) if seeds is None else (seeds, num)
    eps = np.random.default_rng(rng).standard_normal(shape)
    return k, scale * np.exp(-rate * k + noise * eps)


def power_data(exponent, *, num=161, k_max=1e4, noise=0.0, seeds=None, scale=2.0, rng=0):
    """``err = scale * k^-p * exp(noise * N(0,1))`` on log-spaced k in [1, k_max]."""
    k = np.unique(np.round(np.logspace(0, np.log10(k_max), num)))
    shape = k.shape if seeds is None else (seeds, k.size)
    eps = np.random.default_rng(rng).standard_normal(shape)
    return k, scale * k ** (-exponent) * np.exp(noise * eps)


def window_inside_data(fit, k):
    lo, hi = fit.window
    return k.min() <= lo < hi <= k.max()


# --- recovery of known rates -------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 2.0])
def test_linear_rate_exact_data(rate):
    k, err = linear_data(rate)
    fit = convlab.fit_rate(k, err, kind="linear")
    assert fit.kind == "linear"
    assert abs(fit.rate - rate) < 1e-9 * rate
    assert fit.r2 > 1 - 1e-12
    assert fit.intercept == pytest.approx(np.log(3.0), abs=1e-8)
    assert fit.num_seeds == 1 and fit.num_excluded == 0
    assert window_inside_data(fit, k)


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 2.0])
def test_linear_rate_noisy_single_run(rate):
    k, err = linear_data(rate, noise=0.05, rng=1)
    fit = convlab.fit_rate(k, err, kind="linear")
    assert abs(fit.rate - rate) < 0.01 * rate
    assert fit.contains(rate)  # OLS standard-error interval
    assert fit.ci_low < fit.rate < fit.ci_high
    assert fit.ci_high - fit.ci_low < 0.02 * rate


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0, 3.0])
def test_power_rate_exact_data(exponent):
    k, err = power_data(exponent)
    fit = convlab.fit_rate(k, err, kind="power")
    assert fit.kind == "power"
    assert abs(fit.rate - exponent) < 1e-9 * exponent
    assert fit.r2 > 1 - 1e-12
    assert window_inside_data(fit, k)
    assert fit.window[0] > 0


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0])
def test_power_rate_noisy_single_run(exponent):
    k, err = power_data(exponent, noise=0.05, rng=2)
    fit = convlab.fit_rate(k, err, kind="power")
    assert abs(fit.rate - exponent) < 0.03 * exponent
    assert fit.contains(exponent)


def test_power_rate_with_k0_recorded():
    # a real trace records k = 0 with a finite error: err = (k + 1)^-1 is ~ k^-1 asymptotically
    k = np.arange(0, 5001, 10.0)
    fit = convlab.fit_rate(k, 1.0 / (k + 1.0), kind="power")
    assert abs(fit.rate - 1.0) < 2e-3
    assert fit.window[0] > 0 and window_inside_data(fit, k)


@SETTINGS
@given(rate=st.floats(0.005, 3.0), noise=st.sampled_from([0.0, 0.02, 0.1]),
       rng=st.integers(0, 2**31 - 1))
def test_linear_rate_recovery_property(rate, noise, rng):
    k, err = linear_data(rate, noise=noise, rng=rng, decades=8.0)
    fit = convlab.fit_rate(k, err, kind="linear")
    assert abs(fit.rate - rate) < (1e-8 + 0.1 * noise) * rate  # ~4 standard errors
    assert window_inside_data(fit, k)


@SETTINGS
@given(exponent=st.floats(0.25, 2.5), noise=st.sampled_from([0.0, 0.02, 0.1]),
       rng=st.integers(0, 2**31 - 1))
def test_power_rate_recovery_property(exponent, noise, rng):
    k, err = power_data(exponent, noise=noise, rng=rng, num=400)
    fit = convlab.fit_rate(k, err, kind="power")
    assert abs(fit.rate - exponent) < 1e-8 * exponent + 0.6 * noise  # ~4 standard errors
    assert window_inside_data(fit, k)


@SETTINGS
@given(rate=st.floats(0.01, 1.0), seeds=st.integers(3, 12), rng=st.integers(0, 2**31 - 1))
def test_multi_seed_fit_recovers_rate_and_ci_is_ordered(rate, seeds, rng):
    k, err = linear_data(rate, noise=0.1, seeds=seeds, rng=rng)
    fit = convlab.fit_rate(k, err, kind="linear")
    assert fit.num_seeds == seeds and fit.num_excluded == 0
    assert abs(fit.rate - rate) < 0.02 * rate
    assert fit.ci_low <= fit.rate <= fit.ci_high


# --- confidence intervals ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind, truth", [("linear", 0.2), ("power", 1.5)])
def test_bootstrap_ci_contains_truth_for_noisy_seeds(kind, truth):
    make = linear_data if kind == "linear" else power_data
    k, err = make(truth, noise=0.2, seeds=10, rng=3)
    fit = convlab.fit_rate(k, err, kind=kind)
    assert fit.num_seeds == 10
    assert fit.contains(truth)
    assert fit.ci_high - fit.ci_low < 0.1 * truth


def _ar1(rng, phi, shape):
    """AR(1) noise along the last axis with unit marginal variance: correlated within a run."""
    e = rng.standard_normal(shape)
    x = np.empty_like(e)
    x[..., 0] = e[..., 0]
    for t in range(1, shape[-1]):
        x[..., t] = phi * x[..., t - 1] + np.sqrt(1 - phi**2) * e[..., t]
    return x


def _coverage(phi, seeds, trials, *, truth=0.1, num=200, noise=0.05, rng=0):
    rng = np.random.default_rng(rng)
    k = np.arange(float(num))
    shape = (num,) if seeds == 1 else (seeds, num)
    hits = [convlab.fit_rate(k, np.exp(-truth * k + noise * _ar1(rng, phi, shape)),
                             window=(0, num - 1)).contains(truth) for _ in range(trials)]
    return float(np.mean(hits))


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_ci_coverage_over_seeds_with_noise_correlated_within_a_run(phi):
    """The real case: one seed's records are not independent. The t interval over the seeds'
    own slopes keeps its 95% level (the former percentile bootstrap over 8 seeds covered 87%).
    300 trials: the binomial sd of the coverage is 1.3%, so [0.91, 0.99] is a 3-sd band."""
    assert 0.91 <= _coverage(phi, seeds=8, trials=300) <= 0.99


def test_ci_coverage_of_one_run_with_correlated_noise():
    """One run: Newey–West keeps ~95% for moderate correlation (phi = 0.5; the plain OLS error
    covered 69%), and under strong correlation (phi = 0.9) it is still far better than OLS
    (which covered 37%); measured 0.77 with these sizes, documented, not hidden."""
    assert 0.90 <= _coverage(0.5, seeds=1, trials=300) <= 0.99
    assert _coverage(0.0, seeds=1, trials=300) >= 0.91
    assert _coverage(0.9, seeds=1, trials=300) >= 0.65


def test_ci_is_not_trivially_wide():
    truth = 0.3
    fit = convlab.fit_rate(*linear_data(truth, noise=0.3, seeds=8, rng=7))
    assert fit.contains(truth) and fit.ci_high - fit.ci_low < 0.05 * truth


def test_wider_confidence_gives_wider_interval():
    k, err = linear_data(0.2, noise=0.2, seeds=6, rng=5)
    narrow = convlab.fit_rate(k, err, confidence=0.5)
    wide = convlab.fit_rate(k, err, confidence=0.99)
    assert wide.ci_low < narrow.ci_low <= narrow.ci_high < wide.ci_high


# --- the automatic window -------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_auto_window_excludes_floating_point_floor(rate):
    k, err = linear_data(rate, decades=10.0)
    step = k[1] - k[0]
    plateau_k = k[-1] + step * np.arange(1, 61)
    k_all = np.concatenate([k, plateau_k])
    err_all = np.concatenate([err, np.full(60, 1e-16)])
    fit = convlab.fit_rate(k_all, err_all, kind="linear")
    assert abs(fit.rate - rate) < 1e-9 * rate
    assert fit.window[1] < plateau_k[0]
    assert window_inside_data(fit, k_all)
    assert fit.num_points == np.sum((k_all >= fit.window[0]) & (k_all <= fit.window[1]))
    # the same fit over the whole range would be badly wrong: the window matters
    naive = convlab.fit_rate(k_all, err_all, window=(k_all[0], k_all[-1]))
    assert abs(naive.rate - rate) > 0.1 * rate


def test_auto_window_excludes_noisy_floor_and_exact_zeros():
    rng = np.random.default_rng(6)
    k, err = linear_data(0.2, decades=9.0)
    floor = 1e-16 * (1 + rng.random(40))
    floor[::3] = 0.0  # iterates that hit x* exactly
    k_all = np.concatenate([k, k[-1] + (k[1] - k[0]) * np.arange(1, 41)])
    fit = convlab.fit_rate(k_all, np.concatenate([err, floor]))
    assert abs(fit.rate - 0.2) < 1e-9
    assert fit.window[1] <= k[-1]


def test_power_auto_window_is_last_decade_above_floor():
    k, err = power_data(1.0, k_max=1e5)
    lo, hi = auto_window(k, err, kind="power")
    assert hi == k[-1] and lo == pytest.approx(hi / 10)


def test_linear_auto_window_skips_transient():
    # a fast transient (rate 2) on top of the slow rate 0.1: the window starts after it
    k = np.arange(0.0, 201.0)
    err = np.exp(-0.1 * k) + 50 * np.exp(-2.0 * k)
    fit = convlab.fit_rate(k, err)
    assert fit.window[0] > 0
    assert abs(fit.rate - 0.1) < 1e-6


def test_explicit_window_is_used_and_reported():
    k, err = linear_data(0.1, decades=10.0)
    fit = convlab.fit_rate(k, err, window=(20.0, 100.0))
    assert fit.window == (20.0, 100.0)
    assert fit.num_points == np.sum((k >= 20) & (k <= 100))
    assert abs(fit.rate - 0.1) < 1e-9


def test_gd_trace_rate_matches_theory(key):
    # gd with step 1/L on a quadratic with spectrum {mu, L}: error = C (1 - mu/L)^k exactly,
    # then a floor at rounding level; the fitted rate is -log(1 - mu/L)
    problem = quadratic_from([2.0, 0.5], [0.3, -0.7])
    trace = convlab.run(convlab.gd(0.5), problem, jnp.array([1.0, 1.0]), key=key,
                        num_steps=300, record_every=2)
    fit = convlab.fit_rate(trace.k, trace["error"], kind="linear")
    assert abs(fit.rate - (-np.log(0.75))) < 1e-6
    assert fit.window[1] < 300


# --- diverged seeds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_diverged_seeds_are_excluded_and_counted(bad_value):
    k, err = linear_data(0.2, noise=0.05, seeds=7, rng=8)
    err[[1, 4], 30:] = bad_value  # two runs diverged early
    fit = convlab.fit_rate(k, err)
    assert fit.num_excluded == 2 and fit.num_seeds == 5
    clean = convlab.fit_rate(k, np.delete(err, [1, 4], axis=0), window=fit.window)
    assert fit.rate == clean.rate
    assert (fit.ci_low, fit.ci_high) == (clean.ci_low, clean.ci_high)
    assert np.isfinite(fit.rate) and abs(fit.rate - 0.2) < 0.01


def test_all_seeds_diverged_inside_an_explicit_window_gives_nan_fit():
    k, err = linear_data(0.2, seeds=3)
    err[:, 10:] = np.nan
    fit = convlab.fit_rate(k, err, window=(k[20], k[60]))
    assert np.isnan(fit.rate) and fit.num_seeds == 0 and fit.num_excluded == 3


def test_diverged_sweep_seed_is_excluded(key):
    # end to end: a sweep over step sizes where one grid point diverges
    problem = quadratic_from([2.0, 0.5], [0.3, -0.7])

    def make_run(key_, hparams):
        x0 = jnp.ones(2) + 0.1 * jax.random.normal(key_, (2,))
        return convlab.run(convlab.gd(hparams["step_size"]), problem, x0, key=key_,
                           num_steps=60, record_every=2)

    trace = convlab.sweep(make_run, jax.random.split(key, 3), {"step_size": [0.5, 1e6]})
    assert np.all(np.asarray(trace.diverged)[1] > 0) and np.all(np.asarray(trace.diverged)[0] == -1)
    err = np.asarray(trace["error"]).reshape(6, -1)  # flatten (grid, seed)
    fit = convlab.fit_rate(trace.k[0, 0], err)
    assert fit.num_excluded == 3 and fit.num_seeds == 3
    assert abs(fit.rate - (-np.log(0.75))) < 1e-6


# --- bad input ----------------------------------------------------------------------------------------------


def test_bad_inputs_raise_naming_the_argument():
    k, err = linear_data(0.2)
    with pytest.raises(ValueError, match="kind"):
        convlab.fit_rate(k, err, kind="exponential")
    with pytest.raises(ValueError, match="window"):
        convlab.fit_rate(k, err, window=(k[0], k[1]))  # 2 records
    with pytest.raises(ValueError, match="window"):
        convlab.fit_rate(k, err, window=(k[50], k[10]))  # empty
    with pytest.raises(ValueError, match="window"):
        convlab.fit_rate(k, err, window="best")
    with pytest.raises(ValueError, match="err"):
        convlab.fit_rate(k, err[:-1])
    with pytest.raises(ValueError, match="err"):
        convlab.fit_rate(k, np.stack([err, err])[None])
    with pytest.raises(ValueError, match="k"):
        convlab.fit_rate(np.stack([k, k]), err)
    with pytest.raises(ValueError, match="confidence"):
        convlab.fit_rate(k, err, confidence=1.5)
    with pytest.raises(ValueError, match="err"):  # everything at the floor: nothing to fit
        convlab.fit_rate(k, np.full_like(err, 1e-300) * np.exp(-k) * 0)


def test_diverged_flag_excludes_runs_that_have_not_overflowed_yet():
    """A run blowing up but still finite is left out when Trace.diverged flags it."""
    k = np.arange(0.0, 100.0)
    good = np.exp(-0.1 * k)[None, :] * np.ones((3, 1))
    blowing_up = np.exp(+0.5 * k)[None, :]
    err = np.concatenate([good, blowing_up])
    fit = convlab.fit_rate(k, err, diverged=np.array([-1, -1, -1, 60]))
    assert fit.rate == pytest.approx(0.1, rel=1e-9)
    assert (fit.num_seeds, fit.num_excluded) == (3, 1)


def test_every_run_diverged_gives_a_nan_fit_for_auto_and_explicit_windows():
    k = np.arange(0.0, 20.0)
    err = np.full((2, 20), np.nan)
    for window in ("auto", (0.0, 10.0)):
        fit = convlab.fit_rate(k, err, window=window)
        assert np.isnan(fit.rate) and fit.num_seeds == 0 and fit.num_excluded == 2


# --- which model fits: the drift test and the warning ------------------------------------------------
def test_power_fit_of_a_linear_run_warns_and_names_the_better_model():
    """The issue's case: a linear run fitted as a power law gives a big exponent with a high r²;
    the drift test on the fit's own window says linear, and fit_rate warns."""
    k, err = linear_data(0.05, num=201, seeds=4, noise=0.01)
    with pytest.warns(convlab.RateModelWarning, match="kind='linear' is the better model"):
        fit = convlab.fit_rate(k, err, kind="power")
    assert fit.model == "linear" and fit.rate > 3 and fit.r2 > 0.9


def test_linear_fit_of_a_power_law_warns():
    k, err = power_data(1.0, seeds=4, noise=0.01)
    with pytest.warns(convlab.RateModelWarning, match="sublinear; kind='power'"):
        fit = convlab.fit_rate(k, err, kind="linear")
    assert fit.model == "sublinear"


@pytest.mark.parametrize("seeds", [None, 4])
def test_the_right_model_gives_no_warning(seeds, recwarn):
    k, err = linear_data(0.2, seeds=seeds, noise=0.01)
    assert convlab.fit_rate(k, err, kind="linear").model == "linear"
    k, err = power_data(2.0, seeds=seeds, noise=0.01)
    assert convlab.fit_rate(k, err, kind="power").model == "sublinear"
    assert not [w for w in recwarn if issubclass(w.category, convlab.RateModelWarning)]


def test_check_model_off_runs_no_test():
    k, err = linear_data(0.05, num=201)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert convlab.fit_rate(k, err, kind="power", check_model=False).model == ""


@pytest.mark.parametrize("exponent", [0.5, 1.0, 2.0, 3.0])
def test_drift_test_decides_sublinear_for_every_power_law(exponent):
    k, err = power_data(exponent, seeds=3, noise=0.02)
    out = convlab.drift_test(k, err, (100.0, 1e4))
    assert out["verdict"] == "sublinear" and out["ratio_ci"][1] < out["threshold"]
    assert out["ratio"] == pytest.approx(out["power_law_ratio"], rel=0.1)


@pytest.mark.parametrize("seeds", [None, 3])
def test_drift_test_decides_linear_with_ratio_near_one(seeds):
    k, err = linear_data(0.1, seeds=seeds, noise=0.01)
    out = convlab.drift_test(k, err, (float(k[20]), float(k[-1])))
    assert out["verdict"] == "linear" and out["ratio"] == pytest.approx(1.0, abs=0.05)


def test_drift_test_is_undecided_on_a_short_window():
    k, err = linear_data(0.1)
    out = convlab.drift_test(k, err, (float(k[60]), float(k[80])))  # span < 2
    assert out["verdict"] == "undecided" and "too short" in out["reason"]


def test_power_law_drift_does_not_depend_on_the_exponent_and_is_0_38_per_decade():
    assert convlab.rates.power_law_drift(1.0, 10.0) == pytest.approx(0.38, abs=0.01)
    assert convlab.rates.power_law_drift(100.0, 1000.0) == pytest.approx(
        convlab.rates.power_law_drift(1.0, 10.0), rel=1e-6)


# --- exponents across horizons (instances built per N) ----------------------------------------------
def test_fit_horizons_recovers_a_worst_case_exponent_from_a_callable():
    """Each horizon gets its own instance; here the final error of N steps is 3 N^-2 (times a
    per-seed factor), the slope over N must be 2."""
    factors = np.array([1.0, 1.1, 0.9])
    fit = convlab.fit_horizons([8, 16, 32, 64, 128], lambda n: 3.0 * factors * n ** -2.0)
    assert isinstance(fit, convlab.RateFit) and fit.kind == "power"
    assert fit.rate == pytest.approx(2.0, abs=1e-9) and fit.num_seeds == 3
    assert fit.window == (8.0, 128.0)


def test_fit_horizons_one_series_has_a_ci_covering_the_truth():
    horizons = np.array([10, 20, 40, 80, 160, 320])
    noise = np.exp(0.02 * np.random.default_rng(1).standard_normal(horizons.size))
    fit = convlab.fit_horizons(horizons, horizons ** -1.0 * noise)
    assert fit.contains(1.0) and fit.ci_high - fit.ci_low < 0.2


def test_fit_horizons_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="horizons"):
        convlab.fit_horizons([10, 5, 20], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="horizons"):
        convlab.fit_horizons([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="values"):
        convlab.fit_horizons([1, 2, 4], [1.0, 2.0])


def test_the_matrix_sensing_family_uses_the_shared_drift_test():
    """The drift test moved here from theory_checks/matrix_sensing/fits.py (same code: one
    decision rule for every family and for fit_rate's model check)."""
    from theory_checks.matrix_sensing import fits
    assert fits.drift_test is convlab.drift_test and fits.power_law_drift is convlab.rates.power_law_drift
