"""Wire resistance inside the Crossbar: every physical array gets its own exact G_eff.

Oracles: refsim.wires.parasitics.column_currents_nodal (an independent sparse nodal solve of
each array), the ideal crossbar (zero resistance gives exactly the same bits), and
physics invariants (monotone loss of current with wire resistance).
"""

import numpy as np
import pytest

import refsim
from tolerances import RTOL_WIRE_SOLVE
from refsim.wires.nodal import column_currents_nodal

RTOL = 1e-10  # nodal sparse LU vs block elimination, both float64


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(12, 5)), rng.normal(size=(4, 12))


def test_zero_wire_resistance_is_the_ideal_result_bit_for_bit():
    w, x = _data()
    for name in ("ideal", "int8"):
        base = refsim.presets.get(name)
        zero = base.replace(**{"wire.r_row_ohm": 0.0, "wire.r_col_ohm": 0.0})
        np.testing.assert_array_equal(refsim.Crossbar(w, zero).matvec(x), refsim.Crossbar(w, base).matvec(x))


@pytest.mark.parametrize("scheme", ["differential_one_sided", "offset"])
def test_each_array_current_equals_a_nodal_solve(scheme):
    w, x = _data()
    cfg = refsim.presets.get("ideal").replace(**{
        "wire.r_row_ohm": 5.0, "wire.r_col_ohm": 3.0, "wire.r_driver_ohm": 1.0, "wire.r_sense_ohm": 2.0,
        "mapping.scheme": scheme, "mapping.offset_removal": "reference_column",
        "mapping.subtraction": "digital", "array.rows_max": 7})
    xb = refsim.Crossbar(w, cfg)
    tr = xb.trace(x)
    for ti, tile in enumerate(tr.tiles):
        for r in tile.reads:
            g = tr.conductances_S[f"t{ti}.s{r.k}.{r.name}"]
            v = tile.voltages_V[r.label]
            expected = column_currents_nodal(g, v, 5.0, 3.0, r_driver_ohm=1.0, r_sense_ohm=2.0)
            np.testing.assert_allclose(r.current_A[:, : expected.shape[1]], expected, rtol=RTOL,
                                       atol=RTOL * np.abs(expected).max())
    # the linear fast path (x @ W_eff) agrees with the step-by-step one
    np.testing.assert_allclose(tr.y, tr.y_steps, rtol=1e-12, atol=1e-12 * np.abs(tr.y).max())


def test_trace_shows_g_and_g_eff_side_by_side():
    w, x = _data()
    cfg = refsim.presets.get("ideal").replace(**{"wire.r_row_ohm": 2.0, "wire.r_col_ohm": 2.0})
    tr = refsim.Crossbar(w, cfg).trace(x)
    g, g_eff = tr.conductances_S["t0.s0.pos"], tr.conductances_S["t0.s0.pos.eff"]
    assert g.shape == g_eff.shape
    assert not np.array_equal(g, g_eff)


def test_output_magnitude_falls_monotonically_with_wire_resistance():
    rng = np.random.default_rng(1)
    w = np.abs(rng.normal(size=(32, 8)))
    x = np.abs(rng.normal(size=(3, 32)))
    prev = None
    for r in (0.0, 0.5, 2.0, 8.0, 32.0):
        cfg = refsim.presets.get("ideal").replace(**{"wire.r_row_ohm": r, "wire.r_col_ohm": r,
                                                     "mapping.g_min_S": 0.0})
        y = refsim.Crossbar(w, cfg).matvec(x)
        if prev is not None:
            assert np.all(y < prev)
        prev = y


def test_wires_with_quantized_bit_serial_inputs_use_g_eff_for_every_slice():
    w, x = _data()
    cfg = refsim.presets.get("bitserial_int8").replace(**{"wire.r_row_ohm": 4.0, "wire.r_col_ohm": 4.0,
                                                          "adc.bits": 16})
    tr = refsim.Crossbar(w, cfg).trace(x)
    g_eff = tr.conductances_S["t0.s0.pos.eff"] - tr.conductances_S["t0.s0.neg.eff"]
    for r in tr.tiles[0].reads:
        v = tr.tiles[0].voltages_V[r.label]
        np.testing.assert_allclose(r.current_A, v @ g_eff, rtol=1e-12, atol=1e-18)


def test_per_cell_read_noise_with_wires_resolves_each_read():
    """With read noise, each vector's noisy array is solved again: replaying the recorded draws
    and solving by hand with the nodal oracle gives the same currents."""
    w, x = _data()
    cfg = refsim.presets.get("ideal").replace(**{
        "wire.r_row_ohm": 3.0, "wire.r_col_ohm": 3.0,
        "device.read_model": "independent", "device.read_sigma_rel": 0.01})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(0))
    assert xb.read_sampling == "per_cell"  # output-referred is not exact with wires
    tr = xb.trace(x[:2])
    tile = tr.tiles[0]
    sl = xb.tiles[0].slices[0]
    v = tile.voltages_V["all"]
    expected = 0
    for dev, sign in (("pos", 1.0), ("neg", -1.0)):
        xi = tr.draws[f"t0.s0.{dev}.all.read"]
        g_noisy = np.maximum(sl.g_S[dev][None] + sl.read_sigma_S[dev][None] * xi, 0.0)
        expected = expected + sign * np.stack(
            [column_currents_nodal(g_noisy[b], v[b], 3.0, 3.0) for b in range(2)])
    np.testing.assert_allclose(tile.reads[0].current_A, expected, rtol=RTOL_WIRE_SOLVE,
                               atol=RTOL_WIRE_SOLVE * np.abs(expected).max())


def test_interleaved_pairs_share_row_wires():
    """Interleaved layout: G+ and G- columns alternate in one array; the nodal oracle of the
    combined (rows, 2 cols) array gives each side's currents; more IR drop than separate arrays."""
    w, x = _data()
    base = refsim.presets.get("ideal").replace(**{"wire.r_row_ohm": 4.0, "wire.r_col_ohm": 1.0})
    inter = base.replace(**{"wire.pair_layout": "interleaved"})
    tr = refsim.Crossbar(w, inter).trace(x)
    g_pos, g_neg = tr.conductances_S["t0.s0.pos"], tr.conductances_S["t0.s0.neg"]
    both = np.empty((g_pos.shape[0], 2 * g_pos.shape[1]))
    both[:, 0::2], both[:, 1::2] = g_pos, g_neg
    v = tr.tiles[0].voltages_V["all"]
    i_both = column_currents_nodal(both, v, 4.0, 1.0)
    np.testing.assert_allclose(tr.tiles[0].reads[0].current_A, i_both[:, 0::2] - i_both[:, 1::2],
                               rtol=RTOL_WIRE_SOLVE, atol=RTOL_WIRE_SOLVE * np.abs(i_both).max())
    err_sep = np.abs(refsim.Crossbar(w, base).matvec(x) - x @ w).max()
    err_int = np.abs(tr.y - x @ w).max()
    assert err_int > err_sep


def test_stochastic_adc_rounding_is_unbiased_and_replayable():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 1))
    x = np.repeat(rng.normal(size=(1, 8)), 20000, axis=0)
    det = refsim.presets.get("int8").replace(**{"adc.bits": 4})
    sto = det.replace(**{"adc.rounding": "stochastic"})
    xb = refsim.Crossbar(w, sto, rng=np.random.default_rng(1))
    tr = xb.trace(x)
    np.testing.assert_array_equal(xb.matvec(x, draws=tr.draws), tr.y)
    # the mean of stochastic codes equals the unrounded ADC input (I / I_lsb) within 5 sigma
    tile_read = tr.tiles[0].reads[0]
    sl = xb.tiles[0].slices[0]
    z = tile_read.current_A[0, 0] / (sl.adc_range_A / det.adc.n_levels)
    codes = tile_read.adc_codes[:, 0]
    frac = z - np.floor(z)
    sd = np.sqrt(frac * (1 - frac) / codes.size)
    assert abs(codes.mean() - z) <= 5 * sd + 1e-12
    with pytest.raises(ValueError, match="rng"):
        refsim.Crossbar(w, sto)
