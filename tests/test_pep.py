"""The PEPit bridge (theory_checks.pep): PEP worst cases equal the tight analytic bounds of
Lieder (Halpern) and Drori & Teboulle (GD), with both cvxpy solvers. Skipped without PEPit
(install ``convlab[pep]``); the no-PEPit behaviour is tested in test_monotone_claims.py."""

import numpy as np
import pytest

pytest.importorskip("PEPit")
cvxpy = pytest.importorskip("cvxpy")

from theory_checks import pep  # noqa: E402

RTOL = 1e-4  # the claim's tolerance: CLARABEL measured 1e-8..1e-6 relative, SCS <= 1.4e-5


def test_pep_is_available():
    assert pep.available() == (True, "")


@pytest.mark.parametrize("N", [1, 2, 3, 5, 8])
def test_halpern_worst_case_is_lieders_bound(N):
    assert pep.halpern_worst_case(N) == pytest.approx(1.0 / (N + 1), rel=RTOL)
    assert pep.halpern_bound(N) == 1.0 / (N + 1)


@pytest.mark.parametrize("N, h", [(1, 1.0), (3, 1.0), (6, 1.0), (4, 0.5)])
def test_gd_worst_case_is_drori_teboulle(N, h):
    assert pep.gd_worst_case(N, h) == pytest.approx(1.0 / (4 * N * h + 2), rel=RTOL)
    assert pep.gd_bound(N, h) == 1.0 / (4 * N * h + 2)


@pytest.mark.skipif("SCS" not in cvxpy.installed_solvers(), reason="SCS not installed")
def test_solvers_agree():
    for N in (2, 4):
        assert pep.halpern_worst_case(N, "SCS") == pytest.approx(pep.halpern_worst_case(N), rel=RTOL)
        assert pep.gd_worst_case(N, 1.0, "SCS") == pytest.approx(pep.gd_worst_case(N), rel=RTOL)


def test_worst_cases_decrease_with_N():
    values = np.array([pep.halpern_worst_case(N) for N in (1, 2, 4, 8)])
    assert np.all(np.diff(values) < 0)
