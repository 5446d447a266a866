"""refsim.tools.sweep and ``refsim sweep`` / ``refsim plot``: grid, seeds, JSONL schema, resume after a
kill, and identical results whatever the number of workers (processes or a local Dask cluster).

The network is a CIFAR ResNet-8 with random weights and the data a few random 32x32
images, both written to ``tmp_path``; nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from refsim import presets

from refsim.tools import sweep
from refsim.cli.sweep import main as sweep_main
from refsim.nn.cifar_resnet import cifar_resnet_param_shapes

REPO = Path(__file__).resolve().parents[1]
#: A noisy config: programming and read noise make every point depend on its seed.
NOISY = {"device.prog_model": "independent", "device.prog_sigma_rel": 0.05,
         "device.read_model": "independent", "device.read_sigma_rel": 0.01}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A random ResNet-8 checkpoint (.npz), a 12-image data set (.npz) and a noisy base config (.json)."""
    d = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(7)
    sd = {}
    for key, shape in cifar_resnet_param_shapes(8).items():
        if key.endswith("running_var"):
            sd[key] = rng.uniform(0.5, 1.5, shape)
        else:
            sd[key] = rng.normal(0.0, 0.3, shape)
    np.savez(d / "resnet8.npz", **sd)
    images = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    np.savez(d / "data.npz", images=images, labels=rng.integers(0, 10, size=12))
    presets.get("int8").replace(**NOISY).to_json(d / "noisy.json")
    return {"weights": str(d / "resnet8.npz"), "data": str(d / "data.npz"), "preset": str(d / "noisy.json")}


def _tasks(files, *, repeats=2, limit=4, vary=("adc.bits=6,8", "device.prog_sigma_rel=0.02,0.1")):
    base = presets.get("int8").replace(**NOISY)
    return sweep.make_tasks(base, [sweep.parse_vary(v) for v in vary], model="auto", weights=files["weights"],
                            data=files["data"], repeats=repeats, seed=3, limit=limit)


def _strip(records):
    """Records without the wall time, keyed and sorted: what must not depend on how it ran."""
    out = [{k: v for k, v in r.items() if k != "seconds"} for r in records]
    return sorted(out, key=sweep.task_key)


# ---------------------------------------------------------------- grid, values, seeds
def test_parse_value_json_scalars_and_strings():
    assert [sweep.parse_value(s) for s in ("8", "-2", "0.5", "1e-3", "true", "false", "null", "offset")] == \
        [8, -2, 0.5, 1e-3, True, False, None, "offset"]
    assert isinstance(sweep.parse_value("8"), int) and isinstance(sweep.parse_value("8.0"), float)
    with pytest.raises(ValueError, match=r"JSON scalar"):
        sweep.parse_value("[1, 2]")


def test_parse_vary_and_linked_fields():
    assert sweep.parse_vary("adc.bits=4,null") == (("adc.bits",), [4, None])
    fields, values = sweep.parse_vary("wire.r_row_ohm+wire.r_col_ohm=0,1.5")
    assert fields == ("wire.r_row_ohm", "wire.r_col_ohm") and values == [0, 1.5]
    points = sweep.expand_grid(presets.get("ideal"), [(fields, values)])
    assert points == [{"wire.r_row_ohm": 0, "wire.r_col_ohm": 0}, {"wire.r_row_ohm": 1.5, "wire.r_col_ohm": 1.5}]
    for bad in ("adc.bits", "=4", "adc.bits="):
        with pytest.raises(ValueError, match="FIELD=V1,V2"):
            sweep.parse_vary(bad)


def test_grid_is_cartesian_first_axis_slowest():
    vary = [sweep.parse_vary("adc.bits=4,6"), sweep.parse_vary("mapping.scheme=offset,differential_one_sided")]
    pts = sweep.expand_grid(presets.get("int8"), vary)
    assert [(p["adc.bits"], p["mapping.scheme"]) for p in pts] == [
        (4, "offset"), (4, "differential_one_sided"), (6, "offset"), (6, "differential_one_sided")]


@pytest.mark.parametrize("spec, pattern", [
    ("adc.bitz=4", r"unknown config field 'adc.bitz'"),
    ("adcc.bits=4", r"unknown config field 'adcc.bits'"),
    ("bits=4", r"unknown config field 'bits'"),
    ("adc.bits=1", r"adc\.bits=1"),                       # a valid name with an invalid value
    ("mapping.scheme=proportional", r"mapping\.scheme"),
])
def test_bad_field_or_value_named(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        sweep.expand_grid(presets.get("int8"), [sweep.parse_vary(spec)])


def test_field_varied_twice_refused():
    with pytest.raises(ValueError, match=r"adc\.bits: the field is varied twice"):
        sweep.expand_grid(presets.get("int8"), [sweep.parse_vary("adc.bits=4"), sweep.parse_vary("adc.bits=6")])


def test_cli_bad_field_exit_code_and_message(files, tmp_path, capsys):
    rc = sweep_main(["sweep", "--weights", files["weights"], "--data", files["data"], "--preset", "int8",
                     "--vary", "adc.bitz=4,6", "--out", str(tmp_path / "r.jsonl"), "--no-progress"])
    assert rc == 2
    assert "unknown config field 'adc.bitz'" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_repeat_seeds_are_spawned_and_distinct():
    seeds = [sweep.repeat_seed(5, r) for r in range(4)]
    spawned = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(5).spawn(4)]
    assert seeds == spawned and len(set(seeds)) == 4
    assert sweep.repeat_seed(6, 0) != seeds[0]
    with pytest.raises(ValueError, match="--seed"):
        sweep.repeat_seed(-1, 0)


def test_tasks_share_seed_within_a_repeat(files):
    tasks = _tasks(files, repeats=2)
    assert len(tasks) == 8
    by_rep = {r: {t["point_seed"] for t in tasks if t["repeat"] == r} for r in (0, 1)}
    assert len(by_rep[0]) == len(by_rep[1]) == 1 and by_rep[0] != by_rep[1]
    assert len({sweep.task_key(t) for t in tasks}) == 8


# ---------------------------------------------------------------- file format
def _documented_fields() -> list[str]:
    """Field names of the record table in docs/sweep.md (first column, in backticks)."""
    text = (REPO / "docs" / "sweep.md").read_text()
    section = text.split("## Result records", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)


def test_schema_matches_docs_and_records(files, tmp_path):
    assert _documented_fields() == list(sweep.RECORD_FIELDS)
    out = tmp_path / "r.jsonl"
    sweep.run_sweep(_tasks(files, repeats=1, vary=("adc.bits=8",)), out, progress=False)
    (rec,) = sweep.read_results(out)
    assert list(rec) == list(sweep.RECORD_FIELDS)
    assert rec["schema"] == sweep.SCHEMA_VERSION and rec["varied"] == {"adc.bits": 8}
    assert rec["n"] == 4 and rec["correct"] == round(rec["accuracy"] * 4) and rec["seconds"] > 0
    assert rec["config"]["adc"]["bits"] == 8 and rec["config"]["device"]["prog_sigma_rel"] == 0.05
    assert isinstance(rec["point_seed"], int) and rec["limit"] == 4 and rec["calibrate"] is None


def test_append_record_keeps_fragment_on_its_own_line(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_bytes(b'{"a": 1}\n{"trunc')  # an interrupted foreign write
    sweep.append_record(out, {"b": 2})
    with pytest.warns(UserWarning, match="line 2: not valid JSON"):
        recs = sweep.read_results(out)
    assert recs == [{"a": 1}, {"b": 2}]


# ---------------------------------------------------------------- resume
def test_resume_skips_finished_points(files, tmp_path):
    out = tmp_path / "r.jsonl"
    tasks = _tasks(files)
    first = sweep.run_sweep(tasks[:3], out, progress=False)
    assert first == {"total": 3, "skipped": 0, "done": 3}
    again = sweep.run_sweep(tasks, out, progress=False)
    assert again == {"total": 8, "skipped": 3, "done": 5}
    recs = sweep.read_results(out)
    assert len(recs) == 8 and len({sweep.task_key(r) for r in recs}) == 8
    # a point given twice runs once
    assert sweep.run_sweep(tasks[:1] * 2, tmp_path / "twice.jsonl", progress=False)["done"] == 1
    # another limit (or data, weights, model, seed) is another point, not a finished one
    assert sweep.run_sweep(_tasks(files, limit=3)[:1], out, progress=False)["done"] == 1


def _cli_sweep(files, out, *extra):
    return [sys.executable, "-m", "refsim.cli.sweep", "sweep", "--weights", files["weights"], "--data",
            files["data"], "--preset", files["preset"], "--limit", "12", "--repeats", "2", "--seed", "1",
            "--vary", "adc.bits=4,6,8", "--out", str(out), "--no-progress", *extra]


def test_killed_sweep_resumes_without_loss_or_duplicates(files, tmp_path):
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(_cli_sweep(files, out), cwd=tmp_path, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = out.read_text().splitlines()
    assert 1 <= len(before) < 6, f"the sweep was not interrupted ({len(before)} of 6 points written)"
    assert all(json.loads(line) for line in before)  # every written line is whole
    rerun = subprocess.run(_cli_sweep(files, out), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    stats = json.loads(rerun.stdout.splitlines()[-1])
    assert stats["skipped"] == len(before) and stats["done"] == 6 - len(before)
    after = out.read_text().splitlines()
    assert after[:len(before)] == before
    recs = [json.loads(line) for line in after]
    assert len(recs) == 6 and len({sweep.task_key(r) for r in recs}) == 6
    # the same sweep run uninterrupted gives the same records
    ref = tmp_path / "ref.jsonl"
    subprocess.run(_cli_sweep(files, ref), cwd=tmp_path, env=env, check=True, capture_output=True)
    assert _strip(recs) == _strip(sweep.read_results(ref))


# ---------------------------------------------------------------- workers
def test_jobs2_equals_serial(files, tmp_path):
    tasks = _tasks(files)
    sweep.run_sweep(tasks, tmp_path / "serial.jsonl", progress=False)
    sweep.run_sweep(tasks, tmp_path / "jobs2.jsonl", jobs=2, progress=False)
    serial, jobs2 = sweep.read_results(tmp_path / "serial.jsonl"), sweep.read_results(tmp_path / "jobs2.jsonl")
    assert len(serial) == len(jobs2) == len(tasks)
    assert _strip(serial) == _strip(jobs2)


def test_local_dask_cluster_equals_serial(files, tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed "
                                      "(optional extra: pip install 'refsim[distributed]')")
    tasks = _tasks(files, repeats=1)
    sweep.run_sweep(tasks, tmp_path / "serial.jsonl", progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://",
                                  host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        stats = sweep.run_sweep(tasks, tmp_path / "dask.jsonl", dask=cluster.scheduler_address, progress=False)
    assert stats["done"] == len(tasks)
    assert _strip(sweep.read_results(tmp_path / "serial.jsonl")) == _strip(sweep.read_results(tmp_path / "dask.jsonl"))


def test_jobs_and_dask_exclusive(files, tmp_path):
    with pytest.raises(ValueError, match="--jobs and --dask"):
        sweep.run_sweep(_tasks(files), tmp_path / "r.jsonl", jobs=2, dask="tcp://127.0.0.1:1")


# ---------------------------------------------------------------- calibration, plot
def test_calibrate_uses_images_outside_the_evaluated_set(files, tmp_path):
    base = presets.get("int8")
    vary = [sweep.parse_vary("adc.bits=6")]
    out = tmp_path / "cal.jsonl"
    tasks = sweep.make_tasks(base, vary, model="auto", weights=files["weights"], data=files["data"], limit=8,
                             calibrate=4)
    sweep.run_sweep(tasks, out, progress=False)
    (rec,) = sweep.read_results(out)
    assert rec["calibrate"] == 4 and rec["n"] == 8
    bad = sweep.make_tasks(base, vary, model="auto", weights=files["weights"], data=files["data"], limit=9,
                           calibrate=4)
    with pytest.raises(ValueError, match="must not overlap"):
        sweep.evaluate_point(bad[0])


def test_plot_mean_and_std_over_repeats(files, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    recs = []
    for rep, acc in ((0, 0.5), (1, 0.7)):
        for scheme in ("offset", "differential_one_sided"):
            recs.append({"varied": {"adc.bits": 6, "mapping.scheme": scheme}, "repeat": rep,
                         "accuracy": acc if scheme == "offset" else 0.9, "config": {"adc": {"bits": 6}}})
    for r in recs:
        sweep.append_record(out, r)
    groups = sweep.aggregate(sweep.read_results(out), x="adc.bits", hue="mapping.scheme")
    (x, mean, std, n), = groups[("adc.bits", "offset")]
    assert (x, n) == (6, 2) and mean == pytest.approx(0.6) and std == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert groups[("adc.bits", "differential_one_sided")][0][2] == 0.0
    png = tmp_path / "fig.png"
    assert sweep_main(["plot", str(out), "--x", "adc.bits", "--hue", "mapping.scheme", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| mapping.scheme=offset | 6 | 0.6000 | 0.1414 | 2 |" in capsys.readouterr().out
    # categorical x gives a bar plot
    assert sweep_main(["plot", str(out), "--x", "mapping.scheme", "--out", str(tmp_path / "bar.png")]) == 0
    assert sweep_main(["plot", str(out), "--x", "nope", "--out", str(tmp_path / "x.png")]) == 2
    capsys.readouterr()
    missing = tmp_path / "missing.jsonl"
    assert sweep_main(["plot", str(missing), "--x", "adc.bits", "--out", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err
    assert "results: no file at" in err and "missing.jsonl" in err and "no result records" not in err
    (tmp_path / "empty.jsonl").write_text("")
    assert sweep_main(["plot", str(tmp_path / "empty.jsonl"), "--x", "adc.bits", "--out", str(tmp_path / "e.png")]) == 2
    assert "holds no result records" in capsys.readouterr().err


def test_plot_alternative_x_fields_do_not_mix():
    recs = [{"varied": {"device.out_noise_rel": 0.1}, "accuracy": 0.3, "config": {"device": {"prog_sigma_rel": 0}}},
            {"varied": {"device.prog_sigma_rel": 0.1}, "accuracy": 0.8,
             "config": {"device": {"out_noise_rel": 0}}},
            {"varied": {"dac.bits": 4}, "accuracy": 0.5,
             "config": {"device": {"out_noise_rel": 0, "prog_sigma_rel": 0}}}]
    groups = sweep.aggregate(recs, x="device.out_noise_rel|device.prog_sigma_rel")
    assert groups == {("device.out_noise_rel", None): [(0.1, 0.3, 0.0, 1)],
                      ("device.prog_sigma_rel", None): [(0.1, 0.8, 0.0, 1)]}
    # a single field falls back to the config: every record has it
    assert sweep.aggregate(recs, x="device.out_noise_rel")[("device.out_noise_rel", None)][0][:2] == (0, 0.65)
