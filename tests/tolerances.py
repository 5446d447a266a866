"""The named tolerance policy of the crossbar tests, in one place.

Loosening a tolerance needs a comment at the call site saying why.
"""

#: Float64 results that equal exact math up to round-off (ideal configs, recombination
#: of exact integer reads). Errors are measured against the magnitude of the terms of the
#: sum (``|x| @ |W|`` or ``sum|x| * w_max``), not against ``|y|``, which can cancel to ~0.
RTOL_EXACT = 1e-12

#: The same bound in absolute units, for values whose natural scale is 1.
ATOL_EXACT = 1e-12

#: A perturbation the exact checks must detect (planted-error tests).
PLANTED_RELATIVE_ERROR = 1e-9

#: refsim vs PyTorch float64 (different summation orders inside BLAS/ATen, deep nets).
TOL_TORCH = 1e-10

# -- statistical bounds (fixed seeds) -------------------------------------------------
#: Statistical bounds: this many standard errors of the estimator, at a fixed seed.
N_SIGMA = 5.0
#: Kolmogorov-Smirnov test at a fixed seed: the correct law must not be rejected at 0.1 % ...
KS_P_MIN = 1e-3
#: ... and a wrong law (e.g. 10 % off) must be rejected far below that.
KS_P_WRONG = 1e-6
