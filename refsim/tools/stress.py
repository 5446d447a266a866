r"""The stress test of Rasch et al. 2023 (their Fig. 4): one non-ideality at a time, raised until the
standard MVM error reaches a target, then the networks are evaluated at that level.

::

    base = stress_base()                                   # rasch2023_standard with every non-ideality off
    lv = find_level("out_noise", target=0.2)               # bisection on a random 512 x 512 layer
    lv.value, lv.mvm_error, lv.fields                      # 0.9.., 0.2.., {"device.out_noise_rel": ...}
    cfg = base.replace(**lv.fields)                        # the whole network at that level

**The standard MVM error** (docs/MODEL.md X6) of a config on a weight matrix ``W (n_in, n_out)``
and inputs ``X (B, n_in)``:

.. math:: \epsilon_M = \frac{\lVert \tilde Y - X W \rVert_F}{\lVert X W \rVert_F}

with :math:`\tilde Y` the crossbar's output. :func:`mvm_error` measures it on a 512 x 512
matrix of N(0, 1) weights and 256 input vectors uniform in [-1, 1] (one tile of the
rasch2023_standard arrays; the DAC's static range is the C1 percentile of the inputs).

**The base** (:func:`stress_base`): ``rasch2023_standard``'s tiles (512 x 512, column-wise
weight scaling, ``g_min = 0``, ``g_max = 25 uS``, a static input range per layer) with an ideal
DAC and ADC, no device model, no output noise and no IR drop: every knob of :data:`KNOBS` is
added to it alone. Continuous knobs are found by bisection in log space (common random numbers:
the same seed at every candidate, so the error grows monotonically with the knob); the bit
knobs are integers, and the bit count whose error is nearest the target is taken (its error
is reported: it is not the target).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from refsim.config import CrossbarConfig

__all__ = ["KNOBS", "Knob", "Level", "stress_base", "knob_fields", "mvm_error", "mvm_error_setup", "find_level",
           "bisect_log"]

#: Rasch et al.'s ADC bound: 10 output units, ``10 g_max v_read`` (A) with g_max = 25 uS, v_read = 0.2 V.
ADC_BOUND_A = 10 * 25e-6 * 0.2


@dataclass(frozen=True)
class Knob:
    """One non-ideality: the config fields it sets from one value, and where to search for it."""

    name: str
    label: str  # for tables and figures
    kind: str  # "io" (acts on inputs or outputs) or "weight" (acts on the stored conductances)
    integer: bool  # True: bit counts, searched by scanning ``lo..hi``
    lo: float  # search interval (bits: the scanned range)
    hi: float
    unit: str = ""

    def fields(self, value) -> dict:
        return knob_fields(self.name, value)


#: The non-idealities of the stress test, each added alone to :func:`stress_base`.
KNOBS = {k.name: k for k in (
    Knob("dac_bits", "DAC bits", "io", True, 2, 8, "bits"),
    Knob("adc_bits", "ADC bits (bound 10)", "io", True, 2, 8, "bits"),
    Knob("out_noise", "output noise", "io", False, 1e-3, 30.0, "g_max v_read"),
    Knob("prog_noise", "programming noise (PCM)", "weight", False, 1e-2, 1e3, "x PCM sigma"),
    Knob("read_noise", "read noise (PCM_READ)", "weight", False, 1e-3, 30.0, "sigma / sqrt(G g_max)"),
    Knob("drift", "drift time (PCM, compensated)", "weight", False, 1.0, 1e15, "s"),
    Knob("ir_drop", "IR drop (aihwkit heuristic)", "weight", False, 1e-2, 1e5, "x ir_drop_scale"),
    Knob("stuck", "stuck devices (half at 0, half at g_max)", "weight", False, 1e-5, 0.5, "fraction"),
)}


def knob_fields(name: str, value) -> dict:
    """The dotted config fields that put non-ideality ``name`` at ``value`` on :func:`stress_base`."""
    if name not in KNOBS:
        raise ValueError(f"knob: received {name!r}; expected one of {sorted(KNOBS)}")
    v = int(value) if KNOBS[name].integer else float(value)
    return {
        "dac_bits": lambda: {"dac.bits": v},
        "adc_bits": lambda: {"adc.bits": v, "adc.range_mode": "fixed", "adc.range_A": ADC_BOUND_A},
        "out_noise": lambda: {"device.out_noise_rel": v, "device.out_noise_reference": "unit_current"},
        "prog_noise": lambda: {"device.prog_model": "pcm_rasch2023", "device.pcm_prog_noise_scale": v},
        "read_noise": lambda: {"device.read_model": "sqrt_state", "device.read_sigma_rel": v},
        "drift": lambda: {"device.drift_model": "pcm_rasch2023", "device.drift_compensation": True,
                          "device.t_inference_s": v},
        "ir_drop": lambda: {"device.ir_drop_scale": v},
        "stuck": lambda: {"device.stuck_gmin_frac": v / 2, "device.stuck_gmax_frac": v / 2},
    }[name]()


def stress_base() -> CrossbarConfig:
    """rasch2023_standard's tiles and static input range with every non-ideality off (module docstring)."""
    from refsim import presets

    return presets.get("rasch2023_standard").replace(**{
        "dac.bits": None, "adc.bits": None, "adc.range_mode": "max", "adc.range_A": None,
        "device.prog_model": "none", "device.drift_model": "none", "device.drift_compensation": False,
        "device.t_inference_s": 0.0, "device.read_model": "none", "device.read_sigma_rel": 0.0,
        "device.pcm_read_noise_held": False, "device.out_noise_rel": 0.0, "device.ir_drop_scale": 0.0,
        "name": "rasch2023_standard+stress_base",
    })


def mvm_error_setup(n: int = 512, batch: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """The random layer of :func:`mvm_error`: ``W (n, n)`` N(0, 1), ``X (batch, n)`` U[-1, 1], and the
    static input range ``x_max`` (C1, percentile 99.9 of |X|)."""
    from refsim.tools.calibrate import profile_input_range

    gen = np.random.default_rng(seed)
    W = gen.normal(size=(n, n))
    X = gen.uniform(-1.0, 1.0, size=(batch, n))
    return W, X, profile_input_range([X], 99.9)


def mvm_error(config: CrossbarConfig, W: np.ndarray, X: np.ndarray, *, seed: int = 0) -> float:
    r"""(X6) :math:`\lVert \tilde Y - X W \rVert_F / \lVert X W \rVert_F` of ``config`` on ``W (n_in, n_out)``,
    ``X (B, n_in)``; the crossbar is programmed and read with ``default_rng(seed)``."""
    from refsim.crossbar import Crossbar

    if not isinstance(config, CrossbarConfig):
        raise TypeError(f"config: received {type(config).__name__}; expected a refsim.CrossbarConfig")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a coarse knob may leave a layer (nearly) dead: that is the point
        y = Crossbar(W, config, rng=np.random.default_rng(seed)).matvec(X)
    ref = X @ W
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


def bisect_log(f, lo: float, hi: float, target: float, *, rtol: float = 0.01, max_iter: int = 40):
    """The ``v`` in ``[lo, hi]`` (``0 < lo < hi``) where the increasing function ``f`` crosses ``target``,
    by bisection of ``log v``; stops when ``|f(v) / target - 1| <= rtol`` or the interval is below 0.1 %.
    Returns ``(v, f(v), evaluations)``; when ``f(hi) < target`` it returns ``(hi, f(hi), ...)`` and when
    ``f(lo) > target`` ``(lo, f(lo), ...)`` (the caller sees that the target was not reached)."""
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < lo < hi):
        raise ValueError(f"bisect_log: received lo={lo!r}, hi={hi!r}; expected 0 < lo < hi")
    f_lo, f_hi = f(lo), f(hi)
    n = 2
    if f_hi < target:
        return hi, f_hi, n
    if f_lo > target:
        return lo, f_lo, n
    a, b, best = math.log(lo), math.log(hi), (hi, f_hi)
    for _ in range(max_iter):
        mid = math.exp((a + b) / 2)
        e = f(mid)
        n += 1
        if abs(e - target) < abs(best[1] - target):
            best = (mid, e)
        if abs(e / target - 1) <= rtol or b - a < 1e-3:
            break
        a, b = (math.log(mid), b) if e < target else (a, math.log(mid))
    return best[0], best[1], n


@dataclass(frozen=True)
class Level:
    """A knob at the level where the standard MVM error (X6) is nearest the target."""

    knob: str
    value: float
    mvm_error: float
    target: float
    reached: bool  # False: the search interval's end did not reach the target (value = that end)
    evaluations: int
    fields: dict

    def to_dict(self) -> dict:
        return {"knob": self.knob, "value": self.value, "mvm_error": self.mvm_error, "target": self.target,
                "reached": self.reached, "evaluations": self.evaluations, "fields": self.fields,
                "kind": KNOBS[self.knob].kind, "label": KNOBS[self.knob].label}


def find_level(knob: str, target: float = 0.2, *, base: CrossbarConfig | None = None, n: int = 512,
               batch: int = 256, seed: int = 0, rtol: float = 0.01) -> Level:
    """The level of ``knob`` at which (X6) on :func:`mvm_error_setup` reaches ``target``.

    Continuous knobs: :func:`bisect_log` over the knob's interval. Bit knobs: every bit count
    of the interval is measured and the one with the error nearest ``target`` is returned.
    """
    if knob not in KNOBS:
        raise ValueError(f"knob: received {knob!r}; expected one of {sorted(KNOBS)}")
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not target > 0:
        raise ValueError(f"target: received {target!r}; expected a positive relative error, e.g. 0.2")
    k = KNOBS[knob]
    base = stress_base() if base is None else base
    W, X, x_max = mvm_error_setup(n, batch, seed)
    base = base.replace(**{"dac.range_mode": "fixed", "dac.x_max": x_max})

    def err(v):
        return mvm_error(base.replace(**knob_fields(knob, v)), W, X, seed=seed)

    if k.integer:
        errs = {b: err(b) for b in range(int(k.lo), int(k.hi) + 1)}
        b = min(errs, key=lambda b: abs(errs[b] - target))
        reached = min(errs.values()) <= target <= max(errs.values())
        return Level(knob, b, errs[b], float(target), reached, len(errs), knob_fields(knob, b))
    v, e, evals = bisect_log(err, float(k.lo), float(k.hi), float(target), rtol=rtol)
    return Level(knob, v, e, float(target), abs(e / target - 1) <= max(rtol, 0.05), evals, knob_fields(knob, v))
