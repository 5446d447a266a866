"""Golden vectors: lossless round trip, manifest content and order, CLI export and suite."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import refsim
from refsim.cli.golden import add_golden_subcommands
from refsim.golden import FORMAT_VERSION, export_crossbar, export_layer, export_network, load_golden, random_case


def golden_cli(argv: list[str]) -> int:
    """Run a ``golden``/``calibrate`` command through its own parser (as refsim.cli does)."""
    parser = argparse.ArgumentParser(prog="refsim")
    add_golden_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def _trace(W, x, cfg, seed):
    return refsim.Crossbar(W, cfg, rng=np.random.default_rng(seed)).trace(x)


@pytest.mark.parametrize("preset", ["ideal", "int8", "bitserial_int8", "aihwkit_noise_managed"])
def test_round_trip_is_lossless(tmp_path, preset):
    """Every array read back equals the trace's array bit for bit (values and shapes)."""
    cfg = refsim.presets.get(preset).replace(**{"array.rows_max": 8, "array.cols_max": 6})
    W, x = random_case(20, 9, 3, 5)
    export_crossbar(tmp_path / "c", W, x, cfg, seed=7)
    g = load_golden(tmp_path / "c")
    tr = _trace(W, x, cfg, 7)
    assert g.config == cfg
    assert g.manifest["seed"] == 7 and g.manifest["format_version"] == FORMAT_VERSION
    assert g.manifest["refsim_version"] == refsim.__version__
    np.testing.assert_array_equal(g["weights"], W)
    np.testing.assert_array_equal(g["x"], x)
    assert g["y"].tobytes() == tr.y.tobytes()
    for key, arr in tr.draws.items():
        assert g.draws[key].tobytes() == np.asarray(arr, dtype=np.float64).tobytes()
    for key, arr in tr.conductances_S.items():
        stage = {"target": "G_target", "programmed": "G_programmed", "eff": "G_eff"}
        parts = key.split(".")
        name = ".".join(parts[:3]) + "." + (stage[parts[3]] if len(parts) == 4 else "G_t")
        assert g[name].tobytes() == arr.tobytes()
    for ti, t in enumerate(tr.tiles):
        assert np.array_equal(g[f"t{ti}.dac_codes"], t.dac_codes)
        for r in t.reads:
            p = f"t{ti}.s{r.k}.{r.name}.{r.label}."
            assert g[p + "current_A"].tobytes() == r.current_A.tobytes()
            if r.adc_codes is not None:
                assert g[p + "adc_codes"].dtype == np.int64
                assert np.array_equal(g[p + "adc_codes"], r.adc_codes)
        assert g[f"t{ti}.partial"].tobytes() == t.partial.tobytes()
    assert (len(tr.draws) > 0) == (preset == "aihwkit_noise_managed")


def test_manifest_lists_stages_in_pipeline_order(tmp_path):
    cfg = refsim.presets.get("int8")
    W, x = random_case(12, 5, 2, 0)
    export_crossbar(tmp_path / "c", W, x, cfg)
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    names = [e["name"] for e in m["stages"]]
    order = ["weights", "w_max", "w_norm", "weight_levels", "device_levels.pos.s0", "t0.s0.pos.G_target",
             "t0.s0.pos.G_programmed", "t0.s0.pos.G_t", "t0.s0.pos.G_eff", "x", "t0.x_max", "t0.dac_codes",
             "t0.all.voltages_V", "t0.s0.net.all.current_A", "t0.s0.net.all.adc_codes", "t0.s0.digital",
             "t0.partial", "y"]
    assert [n for n in names if n in order] == order
    units = {e["name"]: e["unit"] for e in m["stages"]}
    assert units["t0.s0.pos.G_eff"] == "S" and units["t0.all.voltages_V"] == "V"
    assert units["t0.s0.net.all.current_A"] == "A"
    ints = {e["name"] for e in m["stages"] if e["integer"]}
    assert {"weight_levels", "t0.dac_codes", "t0.s0.net.all.adc_codes"} <= ints
    for e in m["stages"]:
        a = np.load(tmp_path / "c" / e["file"], allow_pickle=False)
        assert list(a.shape) == e["shape"] and a.dtype.name == e["dtype"]


def test_export_refuses_a_used_directory(tmp_path):
    W, x = random_case(4, 3, 1, 0)
    export_crossbar(tmp_path / "c", W, x, refsim.presets.get("ideal"))
    with pytest.raises(ValueError, match="already holds"):
        export_crossbar(tmp_path / "c", W, x, refsim.presets.get("ideal"))


def test_layer_export_matches_the_layer(tmp_path):
    """A noise-free Conv2d layer: the exported layer output equals layer.forward bit for bit."""
    from refsim.nn import Conv2d, Linear

    rng = np.random.default_rng(0)
    conv = Conv2d(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4), groups=2, padding=1, name="c",
                  config=refsim.presets.get("int8"))
    x = rng.normal(size=(2, 2, 5, 5))
    export_layer(tmp_path / "conv", conv, x)
    g = load_golden(tmp_path / "conv")
    assert g["layer.output"].tobytes() == conv.forward(x).tobytes()
    assert "g1.t0.s0.net.all.adc_codes" in g.stages
    lin = Linear(rng.normal(size=(3, 6)), None, name="fc", config=refsim.presets.get("int8"))
    export_layer(tmp_path / "lin", lin, rng.normal(size=(4, 6)))
    g = load_golden(tmp_path / "lin")
    assert g["layer.output"].tobytes() == lin.forward(g["layer.input"]).tobytes()


class _TwoLayerNet:
    """A minimal network: Linear -> ReLU -> Linear, with records and layers()."""

    def __init__(self, config, seed=0):
        from refsim.nn import Linear

        rng = np.random.default_rng(1)
        self.seed = seed
        self.fc1 = Linear(rng.normal(size=(8, 6)), rng.normal(size=8), name="fc1", config=config, seed=seed)
        self.fc2 = Linear(rng.normal(size=(3, 8)), None, name="fc2", config=config, seed=seed)

    def layers(self):
        return {"fc1": self.fc1, "fc2": self.fc2}

    def forward(self, x, *, digital=False, records=None):
        h = np.maximum(self.fc1.forward(x, digital=digital, records=records), 0.0)
        return self.fc2.forward(h, digital=digital, records=records)


def test_network_export_has_per_layer_outputs(tmp_path):
    net = _TwoLayerNet(refsim.presets.get("int8"))
    x = np.random.default_rng(2).normal(size=(5, 6))
    export_network(tmp_path / "net", net, x)
    g = load_golden(tmp_path / "net")
    assert list(g.stages) == ["input", "fc1.input", "fc1.output", "fc2.input", "fc2.output", "output"]
    assert g["output"].tobytes() == net.forward(x).tobytes()
    assert g.manifest["meta"]["layers"]["fc1"]["config"]["name"] == "int8"


def test_cli_export_and_suite(tmp_path, capsys):
    assert golden_cli(["golden", "export", "--preset", "int8", "--shape", "10", "4", "--batch", "2",
                       "--seed", "3", "--out", str(tmp_path / "e")]) == 0
    g = load_golden(tmp_path / "e")
    W, x = random_case(10, 4, 2, 3)
    np.testing.assert_array_equal(g["weights"], W)
    assert golden_cli(["golden", "suite", "--out", str(tmp_path / "s")]) == 0
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert {c["preset"] for c in index} == set(refsim.presets.names())
    for c in index:
        load_golden(tmp_path / "s" / c["dir"])
    assert golden_cli(["golden", "replay", str(tmp_path / "s" / "aihwkit_noise_managed.tiled")]) == 0


def test_tutorial_10_runs():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "tutorials" / "10_golden_workflow.py"
    env = {**os.environ, "REFSIM_TUTORIAL_SMALL": "1"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "first departing stage: t0.s0.net.all.current_A" in proc.stdout
