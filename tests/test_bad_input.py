"""Bad input fails loudly at the boundary: ``ValueError``/``TypeError`` whose message names the argument."""

from __future__ import annotations

import numpy as np
import pytest

import refsim
from refsim import CrossbarConfig

IDEAL = refsim.presets.get("ideal")
W = np.arange(12.0).reshape(4, 3) - 5.5
X = np.linspace(-1.0, 1.0, 8).reshape(2, 4)


def with_value(arr: np.ndarray, index: tuple, value: float) -> np.ndarray:
    out = arr.copy()
    out[index] = value
    return out


# -- weights ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "weights, exc, match",
    [
        (with_value(W, (1, 2), np.nan), ValueError, r"weights: received 1 non-finite"),
        (with_value(W, (0, 0), np.inf), ValueError, r"weights: received 1 non-finite"),
        (with_value(W, (3, 1), -np.inf), ValueError, r"weights: received 1 non-finite"),
        (W[0], ValueError, r"weights: received shape \(3,\); expected a 2-D array"),
        (W[None], ValueError, r"weights: received shape .*; expected a 2-D array"),
        (np.zeros((0, 3)), ValueError, r"weights: received shape \(0, 3\); expected shape \(n_in, n_out\) with both >= 1"),
        (np.zeros((3, 0)), ValueError, r"weights: received shape .*; expected shape"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, r"weights: received dtype .*; expected a real numeric array"),
        (W.astype(complex), TypeError, r"weights: received dtype complex.*; expected a real numeric array"),
        (W > 0, TypeError, r"weights: received dtype bool; expected a real numeric array"),
        (np.array([[1.0, None]], dtype=object), TypeError, r"weights: received dtype .*; expected a real numeric array"),
        ("W", TypeError, r"weights"),
    ],
)
def test_bad_weights(weights, exc, match):
    with pytest.raises(exc, match=match):
        refsim.Crossbar(weights, IDEAL)


# -- inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["matvec", "trace"])
@pytest.mark.parametrize(
    "x, exc, match",
    [
        (with_value(X, (0, 1), np.nan), ValueError, r"x: received 1 non-finite"),
        (with_value(X, (1, 3), np.inf), ValueError, r"x: received 1 non-finite"),
        (np.ones((2, 5)), ValueError, r"x: received shape \(2, 5\); expected shape \(\.\.\., 4\)"),
        (np.ones((4, 2)), ValueError, r"x: received shape .*; expected shape \(\.\.\., 4\)"),
        (np.float64(1.0), ValueError, r"x: received shape \(\); expected at least 1 dimension"),
        (np.array(["1", "2", "3", "4"]), TypeError, r"x: received .*; expected a real numeric array"),
        (X.astype(np.complex128), TypeError, r"x: received dtype complex.*; expected a real numeric array"),
        (X > 0, TypeError, r"x: received dtype bool; expected a real numeric array"),
        (None, TypeError, r"x: received .*; expected a real numeric array"),
    ],
)
def test_bad_inputs(method, x, exc, match):
    xb = refsim.Crossbar(W, refsim.presets.get("int8"))
    with pytest.raises(exc, match=match):
        getattr(xb, method)(x)


def test_integer_arrays_and_lists_are_accepted():
    xb = refsim.Crossbar(W.astype(np.int32).tolist(), IDEAL)
    x = np.array([[1, -2, 3, 0]], dtype=np.int16)
    np.testing.assert_allclose(xb.matvec(x), x @ W.astype(np.int32), rtol=1e-12)


def test_inputs_are_not_modified():
    w, x = W.copy(), X.copy()
    xb = refsim.Crossbar(w, refsim.presets.get("int8"))
    xb.matvec(x)
    xb.trace(x)
    np.testing.assert_array_equal(w, W)
    np.testing.assert_array_equal(x, X)
    w[0, 0] = 100.0  # the crossbar keeps its own read-only copy
    assert xb.weights[0, 0] == W[0, 0]
    with pytest.raises(ValueError):
        xb.weights[0, 0] = 1.0


# -- config and other arguments -----------------------------------------------------------------
@pytest.mark.parametrize("config", ["ideal", None, IDEAL.to_dict(), refsim.ADCConfig()])
def test_config_must_be_a_crossbar_config(config):
    with pytest.raises(TypeError, match=r"config: received .*; expected a refsim.CrossbarConfig"):
        refsim.Crossbar(W, config)


@pytest.mark.parametrize("rng", [42, np.random.RandomState(0), np.random.SeedSequence(0)])
def test_rng_must_be_a_generator(rng):
    with pytest.raises(TypeError, match=r"rng: received .*; expected a numpy.random.Generator"):
        refsim.Crossbar(W, IDEAL, rng=rng)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("weight.bits", 1, r"weight.bits: received 1; expected an int in \[2, 32\]"),
        ("weight.bits", 64, r"weight.bits: received 64"),
        ("dac.bits", 0, r"dac.bits: received 0"),
        ("dac.bits", 40, r"dac.bits: received 40"),
        ("adc.bits", -1, r"adc.bits: received -1"),
        ("adc.bits", 1, r"adc.bits=1 with signed=True"),
        ("dac.bits", 1, r"dac.bits=1 with signed=True"),
        ("mapping.cell_bits", 33, r"mapping.cell_bits: received 33"),
        ("dac.slice_bits", 0, r"dac.slice_bits"),
    ],
)
def test_bits_out_of_range(key, value, match):
    with pytest.raises(ValueError, match=match):
        IDEAL.replace(**{key: value})


@pytest.mark.parametrize("g_min, g_max", [(1e-5, 1e-5), (2e-5, 1e-5), (0.0, 0.0)])
def test_g_min_must_be_below_g_max(g_min, g_max):
    with pytest.raises(ValueError, match=r"mapping.g_(min|max)_S"):
        IDEAL.replace(**{"mapping.g_min_S": g_min, "mapping.g_max_S": g_max})


@pytest.mark.parametrize(
    "changes",
    [
        {"weight.bits": 8, "weight.n_slices": 8},  # 7 magnitude bits (one-sided) in 8 slices
        {"weight.bits": 8, "weight.n_slices": 3, "weight.bits_per_slice": 4},  # 4 + 4 > 7
        {"weight.bits": 4, "weight.n_slices": 4, "mapping.scheme": "differential_one_sided"},
    ],
)
def test_inconsistent_slicing_is_refused(changes):
    with pytest.raises(ValueError, match=r"inconsistent slicing"):
        IDEAL.replace(**changes)


def test_inconsistent_slicing_message_names_the_fields():
    with pytest.raises(ValueError, match=r"weight.n_slices"):
        IDEAL.replace(**{"weight.bits": 8, "weight.n_slices": 8})


def test_slicing_needs_quantized_weights():
    with pytest.raises(ValueError, match=r"weight.n_slices=2.*set weight.bits"):
        IDEAL.replace(**{"weight.n_slices": 2})


@pytest.mark.parametrize("name", ["Ideal", "int4", "", None, 3])
def test_unknown_preset_names(name):
    with pytest.raises(ValueError, match=r"preset: unknown name .*expected one of \[.*'ideal'"):
        refsim.presets.get(name)


def test_unknown_config_fields():
    with pytest.raises(ValueError, match=r"replace: unknown field 'adc.nbits'"):
        IDEAL.replace(**{"adc.nbits": 8})
    with pytest.raises(ValueError, match=r"replace: unknown field 'adcs.bits'"):
        IDEAL.replace(**{"adcs.bits": 8})
    with pytest.raises(ValueError, match=r"config.mapping: unknown field\(s\) \['g_max'\]"):
        CrossbarConfig.from_dict({"mapping": {"g_max": 1e-5}})
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'nbits'"):
        refsim.ADCConfig(nbits=8)
