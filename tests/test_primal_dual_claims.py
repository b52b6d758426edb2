"""The primal_dual family's own checks beyond the claim harness: where the theory is exact, the
measured numbers are exact to rounding."""

import numpy as np


def test_step_limit_thresholds_are_four_thirds(measured):
    _, ev, _ = measured("primal_dual.step-limit")
    assert abs(ev.threshold_jacobian - 4 / 3) < 1e-8 and abs(ev.threshold_recursion - 4 / 3) < 1e-8
    np.testing.assert_allclose(ev.implementation, ev.predicted, rtol=1e-8)


def test_accelerated_tau_is_the_exact_recursion(measured):
    _, ev, _ = measured("primal_dual.accelerated-rate")
    u = [ev.u0]
    for _ in range(int(ev.k[-1])):
        u.append(np.sqrt(u[-1] ** 2 + 2 * u[-1]))
    exact = (ev.k / np.array(u)[ev.k.astype(int)])[1:]
    np.testing.assert_allclose(ev.gamma_tau_k[:, 1:], np.broadcast_to(exact, ev.gamma_tau_k[:, 1:].shape),
                               rtol=1e-10)  # 1000 steps of two rounding paths
