"""`refsim spice`: the netlist of one physical array, and its check in ngspice.

Driven through a test-local argparse parser (as tests/test_io_cli.py does). The oracle of
the netlist is an independent reconstruction: the same crossbar built here, its array
from ``Trace.conductances_S`` and its row voltages from the trace, written by
``refsim.wires.spice.netlist``. The ``--run`` tests skip (with the reason) when ngspice is
absent; a planted disagreement shows that the check fails when it should.
"""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest

import refsim
from refsim.cli import spice as cli_spice
from refsim.wires import spice

needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice executable not on PATH (apt-get install ngspice)"
)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="refsim")
    cli_spice.add_spice_subcommands(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad flag: argparse printed its error
        return exc.code
    return args.func(args)


def _body(netlist_text: str) -> list[str]:
    """The netlist without its title line (which names the command's arguments)."""
    return netlist_text.splitlines()[1:]


def test_netlist_is_the_chosen_array_driven_by_the_dac_voltages(tmp_path, capsys):
    out = tmp_path / "a.cir"
    argv = ["spice", "--preset", "int8", "--shape", "9", "6", "--seed", "3", "--r-row", "2.5", "--r-col", "1.5",
            "--array", "t0.s0.neg", "--out", str(out)]
    assert _run(argv) == 0
    # independent reconstruction: the same crossbar, array and DAC'd input
    rng = np.random.default_rng(3)
    w = rng.normal(size=(9, 6))
    x = rng.normal(size=(1, 9))
    cfg = refsim.presets.get("int8").replace(**{"wire.r_row_ohm": 2.5, "wire.r_col_ohm": 1.5})
    tr = refsim.Crossbar(w, cfg, rng=np.random.default_rng(4)).trace(x)
    g = tr.conductances_S["t0.s0.neg"]
    v = tr.tiles[0].voltages_V["all"][0]
    assert np.any(v < 0) and np.any(v > 0)  # a signed random input
    expected = spice.netlist(g, 2.5, 1.5, v)
    assert _body(out.read_text()) == _body(expected)
    printed = capsys.readouterr().out
    assert "r_row = 2.5 ohm" in printed and f"ngspice -b {out}" in printed


def test_preset_wires_are_kept_unless_overridden(tmp_path):
    cfg = refsim.presets.get("ideal").replace(**{"wire.r_row_ohm": 7.0, "wire.r_col_ohm": 0.0,
                                                 "wire.r_sense_ohm": 11.0})
    path = tmp_path / "cfg.json"
    cfg.to_json(path)
    out = tmp_path / "b.cir"
    assert _run(["spice", "--preset", str(path), "--shape", "3", "2", "--input", "ones", "--out", str(out)]) == 0
    text = out.read_text()
    assert "R_ROW_0_0 in_0 r_0_0 7\n" in text and "R_SNS_1 cs_1 sn_1 11\n" in text and "R_COL_" not in text
    assert "V_IN_2 in_2 0 DC 0.20000000000000001\n" in text  # ones -> full scale, v_read = 0.2 V
    assert _run(["spice", "--preset", str(path), "--shape", "3", "2", "--r-col", "4", "--out", str(out)]) == 0
    assert "R_COL_2_1 c_2_1 cs_1 4\n" in out.read_text()


def test_unknown_array_lists_the_valid_keys(tmp_path, capsys):
    assert _run(["spice", "--preset", "int8", "--shape", "4", "3", "--array", "t0.s0.single",
                 "--out", str(tmp_path / "c.cir")]) == 2
    err = capsys.readouterr().err
    assert "unknown array 't0.s0.single'" in err and "t0.s0.pos, t0.s0.neg" in err
    assert not (tmp_path / "c.cir").exists()


@pytest.mark.parametrize("argv, message", [
    (["--preset", "nope", "--shape", "4", "3"], "--preset: received 'nope'; expected a preset"),
    (["--preset", "int8", "--shape", "0", "3"], "--shape"),
    (["--preset", "int8", "--shape", "4", "3", "--r-row", "-1"], "argument --r-row: received '-1'"),
    (["--preset", "bitserial_int8", "--shape", "4", "3", "--pass", "slice9"], "unknown drive pass"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, argv, message):
    assert _run(["spice", *argv, "--out", str(tmp_path / "d.cir")]) == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_exits_2(tmp_path, capsys):
    assert _run(["spice", "--preset", "ideal", "--shape", "2", "2", "--out", str(tmp_path / "no" / "e.cir")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_missing_ngspice_exits_2_and_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no ngspice
    assert _run(["spice", "--preset", "int8", "--shape", "4", "3", "--r-row", "1", "--r-col", "1",
                 "--out", str(tmp_path / "f.cir"), "--run"]) == 2
    assert "apt-get install ngspice" in capsys.readouterr().err
    assert (tmp_path / "f.cir").exists()  # the netlist is still written


def test_interleaved_pairs_are_one_physical_array(tmp_path, capsys):
    cfg = refsim.presets.get("ideal").replace(**{"wire.r_row_ohm": 1.0, "wire.r_col_ohm": 1.0,
                                                 "wire.pair_layout": "interleaved"})
    path = tmp_path / "inter.json"
    cfg.to_json(path)
    assert _run(["spice", "--preset", str(path), "--shape", "4", "3", "--out", str(tmp_path / "g.cir")]) == 2
    assert "t0.s0.pair" in capsys.readouterr().err
    assert _run(["spice", "--preset", str(path), "--shape", "4", "3", "--array", "t0.s0.pair",
                 "--out", str(tmp_path / "g.cir")]) == 0
    assert "R_CELL_3_5 " in (tmp_path / "g.cir").read_text()  # 6 interleaved columns


def test_planted_disagreement_exits_1(tmp_path, capsys, monkeypatch):
    """The checker must fail on a wrong answer: ngspice's currents perturbed by 1e-6 (relative)."""
    rng = np.random.default_rng(9)
    w = rng.normal(size=(5, 4))
    x = rng.normal(size=(1, 5))
    cfg = refsim.presets.get("int8").replace(**{"wire.r_row_ohm": 1.0, "wire.r_col_ohm": 1.0})
    xb = refsim.Crossbar(w, cfg, rng=np.random.default_rng(10))
    v = xb.trace(x).tiles[0].voltages_V["all"][0]
    good = v @ xb.conductances()["t0.s0.pos.eff"]
    monkeypatch.setattr(cli_spice.shutil, "which", lambda name: "/usr/bin/" + name)
    argv = ["spice", "--preset", "int8", "--shape", "5", "4", "--seed", "9", "--r-row", "1", "--r-col", "1",
            "--out", str(tmp_path / "h.cir"), "--run"]
    monkeypatch.setattr(cli_spice, "run_ngspice", lambda text: good.copy())
    assert _run(argv) == 0
    bad = good.copy()
    bad[2] += 1e-6 * np.max(np.abs(good))
    monkeypatch.setattr(cli_spice, "run_ngspice", lambda text: bad)
    assert _run(argv) == 1
    assert "ABOVE tolerance" in capsys.readouterr().out


@needs_ngspice
@pytest.mark.parametrize("preset_changes, shape, array, extra", [
    ({}, (12, 7), "t0.s0.pos", []),
    ({"mapping.scheme": "offset", "mapping.offset_removal": "reference_column"}, (6, 5), "t0.s0.ref", []),
    ({"wire.pair_layout": "interleaved"}, (8, 4), "t0.s0.pair", ["--input", "ones"]),
    ({"array.rows_max": 8, "array.cols_max": 4}, (13, 9), "t1.s0.neg", []),
    ({"dac.slice_bits": 2, "wire.r_driver_ohm": 5.0, "wire.r_sense_ohm": 3.0}, (10, 6), "t0.s0.pos",
     ["--pass", "slice1"]),
])
def test_run_agrees_with_ngspice(tmp_path, capsys, preset_changes, shape, array, extra):
    cfg = refsim.presets.get("int8").replace(**preset_changes)
    path = tmp_path / "cfg.json"
    cfg.to_json(path)
    code = _run(["spice", "--preset", str(path), "--shape", *map(str, shape), "--r-row", "2", "--r-col", "3",
                 "--array", array, "--out", str(tmp_path / "run.cir"), "--run", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "within tolerance 1e-08" in out


def test_registered_in_the_refsim_command_line(tmp_path, capsys):
    from refsim import cli

    assert cli.main(["spice", "--preset", "ideal", "--shape", "2", "3", "--out", str(tmp_path / "i.cir")]) == 0
