"""Iterative bound management (aihwkit's default): clipped vectors are re-read with the input
range doubled until nothing clips. Oracle: the same crossbar without bound management, driven
with a fixed input range equal to the final range of each vector, gives the same bits."""

import numpy as np
import pytest

import refsim


def _setup():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(48, 12))
    x = rng.normal(size=(40, 48))
    base = refsim.presets.get("int8").replace(**{"adc.range_mode": "fixed", "adc.range_A": 2e-6})
    return w, x, base


def test_each_vector_equals_a_fixed_range_read_at_its_final_factor():
    w, x, base = _setup()
    tr = refsim.Crossbar(w, base.replace(**{"dac.bound_management": "iterative"})).trace(x)
    factor = tr.tiles[0].bm_factor
    assert set(np.unique(factor)) <= {2.0**k for k in range(11)}
    assert factor.max() > 1  # the fixed ADC range does clip some vectors
    for b in range(x.shape[0]):
        x_max = factor[b] * np.abs(x[b]).max()
        fixed = base.replace(**{"dac.range_mode": "fixed", "dac.x_max": float(x_max)})
        np.testing.assert_array_equal(refsim.Crossbar(w, fixed).matvec(x[b]), tr.y[b])


def test_bound_management_removes_clipping_and_error():
    w, x, base = _setup()
    plain = refsim.Crossbar(w, base).trace(x)
    bm = refsim.Crossbar(w, base.replace(**{"dac.bound_management": "iterative"})).trace(x)
    err = lambda y: np.linalg.norm(y - x @ w) / np.linalg.norm(x @ w)  # noqa: E731
    assert plain.clip_fraction > 0
    assert err(bm.y) < err(plain.y) / 5
    unclipped = bm.tiles[0].bm_factor == 1
    np.testing.assert_array_equal(bm.y[unclipped], plain.y[unclipped])


def test_max_factor_bounds_the_iterations():
    w, x, base = _setup()
    cfg = base.replace(**{"dac.bound_management": "iterative", "dac.bm_max_factor": 2,
                          "adc.range_A": 1e-8})
    tr = refsim.Crossbar(w, cfg).trace(x)
    assert tr.tiles[0].bm_factor.max() == 2


def test_noisy_bound_management_replays_bit_for_bit():
    w, x, base = _setup()
    cfg = base.replace(**{"dac.bound_management": "iterative", "device.read_model": "independent",
                          "device.read_sigma_rel": 0.01})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(0))
    tr = xb.trace(x)
    assert any(".bm1." in k for k in tr.draws)
    np.testing.assert_array_equal(xb.matvec(x, draws=tr.draws), tr.y)


def test_bound_management_needs_a_quantized_adc():
    with pytest.raises(ValueError, match="dac.bound_management"):
        refsim.presets.get("ideal").replace(**{"dac.bound_management": "iterative"})
    with pytest.raises(ValueError, match="dac.bound_management"):
        refsim.presets.get("int8").replace(**{"dac.bound_management": "sometimes"})
