"""Peer mapping: the table in docs/peer_mapping.md covers every config field; peers.py translations."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import pytest

import refsim
from refsim.config import CrossbarConfig
from refsim.peers import from_aihwkit_io, resolution_to_bits

DOC = Path(__file__).resolve().parents[1] / "docs" / "peer_mapping.md"


def config_fields() -> set[str]:
    """``section.field`` for every field of every section, plus the top-level fields."""
    out = set()
    cfg = CrossbarConfig()
    for f in dataclasses.fields(CrossbarConfig):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out |= {f"{f.name}.{g.name}" for g in dataclasses.fields(value)}
        else:
            out.add(f.name)
    return out


def test_table_covers_every_field():
    rows = set(re.findall(r"^\| `([A-Za-z_][\w.]*)` \|", DOC.read_text(), flags=re.M))
    missing = config_fields() - rows
    assert not missing, f"docs/peer_mapping.md lacks rows for {sorted(missing)}"
    stale = rows - config_fields()
    assert not stale, f"docs/peer_mapping.md has rows for fields that no longer exist: {sorted(stale)}"


def test_checker_fails_on_a_missing_field(tmp_path):
    text = DOC.read_text().replace("| `adc.range_A` |", "| adc range |")
    rows = set(re.findall(r"^\| `([A-Za-z_][\w.]*)` \|", text, flags=re.M))
    assert config_fields() - rows == {"adc.range_A"}


def test_aihwkit_standard_forward_is_the_rasch2023_preset():
    cfg = from_aihwkit_io(inp_res=1 / 254, out_res=1 / 254, inp_bound=1.0, out_bound=10.0, out_noise=0.04,
                          noise_management="abs_max", noise_model="pcm", name="aihwkit_noise_managed")
    # the translator adds aihwkit's float32 code decisions (D7) and its held 1/f read noise (P3)
    assert (cfg.dac.arithmetic, cfg.device.pcm_read_noise_held) == ("aihwkit_float32", True)
    # and aihwkit's per-tile weight scaling (refused where it departs from the preset's whole-matrix W1)
    assert cfg.weight.scaling_scope == "tile"
    exact = cfg.replace(**{"dac.arithmetic": "exact", "device.pcm_read_noise_held": False,
                           "weight.scaling_scope": "matrix"})
    assert exact == refsim.presets.get("aihwkit_noise_managed")


@pytest.mark.parametrize("res, bits", [(1 / 254, 8), (254, 8), (1 / 126, 7), (1 / 510, 9), (0, None), (-1, None)])
def test_resolution_to_bits(res, bits):
    assert resolution_to_bits(res, "inp_res") == bits


def test_aihwkit_translations():
    c = from_aihwkit_io(noise_management="none", inp_bound=2.0, w_noise=0.0175, w_noise_type="pcm_read",
                        max_input_size=None, max_output_size=None, weight_scaling_columnwise=False)
    assert (c.dac.range_mode, c.dac.x_max) == ("fixed", 2.0)
    assert (c.device.read_model, c.device.read_sigma_rel) == ("sqrt_state", 0.0175)
    assert c.weight.scaling == "max" and c.array.rows_max is None
    c = from_aihwkit_io(w_noise=0.02, w_noise_type="additive_constant", mv_type="two_pass")
    assert c.device.read_sigma_rel == pytest.approx(0.02 / math.sqrt(2))
    assert c.dac.signed_inputs == "two_pass"
    assert from_aihwkit_io(is_perfect=True).dac.bits is None
    c = from_aihwkit_io(bound_management="iterative", max_bm_factor=64)
    # aihwkit stops after the round whose factor exceeds max_bm_factor: the last factor is 128 (X9)
    assert (c.dac.bound_management, c.dac.bm_max_factor) == ("iterative", 128)


@pytest.mark.parametrize("kwargs, option", [
    ({"bound_management": "shift"}, "bound_management"),
    ({"inp_res": 1 / 255}, "inp_res"),
    ({"out_sto_round": True}, "out_sto_round"),
    ({"inp_noise": 0.01}, "inp_noise"),
    ({"mv_type": "split"}, "mv_type"),
])
def test_aihwkit_unsupported_options_are_named(kwargs, option):
    with pytest.raises(NotImplementedError, match=option):
        from_aihwkit_io(**kwargs)


def test_table_rows_have_four_cells():
    """A pipe inside a cell (``max|x|``) must be escaped, or it splits the row."""
    bad = [line[:60] for line in DOC.read_text().splitlines()
           if line.startswith("| `") and len(re.findall(r"(?<!\\)\|", line)) != 5]
    assert not bad, f"docs/peer_mapping.md rows with other than 4 cells: {bad}"


def test_no_entry_left_uncertain():
    """Issue 15: every entry once marked (?) is settled by the peers' source and a named case."""
    assert "(?)" not in DOC.read_text()
