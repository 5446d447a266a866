"""The cross-family study's tools: normalized accuracy, the standard MVM error (X6) and its stress
levels, the static input ranges of every family, and the study driver.

Oracles: hand-computed A*; the closed form of the MVM error of output noise on a column-scaled
crossbar; PyTorch's LSTM (float64) for the hidden states an LSTM's range is profiled on; numpy
means and standard errors for the summaries.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from refsim.tools import families as fam
from refsim.tools.family_models import dac_ranges, evaluate_family, normalized_accuracy, with_ranges
from refsim.tools.stress import KNOBS, bisect_log, find_level, knob_fields, mvm_error, mvm_error_setup, stress_base


# -- normalized accuracy ---------------------------------------------------------------------------
def test_normalized_accuracy_by_hand():
    assert normalized_accuracy(0.06, 0.06, 0.9) == pytest.approx(1.0)  # the digital network
    assert normalized_accuracy(0.9, 0.06, 0.9) == pytest.approx(0.0)  # chance
    assert normalized_accuracy(0.27, 0.06, 0.9) == pytest.approx(0.75)  # top-1 0.73 vs 0.94 digital
    assert normalized_accuracy(5.0, 2.0, 8.0) == pytest.approx(0.5)  # bits per char: lower is better
    assert normalized_accuracy(11.0, 2.0, 8.0) == pytest.approx(-0.5)  # worse than chance
    with pytest.raises(ValueError, match="e_chance = e_fp"):
        normalized_accuracy(0.5, 0.9, 0.9)
    with pytest.raises(ValueError, match="finite"):
        normalized_accuracy(float("nan"), 0.1, 0.9)


# -- bisection and the MVM error -----------------------------------------------------------------
def test_bisect_log_finds_the_crossing_and_reports_unreached_targets():
    v, e, n = bisect_log(lambda s: 0.5 * s, 1e-3, 10.0, 0.2, rtol=1e-3)
    assert v == pytest.approx(0.4, rel=2e-3) and e == pytest.approx(0.2, rel=2e-3) and n < 40
    assert bisect_log(lambda s: 0.01 * s, 1e-3, 1.0, 0.2)[0] == 1.0  # never reached: the upper end
    assert bisect_log(lambda s: 1.0 + s, 1e-3, 1.0, 0.2)[0] == 1e-3  # already above at the lower end
    with pytest.raises(ValueError, match="0 < lo < hi"):
        bisect_log(lambda s: s, 1.0, 0.5, 0.2)


def test_mvm_error_is_zero_without_non_idealities():
    W, X, _ = mvm_error_setup(64, 32, seed=3)
    cfg = stress_base().replace(**{"dac.range_mode": "fixed", "dac.x_max": float(np.abs(X).max())})
    assert mvm_error(cfg, W, X) < 1e-12


def test_output_noise_level_matches_the_closed_form():
    """Output noise s (unit g_max v_read) on column j is s x_max w_max,j in weight units (column
    scaling), so eps = s x_max sqrt(B sum_j w_max,j^2) / ||X W||_F and the 20 % level is closed-form."""
    n, batch = 96, 64
    W, X, x_max = mvm_error_setup(n, batch, seed=1)
    w_max = np.abs(W).max(axis=0)
    s_oracle = 0.2 * np.linalg.norm(X @ W) / (x_max * math.sqrt(batch * np.sum(w_max**2)))
    lv = find_level("out_noise", 0.2, n=n, batch=batch, seed=1, rtol=1e-3)
    assert lv.reached and lv.mvm_error == pytest.approx(0.2, rel=2e-3)
    assert lv.value == pytest.approx(s_oracle, rel=0.02)  # one noise draw of n * batch outputs


def test_bit_knobs_take_the_nearest_bit_count_and_every_knob_is_a_valid_config():
    lv = find_level("dac_bits", 0.2, n=64, batch=32)
    assert isinstance(lv.value, int) and 2 <= lv.value <= 8 and lv.fields == {"dac.bits": lv.value}
    base = stress_base()
    for k in KNOBS:
        base.replace(**knob_fields(k, 3 if KNOBS[k].integer else 0.5))
    with pytest.raises(ValueError, match="knob"):
        knob_fields("adc_noise", 1.0)
    with pytest.raises(ValueError, match="target"):
        find_level("out_noise", -1.0)


# -- static input ranges ---------------------------------------------------------------------------
def test_lstm_ranges_cover_inputs_and_hidden_states_against_torch():
    torch = pytest.importorskip("torch", reason="torch (optional cross-check) is not installed")
    from refsim.nn.textgenrnn import TextgenRNN

    g = np.random.default_rng(5)
    V, D, H = 9, 4, 3
    p = {"embedding.weight": g.normal(size=(V, D)) * 2, "attention.weight": g.normal(size=D + H),
         "output.weight": g.normal(size=(V, D + H)), "output.bias": g.normal(size=V)}
    for name, shape in (("weight_ih_l0", (4 * H, D)), ("weight_hh_l0", (4 * H, H)), ("bias_ih_l0", (4 * H,)),
                        ("bias_hh_l0", (4 * H,))):
        p[f"rnn_1.{name}"] = g.normal(size=shape)
    ids = g.integers(0, V, size=(7, 6))
    got = dac_ranges(TextgenRNN(p), ids)
    with torch.no_grad():
        lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(lstm, name).copy_(torch.tensor(p[f"rnn_1.{name}"]))
        emb = p["embedding.weight"][ids]  # (N, L, D)
        h = lstm(torch.tensor(emb))[0].numpy()  # (N, L, H)
    cat = np.concatenate([emb, h], axis=-1)
    s = cat @ p["attention.weight"]
    a = np.exp(s - s.max(axis=1, keepdims=True))
    pooled = np.einsum("nl,nlc->nc", a / (a.sum(axis=1, keepdims=True) + 1e-7), cat)
    assert got["rnn_1"] == pytest.approx(np.percentile(np.abs(np.concatenate([emb.ravel(), h.ravel()])), 99.9))
    assert got["output"] == pytest.approx(np.percentile(np.abs(pooled), 99.9))
    cfgs = with_ranges(stress_base(), got)
    assert cfgs("rnn_1").dac.x_max == pytest.approx(got["rnn_1"]) and cfgs("rnn_1").dac.range_mode == "fixed"
    assert cfgs("not_a_layer") is None  # stays digital


def test_cifar_family_on_the_stress_base_equals_its_digital_network(shared_data):
    res = evaluate_family("cifar_resnet20", stress_base(), size=8, n_cal=4, root=shared_data)
    assert res["digital_value"] == pytest.approx(res["value"]) and res["a_star"] == pytest.approx(1.0)
    assert res["e_chance"] == pytest.approx(0.9) and res["n"] == 8


# -- the driver ------------------------------------------------------------------------------------
def test_stress_tasks_run_deterministic_knobs_once():
    levels = [find_level(k, 0.2, n=32, batch=16).to_dict() for k in ("adc_bits", "out_noise")]
    tasks = fam.stress_tasks(["cifar_resnet20"], levels, repeats=2, seed=0, sizes={"cifar_resnet20": 5},
                             cals={"cifar_resnet20": 2}, root="/nowhere")
    assert [(t["knob"], t["repeat"]) for t in tasks] == [("none", 0), ("adc_bits", 0), ("out_noise", 0),
                                                         ("out_noise", 1)]
    assert tasks[1]["varied"]["adc.bits"] == levels[0]["value"]
    assert tasks[2]["point_seed"] != tasks[3]["point_seed"]


def test_summaries_give_mean_and_standard_error():
    recs = [{"stage": "direct", "family": "minilm", "knob": "1h", "a_star": a, "value": v, "digital_value": 0.9,
             "metric": "spearman", "level_mvm_error": None} for a, v in ((0.9, 0.81), (0.8, 0.72), (0.7, 0.63))]
    (row,) = fam.summarize(recs)
    assert row["a_star"] == pytest.approx(0.8) and row["repeats"] == 3
    assert row["sem"] == pytest.approx(np.std([0.9, 0.8, 0.7], ddof=1) / math.sqrt(3))
    assert "0.800 ± 0.058" in fam.markdown([row]) and row["n"] is None


@pytest.mark.parametrize("argv, needle", [
    (["direct", "--out", "x.jsonl", "--size", "cifar=3"], "--size"),
    (["direct", "--out", "x.jsonl", "--families", "vgg"], "--families"),
    (["direct", "--out", "x.jsonl", "--times", "2h"], "--times"),
    (["stress", "--out", "x.jsonl", "--levels", "missing.jsonl"], "--levels"),
    (["direct"], "--out"),
])
def test_bad_input_names_the_argument(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fam.main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_levels_stage_writes_every_knob_once(tmp_path, monkeypatch):
    import refsim.tools.families as module

    calls = []
    monkeypatch.setattr(module, "find_level", lambda k, t: calls.append(k) or find_level(k, t, n=16, batch=8))
    out = tmp_path / "levels.jsonl"
    module._levels(out, 0.2)
    module._levels(out, 0.2)  # resumes: nothing twice
    knobs = [json.loads(line)["knob"] for line in out.read_text().splitlines()]
    assert calls == list(KNOBS) and knobs[: len(KNOBS)] == list(KNOBS) and len(knobs) == len(KNOBS) + 4


def test_layer_errors_of_the_cifar_network(shared_data):
    from refsim.tools.family_models import layer_errors

    clean = layer_errors("cifar_resnet20", stress_base(), n_probe=2, n_cal=2, root=shared_data)
    noisy = layer_errors("cifar_resnet20", stress_base().replace(**knob_fields("out_noise", 0.5)), n_probe=2,
                         n_cal=2, root=shared_data)
    assert clean["n_layers"] == noisy["n_layers"] == 20  # 19 convolutions and the classifier
    assert clean["median"] < 0.1 < noisy["median"]
    assert clean["median"] <= clean["max"] and set(clean["layers"]) == set(noisy["layers"])


def test_layers_stage_records_every_condition_once(tmp_path, monkeypatch):
    import refsim.tools.families as module
    import refsim.tools.family_models as fm

    seen = []
    monkeypatch.setattr(fm, "layer_errors", lambda f, cfg, **kw: seen.append((f, cfg.name)) or {
        "median": 0.1, "mean": 0.1, "max": 0.2, "pooled": 0.1, "n_layers": 1, "layers": {"a": 0.1}})
    levels = [find_level("out_noise", 0.2, n=16, batch=8).to_dict()]
    out = tmp_path / "layers.jsonl"
    for _ in range(2):
        module._layers(["textgenrnn"], levels, out, cals={"textgenrnn": 4}, root=tmp_path, seed=0)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["knob"] for r in recs] == ["none", "out_noise", "rasch2023_standard@1h"] and len(seen) == 3
    assert recs[1]["random_layer_mvm_error"] == pytest.approx(levels[0]["mvm_error"])


def test_digital_layers_stay_digital():
    cfgs = with_ranges(stress_base(), {"block.depthwise": 2.0, "block.pointwise": 3.0}, ("depthwise",))
    assert cfgs("block.depthwise") is None and cfgs("block.pointwise").dac.x_max == 3.0
    (t,) = fam.direct_tasks(["mobilenet_v2"], {"1h": 3600.0}, repeats=1, seed=0, sizes={"mobilenet_v2": 2},
                            cals={"mobilenet_v2": 1}, root="/nowhere", digital_layers=("depthwise",))
    assert t["varied"]["digital_layers"] == ["depthwise"] and t["knob"] == "1h+digital:depthwise"


def test_real_levels_bisect_the_network_error_per_family(tmp_path, monkeypatch):
    import refsim.tools.family_models as fm

    # a stand-in network whose pooled error is 0.25 x the output-noise level: the 20 % level is 0.8
    monkeypatch.setattr(fm, "layer_errors", lambda f, cfg, **kw: {"median": 0.25 * cfg.device.out_noise_rel})
    out = tmp_path / "real.jsonl"
    fam._real_levels(["minilm"], ["out_noise"], out, 0.2, cals={"minilm": 2}, root=tmp_path, seed=0)
    (lv,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert lv["family"] == "minilm" and lv["value"] == pytest.approx(0.8, rel=0.03) and lv["reached"]
    tasks = fam.stress_tasks(["minilm", "textgenrnn"], [lv], repeats=1, seed=0, sizes={"minilm": 3, "textgenrnn": 3},
                             cals={"minilm": 2, "textgenrnn": 2}, root=tmp_path)
    assert [(t["model"], t["knob"]) for t in tasks] == [("minilm", "none"), ("minilm", "out_noise"),
                                                        ("textgenrnn", "none")]


@pytest.mark.parametrize("argv, files, needle", [
    (["table", "r.jsonl"], {"r.jsonl": b'{"a": 1}\n'}, "results: received 'r.jsonl' with a record this study"),
    (["table", "r.jsonl"], {"r.jsonl": b'{"a_star": 0.5}\n'}, "results: received 'r.jsonl' with a record this study"),
    (["table", "r.jsonl"], {"r.jsonl": b"\xff\xfe\n"}, "cannot be read as UTF-8 JSONL"),
    (["figures", "--direct", "d.jsonl"], {"d.jsonl": b'{"a": 1}\n'}, "--direct: received 'd.jsonl' with no A* record"),
    (["figures", "--stress", "s.jsonl"], {"s.jsonl": b'{"family": "cifar_resnet20", "a_star": 0.5}\n'},
     "--stress: received 's.jsonl' whose record 1 lacks"),
    (["figures"], {}, "neither --direct nor --stress"),
    (["stress", "--out", "s.jsonl", "--levels", "l.jsonl"], {"l.jsonl": b'{"knob": "dac_bits"}\n'},
     "--levels: received 'l.jsonl' whose record 1 lacks ['fields', 'mvm_error']"),
    (["layers", "--out", "s.jsonl", "--levels", "l.jsonl"], {"l.jsonl": b'{"knob": "dac_bits", "fields": 3, '
                                                                       b'"mvm_error": 0.1}\n'}, "fields (a dict)"),
    (["stress", "--out", "s.jsonl", "--levels", "l.jsonl"],
     {"l.jsonl": b'{"knob": "dac_bits", "fields": {"dac.bits": "x"}, "mvm_error": 0.1}\n'},
     "--levels: 'l.jsonl': dac.bits: received 'x'"),
    (["direct", "--out", "folder"], {"folder/": None}, "--out: received the directory 'folder'"),
])
def test_foreign_or_corrupt_files_and_bad_numbers_name_the_argument(argv, files, needle, capsys, tmp_path,
                                                                     monkeypatch):
    """Foreign or corrupt results/levels files used to end in a KeyError/IsADirectoryError traceback, a
    NaN --target or negative --seed reached the computation; all are one line, exit 2, before any work."""
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).mkdir() if content is None else (tmp_path / name).write_bytes(content)
    assert fam.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("refsim.tools.families: error:") and needle in err[0]


@pytest.mark.parametrize("argv, needle", [
    (["levels", "--out", "l.jsonl", "--target", "nan"], "argument --target: received 'nan'"),
    (["levels", "--out", "l.jsonl", "--target", "-0.2"], "argument --target: received '-0.2'"),
    (["direct", "--out", "d.jsonl", "--seed", "-1"], "argument --seed: received '-1'"),
    (["direct", "--out", "d.jsonl", "--repeats", "x"], "argument --repeats: received 'x'"),
])
def test_bad_numbers_are_refused_by_the_parser(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        fam.main(argv)
    assert info.value.code == 2 and needle in capsys.readouterr().err
