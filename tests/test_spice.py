"""ngspice, an independent circuit simulator, against refsim.wires.parasitics.effective_conductance.

The ngspice tests skip (with the reason) when the ``ngspice`` executable is absent; CI installs it.
The netlist-structure tests run everywhere.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from refsim.wires import parasitics as par
from refsim.wires import spice

#: ngspice vs G_eff, relative to the largest sense current. ngspice solves the same linear
#: nodal equations by sparse LU in float64 (we measured ~1e-13); 1e-8 is the agreement asked for.
RTOL_SPICE = 1e-8
#: The IR-drop range the comparison must span: relative loss of the total output current.
DROP_MIN, DROP_MAX = 1e-4, 0.5

needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice executable not on PATH (apt-get install ngspice)"
)

# (shape, (r_row, r_col, r_driver, r_sense) ohm, seed)
CASES = [
    ((1, 1), (1.0, 2.0, 3.0, 4.0), 0),
    ((1, 7), (50.0, 0.0, 0.0, 0.0), 1),  # r_col = 0: column nodes merged with the sense node
    ((7, 1), (0.0, 50.0, 0.0, 0.0), 2),  # r_row = 0: row nodes merged with the source
    ((5, 9), (2.0, 3.0, 10.0, 20.0), 3),
    ((9, 5), (0.0, 3.0, 10.0, 0.0), 4),
    ((16, 16), (0.01, 0.01, 0.0, 0.0), 5),
    ((64, 64), (0.003, 0.003, 0.0, 0.0), 6),  # ~0.01 % drop
    ((64, 64), (30.0, 30.0, 0.0, 0.0), 7),  # > 50 % drop
    ((48, 64), (2.0, 1.0, 5.0, 5.0), 8),  # a few %
]


def relative_drop(g, v, currents):
    return 1.0 - currents.sum() / (v @ g).sum()


@needs_ngspice
def test_ngspice_agrees_with_effective_conductance_across_shapes_and_ir_drops():
    drops = []
    for shape, r, seed in CASES:
        rng = np.random.default_rng(seed)
        g = rng.uniform(1e-6, 25e-6, shape)
        v = rng.uniform(0.0, 0.2, shape[0])
        kw = dict(r_driver_ohm=r[2], r_sense_ohm=r[3])
        ngspice_A = spice.run_ngspice(spice.netlist(g, r[0], r[1], v, **kw))
        refsim_A = v @ par.effective_conductance(g, r[0], r[1], **kw)
        err = np.max(np.abs(ngspice_A - refsim_A)) / np.max(np.abs(refsim_A))
        assert err <= RTOL_SPICE, f"shape {shape}, wires {r}: relative difference {err:.2e}"
        drops.append(relative_drop(g, v, refsim_A))
    # the cases must really span the IR-drop range (else this test would prove little)
    assert min(d for d in drops if d > 0) <= DROP_MIN and max(drops) >= DROP_MAX, drops


@needs_ngspice
def test_ngspice_ideal_array_and_negative_inputs():
    rng = np.random.default_rng(11)
    g = rng.uniform(1e-6, 25e-6, (4, 3))
    v = rng.uniform(-0.2, 0.2, 4)
    np.testing.assert_allclose(spice.run_ngspice(spice.netlist(g, 0.0, 0.0, v)), v @ g, rtol=0,
                               atol=RTOL_SPICE * np.abs(v) @ g.max(axis=1))


@needs_ngspice
def test_the_spice_check_detects_a_wrong_array():
    """A 1e-6 relative change of one cell must be visible above RTOL_SPICE (the checker can fail)."""
    rng = np.random.default_rng(12)
    g = rng.uniform(1e-6, 25e-6, (6, 4))
    v = rng.uniform(0.05, 0.2, 6)
    wrong = g.copy()
    wrong[2, 1] *= 1.0 + 1e-6
    ngspice_A = spice.run_ngspice(spice.netlist(wrong, 1.0, 1.0, v))
    refsim_A = v @ par.effective_conductance(g, 1.0, 1.0)
    assert np.max(np.abs(ngspice_A - refsim_A)) / np.max(np.abs(refsim_A)) > 10 * RTOL_SPICE


def count(netlist_text, prefix):
    return sum(line.startswith(prefix) for line in netlist_text.splitlines())


@pytest.mark.parametrize("r, n_row, n_col, n_drv, n_sns", [
    ((1.0, 1.0, 1.0, 1.0), 3 * 4, 3 * 4, 3, 4),
    ((0.0, 1.0, 0.0, 0.0), 0, 3 * 4, 0, 0),
    ((1.0, 0.0, 0.0, 2.0), 3 * 4, 0, 0, 4),
])
def test_netlist_structure_and_merged_nodes(r, n_row, n_col, n_drv, n_sns):
    g = np.full((3, 4), 1e-5)
    g[1, 2] = 0.0  # an off cell is an open circuit: no element
    text = spice.netlist(g, r[0], r[1], np.ones(3), r_driver_ohm=r[2], r_sense_ohm=r[3], title="unit")
    assert text.startswith("* unit\n")
    assert count(text, "V_IN_") == 3 and count(text, "V_SNS_") == 4
    assert count(text, "R_CELL_") == 11
    assert (count(text, "R_ROW_"), count(text, "R_COL_"), count(text, "R_DRV_"), count(text, "R_SNS_")) == (
        n_row, n_col, n_drv, n_sns)
    assert "R_CELL_0_0 " in text and f"{1 / 1e-5:.17g}" in text


def test_write_netlist(tmp_path):
    path = tmp_path / "x.cir"
    text = spice.write_netlist(path, [[1e-5]], 1.0, 2.0, [0.1], r_sense_ohm=3.0)
    assert path.read_text() == text == spice.netlist([[1e-5]], 1.0, 2.0, [0.1], r_sense_ohm=3.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(v_V=np.ones((2, 3))), "v_V"), (dict(v_V=np.ones(4)), "v_V"), (dict(r_row_ohm=-1.0), "r_row_ohm"),
    (dict(g_S=-np.ones((3, 2))), "g_S"), (dict(title="two\nlines"), "title"),
])
def test_netlist_bad_input(kwargs, match):
    args = dict(g_S=np.full((3, 2), 1e-5), r_row_ohm=1.0, r_col_ohm=1.0, v_V=np.ones(3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        spice.netlist(args.pop("g_S"), args.pop("r_row_ohm"), args.pop("r_col_ohm"), args.pop("v_V"), **args)


def test_run_ngspice_reports_a_missing_executable():
    with pytest.raises(FileNotFoundError, match="not found"):
        spice.run_ngspice(spice.netlist([[1e-5]], 1.0, 1.0, [0.1]), ngspice="ngspice-does-not-exist")
