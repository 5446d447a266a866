"""Tests of refsim.wires.parasitics: the exact effective conductance of a crossbar with wire resistance.

Oracles, strongest first:
1. exact rational arithmetic (``fractions.Fraction``) on the full nodal equations of a small array;
2. closed-form circuits (1x1, one row, one column, a 1x2 ladder);
3. the sparse direct nodal solve (``column_currents_nodal``), itself checked by Kirchhoff's law;
4. physical invariants: zero wire = ideal bit for bit, reciprocity, monotonic loss, superposition.
(ngspice is the oracle of tests/test_spice.py.)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refsim.wires import parasitics as par
from tests.strategies import wire_resistances
from tests.tolerances import RTOL_EXACT

#: Exact rational oracle vs float64 G_eff, relative to max |G_eff| (round-off of ~rows*cols steps).
RTOL_RATIONAL = 1e-13
#: Kirchhoff residual allowed, in units of eps * max|V| * (largest total conductance at a node).
KCL_ROUNDOFF_UNITS = 64.0
#: Monotonicity slack, relative to the ideal current (round-off only).
RTOL_MONOTONE = 1e-13

G_LO_S, G_HI_S = 1e-6, 25e-6  # cell conductances of a typical RRAM/PCM array
V_HI_V = 0.2

WIRE_SETS = [  # (r_row, r_col, r_driver, r_sense), ohm: every zero pattern
    (0.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0), (0.0, 0.0, 5.0, 0.0),
    (0.0, 0.0, 0.0, 5.0), (0.0, 0.0, 5.0, 5.0), (2.0, 3.0, 0.0, 0.0), (2.0, 3.0, 7.0, 11.0),
    (0.0, 3.0, 7.0, 0.0), (2.0, 0.0, 0.0, 11.0), (1e4, 1e4, 0.0, 0.0), (1e-3, 1e-3, 0.0, 0.0),
]
SHAPES = [(1, 1), (1, 6), (6, 1), (2, 2), (3, 7), (7, 3), (9, 9)]


def random_array(rng, rows, cols):
    return rng.uniform(G_LO_S, G_HI_S, (rows, cols))


def wires(r):
    return dict(r_driver_ohm=r[2], r_sense_ohm=r[3])


# -- 1. exact rational oracle --------------------------------------------------------
def rational_geff(g, r_row, r_col, r_drv, r_sns):
    """G_eff by Gauss-Jordan elimination in exact rationals; every resistance > 0 (no merging)."""
    rows, cols = g.shape
    G = [[Fraction(float(x)) for x in row] for row in g]
    gr, gc = 1 / Fraction(r_row), 1 / Fraction(r_col)
    g0, gs = 1 / (Fraction(r_row) + Fraction(r_drv)), 1 / (Fraction(r_col) + Fraction(r_sns))
    n = 2 * rows * cols
    u = lambda i, j: i * cols + j  # noqa: E731  row node
    w = lambda i, j: rows * cols + i * cols + j  # noqa: E731  column node
    K = [[Fraction(0)] * n for _ in range(n)]
    B = [[Fraction(0)] * rows for _ in range(n)]

    def resistor(a, b, y):
        K[a][a] += y
        if b is not None:
            K[b][b] += y
            K[a][b] -= y
            K[b][a] -= y

    for i in range(rows):
        resistor(u(i, 0), None, g0)
        B[u(i, 0)][i] += g0
        for j in range(cols):
            resistor(u(i, j), w(i, j), G[i][j])
            if j + 1 < cols:
                resistor(u(i, j), u(i, j + 1), gr)
            if i + 1 < rows:
                resistor(w(i, j), w(i + 1, j), gc)
    for j in range(cols):
        resistor(w(rows - 1, j), None, gs)
    for c in range(n):  # Gauss-Jordan, K is SPD so no pivoting is needed
        piv = K[c][c]
        for r in range(n):
            if r != c and K[r][c] != 0:
                f = K[r][c] / piv
                K[r] = [a - f * b for a, b in zip(K[r], K[c])]
                B[r] = [a - f * b for a, b in zip(B[r], B[c])]
    x = [[B[r][k] / K[r][r] for k in range(rows)] for r in range(n)]  # x[node][source]
    return np.array([[float(gs * x[w(rows - 1, j)][i]) for j in range(cols)] for i in range(rows)])


@pytest.mark.parametrize("shape", [(2, 3), (3, 2), (3, 3)])
@pytest.mark.parametrize("r", [(1e-3, 2e-3, 0.0, 0.0), (5.0, 2.0, 1.0, 3.0), (3e4, 1e5, 0.0, 1e3)])
def test_effective_conductance_matches_exact_rational_solution(rng, shape, r):
    """Even with wire conductance 1e9 x the cell conductance (r = 1 mohm), G_eff is exact to round-off."""
    g = random_array(rng, *shape)
    g[0, -1] = 0.0  # a cell that is fully off
    exact = rational_geff(g, *r)
    got = par.effective_conductance(g, r[0], r[1], **wires(r))
    np.testing.assert_allclose(got, exact, rtol=0, atol=RTOL_RATIONAL * np.abs(exact).max())
    # the deviation from ideal must be resolved too, not just G itself
    np.testing.assert_allclose(g - got, g - exact, rtol=0, atol=RTOL_RATIONAL * np.abs(exact).max())


# -- 2. closed-form circuits -----------------------------------------------------------
@pytest.mark.parametrize("r", [(0.0, 0.0, 0.0, 0.0), (1.0, 2.0, 3.0, 4.0), (1e3, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 7.0)])
def test_single_cell_is_series_resistance(r):
    g = 2e-5
    expected = 1.0 / (1.0 / g + sum(r))  # I = V / (1/g + r_row + r_col + r_driver + r_sense)
    got = par.effective_conductance([[g]], r[0], r[1], **wires(r))
    np.testing.assert_allclose(got, [[expected]], rtol=RTOL_EXACT)
    np.testing.assert_allclose(par.column_currents([[g]], [0.1], r[0], r[1], **wires(r)), [0.1 * expected], rtol=RTOL_EXACT)


def test_independent_cells_when_the_shared_wire_has_no_resistance(rng):
    """One row with only column wires (wide path), one column with only row wires (tall, reciprocal path)."""
    g = random_array(rng, 1, 8)
    np.testing.assert_allclose(par.effective_conductance(g, 0.0, 300.0, r_sense_ohm=50.0), 1 / (1 / g + 350.0), rtol=RTOL_EXACT)
    g = random_array(rng, 8, 1)
    np.testing.assert_allclose(par.effective_conductance(g, 300.0, 0.0, r_driver_ohm=50.0), 1 / (1 / g + 350.0), rtol=RTOL_EXACT)


def test_two_cell_row_ladder():
    """V -r- u0 -r- u1, with cells g0, g1 from u0, u1 to ground: I1 = u1 g1, I0 = u0 g0."""
    g0, g1, r = 3e-3, 5e-3, 40.0  # strong drop
    z1 = r + 1 / g1  # looking right from u0
    z0 = 1 / (g0 + 1 / z1)  # at u0
    u0 = z0 / (r + z0)
    u1 = u0 * (1 / g1) / z1
    got = par.effective_conductance([[g0, g1]], r, 0.0)
    np.testing.assert_allclose(got, [[u0 * g0, u1 * g1]], rtol=RTOL_EXACT)


# -- 3. sparse nodal oracle ------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("r", WIRE_SETS)
def test_effective_conductance_matches_sparse_nodal_solve(rng, shape, r):
    g = random_array(rng, *shape)
    v = rng.uniform(-V_HI_V, V_HI_V, (4, shape[0]))
    nodal = par.column_currents_nodal(g, v, r[0], r[1], **wires(r))
    got = par.column_currents(g, v, r[0], r[1], **wires(r))
    scale = np.abs(v) @ g  # magnitude of the terms of the sum
    np.testing.assert_allclose(got, nodal, rtol=0, atol=RTOL_EXACT * scale.max())


def nodal_condition_number(g, r):
    """cond(K) of the nodal matrix: the sparse LU oracle is only accurate to ~eps * cond(K)."""
    from refsim.wires.nodal import _stamp

    k = _stamp(g, *r)[0]
    return np.linalg.cond(k.toarray()) if k.shape[0] else 1.0


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 12), cols=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
    r=wire_resistances([0.0, 1e-3, 0.5, 20.0, 3e3]),
)
def test_hypothesis_shapes_and_wires_against_nodal(rows, cols, seed, r):
    rng = np.random.default_rng(seed)
    g = random_array(rng, rows, cols) * (rng.uniform(size=(rows, cols)) > 0.2)  # some cells off
    v = rng.uniform(0.0, V_HI_V, (2, rows))
    geff = par.effective_conductance(g, r[0], r[1], **wires(r))
    nodal = par.column_currents_nodal(g, v, r[0], r[1], **wires(r))
    # The oracle, not G_eff, limits this comparison in stiff circuits (wire/cell conductance up to 1e9):
    # allow eps * cond(K) for it; the exact rational test below covers the stiff cases at 1e-13.
    rtol = max(RTOL_EXACT, 4 * np.finfo(float).eps * nodal_condition_number(g, r))
    np.testing.assert_allclose(v @ geff, nodal, rtol=0, atol=rtol * max((v @ g).max(), 1e-300))
    assert np.all(geff >= -RTOL_EXACT * g.max()), "a passive array cannot have a negative transfer conductance"


@settings(max_examples=15, deadline=None)
@given(
    rows=st.integers(1, 3), cols=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
    r=wire_resistances([0.0, 1e-3, 0.5, 3e3, 1e5]),
)
def test_hypothesis_against_exact_rational_solution(rows, cols, seed, r):
    """A zero resistance is modelled in the rational oracle by 1e-300 ohm (exact, ~1e-295 from merged)."""
    rng = np.random.default_rng(seed)
    g = random_array(rng, rows, cols) * (rng.uniform(size=(rows, cols)) > 0.2)
    exact = rational_geff(g, *[x if x > 0 else 1e-300 for x in r])
    got = par.effective_conductance(g, r[0], r[1], **wires(r))
    np.testing.assert_allclose(got, exact, rtol=0, atol=RTOL_RATIONAL * max(np.abs(exact).max(), 1e-300))


def test_kirchhoff_residual_is_round_off_and_catches_a_planted_error(rng):
    g = random_array(rng, 6, 5)
    v = rng.uniform(0, V_HI_V, (3, 6))
    r = (0.5, 2.0, 1.0, 3.0)
    u, w = par.node_voltages(g, v, r[0], r[1], **wires(r))
    node_conductance_S = 2 / r[0] + 2 / r[1] + g.max()  # most conductance attached to one node
    bound = KCL_ROUNDOFF_UNITS * np.finfo(float).eps * V_HI_V * node_conductance_S
    assert par.kirchhoff_residual(g, v, r[0], r[1], **wires(r), row_V=u, col_V=w) <= bound
    assert par.kirchhoff_residual(g, v, r[0], r[1], **wires(r)) <= bound
    w_bad = w.copy()
    w_bad[1, 2, 3] += 1e-9  # 1 nV error on one column node
    assert par.kirchhoff_residual(g, v, r[0], r[1], **wires(r), row_V=u, col_V=w_bad) > 100 * bound
    # the sense current is the current through the last column resistor
    np.testing.assert_allclose(w[..., -1, :] / (r[1] + r[3]), par.column_currents(g, v, r[0], r[1], **wires(r)),
                               rtol=0, atol=RTOL_EXACT * (v @ g).max())


@pytest.mark.parametrize("r", WIRE_SETS)
def test_kirchhoff_residual_with_merged_nodes(rng, r):
    g = random_array(rng, 4, 3)
    v = rng.uniform(0, V_HI_V, (2, 4))
    finite = [x for x in (r[0], r[1], r[0] + r[2], r[1] + r[3], r[2], r[3]) if x > 0]
    node_conductance_S = 2 / min(finite) + 3 * G_HI_S if finite else 0.0
    bound = KCL_ROUNDOFF_UNITS * np.finfo(float).eps * V_HI_V * node_conductance_S * 4
    assert par.kirchhoff_residual(g, v, r[0], r[1], **wires(r)) <= bound


# -- 4. physical invariants ---------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES + [(1, 40), (40, 1)])
def test_zero_wire_resistance_is_the_ideal_result_bit_for_bit(rng, shape):
    g = random_array(rng, *shape)
    v = rng.uniform(-V_HI_V, V_HI_V, (3, 2, shape[0]))
    assert np.array_equal(par.effective_conductance(g, 0.0, 0), g)
    assert np.array_equal(par.column_currents(g, v, 0.0, 0.0), v @ g)


def test_reciprocity_of_the_transposed_circuit(rng):
    """Swapping sources and sense nodes: G_eff(g) = G_eff'(g[::-1, ::-1].T)[::-1, ::-1].T."""
    g = random_array(rng, 7, 7)  # square: both sides take the direct elimination path
    a = par.effective_conductance(g, 3.0, 20.0, r_driver_ohm=5.0, r_sense_ohm=1.0)
    b = par.effective_conductance(g[::-1, ::-1].T, 20.0, 3.0, r_driver_ohm=1.0, r_sense_ohm=5.0)[::-1, ::-1].T
    np.testing.assert_allclose(a, b, rtol=0, atol=RTOL_EXACT * g.max())


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 10), cols=st.integers(1, 10), seed=st.integers(0, 2**32 - 1),
       which=st.sampled_from(["r_row", "r_col", "r_driver", "r_sense", "all"]))
def test_currents_fall_monotonically_as_wire_resistance_grows(rows, cols, seed, which):
    rng = np.random.default_rng(seed)
    g = random_array(rng, rows, cols)
    v = rng.uniform(0, V_HI_V, rows)
    prev = v @ g
    for r_ohm in [1e-3, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4]:
        r = {k: (r_ohm if which in (k, "all") else 0.0) for k in ("r_row", "r_col", "r_driver", "r_sense")}
        cur = par.column_currents(g, v, r["r_row"], r["r_col"], r_driver_ohm=r["r_driver"], r_sense_ohm=r["r_sense"])
        assert np.all(cur <= prev + RTOL_MONOTONE * (v @ g))
        assert np.all(cur >= 0)
        prev = cur
    assert np.all(prev < v @ g) or not np.any(v @ g)


def test_superposition_of_the_nodal_solution(rng):
    g = random_array(rng, 5, 6)
    v1, v2 = rng.uniform(-V_HI_V, V_HI_V, (2, 5))
    f = lambda v: par.column_currents_nodal(g, v, 2.0, 5.0, r_driver_ohm=1.0)  # noqa: E731
    np.testing.assert_allclose(f(v1 + 3 * v2), f(v1) + 3 * f(v2), rtol=0, atol=RTOL_EXACT * (np.abs(v1) + 3 * np.abs(v2)) @ g.max(axis=1))


@pytest.mark.parametrize("solver", [par.column_currents, par.column_currents_nodal])
def test_results_independent_of_batch_size(rng, solver):
    g = random_array(rng, 5, 4)
    v = rng.uniform(-V_HI_V, V_HI_V, (2, 3, 5))
    batched = solver(g, v, 1.0, 2.0, r_sense_ohm=3.0)
    assert batched.shape == (2, 3, 4)
    single = np.array([[solver(g, v[a, b], 1.0, 2.0, r_sense_ohm=3.0) for b in range(3)] for a in range(2)])
    np.testing.assert_allclose(batched, single, rtol=0, atol=RTOL_EXACT * (np.abs(v) @ g).max())


@pytest.mark.parametrize("r_col, r_sense", [(0.0, 0.0), (0.0, 40.0), (3.0, 0.0), (0.002, 0.5), (4e4, 1e3), (1e3, 0.0)])
def test_column_ladder_equals_dense_elimination(rng, r_col, r_sense):
    """S_j = D - D M^-1 D and c_j = (D M^-1 e_last) / r_s by a dense solve of the column nodal matrix."""
    g = random_array(rng, 7, 3)
    g[2, 1] = 0.0
    ladder = par.column_ladder(g, r_col, r_sense)
    for j in range(3):
        d = np.diag(g[:, j])
        if r_col + r_sense == 0.0:
            s_ref, c_ref = d, g[:, j]
        else:
            m = d.copy()
            if r_col > 0:
                for k in range(6):
                    m[k:k + 2, k:k + 2] += np.array([[1, -1], [-1, 1]]) / r_col
                m[6, 6] += 1 / (r_col + r_sense)
                m_inv = np.linalg.inv(m)
            else:  # merged column node
                m_inv = np.full((7, 7), 1 / (g[:, j].sum() + 1 / r_sense))
            s_ref = d - d @ m_inv @ d
            c_ref = d @ m_inv[:, -1] / (r_col + r_sense)
        np.testing.assert_allclose(par.column_admittance(ladder, j), s_ref, rtol=0, atol=RTOL_EXACT * g.max())
        np.testing.assert_allclose(ladder.c_S[:, j], c_ref, rtol=0, atol=RTOL_EXACT * g.max())
        # Kirchhoff: with every row node at 1 V, all current entering the column reaches the sense node
        np.testing.assert_allclose(par.column_admittance(ladder, j).sum(axis=0), ladder.c_S[:, j], rtol=0, atol=RTOL_EXACT * g.max())


def test_extreme_attenuation_uses_the_overflow_safe_branch(rng):
    g = np.full((120, 2), 1.0)  # 1 S cells on 1 kohm segments: huge attenuation along the column
    ladder = par.column_ladder(g, 1e3, 0.0)
    assert -ladder.lam[-1, 0] > 600
    s = par.column_admittance(ladder, 0)
    assert np.all(np.isfinite(s))
    nodal = par.column_currents_nodal(g, np.ones(120), 0.0, 1e3)
    np.testing.assert_allclose(par.column_currents(g, np.ones(120), 0.0, 1e3), nodal, rtol=0, atol=RTOL_EXACT * nodal.max())


# -- 5. bad input ---------------------------------------------------------------------------
G_OK = np.full((3, 2), 1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(r_row_ohm=-1.0), "r_row_ohm"), (dict(r_col_ohm=float("nan")), "r_col_ohm"),
    (dict(r_driver_ohm=-2.0), "r_driver_ohm"), (dict(r_sense_ohm=float("inf")), "r_sense_ohm"),
    (dict(g_S=-G_OK), "g_S"), (dict(g_S=np.where(G_OK > 0, np.nan, 0)), "g_S"),
    (dict(g_S=np.ones(3)), "g_S"), (dict(g_S=np.ones((0, 2))), "g_S"), (dict(v_V=np.ones(2)), "v_V"),
    (dict(v_V=np.array([0.1, np.inf, 0.0])), "v_V"),
])
@pytest.mark.parametrize("fn", [par.column_currents, par.column_currents_nodal, par.node_voltages, par.kirchhoff_residual])
def test_bad_input_raises_value_error_naming_the_argument(fn, kwargs, match):
    args = dict(g_S=G_OK, v_V=np.ones(3), r_row_ohm=1.0, r_col_ohm=1.0, r_driver_ohm=0.0, r_sense_ohm=0.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fn(args.pop("g_S"), args.pop("v_V"), args.pop("r_row_ohm"), args.pop("r_col_ohm"), **args)


@pytest.mark.parametrize("bad, match", [("1.0", "r_row_ohm"), (True, "r_row_ohm"), (np.ones(2), "r_row_ohm")])
def test_bad_resistance_type_raises_type_error(bad, match):
    with pytest.raises(TypeError, match=match):
        par.effective_conductance(G_OK, bad, 1.0)
    with pytest.raises(TypeError, match="g_S"):
        par.effective_conductance(G_OK.astype(complex), 1.0, 1.0)


def test_kirchhoff_residual_rejects_voltages_of_the_wrong_shape():
    with pytest.raises(ValueError, match="row_V"):
        par.kirchhoff_residual(G_OK, np.ones(3), 1.0, 1.0, row_V=np.zeros((3, 3)), col_V=np.zeros((3, 3)))


def test_column_ladder_validates_its_input():
    with pytest.raises(ValueError, match="g_S"):
        par.column_ladder(-G_OK, 1.0, 0.0)
    with pytest.raises(ValueError, match="r_sense_ohm"):
        par.column_ladder(G_OK, 1.0, -1.0)
