"""The command line refuses bad input in one style, without a traceback (issue 16).

``refsim <command>: error: <flag or file>: received ...; expected ...``, exit
status 2; a closed pipe (``refsim ... | head``) ends quietly. The commands run
in a subprocess, as a user runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STYLE = r"^refsim [a-z ]+: error: .+: received .+; expected .+$"


def refsim(*argv: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "refsim.cli", *argv], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=120, env=env, cwd=ROOT)


def _last_line(run) -> str:
    return run.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, flag", [
    (["matvec", "--n-in", "-1"], "--n-in"),
    (["matvec", "--batch", "-3"], "--batch"),
    (["matvec", "--seed", "-1"], "--seed"),
    (["matvec", "--n-out", "x"], "--n-out"),
    (["matvec", "--seed", "9" * 5000], "--seed"),
    (["golden", "export", "--preset", "int8", "--shape", "0", "3", "--out", "o"], "--shape"),
    (["golden", "compare", "a", "b", "--rtol", "nan"], "--rtol"),
    (["sweep", "--jobs", "0"], "--jobs"),
], ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else v)
def test_bad_flags_name_the_flag(argv, flag):
    run = refsim(*argv)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    line = _last_line(run)
    assert line.startswith(f"refsim {argv[0]}") and f"argument {flag}: received " in line, line
    assert len(line) < 300  # a 5,000-digit value is not echoed whole


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("name, content, what", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("latin1.json", b'{"name": "caf\xe9"}', "not UTF-8"),
    ("huge.json", '{"adc": {"bits": ' + "9" * 5000 + "}}", r"adc\.bits: received an integer of 5000 digits"),
    ("nan.json", '{"mapping": {"g_max_S": 1e-318, "g_min_S": 0}}', r"mapping\.g_max_S: received"),
    ("list.json", "[1, 2]", "received list"),
    ("bad.json", "{not json", "not valid JSON"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_bad_config_files_name_the_file_and_field(tmp_path, name, content, what):
    path = _write(tmp_path / name, content)
    run = refsim("matvec", "--preset", str(path))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    line = _last_line(run)
    import re
    assert re.match(STYLE, line), line
    assert f"--preset: config file {str(path)!r}" in line and re.search(what, line), line


def test_preset_that_is_a_directory(tmp_path):
    for target in (tmp_path, tmp_path / "dir.json"):
        target.mkdir(exist_ok=True)
        run = refsim("matvec", "--preset", str(target))
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert "--preset: " in _last_line(run) and "directory" in _last_line(run)


def test_unknown_preset_and_missing_golden_case(tmp_path):
    import re
    run = refsim("matvec", "--preset", "nosuch")
    assert run.returncode == 2 and re.match(STYLE, _last_line(run))
    run = refsim("golden", "compare", str(tmp_path), str(tmp_path))
    assert run.returncode == 2 and re.match(STYLE, _last_line(run)), run.stderr
    assert _last_line(run).startswith("refsim golden compare: error:")


def test_closed_pipe_ends_quietly():
    """`refsim presets | head -0`: the reader is gone before refsim writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = refsim("presets", stdout=write_end)
    finally:
        os.close(write_end)
    assert run.stderr == "", run.stderr
    assert run.returncode in (0, 1)


def test_matvec_never_prints_nan(tmp_path):
    """A config that validation accepts computes finite numbers; the output is checked anyway."""
    run = refsim("matvec", "--json", "--preset", "int8")
    assert run.returncode == 0 and "NaN" not in run.stdout


def test_unreadable_image_and_missing_labels_name_the_argument(tmp_path):
    """An image file that is no image names IMAGE (not an internal parameter); a missing or
    unreadable --labels file names --labels."""
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    run = refsim("infer", str(not_image))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert _last_line(run).startswith("refsim infer: error: IMAGE: cannot read") and "notes.png" in _last_line(run)
    from PIL import Image
    img = tmp_path / "img.png"
    Image.new("RGB", (32, 32)).save(img)
    run = refsim("infer", str(img), "--labels", str(tmp_path / "missing.txt"))
    assert run.returncode == 2 and "--labels: no file at" in _last_line(run) and "missing.txt" in _last_line(run)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    run = refsim("infer", str(img), "--labels", str(bad))
    assert run.returncode == 2 and "--labels: cannot read" in _last_line(run), run.stderr
