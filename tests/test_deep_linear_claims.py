"""The deep_linear family's own checks beyond the claim harness: where the theory is exact, the
measured numbers sit on it far inside the claims' tolerances."""

import numpy as np

from theory_checks import registry


def test_family_registers_its_claims():
    ids = {c.id for c in registry.claims(["deep_linear"])}
    assert {"deep_linear.mode-closed-form", "deep_linear.half-time-inverse-s",
            "deep_linear.learning-order", "deep_linear.depth-scaling",
            "deep_linear.depth-independent-time"} <= ids


def test_gd_is_euler_and_error_is_at_eulers_coefficient(measured):
    _, ev, verdict = measured("deep_linear.mode-closed-form")
    assert np.max(ev.identity) < 1e-12 and np.max(ev.off_diagonal) < 1e-12
    ratio = ev.max_err / (ev.etas[:, None, None] * ev.coefficient[None])
    assert np.max(np.abs(ratio - 1.0)) < 0.01   # the claim allows 0.05
    assert abs(verdict.details["first order in η"]["measured"] - 1.0) < 0.01
