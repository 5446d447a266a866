"""Golden directories made by strangers (issue 16): confined paths, schema errors, bad candidates.

A golden case -- reference or candidate -- is untrusted input. These tests
tamper with a freshly exported case the way an attacker or a careless tool
would and check that refsim refuses it naming the file and the entry, and that
one bad candidate array is reported for its stage while the others are still
compared (exit code 1: mismatch).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import refsim
from refsim.golden import compare_dirs, export_crossbar, load_golden, random_case
from refsim.golden.export import replay
from refsim.cli import main as golden_cli


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("g") / "int8"
    cfg = refsim.presets.get("int8").replace(**{"array.rows_max": 8})
    W, x = random_case(12, 5, 2, 0)
    export_crossbar(d, W, x, cfg, seed=1)
    return d


def _copy(src, dst):
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _edit_manifest(root, edit):
    path = root / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def _entry(m, name):
    return next(e for e in m["stages"] if e["name"] == name)


def test_reference_paths_outside_the_case_are_refused(case, tmp_path):
    """A tampered reference pointed 'y' at a file outside its folder and compare passed."""
    outside = tmp_path / "x.npy"
    np.save(outside, np.load(case / "y.npy") * 1000)
    for bad in ("../x.npy", str(outside), "/etc/passwd", "/dev/zero", "draws/../../x.npy"):
        ref = _copy(case, tmp_path / f"ref{abs(hash(bad))}")
        shutil.copy(outside, ref.parent / "x.npy") if not (ref.parent / "x.npy").exists() else None
        _edit_manifest(ref, lambda m: _entry(m, "y").update(file=bad))
        with pytest.raises(ValueError, match=r"manifest\.json.*stages\[\d+\] \('y'\): file"):
            load_golden(ref)
        with pytest.raises(ValueError, match=r"\('y'\): file"):
            compare_dirs(ref, case)
        assert golden_cli(["golden", "compare", str(ref), str(case)]) == 2


def test_symlink_out_of_the_reference_is_refused(case, tmp_path):
    ref = _copy(case, tmp_path / "ref")
    outside = tmp_path / "evil.npy"
    np.save(outside, np.load(case / "y.npy") * 1000)
    (ref / "y.npy").unlink()
    os.symlink(outside, ref / "y.npy")
    with pytest.raises(ValueError, match=r"symlink out"):
        load_golden(ref)
    inside = _copy(case, tmp_path / "ref2")  # a symlink that stays inside the folder is fine
    (inside / "y.npy").rename(inside / "y_real.npy")
    os.symlink("y_real.npy", inside / "y.npy")
    assert np.array_equal(load_golden(inside)["y"], np.load(case / "y.npy"))


def test_candidate_symlinks_and_special_files_are_errors_not_absent(case, tmp_path, capsys):
    """/dev/zero silently counted as an absent stage; now it is a failure of that stage only."""
    cand = _copy(case, tmp_path / "cand")
    (cand / "y.npy").unlink()
    os.symlink("/dev/zero", cand / "y.npy")
    outside = tmp_path / "evil.npy"
    np.save(outside, np.load(case / "weights.npy"))
    (cand / "weights.npy").unlink()
    os.symlink(outside, cand / "weights.npy")
    rep = compare_dirs(case, cand)
    rows = {r.name: r for r in rep.rows}
    assert rows["y"].status == "error" and "y.npy" in rows["y"].message
    assert rows["weights"].status == "error" and "symlink out" in rows["weights"].message
    assert sum(r.status == "ok" for r in rep.rows) == len(rep.rows) - 2  # the rest still compared
    assert not rep.ok
    assert golden_cli(["golden", "compare", str(case), str(cand)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


@pytest.mark.parametrize("payload", [
    b"not an npy at all",
    b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'\n",  # truncated header
    "object",
    "strings",
    "short",
])
def test_bad_candidate_array_is_reported_for_its_stage(case, tmp_path, payload):
    cand = _copy(case, tmp_path / "cand")
    target = cand / "y.npy"
    if payload == "object":
        np.save(target, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif payload == "strings":
        np.save(target, np.array(["ab"]))
    elif payload == "short":
        target.write_bytes(target.read_bytes()[:-8])
    else:
        target.write_bytes(payload)
    rep = compare_dirs(case, cand)
    rows = {r.name: r for r in rep.rows}
    assert rows["y"].status == "error" and "'y'" in rows["y"].message
    assert all(r.status == "ok" for r in rep.rows if r.name != "y")
    assert rep.failures == [rows["y"]] and rep.first_failure == "y"


@pytest.mark.parametrize("text, field", [
    ("[1, 2, 3]", "received a JSON list"),
    ("{not json", "not UTF-8 JSON"),
    (b"\xff\xfe{}", "not UTF-8 JSON"),
    ("[" * 100_000 + "]" * 100_000, "not UTF-8 JSON|received a JSON list"),
])
def test_manifest_that_is_not_a_json_object(case, tmp_path, text, field):
    ref = _copy(case, tmp_path / "ref")
    path = ref / "manifest.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=field) as info:
        load_golden(ref)
    assert "manifest.json" in str(info.value)
    assert golden_cli(["golden", "compare", str(ref), str(case)]) == 2


@pytest.mark.parametrize("edit, field", [
    (lambda m: m.update(stages=None), r"stages: received None; expected a list"),
    (lambda m: m["stages"][0].update(shape="abc"), r"stages\[0\] \('[^']+'\): shape: received 'abc'"),
    (lambda m: m["stages"][0].update(shape=[-1]), r"shape: received \[-1\]"),
    (lambda m: m["stages"][0].update(dtype="object"), r"dtype: received 'object'"),
    (lambda m: m["stages"][0].pop("file"), r"stages\[0\]: file: received 'nothing'"),
    (lambda m: m["stages"].append(7), r"stages\[\d+\]: entry: received 7; expected a JSON object"),
    (lambda m: m.update(meta=[]), r"meta: received \[\]; expected a JSON object"),
])
def test_schema_errors_name_file_and_field(case, tmp_path, edit, field):
    ref = _copy(case, tmp_path / "ref")
    _edit_manifest(ref, edit)
    with pytest.raises(ValueError, match=field) as info:
        load_golden(ref)
    assert "manifest.json" in str(info.value)


def test_replay_without_meta_crossbars_names_the_field(case, tmp_path):
    ref = _copy(case, tmp_path / "ref")
    _edit_manifest(ref, lambda m: m["meta"].pop("crossbars"))
    with pytest.raises(ValueError, match=r"manifest\.json'?: meta\.crossbars: received nothing"):
        replay(ref)
    assert golden_cli(["golden", "replay", str(ref)]) == 2
    ref2 = _copy(case, tmp_path / "ref2")
    _edit_manifest(ref2, lambda m: m.update(config=None))
    with pytest.raises(ValueError, match=r"config: received null"):
        replay(ref2)
    assert replay(case).bit_exact  # the untouched case still replays


def test_object_array_in_the_reference_names_the_entry(case, tmp_path):
    ref = _copy(case, tmp_path / "ref")
    np.save(ref / "y.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"\('y'\): file 'y.npy'.*dtype object"):
        load_golden(ref)
