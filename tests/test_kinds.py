"""The six judging rules: each can hold, be violated and (band rules) be inconclusive."""

import numpy as np
import pytest

from convlab.rates import RateFit
from theory_checks import kinds
from theory_checks.verdict import Verdict


def _fit(rate, lo, hi, kind="linear"):
    return RateFit(kind, rate, lo, hi, 1.0, (0.0, 1.0), 0.0, 10, 4, 0)


def test_envelope_holds_and_reports_worst_ratio():
    v = kinds.envelope([0.5, 0.25], [1.0, 0.5], predicted="x <= b")
    assert v.status == "holds" and v.measured == pytest.approx(0.5) and v.margin == pytest.approx(0.5)


def test_envelope_violated_by_one_point_and_by_nonfinite():
    assert kinds.envelope([0.5, 0.6], [1.0, 0.5], predicted="").status == "violated"
    v = kinds.envelope([0.5, np.nan], [1.0, 0.5], predicted="")
    assert v.status == "violated" and v.details["num_nonfinite"] == 1


def test_envelope_atol_only_allows_the_floor():
    assert kinds.envelope([1e-14], [1e-20], predicted="", atol=1e-13).status == "holds"
    assert kinds.envelope([1e-12], [1e-20], predicted="", atol=1e-13).status == "violated"


def test_envelope_tightness_requires_attaining_the_bound():
    assert kinds.envelope([0.995, 1.0], [1.0, 1.0], predicted="", tight=0.01).status == "holds"
    assert kinds.envelope([0.98, 1.0], [1.0, 1.0], predicted="", tight=0.01).status == "violated"


def test_envelope_rejects_nonpositive_bound():
    with pytest.raises(ValueError, match="bound"):
        kinds.envelope([1.0], [0.0], predicted="")


@pytest.mark.parametrize("fit, status", [
    (_fit(1.01, 0.99, 1.03), "holds"),
    (_fit(1.2, 1.15, 1.25), "violated"),
    (_fit(1.2, 0.9, 1.5), "inconclusive"),
    (_fit(float("nan"), float("nan"), float("nan")), "violated"),
    (_fit(1.01, float("nan"), float("nan")), "inconclusive"),   # no CI: never holds
    (_fit(1.01, 0.9, 1.03), "inconclusive"),                    # estimate in, CI sticks out
    (_fit(1.04, 1.045, 1.2), "inconclusive"),                   # a CI that misses its estimate
])
def test_slope_band_rule(fit, status):
    """The band rule is an equivalence test: holds only when the whole CI is in the band."""
    assert kinds.slope(fit, 1.0, 0.05).status == status


def test_band_status_without_a_ci_is_never_holds():
    assert kinds.band_status(1.0, None, 1.0, 0.1) == "inconclusive"
    assert kinds.band_status(float("inf"), None, 1.0, 0.1) == "violated"


def test_envelope_over_k_skips_the_trivial_start_and_names_the_attaining_k():
    k = np.arange(4.0)
    bound = 0.5 ** k
    values = np.stack([bound * [1.0, 0.9, 0.5, 0.3], bound * [1.0, 0.99, 1.0, 0.7]])
    v = kinds.envelope(values, bound, predicted="", k=k)
    assert v.status == "holds" and v.measured == pytest.approx(1.0)
    assert v.details["worst_k"] == 2.0
    tight = kinds.envelope(values, bound, predicted="", k=k, tight=0.01)
    assert tight.status == "violated" and tight.details["min_ratio"] == pytest.approx(0.9)
    attained = kinds.envelope(values[1:], bound, predicted="", k=k, tight=0.01)
    assert attained.status == "holds" and attained.details["attained_at_k"] == [2.0]
    # k = 0 on the bound no longer passes for attainment: an instance at half the bound fails
    assert kinds.envelope(bound * [1, .5, .5, .5], bound, predicted="", k=k, tight=0.01).status == "violated"


def test_local_rate_judges_the_level_and_the_implementation():
    k = np.arange(200.0)
    rng = np.random.default_rng(0)
    err = np.exp(-0.1 * k + 0.01 * rng.standard_normal((6, k.size)))
    assert kinds.local_rate(k, err, 0.1, rtol=0.02).status == "holds"
    assert kinds.local_rate(k, err, 0.05, rtol=0.02).status == "violated"   # a halved rate
    assert kinds.local_rate(k, err, 0.1, rtol=0.02, implementation=0.12).status == "violated"
    assert kinds.local_rate(k, err * np.nan, 0.1, rtol=0.02).status == "violated"


def test_scaling_recovers_exponent_and_detects_wrong_one():
    params = np.array([0.05, 0.1, 0.2, 0.4])
    fits = [_fit(0.37 * a**2, 0.36 * a**2, 0.38 * a**2) for a in params]
    v = kinds.scaling(params, fits, exponent=2.0, tol=0.1)
    assert v.status == "holds" and v.measured == pytest.approx(2.0)
    assert kinds.scaling(params, fits, exponent=1.0, tol=0.1).status == "violated"


def test_scaling_with_nonpositive_rate_is_violated():
    fits = [_fit(-0.1, -0.2, 0.0), _fit(0.1, 0.05, 0.15)]
    assert kinds.scaling([1.0, 2.0], fits, exponent=1.0, tol=0.1).status == "violated"


def test_ordering():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(9, 11, 16), rng.uniform(19, 21, 16)
    assert kinds.ordering(a, b, names=("A", "B"), what="calls").status == "holds"
    assert kinds.ordering(b, a, names=("B", "A"), what="calls").status == "violated"
    same = rng.uniform(9, 11, 16)
    assert kinds.ordering(a, same, names=("A", "C"), what="calls").status == "inconclusive"
    assert kinds.ordering(np.full(4, np.inf), b[:4], names=("A", "B"), what="calls").status == "violated"


def test_certificate_sound_and_exact():
    assert kinds.certificate([0.2, 0.3], [0.25, 0.3], relation="<=", tol=0.0, predicted="").status == "holds"
    assert kinds.certificate([0.4], [0.3], relation="<=", tol=0.0, predicted="").status == "violated"
    assert kinds.certificate([0.3 + 1e-12], [0.3], relation="==", tol=1e-8, predicted="").status == "holds"
    assert kinds.certificate([0.31], [0.3], relation="==", tol=1e-8, predicted="").status == "violated"
    with pytest.raises(ValueError, match="relation"):
        kinds.certificate([0.3], [0.3], relation="<", tol=0.0, predicted="")


@pytest.mark.parametrize("statuses, want", [
    (["holds", "holds"], "holds"),
    (["holds", "inconclusive"], "inconclusive"),
    (["inconclusive", "violated", "holds"], "violated"),
])
def test_worst_status(statuses, want):
    assert kinds.worst_status(statuses) == want


def test_combine_keeps_the_primary_measurement_and_the_smallest_margin():
    a = Verdict("holds", "p", 1.0, (0.9, 1.1), 0.5, {})
    b = Verdict("violated", "q", 2.0, (1.8, 2.2), -0.2, {"why": "x"})
    out = kinds.combine({"a": a, "b": b}, "a")
    assert (out.status, out.measured, out.ci, out.margin) == ("violated", 1.0, (0.9, 1.1), -0.2)
    assert out.details["b"]["why"] == "x"


def test_mean_fit_ci_brackets_the_mean():
    fit = kinds.mean_fit(np.array([1.0, 2.0, 3.0, 4.0]))
    assert fit.rate == 2.5 and fit.ci_low < 2.5 < fit.ci_high
    assert kinds.mean_fit(np.array([7.0])).ci_low == 7.0
