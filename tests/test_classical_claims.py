"""The classical family's own checks beyond the claim harness: exactness to rounding where the
theory is exact."""

import numpy as np


def test_huber_tightness_is_exact_to_rounding(measured):
    _, ev, _ = measured("classical.gd-huber-tight")
    np.testing.assert_allclose(ev.normalized_final_gap, ev.bound, rtol=1e-10)


def test_strong_slope_matches_prediction_to_rounding(measured):
    _, _, verdict = measured("classical.gd-strong-slope")
    assert abs(verdict.measured - verdict.predicted) < 1e-5 * verdict.predicted
