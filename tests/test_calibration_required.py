"""The Python API makes calibration explicit: a refsim.nn network (or layer) whose config is a
preset that needs calibration (refsim.presets.needs_calibration), uncalibrated, refuses to run
analog; calibrated configs (field ``calibrated``) and the explicit opt-out (refsim.presets.uncalibrated,
field ``calibration_waived``) run. The decision reads those fields, never the name."""

import numpy as np
import pytest

import refsim
from refsim import presets
from refsim.nn import Linear
from refsim.tools import calibrate as cal
from refsim.tools import inference as inf

NEED = ["xiao2022_resnet50", "rasch2023_standard"]


def _lin(cfg, seed=3):
    rng = np.random.default_rng(0)
    return Linear(rng.normal(size=(8, 40)), rng.normal(size=8), name="fc", config=cfg, seed=seed)


@pytest.mark.parametrize("name", NEED)
def test_layer_refuses_uncalibrated_preset_and_says_how_to_calibrate(name):
    x = np.random.default_rng(1).normal(size=(4, 40))
    for cfg in (presets.get(name), presets.get(name).replace(name=f"{name}+device.t_inference_s=86400")):
        lin = _lin(cfg)  # building is allowed: calibration needs the built network
        np.testing.assert_allclose(lin(x, digital=True), x @ lin.matmul.weights + lin.bias, rtol=1e-12)
        with pytest.raises(presets.CalibrationRequiredError) as e:
            lin(x)
        msg = str(e.value)
        assert "layer 'fc'" in msg and repr(name) in msg and "calibrate_model" in msg and "uncalibrated(" in msg
        assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("name", NEED)
def test_opt_out_changes_nothing_but_the_name(name):
    """uncalibrated(cfg) runs; its output is bit-identical to the same config under a name that is
    no preset (which nothing checks): the opt-out changes no physics."""
    x = np.random.default_rng(1).normal(size=(4, 40))
    out = presets.uncalibrated(presets.get(name))
    assert out.name == f"{name}+uncalibrated" and presets.uncalibrated(out) == out and out.calibration_waived
    y_opt = _lin(out)(x)
    y_other = _lin(presets.get(name).replace(name="my_own_config"))(x)
    assert np.array_equal(y_opt, y_other)
    # a preset that needs nothing is not touched by the CLI's helper
    assert presets.uncalibrated_if_asked(presets.get("int8"), True).name == "int8"
    assert presets.uncalibrated_if_asked(presets.get(name), False).name == name
    with pytest.raises(TypeError, match="config"):
        presets.uncalibrated("xiao2022_resnet50")


def test_single_crossbar_is_not_checked():
    W = np.random.default_rng(0).normal(size=(16, 4))
    xb = refsim.Crossbar(W, presets.get("rasch2023_standard"), rng=np.random.default_rng(0))
    y = xb.matvec(np.ones((1, 16)))
    assert y.shape == (1, 4)


def test_network_refuses_then_runs_once_calibrated():
    cfg = presets.get("xiao2022_resnet50")
    model = inf.build_model("cifar-resnet20", "random", cfg)
    x = inf.cifar_preprocess(np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(presets.CalibrationRequiredError, match="layer 'conv1'"):
        model.net.forward(x[:1])
    layer_cfgs = cal.calibrate_model(model, x)  # profiles with exact activations: allowed
    calibrated = inf.build_model("cifar-resnet20", "random", layer_cfgs)
    recs = {}
    calibrated.net.forward(x[:1], records=recs)
    assert all(calibrated.net.layers()[n].config.name == "xiao2022_resnet50+cal" for n in recs)


@pytest.mark.parametrize("name", ["int8_bounded", "xiao2022_resnet50"])
def test_calibrate_crossbar_works_with_bound_management(name):
    """Profiling uses an ideal ADC; int8_bounded's iterative bound management (which needs a
    quantized ADC) is switched off for the profile, and kept in the result."""
    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(32, 8)), rng.normal(size=(16, 32))
    for method in ("percentile", "search"):
        r = cal.calibrate_crossbar(W, x, presets.get(name), method=method)
        assert r.config.name == f"{name}+cal"
        assert r.config.dac.bound_management == presets.get(name).dac.bound_management
        assert r.mse < r.mse_uncalibrated


def test_learned_input_range_counts_as_calibration_only_where_it_is_all_a_preset_calibrates():
    # refsim train marks its learned-alpha configs calibrated=("dac",) (named "<preset>+hwa"): Rasch et al.'s
    # preset calibrates only the input range, which training learned; Xiao et al.'s also needs its ADC ranges.
    rasch = presets.get("rasch2023_standard")
    assert presets.calibration_problem(rasch.replace(name=rasch.name + "+hwa", calibrated=("dac",)), "conv1") is None
    assert "conv1" in presets.calibration_problem(rasch, "conv1")
    xiao = presets.get("xiao2022_resnet50").replace(**{"dac.range_mode": "fixed"})
    msg = presets.calibration_problem(xiao.replace(name=xiao.name + "+hwa", calibrated=("dac",)), "conv1")
    assert "needs calibration" in msg and "the adc range(s) were not set" in msg
