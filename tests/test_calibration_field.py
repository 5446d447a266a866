"""CrossbarConfig.calibrated / calibration_waived: what decides whether a config of a preset that needs
calibration may run in a refsim.nn network (refsim.presets.check_calibrated), whatever its name says;
their validation, their JSON round trip, and the legacy rule for files written before they existed
(name parts "+cal", "+hwa", "+uncalibrated", read only when both fields are absent)."""

import dataclasses
import json

import numpy as np
import pytest

from refsim import presets
from refsim.config import CrossbarConfig, DACConfig, load_config
from refsim.nn import Linear
from refsim.tools import calibrate as cal

X = np.random.default_rng(1).normal(size=(6, 40))
W = np.random.default_rng(0).normal(size=(8, 40))


def _run(cfg):
    """The analog output of one Linear layer with ``cfg`` (raises CalibrationRequiredError if refused)."""
    return Linear(W, None, name="fc", config=cfg, seed=3)(X)


@pytest.fixture(scope="module")
def xiao_cal():
    """xiao2022_resnet50 calibrated on X for the layer's weights (both ranges)."""
    return cal.calibrate_crossbar(W.T, X, presets.get("xiao2022_resnet50"), measure=False).config


def test_calibration_tools_set_the_field(xiao_cal):
    assert xiao_cal.calibrated == ("adc", "dac") and xiao_cal.name == "xiao2022_resnet50+cal"
    rasch = cal.calibrate_crossbar(W.T, X, presets.get("rasch2023_standard"), ranges=("dac",), measure=False).config
    assert rasch.calibrated == ("dac",)
    adc_only = cal.calibrate_crossbar(W.T, X, presets.get("xiao2022_resnet50"), ranges=("adc",), measure=False).config
    assert adc_only.calibrated == ("adc",)
    # a later calibration of the other range adds to the field
    assert cal.calibrate_crossbar(W.T, X, adc_only, ranges=("dac",), measure=False).config.calibrated == ("adc", "dac")
    assert presets.required_calibration("xiao2022_resnet50") == ("adc", "dac")
    assert presets.required_calibration("rasch2023_standard") == ("dac",)
    assert presets.required_calibration("int8") == ()


def test_renamed_calibrated_config_still_runs(xiao_cal):
    y = _run(xiao_cal)
    for renamed in (xiao_cal.replace(name="xiao2022_resnet50+layer3_mine"),
                    dataclasses.replace(xiao_cal, name="xiao2022_resnet50"),
                    dataclasses.replace(xiao_cal, name="xiao2022_resnet50+uncalibrated")):
        assert presets.calibration_problem(renamed, "fc") is None
        assert np.array_equal(_run(renamed), y)  # the name changes no physics


@pytest.mark.parametrize("part", ["cal", "hwa", "uncalibrated"])
def test_name_parts_alone_calibrate_nothing(part):
    for name in ("xiao2022_resnet50", "rasch2023_standard"):
        cfg = presets.get(name).replace(name=f"{name}+{part}")
        assert cfg.calibrated == () and not cfg.calibration_waived
        with pytest.raises(presets.CalibrationRequiredError, match=f"config '{name}\\+{part}'"):
            _run(cfg)


def test_what_the_preset_needs_against_what_was_calibrated(xiao_cal):
    rasch = presets.get("rasch2023_standard")
    assert presets.missing_calibration(rasch) == ("dac",)
    assert presets.missing_calibration(rasch.replace(calibrated=("dac",))) == ()
    assert presets.missing_calibration(rasch.replace(calibrated=("adc",))) == ("dac",)
    xiao_dac = xiao_cal.replace(calibrated=("dac",))
    assert presets.missing_calibration(xiao_dac) == ("adc",)
    with pytest.raises(presets.CalibrationRequiredError, match="the adc range"):
        _run(xiao_dac)
    # a calibrated range switched to another mode is no longer the calibrated one
    moved = xiao_cal.replace(**{"dac.range_mode": "abs_max"})
    assert moved.calibrated == ("adc", "dac") and presets.missing_calibration(moved) == ("dac",)
    with pytest.raises(presets.CalibrationRequiredError, match="dac.range_mode='abs_max'"):
        _run(moved)
    # the opt-out runs what is missing, on purpose; a preset that needs nothing is never refused
    assert presets.calibration_problem(presets.uncalibrated(xiao_dac), "fc") is None
    assert presets.calibration_problem(presets.get("int8"), "fc") is None
    assert presets.uncalibrated_if_asked(xiao_cal, True) is xiao_cal  # nothing missing: untouched
    assert presets.uncalibrated_if_asked(xiao_dac, True).calibration_waived


def test_field_round_trips_through_json(xiao_cal, tmp_path):
    for cfg in (xiao_cal, presets.uncalibrated(presets.get("rasch2023_standard")),
                xiao_cal.replace(name="renamed"), presets.get("int8")):
        d = cfg.to_dict()
        assert d["calibrated"] == list(cfg.calibrated) and d["calibration_waived"] is cfg.calibration_waived
        path = tmp_path / "c.json"
        cfg.to_json(path)
        back = load_config(path)
        assert back == cfg and (back.calibrated, back.calibration_waived) == (cfg.calibrated, cfg.calibration_waived)
    layers = {"fc": xiao_cal.replace(name="anything"), "fc2": presets.uncalibrated(xiao_cal)}
    cal.save_layer_configs(tmp_path / "layers.json", layers)
    assert cal.load_layer_configs(tmp_path / "layers.json").configs == layers
    # the field, when present, is the whole truth: "+cal" with calibrated [] is refused
    d = presets.get("xiao2022_resnet50").replace(name="xiao2022_resnet50+cal").to_dict()
    assert d["calibrated"] == [] and CrossbarConfig.from_dict(d).calibrated == ()


def test_legacy_files_without_the_fields_read_the_name_once(xiao_cal, tmp_path):
    def old(cfg):  # the dict a refsim of before the fields wrote
        d = cfg.to_dict()
        del d["calibrated"], d["calibration_waived"]
        return d

    assert CrossbarConfig.from_dict(old(xiao_cal)).calibrated == ("adc", "dac")
    rasch_cal = presets.get("rasch2023_standard").replace(name="rasch2023_standard+cal")
    # rasch2023_standard's ADC is fixed by the preset, not calibrated: only what the preset calibrates
    assert CrossbarConfig.from_dict(old(rasch_cal)).calibrated == ("dac",)
    hwa = CrossbarConfig.from_dict(old(presets.get("rasch2023_standard").replace(name="rasch2023_standard+hwa")))
    assert hwa.calibrated == ("dac",) and presets.calibration_problem(hwa, "fc") is None
    unc = CrossbarConfig.from_dict(old(presets.get("xiao2022_resnet50").replace(name="xiao2022_resnet50+uncalibrated")))
    assert unc.calibrated == () and unc.calibration_waived
    plain = CrossbarConfig.from_dict(old(presets.get("xiao2022_resnet50")))
    assert plain.calibrated == () and not plain.calibration_waived
    # "+cal" on a file whose DAC is per-vector: its DAC range was not set from data
    dyn = CrossbarConfig.from_dict(old(xiao_cal.replace(**{"dac.range_mode": "abs_max"})))
    assert dyn.calibrated == ("adc",) and presets.missing_calibration(dyn) == ("dac",)
    # an old calibration file (refsim eval --calibration) keeps working
    (tmp_path / "old.json").write_text(json.dumps({"fc": old(xiao_cal)}))
    loaded = cal.load_layer_configs(tmp_path / "old.json")("fc")
    assert np.array_equal(_run(loaded), _run(xiao_cal))
    # a file with either field is new: its name is not read
    d = old(rasch_cal)
    d["calibration_waived"] = False
    assert CrossbarConfig.from_dict(d).calibrated == ()


@pytest.mark.parametrize("value, kind, shown", [
    (("dca",), ValueError, "('dca',)"),
    (("dac", "dac"), ValueError, "('dac', 'dac')"),
    (("dac", 1), ValueError, "('dac', 1)"),
    ("dac", TypeError, "'dac'"),
    (None, TypeError, "None"),
])
def test_bad_calibrated_names_the_field(value, kind, shown):
    with pytest.raises(kind) as e:
        presets.get("int8").replace(calibrated=value)
    msg = str(e.value)
    assert msg.startswith(f"calibrated: received {shown}; expected") and "('adc', 'dac')" in msg


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bad_waiver_names_the_field(value):
    with pytest.raises(TypeError, match=r"calibration_waived: received .*; expected True or False"):
        CrossbarConfig(calibration_waived=value)


def test_planted_wrong_value_in_a_file_fails_naming_file_and_field(xiao_cal, tmp_path):
    d = xiao_cal.to_dict()
    d["calibrated"] = ["dac", "adcs"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"config file .*bad\.json'?: calibrated: received \('dac', 'adcs'\)"):
        load_config(path)
    d["calibrated"], d["calibration_waived"] = ["dac"], "true"
    path.write_text(json.dumps(d))
    with pytest.raises(TypeError, match="calibration_waived: received 'true'"):
        load_config(path)
    # a well-formed but wrong claim (the ADC range of a preset that was never profiled) is accepted as
    # written, but a claim on a range that is not fixed counts for nothing
    planted = presets.get("xiao2022_resnet50").replace(calibrated=("adc", "dac"))
    assert planted.dac.range_mode != "fixed" and presets.missing_calibration(planted) == ("adc", "dac")
    with pytest.raises(presets.CalibrationRequiredError):
        _run(planted)


def test_field_is_normalized_sorted_tuple():
    cfg = presets.get("xiao2022_resnet50").replace(calibrated=["dac", "adc"])
    assert cfg.calibrated == ("adc", "dac") and hash(cfg) == hash(cfg.replace(calibrated=("adc", "dac")))
    assert CrossbarConfig(dac=DACConfig(range_mode="fixed"), calibrated=(np.str_("dac"),)).calibrated == ("dac",)
    assert type(CrossbarConfig(calibrated=(np.str_("dac"),)).calibrated[0]) is str


def test_training_state_written_before_the_fields_still_resumes():
    """refsim train --resume compares the stored HWA config with its own: a state of before the fields
    (its dict lacks them) is the same run; a different config is not."""
    from refsim.train.loop import _normal_config

    cfg = presets.get("rasch2023_standard")
    old = cfg.to_dict()
    del old["calibrated"], old["calibration_waived"]
    assert old != cfg.to_dict() and _normal_config(old) == cfg.to_dict()
    assert _normal_config(cfg.replace(**{"dac.bits": 6}).to_dict()) != cfg.to_dict()
    assert _normal_config(None) is None
