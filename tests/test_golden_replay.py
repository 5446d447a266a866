"""Replay: a noisy golden case re-runs bit for bit from its recorded draws."""

from __future__ import annotations

import numpy as np
import pytest

import refsim
from refsim.golden import export_crossbar, load_golden, random_case, replay


def _per_cell_read_noise():
    """Programming noise, drift, per-cell read noise (drawn per cell for every vector) and output noise."""
    return refsim.presets.get("int8").replace(**{
        "device.prog_model": "proportional", "device.prog_sigma_rel": 0.03,
        "device.drift_model": "fixed_nu", "device.drift_nu": 0.05, "device.t_inference_s": 3600.0,
        "device.read_model": "proportional", "device.read_sigma_rel": 0.02, "device.read_sampling": "per_cell",
        "device.out_noise_rel": 0.01, "array.rows_max": 10, "array.cols_max": 5,
    })


@pytest.mark.parametrize("make_cfg", [
    lambda: refsim.presets.get("aihwkit_noise_managed").replace(**{"device.t_inference_s": 86400.0}),
    lambda: refsim.presets.get("aihwkit_noise_managed").replace(**{"array.rows_max": 12, "array.cols_max": 4}),
    _per_cell_read_noise,
])
def test_replay_is_bit_exact(tmp_path, make_cfg):
    cfg = make_cfg()
    W, x = random_case(24, 7, 3, 11)
    export_crossbar(tmp_path / "c", W, x, cfg, seed=4)
    g = load_golden(tmp_path / "c")
    assert any(k.endswith(".xi_prog") for k in g.draws)
    assert any(k.endswith((".read", ".out", ".read_out")) for k in g.draws)
    res = replay(tmp_path / "c")
    assert res.bit_exact
    assert res.y[""].tobytes() == g["y"].tobytes()
    # the noise matters: a fresh crossbar with another seed gives another result
    other = refsim.Crossbar(W, cfg, rng=np.random.default_rng(5)).matvec(x)
    assert not np.array_equal(other, g["y"])


def test_replay_detects_a_changed_draw(tmp_path):
    cfg = _per_cell_read_noise()
    W, x = random_case(12, 5, 2, 0)
    export_crossbar(tmp_path / "c", W, x, cfg, seed=1)
    key = sorted(p for p in (tmp_path / "c" / "draws").iterdir() if p.name.endswith(".read.npy"))[0]
    d = np.load(key)
    np.save(key, d * 1.5)
    assert not replay(tmp_path / "c").bit_exact


def test_layer_replay(tmp_path):
    from refsim.golden import export_layer
    from refsim.nn import Conv2d

    rng = np.random.default_rng(0)
    conv = Conv2d(rng.normal(size=(4, 2, 3, 3)), None, groups=2, name="c", config=_per_cell_read_noise(), seed=3)
    export_layer(tmp_path / "l", conv, rng.normal(size=(1, 4, 4, 4)))
    res = replay(tmp_path / "l")
    assert set(res.y) == {"g0.", "g1."} and res.bit_exact
