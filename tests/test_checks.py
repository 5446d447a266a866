"""The shared checkers of tests/checks.py can fail."""
from __future__ import annotations

import numpy as np

from checks import rel_err
from tolerances import RTOL_EXACT


def test_rel_err_detects_a_wrong_answer():
    """The checker itself must fail on a wrong input (not only pass on a right one)."""
    a = np.array([1.0, 2.0, 3.0])
    assert rel_err(a, a) == 0.0
    assert rel_err(a + 1e-6, a) > RTOL_EXACT
    try:
        rel_err(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    except AssertionError:
        pass
    else:
        raise AssertionError("rel_err accepted mismatched NaNs")
