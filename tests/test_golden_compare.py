"""Golden compare: identical data passes, a planted one-ULP change is found at the right stage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import refsim
from refsim.golden import compare_arrays, compare_dirs, export_crossbar, load_golden, random_case
from tests.test_golden_format import golden_cli


@pytest.fixture(scope="module")
def golden_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("g") / "int8_noisy"
    cfg = refsim.presets.get("int8").replace(**{"device.read_model": "independent", "device.read_sigma_rel": 0.01,
                                                "array.rows_max": 8})
    W, x = random_case(16, 6, 3, 0)
    export_crossbar(d, W, x, cfg, seed=1)
    return d


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_identical_data_passes(golden_dir, tmp_path):
    rep = compare_dirs(golden_dir, _copy(golden_dir, tmp_path / "c"))
    assert rep.ok and rep.first_failure is None
    assert len(rep.compared) == len(rep.rows)


def test_subset_of_stages_is_compared(golden_dir, tmp_path):
    cand = tmp_path / "c"
    cand.mkdir()
    shutil.copy(golden_dir / "y.npy", cand / "y.npy")
    shutil.copy(golden_dir / "t1.dac_codes.npy", cand / "t1.dac_codes.npy")
    rep = compare_dirs(golden_dir, cand)
    assert rep.ok and {r.name for r in rep.compared} == {"y", "t1.dac_codes"}


@pytest.mark.parametrize("stage", ["t0.s0.pos.G_eff", "t1.s0.net.all.current_A", "t0.s0.digital", "y"])
def test_planted_one_ulp_change_is_found_at_its_stage(golden_dir, tmp_path, stage):
    cand = _copy(golden_dir, tmp_path / "c")
    a = np.load(cand / f"{stage}.npy")
    a.flat[1] = np.nextafter(a.flat[1], np.inf)
    np.save(cand / f"{stage}.npy", a)
    rep = compare_dirs(golden_dir, cand)
    assert not rep.ok
    assert rep.first_failure == stage
    row = next(r for r in rep.rows if r.name == stage)
    assert row.n_bad == 1 and 0 < row.max_abs
    assert [r.name for r in rep.failures] == [stage]
    # a tolerance wider than one ULP accepts it
    assert compare_dirs(golden_dir, cand, rtol=1e-15).ok


def test_integer_stage_is_exact_even_with_tolerance(golden_dir, tmp_path):
    cand = _copy(golden_dir, tmp_path / "c")
    codes = np.load(cand / "t0.s0.net.all.adc_codes.npy")
    codes[0, 0] += 1
    np.save(cand / "t0.s0.net.all.adc_codes.npy", codes.astype(np.float64))  # another dtype: values count
    rep = compare_dirs(golden_dir, cand, rtol=0.5, atol=10.0)
    assert rep.first_failure == "t0.s0.net.all.adc_codes"


def test_first_failure_follows_manifest_order(golden_dir, tmp_path):
    cand = _copy(golden_dir, tmp_path / "c")
    for stage in ("y", "t0.x_max"):
        a = np.load(cand / f"{stage}.npy")
        np.save(cand / f"{stage}.npy", a * 2)
    rep = compare_dirs(golden_dir, cand)
    assert rep.first_failure == "t0.x_max"


def test_shape_mismatch_and_draws(golden_dir, tmp_path):
    cand = _copy(golden_dir, tmp_path / "c")
    np.save(cand / "w_max.npy", np.zeros(3))
    key = next(iter(load_golden(golden_dir).draws))
    d = np.load(cand / "draws" / f"{key}.npy")
    np.save(cand / "draws" / f"{key}.npy", d + 1)
    rep = compare_dirs(golden_dir, cand)
    assert rep.first_failure == "w_max"
    assert {r.name for r in rep.failures} == {"w_max", key}
    assert compare_dirs(golden_dir, cand, draws=False).first_failure == "w_max"


def test_compare_arrays_relative_difference():
    d = compare_arrays("s", np.array([1.0, 0.0, -4.0]), np.array([1.0, 0.0, -4.4]), integer=False, rtol=0.2, atol=0)
    assert d.status == "ok" and d.max_rel == pytest.approx(0.1) and d.max_abs == pytest.approx(0.4)
    d = compare_arrays("s", np.array([0.0]), np.array([1e-300]), integer=False, rtol=0.0, atol=0.0)
    assert d.status == "differs" and d.max_rel == np.inf


def test_cli_compare_exit_codes(golden_dir, tmp_path, capsys):
    cand = _copy(golden_dir, tmp_path / "c")
    assert golden_cli(["golden", "compare", str(golden_dir), str(cand)]) == 0
    a = np.load(cand / "t0.s0.digital.npy")
    np.save(cand / "t0.s0.digital.npy", np.nextafter(a, -np.inf))
    assert golden_cli(["golden", "compare", str(golden_dir), str(cand)]) == 1
    out = capsys.readouterr().out
    assert "first departing stage: t0.s0.digital" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert golden_cli(["golden", "compare", str(golden_dir), str(empty)]) == 2
