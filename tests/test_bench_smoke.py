"""Smoke test of the benchmark suite (python -m bench) on a CIFAR ResNet-20, so it never rots.

Runs the real machinery (a subprocess per case, pass counting, report) on a tiny network with
two presets, and checks the analog pass count against a hand count.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

import refsim

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the bench package
from bench.passes import MatvecTimer, matvec_passes, network_passes, pass_matmul_seconds  # noqa: E402
from bench.report import TARGETS, derive, targets, write_report  # noqa: E402
from bench.suite import run_suite  # noqa: E402


def test_pass_count_is_tiles_slices_reads_drive_passes():
    # 300 x 70 on 128 x 64 arrays (even split): 3 x 2 tiles; 4 weight slices; 1-bit input slices of
    # 7 magnitude bits: 7 drive passes; digital subtraction: 2 reads (pos, neg) -> 6 * 4 * 2 * 7
    cfg = refsim.presets.get("int8").replace(**{
        "weight.n_slices": 4, "weight.bits_per_slice": 2, "dac.slice_bits": 1,
        "array.rows_max": 128, "array.cols_max": 64, "mapping.subtraction": "digital"})
    w = np.random.default_rng(0).normal(size=(300, 70))
    xb = refsim.Crossbar(w, cfg)
    assert matvec_passes(xb).n_passes == 3 * 2 * 4 * 2 * 7 == 336
    ideal = refsim.Crossbar(w, refsim.presets.get("ideal"))
    assert matvec_passes(ideal).n_passes == 1


def test_matvec_timer_and_pass_matmul_time():
    untiled = refsim.presets.get("int8").replace(**{"array.rows_max": None, "array.cols_max": None})
    net = refsim.nn.cifar_resnet_from_state_dict(_tiny_sd(), config=untiled)
    timer = MatvecTimer(net)
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8))
    y = net(x)
    assert y.shape == (2, 10) and len(timer.calls) == network_passes(net) == 20
    assert timer.calls[0][2] == 2 * 8 * 8  # conv1: N * OH * OW vectors
    pass_s, n = pass_matmul_seconds(timer.calls, repeats=1)
    assert n == 20 and pass_s > 0


def _tiny_sd():
    from refsim.nn.statedict import random_params
    from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
    return random_params(cifar_resnet_param_shapes(20), np.random.default_rng(0))


def test_suite_runs_and_reports(tmp_path):
    results = run_suite(["ideal", "int8"], net="cifar_resnet20", repeats=1, budget_s=1.0,
                        log=lambda _: None)
    assert [r.get("error") for r in results] == [None] * 2, results
    by = derive(results)
    # int8's 512-row arrays split the five 576-row convolutions of layer3 in two
    assert by["ideal"]["n_passes"] == 20 and by["int8"]["n_passes"] == 25
    assert np.isfinite(by["int8"]["ratio"]) and np.isfinite(by["ideal"]["per_pass"])
    assert 0 < by["int8"]["peak_rss_GB"] < TARGETS["peak_rss_GB"]
    rows = {t[0]: t for t in targets(by)}
    assert rows["ideal <= 1.3x plain NumPy"][2] in ("met", "**not met**")
    meta = {"net": "cifar_resnet20", "image": 32, "command": "test", "date": "today", "nproc": 1, "cpu": "cpu",
            "mem_GB": 1.0, "python": "3", "numpy": np.__version__, "blas": "?", "threads": 1, "weights": "random"}
    text = write_report(results, meta, tmp_path / "results.md")
    assert "| int8 |" in text and "## Targets" in text
    assert (tmp_path / "results.md").read_text() == text


def test_bench_floor_runs_and_reports(tmp_path, capsys):
    from bench.bench_floor import main as floor_main

    out = tmp_path / "floor.md"
    totals = floor_main(["--case", "int8", "--net", "cifar_resnet20", "--repeats", "1", "--out", str(out)])
    assert np.all(totals > 0)
    text = out.read_text()
    assert "NumPy floor" in text and text.count("\n| conv") >= 1 and "layer3.2.conv2" in text


def test_bench_peer_runs_and_skips_an_absent_crosssim(tmp_path):
    """bench.bench_peer on a tiny shape with CrossSim absent (this Python cannot import its
    `simulator`): refsim's row is measured, CrossSim's is reported as skipped, not as an error."""
    import importlib.util

    from bench.bench_peer import main as peer_main

    if importlib.util.find_spec("simulator") is not None:
        pytest.skip("CrossSim's `simulator` is importable here: this test is about its absence")
    out = tmp_path / "peer.md"
    (res,) = peer_main(["--shapes", "24x8x16", "--rounds", "2", "--crosssim-python", sys.executable,
                        "--out", str(out)])
    assert "not importable" in res["crosssim_skipped"] and "crosssim_s" not in res
    assert res["refsim_s"] > 0 and res["refsim_matmul_s"] > 0
    assert 0 < res["refsim_rel_error"] < 0.5  # the int8 multiply against x @ W: quantization error, not garbage
    text = out.read_text()
    assert "| 24 x 8 | 16 |" in text and "Skipped:" in text and "not importable" in text


def test_bench_presets_runs_and_reports(tmp_path, shared_data):
    """bench.bench_presets on 4 images, one round: the worker's measurements are real (the faithful
    preset samples its read noise output-referred with the 1/f noise held, the calibrated presets
    are named as derived), the ratios are the quotients of the times it measured, and the report
    shows every target."""
    from bench.bench_presets import TARGETS, main as presets_main

    for f in ("weights/resnet20-12fca82f.th", "cifar10/cifar10_test_subset.npz", "cifar10/cifar10_train_subset.npz"):
        if not (shared_data / f).exists():
            pytest.skip(f"{shared_data / f} not found")
    out = tmp_path / "presets.md"
    raw = presets_main(["--n", "4", "--batch-size", "2", "--rounds", "1", "--data-dir", str(shared_data),
                        "--out", str(out)])
    t, info, d = raw["times"], raw["info"], raw["derived"]
    assert set(t) == {"int8", "rasch2023_standard", "xiao2022_resnet50", "digital"}
    assert all(v["eval_cpu_s"][0] > 0 for v in t.values())
    assert info["rasch2023_standard"]["read_sampling"] == ["output_referred"]
    assert info["rasch2023_standard"]["held_read_noise"] and info["rasch2023_standard"]["t_inference_s"] == 3600
    assert info["int8"]["read_sampling"] == ["none"] and info["int8"]["needs_calibration"] is None
    for name in ("rasch2023_standard", "xiao2022_resnet50"):
        assert info[name]["config_name"] == [f"{name}+cal"]
        r = d["ratios"][name]
        assert r["cal_vs_eval"] == t[name]["cal_cpu_s"][0] / t[name]["eval_cal_cpu_s"][0]
        assert 0 < t[name]["profile_cpu_s"][0] < t[name]["cal_cpu_s"][0]
    assert d["ratios"]["rasch2023_standard"]["vs_baseline"] == (
        t["rasch2023_standard"]["eval_cpu_s"][0] / t["int8"]["eval_cpu_s"][0])
    assert raw["accuracy"]["digital"] >= 3  # the pretrained network, not random weights
    text = out.read_text()
    assert f"<= {TARGETS['faithful_vs_noisefree']:g}x int8" in text and text.count("an evaluation of the same") == 2
    assert "| xiao2022_resnet50 | dac and adc |" in text


def test_bench_ab_compares_a_checkout_with_itself(tmp_path):
    """bench.bench_ab on the smallest network, this checkout against itself: the same output bit
    for bit, both times measured, the report written; a path that is no checkout is refused."""
    import pytest

    from bench.bench_ab import REPO, main as ab_main

    out = tmp_path / "ab.md"
    (res,) = ab_main([str(REPO), str(REPO), "--cases", "int8", "--net", "cifar_resnet20", "--rounds", "1",
                      "--out", str(out)])
    assert res["same_output"] and res["old_s"] > 0 and res["new_s"] > 0 and res["time_quotient"] > 0
    assert "| int8 |" in out.read_text() and "Largest new / old" in out.read_text()
    with pytest.raises(SystemExit):
        ab_main([str(tmp_path), "--no-write"])


def test_bench_train_runs_and_reports_every_ratio(tmp_path):
    """python -m bench.bench_train on batch 4, one round: every row and ratio of the report is computed
    (the FP, HWA, floor and no-per-vector-products steps; torch when installed), and the report is written."""
    from bench import bench_train

    out = tmp_path / "train.md"
    assert bench_train.main(["--rounds", "1", "--batch", "4", "--out", str(out)]) == 0
    text = out.read_text()
    for row in ("| refsim FP |", "| refsim HWA |", "| refsim FP + HWA products |", f"| {bench_train.NO_PRODUCTS} |",
                "refsim HWA / refsim FP", "matmul floor", "Peak resident memory"):
        assert row in text
    assert "aihwkit" not in text  # --aihwkit-python not given: no aihwkit line


def test_bench_aihwkit_train_step_reports_both_steps():
    """bench/aihwkit_train_step.py under a Python with aihwkit (skipped without it: CI does not install it)."""
    pytest.importorskip("aihwkit", reason="aihwkit is not installed (bench/aihwkit_train_step.py needs it)")
    import json
    import subprocess

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "bench.aihwkit_train_step", "--rounds", "1", "--batch", "2"], cwd=root,
                       capture_output=True, text=True, check=True)
    times = json.loads(r.stdout.strip().splitlines()[-1])["times"]
    assert set(times) == {"torch FP", "aihwkit HWA"} and all(len(v) == 1 and v[0] > 0 for v in times.values())
