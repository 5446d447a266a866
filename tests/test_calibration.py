"""Calibration: fixed ranges from the calibration set, never from the evaluated batch."""

from __future__ import annotations

import numpy as np
import pytest

import refsim
from refsim.tools.calibrate import (
    calibrate_crossbar,
    calibrate_network,
    load_layer_configs,
    profile_input_range,
    save_layer_configs,
)
from refsim.golden import random_case
from tests.test_golden_format import _TwoLayerNet, golden_cli


@pytest.fixture(scope="module")
def calibrated():
    W, x_cal = random_case(48, 12, 40, 0)
    return W, x_cal, calibrate_crossbar(W, x_cal, refsim.presets.get("int8"), percentile=99.0)


def test_percentile_ranges(calibrated):
    W, x_cal, res = calibrated
    cfg = res.config
    assert cfg.dac.range_mode == "fixed" and cfg.adc.range_mode == "fixed"
    assert cfg.dac.x_max == pytest.approx(np.percentile(np.abs(x_cal), 99.0), rel=1e-15)
    assert isinstance(cfg.adc.range_A, tuple) and len(cfg.adc.range_A) == cfg.weight.n_slices
    # (C2): the currents the ADC sees with the DAC at x_max and an ideal ADC
    probe = cfg.replace(**{"adc.bits": None, "adc.range_mode": "max", "adc.range_A": None})
    tr = refsim.Crossbar(W, probe).trace(x_cal)
    cur = np.abs(np.concatenate([r.current_A.ravel() for t in tr.tiles for r in t.reads]))
    assert cfg.adc.range_A[0] == pytest.approx(np.percentile(cur, 99.0), rel=1e-12)
    assert res.mse < res.mse_uncalibrated  # the "max" ADC range wastes most codes


def test_ranges_do_not_depend_on_the_evaluated_batch(calibrated):
    """Evaluate one vector alone and inside batches of very different scale: same output, same x_max."""
    W, x_cal, res = calibrated
    xb = refsim.Crossbar(W, res.config)
    rng = np.random.default_rng(3)
    probe = rng.normal(size=(1, W.shape[0]))
    alone = xb.matvec(probe)
    for scale in (1e-3, 1.0, 1e3):
        batch = np.concatenate([probe, scale * rng.normal(size=(7, W.shape[0]))])
        tr = xb.trace(batch)
        assert tr.y[:1].tobytes() == alone.tobytes()
        assert np.all(tr.tiles[0].x_max == res.config.dac.x_max)
    # and calibrating on another set does change them (the ranges are data-derived at calibration only)
    other = calibrate_crossbar(W, 10 * x_cal, refsim.presets.get("int8"), percentile=99.0)
    assert other.config.dac.x_max == pytest.approx(10 * res.config.dac.x_max)


def test_search_picks_the_best_grid_point():
    """(C3): with the searched DAC range, the searched ADC range is the best of the grid."""
    from refsim.tools.calibrate_ranges import _calibrated, _mse, profile_adc_ranges

    W, x = random_case(32, 8, 32, 1)
    cfg = refsim.presets.get("int8").replace(**{"adc.bits": 5})
    scales = (0.2, 0.5, 1.0)
    s = calibrate_crossbar(W, x, cfg, method="search", scales=scales)
    assert s.config.adc.range_mode == "fixed" and s.mse < s.mse_uncalibrated / 10
    rngs = [lambda: np.random.default_rng(0)]
    i_top = profile_adc_ranges([(W, x)], cfg, s.x_max, 100.0, rngs)
    mses = [_mse([(W, x)], _calibrated(cfg, s.x_max, tuple(f * i for i in i_top)), rngs) for f in scales]
    assert s.mse == min(mses)


def test_per_slice_ranges():
    W, x = random_case(16, 4, 8, 2)
    cfg = refsim.presets.get("int8").replace(**{"weight.n_slices": 2, "weight.bits_per_slice": 4})
    res = calibrate_crossbar(W, x, cfg)
    assert len(res.config.adc.range_A) == 2 and res.config.adc.range_A[0] != res.config.adc.range_A[1]


def test_bad_arguments():
    W, x = random_case(4, 3, 2, 0)
    with pytest.raises(ValueError, match="percentile"):
        calibrate_crossbar(W, x, refsim.presets.get("int8"), percentile=0)
    with pytest.raises(ValueError, match="method"):
        calibrate_crossbar(W, x, refsim.presets.get("int8"), method="magic")
    with pytest.raises(ValueError, match="calibration pair"):
        calibrate_crossbar(W, x[:, :2], refsim.presets.get("int8"))
    assert profile_input_range([np.zeros((2, 2))], 50) == 1.0


def test_network_calibration_round_trip(tmp_path):
    net = _TwoLayerNet(refsim.presets.get("int8"))
    x = np.random.default_rng(4).normal(size=(16, 6))
    cfgs = calibrate_network(net, x)
    assert set(cfgs) == {"fc1", "fc2"}
    assert cfgs["fc1"].dac.x_max != cfgs["fc2"].dac.x_max
    path = save_layer_configs(tmp_path / "cal.json", cfgs)
    fn = load_layer_configs(path)
    assert fn("fc1") == cfgs["fc1"] and fn("fc2") == cfgs["fc2"]
    with pytest.raises(ValueError, match="no calibrated config"):
        fn("fc3")
    assert load_layer_configs(path, default=None)("fc3") is None
    cal_net = _TwoLayerNet(fn)
    exact = net.forward(x, digital=True)
    err_cal = np.mean((cal_net.forward(x) - exact) ** 2)
    err_raw = np.mean((net.forward(x) - exact) ** 2)
    assert err_cal < err_raw


def test_cli_calibrate(tmp_path, capsys):
    out = tmp_path / "cfg.json"
    assert golden_cli(["calibrate", "--preset", "int8", "--shape", "16", "4", "--batch", "8", "--out", str(out)]) == 0
    cfg = refsim.load_config(out)
    assert cfg.dac.range_mode == "fixed" and cfg.adc.range_mode == "fixed"


@pytest.mark.parametrize("preset", refsim.presets.names())
def test_adc_input_currents_are_the_traced_currents(preset):
    """Crossbar.adc_input_currents (what the calibration profile C2 uses instead of a trace) gives
    bit for bit the ``current_A`` of every read of ``trace(x)`` (oracle), slice by slice and in the
    same order: several row and column tiles, digital subtraction, two weight slices, bit-serial
    passes (stacked on the direct path), analog accumulation, an ideal ADC; noisy presets draw the
    same numbers (fresh crossbars from the same seed)."""
    rng = np.random.default_rng(3)
    W, x = rng.normal(size=(300, 70)), rng.normal(size=(9, 300))
    tiles = {"array.rows_max": 128, "array.cols_max": 64}
    base = refsim.presets.get(preset)
    variants = [{}, {"mapping.subtraction": "digital"}, {"adc.bits": None, "dac.bound_management": "none"}]
    if base.dac.bits is not None:  # bit-serial inputs need a quantized DAC
        variants += [{"dac.slice_bits": 1}, {"dac.slice_bits": 1, "dac.accumulation": "analog"}]
    if base.weight.bits is not None:
        variants.append({"weight.n_slices": 2, "weight.bits_per_slice": 4})
    for v in variants:
        cfg = base.replace(**tiles, **v)
        tr = refsim.Crossbar(W, cfg, rng=np.random.default_rng(1)).trace(x)
        want = [[r.current_A for t in tr.tiles for r in t.reads if r.k == k] for k in range(cfg.weight.n_slices)]
        got = refsim.Crossbar(W, cfg, rng=np.random.default_rng(1)).adc_input_currents(x)
        assert [len(g) for g in got] == [len(w) for w in want] and sum(map(len, want)) > 1, v
        for g_k, w_k in zip(got, want):
            for g, w in zip(g_k, w_k):
                assert g.dtype == np.float64 and np.array_equal(g, w), (preset, v)


def test_network_calibration_profiles_a_layer_called_twice_on_its_last_input():
    """calibrate_network profiles each layer while the forward runs (the inputs of all layers are
    not held at once); a layer the forward calls twice is calibrated, as a recorded dict would keep
    it, on its last input: the same config as calibrate_crossbar on that input (oracle)."""
    from refsim.nn.engine import crossbar_rng

    class Twice(_TwoLayerNet):
        def forward(self, x, *, digital=False, records=None):
            h = np.maximum(self.fc1.forward(x, digital=digital, records=records), 0.0)
            h2 = self.fc2.forward(h, digital=digital, records=records)  # (B, 3)
            h3 = np.concatenate([h2, 3 * h[:, 3:]], axis=1)  # (B, 8): fc2 once more, on other inputs
            return self.fc2.forward(h3, digital=digital, records=records)

    net = Twice(refsim.presets.get("int8"))
    x = np.random.default_rng(5).normal(size=(16, 6))
    cfgs = calibrate_network(net, x, percentile=99.0)
    h = np.maximum(net.fc1.forward(x, digital=True), 0.0)
    last = np.concatenate([net.fc2.forward(h, digital=True), 3 * h[:, 3:]], axis=1)
    want = calibrate_crossbar(net.fc2.W, last, net.fc2.config, percentile=99.0, measure=False,
                              rngs=[lambda: crossbar_rng(net.fc2.seed, "fc2", 0)]).config
    assert cfgs["fc2"] == want and cfgs["fc2"].dac.x_max == np.percentile(np.abs(last), 99.0)
    first = calibrate_crossbar(net.fc2.W, h, net.fc2.config, percentile=99.0, measure=False,
                               rngs=[lambda: crossbar_rng(net.fc2.seed, "fc2", 0)]).config
    assert first != want  # the test tells the two inputs apart
