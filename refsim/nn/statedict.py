"""Checking state dicts against an architecture: every key, every shape.

The networks of :mod:`refsim.nn` name their parameters exactly as the
PyTorch models they mirror, so importing a checkpoint is the identity once
the keys and shapes are checked here.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.functional import as_float64

__all__ = ["strip_prefix", "check_state_dict", "bn_shapes", "random_params", "IGNORED_SUFFIXES"]

#: Buffers present in PyTorch state dicts that inference does not use.
IGNORED_SUFFIXES = (".num_batches_tracked",)


def strip_prefix(state_dict: dict, prefix: str = "module.") -> dict:
    """Remove ``prefix`` from every key if *all* keys carry it (DataParallel checkpoints)."""
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict: received {type(state_dict).__name__}; expected a dict of arrays")
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def check_state_dict(state_dict: dict, expected: dict, model: str) -> dict:
    """Check keys and shapes; return the parameters as float64 arrays.

    Parameters
    ----------
    state_dict : dict key -> array (NumPy, or anything ``np.asarray`` accepts)
    expected : dict key -> shape tuple, the architecture's parameters
    model : str, named in error messages (e.g. ``"ResNet-50"``)

    Raises
    ------
    ValueError
        Listing missing and unexpected keys, or naming the first key whose
        shape differs (with both shapes).
    """
    keys = {k for k in state_dict if not k.endswith(IGNORED_SUFFIXES)}
    missing = sorted(set(expected) - keys)
    extra = sorted(keys - set(expected))
    if missing or extra:
        raise ValueError(
            f"state_dict: received missing keys {missing} and unexpected keys {extra}; expected the keys of {model}"
        )
    out = {}
    for key, shape in expected.items():
        arr = as_float64(state_dict[key], key, finite=True)
        if arr.shape != tuple(shape):
            raise ValueError(
                f"state_dict[{key!r}]: received shape {arr.shape}; expected {model}'s shape {tuple(shape)}"
            )
        out[key] = arr  # layers copy what they keep
    return out


def bn_shapes(prefix: str, channels: int) -> dict:
    """Expected BatchNorm2d entries ``{prefix}.weight/bias/running_mean/running_var``."""
    return {f"{prefix}.{k}": (channels,) for k in ("weight", "bias", "running_mean", "running_var")}


def random_params(shapes: dict, rng: np.random.Generator) -> dict:
    """Random parameters for a shape table (key -> shape), drawn in key order from ``rng``, with
    non-trivial BatchNorm statistics (unlike :func:`refsim.tools.inference.random_state_dict`, which
    initializes as torchvision does): He-normal weights ``N(0, 2 / fan_in)``, running variances and
    BatchNorm scales ``U(0.5, 1.5)``, running means and biases ``N(0, 0.1^2)``. For tests and
    benchmarks, where an identity BatchNorm would hide errors."""
    sd = {}
    for key, shape in shapes.items():
        if key.endswith("running_var"):
            sd[key] = rng.uniform(0.5, 1.5, shape)
        elif key.endswith(("running_mean", ".bias")):
            sd[key] = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BatchNorm gamma
            sd[key] = rng.uniform(0.5, 1.5, shape)
        else:
            sd[key] = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    return sd
