"""Configs: JSON round trip of every preset, dotted ``replace``, validation messages."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings

import refsim
from refsim import CrossbarConfig, load_config
from strategies import ideal_configs, quantized_configs


@pytest.mark.parametrize("name", refsim.presets.names())
def test_preset_json_round_trip(name, tmp_path):
    cfg = refsim.presets.get(name)
    assert isinstance(cfg, CrossbarConfig)
    assert CrossbarConfig.from_dict(cfg.to_dict()) == cfg
    text = cfg.to_json()
    assert CrossbarConfig.from_dict(json.loads(text)) == cfg
    path = tmp_path / f"{name}.json"
    assert cfg.to_json(path) == text
    loaded = load_config(path)
    assert loaded == cfg
    assert loaded.to_json() == text  # byte-identical on the second trip


@pytest.mark.parametrize("name", refsim.presets.names())
def test_preset_dict_is_plain_json(name):
    data = refsim.presets.get(name).to_dict()
    assert json.loads(json.dumps(data)) == data  # no tuples, numpy scalars or objects left


@settings(max_examples=100, deadline=None)
@given(quantized_configs())
def test_random_config_json_round_trip(cfg):
    """Including tuples of per-slice ADC ranges (lists in JSON)."""
    assert CrossbarConfig.from_dict(json.loads(cfg.to_json())) == cfg


@settings(max_examples=50, deadline=None)
@given(ideal_configs())
def test_random_ideal_config_json_round_trip(cfg):
    assert CrossbarConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_presets_are_fresh_and_documented():
    for name in refsim.presets.names():
        assert refsim.presets.get(name) == refsim.presets.get(name)
        assert refsim.presets.get(name).name == name
    assert refsim.presets.get("ideal") == CrossbarConfig(name="ideal")


def test_replace_with_dotted_names():
    cfg = refsim.presets.get("ideal")
    new = cfg.replace(**{"adc.bits": 6, "mapping.scheme": "offset", "array.rows_max": 64, "name": "mine"})
    assert (new.adc.bits, new.mapping.scheme, new.array.rows_max, new.name) == (6, "offset", 64, "mine")
    assert cfg == refsim.presets.get("ideal")  # the original is unchanged (frozen)
    # every other field is untouched
    assert new.replace(**{"adc.bits": None, "mapping.scheme": "differential_one_sided",
                          "array.rows_max": None, "name": "ideal"}) == cfg
    assert dataclasses.replace(cfg.adc, bits=6) == new.adc


def test_replace_a_whole_section():
    cfg = refsim.presets.get("ideal")
    new = cfg.replace(adc=refsim.ADCConfig(bits=4))
    assert new.adc.bits == 4 and new.dac == cfg.dac


def test_configs_are_frozen():
    cfg = refsim.presets.get("ideal")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.adc.bits = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "key, value, exc, match",
    [
        ("adc.bitz", 4, ValueError, "adc.bitz"),
        ("nosection.bits", 4, ValueError, "nosection.bits"),
        ("bits", 4, ValueError, "'bits'"),
        ("adc.bits", 0, ValueError, "adc.bits"),
        ("adc.bits", 33, ValueError, "adc.bits"),
        ("adc.bits", 4.0, TypeError, "adc.bits"),
        ("adc.bits", True, TypeError, "adc.bits"),
        ("adc.signed", "yes", TypeError, "adc.signed"),
        ("adc.range_mode", "auto", ValueError, "adc.range_mode"),
        ("adc.range_mode", "fixed", ValueError, "adc.range_A"),
        ("adc.range_A", 1e-6, ValueError, "adc.range_A"),
        ("dac.bits", 1, ValueError, "dac.bits"),
        ("dac.v_read_V", 0.0, ValueError, "dac.v_read_V"),
        ("dac.v_read_V", float("nan"), ValueError, "dac.v_read_V"),
        ("dac.x_max", -1.0, ValueError, "dac.x_max"),
        ("dac.slice_bits", 2, ValueError, "dac.slice_bits"),
        ("dac.signed_inputs", "unipolar", ValueError, "dac.signed_inputs"),
        ("dac.accumulation", "mixed", ValueError, "dac.accumulation"),
        ("weight.bits", 1, ValueError, "weight.bits"),
        ("weight.n_slices", 2, ValueError, "weight.n_slices"),
        ("weight.scaling", "fixed", ValueError, "weight.w_max"),
        ("weight.w_max", 1.0, ValueError, "weight.w_max"),
        ("weight.percentile", 0.0, ValueError, "weight.percentile"),
        ("weight.percentile", 101.0, ValueError, "weight.percentile"),
        ("mapping.scheme", "differential", ValueError, "mapping.scheme"),
        ("mapping.g_min_S", -1e-9, ValueError, "mapping.g_min_S"),
        ("mapping.g_min_S", 1e-5, ValueError, "mapping.g_min_S"),
        ("mapping.g_max_S", 1e-8, ValueError, "mapping.g_min_S"),
        ("mapping.g_max_S", float("inf"), ValueError, "mapping.g_max_S"),
        ("mapping.subtraction", "analog", ValueError, "mapping.subtraction"),
        ("mapping.offset_removal", "none", ValueError, "mapping.offset_removal"),
        ("mapping.cell_bits", 0, ValueError, "mapping.cell_bits"),
        ("array.rows_max", 0, ValueError, "array.rows_max"),
        ("array.split", "max", ValueError, "array.split"),
        ("name", 3, TypeError, "name"),
    ],
)
def test_validation_names_the_field(key, value, exc, match):
    with pytest.raises(exc, match=match):
        refsim.presets.get("ideal").replace(**{key: value})


def test_cross_section_validation():
    base = refsim.presets.get("ideal")
    with pytest.raises(ValueError, match="mapping.cell_bits"):
        base.replace(**{"weight.bits": 4, "mapping.cell_bits": 3})
    with pytest.raises(ValueError, match="adc.range_A"):
        base.replace(**{"weight.bits": 8, "weight.n_slices": 2, "adc.range_mode": "fixed",
                        "adc.range_A": (1e-6, 1e-6, 1e-6)})
    with pytest.raises(TypeError, match="adc.range_A"):
        base.replace(**{"adc.range_mode": "fixed", "adc.range_A": [1e-6]})
    with pytest.raises(TypeError, match="adc"):
        CrossbarConfig(adc={"bits": 4})  # a dict where a section object is expected


def test_from_dict_rejects_unknown_names():
    data = refsim.presets.get("int8").to_dict()
    with pytest.raises(ValueError, match="unknown section.*'dacs'"):
        CrossbarConfig.from_dict({**data, "dacs": {}})
    bad = json.loads(json.dumps(data))
    bad["adc"]["bitz"] = 4
    with pytest.raises(ValueError, match="config.adc: unknown field.*'bitz'"):
        CrossbarConfig.from_dict(bad)
    with pytest.raises(TypeError, match="config.adc"):
        CrossbarConfig.from_dict({**data, "adc": 8})
    with pytest.raises(TypeError, match="config"):
        CrossbarConfig.from_dict([1, 2])


def test_partial_dict_uses_defaults():
    cfg = CrossbarConfig.from_dict({"adc": {"bits": 6}})
    assert cfg.adc.bits == 6 and cfg.dac == refsim.DACConfig()


def test_load_config_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"adc": {"bits": -3}}))
    with pytest.raises(ValueError, match="adc.bits"):
        load_config(wrong)
