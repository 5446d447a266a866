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

#: A device formula evaluated by the test as written in docs/MODEL.md against refsim's vectorized
#: code: a handful of float64 operations in another order, with powers and logs (each ~1e-16
#: relative); 1e-10 leaves room for that and still catches any wrong coefficient or exponent.
RTOL_FORMULA = 1e-10

#: The exact wire solution (block elimination, refsim.wires.parasitics) against the dense nodal
#: oracle of the same array (refsim.wires.nodal), per input vector: two float64 linear solves
#: whose round-off grows with the condition number of the nodal matrix (~1e4 for the r/G used).
RTOL_WIRE_SOLVE = 1e-9

#: refsim vs PyTorch float64 (different summation orders inside BLAS/ATen, deep nets).
TOL_TORCH = 1e-10

# -- statistical bounds (fixed seeds) -------------------------------------------------
#: Statistical bounds: this many standard errors of the estimator, at a fixed seed.
N_SIGMA = 5.0
#: Kolmogorov-Smirnov test at a fixed seed: the correct law must not be rejected at 0.1 % ...
KS_P_MIN = 1e-3
#: ... and a wrong law (e.g. 10 % off) must be rejected far below that.
KS_P_WRONG = 1e-6
