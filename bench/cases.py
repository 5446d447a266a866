"""The benchmark cases: networks, presets and how each is measured.

A :class:`Case` names a config (a function returning a :class:`refsim.CrossbarConfig`,
or ``None`` for the plain-NumPy network) and how it is timed. Every case runs in its
own subprocess (:mod:`bench.worker`), so its peak resident memory is its own.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

import refsim
from refsim.devices import NoiseConfig
from refsim.nn.statedict import random_params

__all__ = ["Case", "CASES", "QUICK", "FULL", "NETWORKS", "build_inputs", "build_network", "wire_config"]

#: Wire resistance of the "wire" case (ohm per segment, rows and columns), on the xiao2022 tiling.
WIRE_OHM = 1.0

#: Layers on which the exact per-cell PCM read noise is timed (the rest is extrapolated by MACs).
PER_CELL_LAYERS = ("conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv3", "layer4.0.conv2", "fc")


def _preset(name: str, **dotted) -> Callable[[], refsim.CrossbarConfig]:
    def make():
        cfg = refsim.presets.get(name)
        return cfg.replace(**dotted) if dotted else cfg
    return make


def _noise_free(name: str) -> Callable[[], refsim.CrossbarConfig]:
    def make():
        return dataclasses.replace(refsim.presets.get(name), device=NoiseConfig())
    return make


def wire_config() -> refsim.CrossbarConfig:
    """xiao2022_resnet50 (1152 x 256 arrays, fill split) with 1 ohm row and column segments."""
    return refsim.presets.get("xiao2022_resnet50").replace(**{"wire.r_row_ohm": WIRE_OHM, "wire.r_col_ohm": WIRE_OHM})


@dataclass(frozen=True)
class Case:
    """One row of the results table.

    kind: "numpy" (config=None network), "torch" (PyTorch CPU, ``dtype``), "refsim" (crossbars),
    "per_cell" (build everything, time the analog forward layer by layer on ``PER_CELL_LAYERS``
    and extrapolate the rest by multiply-accumulates), "wire" (the forward of ``config``; the exact
    G_eff of :func:`wire_config` timed once per distinct array shape and summed over the arrays).
    """

    name: str
    kind: str
    config: Callable[[], refsim.CrossbarConfig] | None
    label: str
    dtype: str = "float64"
    counterpart: str | None = None  # the case this one is compared with (targets, float32 error)


CASES = {c.name: c for c in [
    Case("numpy", "numpy", None, "plain NumPy (im2col + matmul), baseline"),
    Case("torch_f32", "torch", None, "PyTorch CPU float32", dtype="float32"),
    Case("torch_f64", "torch", None, "PyTorch CPU float64", dtype="float64"),
    Case("ideal", "refsim", _preset("ideal"), "ideal"),
    Case("ideal_f32", "refsim", _preset("ideal", precision="float32"), "ideal, precision=float32",
         counterpart="ideal"),
    Case("int8", "refsim", _preset("int8"), "int8: 8-bit DAC and ADC, differential"),
    Case("int8_f32", "refsim", _preset("int8", precision="float32"), "int8, precision=float32",
         counterpart="int8"),
    Case("bitserial_int8", "refsim", _preset("bitserial_int8"), "bitserial_int8: 1-bit input slices, ADC per slice",
         counterpart="ideal"),
    Case("slices4_bitserial", "refsim",
         _preset("int8", **{"weight.n_slices": 4, "weight.bits_per_slice": 2, "dac.slice_bits": 1}),
         "int8, 4 weight slices x 2 bits, bit-serial inputs", counterpart="ideal"),
    Case("rasch_noisefree", "refsim", _noise_free("aihwkit_noise_managed"),
         "aihwkit_noise_managed, device=NoiseConfig() (noise-free counterpart)"),
    Case("rasch_sqrt", "refsim",
         _preset("aihwkit_noise_managed", **{"device.read_model": "sqrt_state", "device.read_sigma_rel": 0.0175}),
         "aihwkit_noise_managed, read_model=sqrt_state 0.0175 (output-referred)", counterpart="rasch_noisefree"),
    Case("rasch_percell", "per_cell", _preset("aihwkit_noise_managed"),
         "aihwkit_noise_managed (PCM 1/f read noise, exact per-cell)", counterpart="rasch_noisefree"),
    Case("wire", "wire", _preset("xiao2022_resnet50"),
         f"xiao2022_resnet50 tiling, wire {WIRE_OHM:g} ohm, exact G_eff", counterpart="ideal"),
]}

FULL = tuple(CASES)
QUICK = ("numpy", "ideal", "int8")

#: network name -> (builder kind, depth, image size)
NETWORKS = {
    "resnet50": ("resnet", 50, 224),
    "resnet18": ("resnet", 18, 64),
    "cifar_resnet20": ("cifar", 20, 32),
}


def build_inputs(net: str, seed: int, weights: str | None = None) -> tuple[dict, np.ndarray]:
    """State dict (real weights from ``weights``, else random with ``seed``) and one image ``(1, 3, S, S)``.

    Random weights come from :func:`refsim.nn.statedict.random_params` (for ResNet-50 the same
    draws as :func:`bench.bench_resnet50.random_state_dict`); the image is ``rng.normal`` drawn
    after the weights, as in that benchmark.
    """
    kind, depth, size = NETWORKS[net]
    rng = np.random.default_rng(seed)
    if weights is not None:
        from refsim.io import load_state_dict
        sd = load_state_dict(weights)
    elif kind == "resnet":
        from refsim.nn.resnet import resnet_param_shapes
        sd = random_params(resnet_param_shapes(depth), rng)
    else:
        from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
        sd = random_params(cifar_resnet_param_shapes(depth), rng)
    return sd, rng.normal(size=(1, 3, size, size))


def build_network(net: str, sd: dict, config, seed: int):
    """The refsim network of ``net`` with ``config`` (None: plain NumPy)."""
    if NETWORKS[net][0] == "cifar":
        return refsim.nn.cifar_resnet_from_state_dict(sd, config=config, seed=seed)
    return refsim.nn.resnet_from_state_dict(sd, config=config, seed=seed)
