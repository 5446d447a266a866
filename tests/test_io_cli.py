"""`weights` sub-commands, driven through a test-local argparse parser."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _ckpt_writer as cw  # noqa: E402

from refsim.cli.weights import add_weights_subcommands  # noqa: E402
from refsim.io import read_npz  # noqa: E402


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refsim")
    add_weights_subcommands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_list(capsys):
    assert _run(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resnet50-imagenet1k-v2" in out and "cifar-resnet110" in out


def test_import_round_trip(tmp_path, capsys):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    src = tmp_path / "ckpt.th"
    src.write_bytes(cw.torch_legacy_bytes({"state_dict": cw.ordered({"module.w": cw.dense("0", a, legacy=True)})}))
    assert _run(["weights", "import", str(src), "--out", str(tmp_path / "o.npz")]) == 0
    out = read_npz(tmp_path / "o.npz")
    assert list(out) == ["w"]
    np.testing.assert_array_equal(out["w"], a)
    assert _run(["weights", "import", str(src), "--out", str(tmp_path / "p.npz"), "--keep-prefix"]) == 0
    assert list(read_npz(tmp_path / "p.npz")) == ["module.w"]


def test_import_bad_file_is_exit_code_1(tmp_path, capsys):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert _run(["weights", "import", str(bad), "--out", str(tmp_path / "o.npz")]) == 1
    assert "unrecognized" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_fetch_unknown_and_unreachable(tmp_path, capsys):
    assert _run(["weights", "fetch", "nope", "--dir", str(tmp_path)]) == 1
    assert "unknown checkpoint" in capsys.readouterr().err
    # a closed local port: a connection error, reported cleanly, nothing left behind
    assert _run(["weights", "fetch", "cifar-resnet32", "--dir", str(tmp_path), "--no-progress",
                 "--url", "http://127.0.0.1:9/x.th"]) == 1
    assert os.listdir(tmp_path) == []


def test_subcommand_required():
    with pytest.raises(SystemExit):
        _run(["weights"])
