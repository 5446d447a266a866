"""NoiseConfig: validation, predicates, JSON round trip, preset."""

import dataclasses
import json

import pytest

from refsim.devices import NoiseConfig, pcm_rasch2023_noise
from refsim.devices.config import IR_DROP_G_RATIO_DEFAULT

TABLE = ((0.0, 1e-7), (10e-6, 5e-7), (25e-6, 8e-7))


@pytest.mark.parametrize("kwargs, field_name", [
    ({"prog_model": "gaussian"}, "prog_model"),
    ({"prog_sigma_rel": -0.1}, "prog_sigma_rel"),
    ({"prog_sigma_rel": float("nan")}, "prog_sigma_rel"),
    ({"prog_sigma_rel": True}, "prog_sigma_rel"),
    ({"stuck_gmin_frac": 1.5}, "stuck_gmin_frac"),
    ({"stuck_gmax_frac": -0.01}, "stuck_gmax_frac"),
    ({"stuck_gmin_frac": 0.6, "stuck_gmax_frac": 0.5}, "stuck_gmin_frac + device.stuck_gmax_frac"),
    ({"clip": "none"}, "clip"),
    ({"drift_model": "linear"}, "drift_model"),
    ({"t_inference_s": -1.0}, "t_inference_s"),
    ({"t0_s": 0.0}, "t0_s"),
    ({"drift_nu": -0.05}, "drift_nu"),
    ({"drift_compensation": 1}, "drift_compensation"),
    ({"read_model": "1/f"}, "read_model"),
    ({"read_sigma_rel": -1e-3}, "read_sigma_rel"),
    ({"t_read_s": 0.0}, "t_read_s"),
    ({"read_sampling": "exact"}, "read_sampling"),
    ({"read_model": "pcm_rasch2023", "read_sampling": "output_referred"}, "read_sampling"),
    ({"out_noise_rel": -0.04}, "out_noise_rel"),
    ({"out_noise_reference": "bound"}, "out_noise_reference"),
    ({"i_col_max_A": 0.0}, "i_col_max_A"),
    ({"ir_drop_scale": -1.0}, "ir_drop_scale"),
    ({"ir_drop_g_ratio": 0.0}, "ir_drop_g_ratio"),
    ({"prog_model": "table"}, "prog_sigma_table"),
    ({"prog_model": "callable"}, "prog_sigma_fn"),
    ({"prog_model": "table", "prog_sigma_table": ((1e-6, 1e-7), (1e-6, 2e-7))}, "prog_sigma_table"),
    ({"prog_model": "table", "prog_sigma_table": ((1e-6, -1e-7),)}, "prog_sigma_table[0][1]"),
    ({"prog_model": "table", "prog_sigma_table": ((1e-6,),)}, "prog_sigma_table[0]"),
    ({"prog_model": "table", "prog_sigma_table": ()}, "prog_sigma_table"),
])
def test_invalid_field_raises_naming_field(kwargs, field_name):
    with pytest.raises((ValueError, TypeError)) as exc:
        NoiseConfig(**kwargs)
    assert str(exc.value).startswith("device." + field_name), str(exc.value)


def test_bad_type_of_number_is_type_error():
    with pytest.raises(TypeError, match="prog_sigma_rel"):
        NoiseConfig(prog_sigma_rel="0.1")
    with pytest.raises(TypeError, match="prog_sigma_fn"):
        NoiseConfig(prog_model="callable", prog_sigma_fn=3.0)


def test_defaults_are_noise_free_and_each_effect_is_detected():
    assert NoiseConfig().is_noise_free()
    noisy = [
        NoiseConfig(prog_model="independent", prog_sigma_rel=0.01),
        NoiseConfig(prog_model="pcm_rasch2023"),
        NoiseConfig(prog_model="table", prog_sigma_table=TABLE),
        NoiseConfig(prog_model="callable", prog_sigma_fn=lambda g: 0 * g),
        NoiseConfig(stuck_gmax_frac=0.01),
        NoiseConfig(drift_model="fixed_nu", drift_nu=0.05, t_inference_s=10.0),
        NoiseConfig(drift_model="pcm_rasch2023", t_inference_s=1.0),
        NoiseConfig(read_model="proportional", read_sigma_rel=0.01),
        NoiseConfig(read_model="pcm_rasch2023"),
        NoiseConfig(out_noise_rel=0.04),
        NoiseConfig(i_col_max_A=1e-3),
        NoiseConfig(ir_drop_scale=1.0),
    ]
    for cfg in noisy:
        assert not cfg.is_noise_free(), cfg
    quiet = [
        NoiseConfig(prog_model="independent", prog_sigma_rel=0.0),
        NoiseConfig(prog_model="table", prog_sigma_table=((0.0, 0.0), (1e-5, 0.0))),
        NoiseConfig(drift_model="pcm_rasch2023", t_inference_s=0.0),
        NoiseConfig(drift_model="fixed_nu", drift_nu=0.0, t_inference_s=100.0),
        NoiseConfig(read_model="independent", read_sigma_rel=0.0),
        NoiseConfig(clip="range", drift_compensation=True),
    ]
    for cfg in quiet:
        assert cfg.is_noise_free(), cfg
    assert NoiseConfig(read_model="sqrt_state", read_sigma_rel=0.02).has_read_noise()
    assert not NoiseConfig(read_model="pcm_rasch2023", pcm_read_noise_scale=0.0).has_read_noise()


@pytest.mark.parametrize("cfg", [
    NoiseConfig(),
    NoiseConfig(prog_model="table", prog_sigma_table=TABLE, stuck_gmin_frac=0.01,
                clip="range", i_col_max_A=2e-4, ir_drop_scale=1.0),
    pcm_rasch2023_noise(3600.0),
])
def test_json_round_trip(cfg):
    text = json.dumps(cfg.to_dict())
    back = NoiseConfig.from_dict(json.loads(text))
    assert back == cfg
    assert json.dumps(back.to_dict()) == text


def test_table_given_as_lists_is_normalized_to_tuples():
    cfg = NoiseConfig(prog_model="table", prog_sigma_table=[[0, 1e-7], [1e-5, 2e-7]])
    assert cfg.prog_sigma_table == ((0.0, 1e-7), (1e-5, 2e-7))
    hash(cfg)  # frozen and hashable once normalized


def test_callable_cannot_be_serialized_and_from_dict_rejects_unknown_keys():
    cfg = NoiseConfig(prog_model="callable", prog_sigma_fn=lambda g: 0.01 * g)
    with pytest.raises(TypeError, match="prog_sigma_fn.*prog_sigma_table"):
        cfg.to_dict()
    with pytest.raises(ValueError, match="unknown keys.*prog_sigma_fn"):
        NoiseConfig.from_dict({"prog_sigma_fn": None})
    with pytest.raises(ValueError, match="unknown keys.*sigma"):
        NoiseConfig.from_dict({"sigma": 0.1})
    with pytest.raises(TypeError, match="expected a dict"):
        NoiseConfig.from_dict([("prog_model", "none")])


def test_frozen_and_replace_revalidates():
    cfg = NoiseConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.prog_model = "independent"
    with pytest.raises(ValueError, match="t0_s"):
        dataclasses.replace(cfg, t0_s=-20.0)


def test_preset_matches_r23_constants():
    cfg = pcm_rasch2023_noise(t_inference_s=86400.0)
    assert (cfg.prog_model, cfg.drift_model, cfg.read_model) == ("pcm_rasch2023",) * 3
    assert cfg.t0_s == 20.0 and cfg.t_read_s == 250e-9 and cfg.t_inference_s == 86400.0
    assert cfg.drift_compensation and cfg.out_noise_rel == 0.04
    assert cfg.out_noise_reference == "unit_current"
    # aihwkit: 1 / (0.35 ohm * 5 uS) = 571428.57...
    assert abs(IR_DROP_G_RATIO_DEFAULT - 571428.5714285714) < 1e-6
