"""aihwkit's own hardware-aware training step of the CIFAR ResNet-20, against torch's FP step, on the CPU.

Run under a Python that has aihwkit (1.1.0; built for the CPU) and torch:

    python -m bench.aihwkit_train_step [--rounds 3] [--batch 128] [--threads 1]

(``python -m bench.bench_train --aihwkit-python PY`` runs it and puts its numbers beside refsim's).
Prints one JSON line: the CPU seconds (``time.process_time``) of each round for ``torch FP`` (the network
of :func:`bench.bench_train.torch_resnet20`, ``torch.optim.SGD``) and ``aihwkit HWA`` (the same network
converted by ``aihwkit.nn.conversion.convert_to_analog`` with ``StandardHWATrainingPreset``, the preset
of Rasch et al. 2023: 8-bit DAC/ADC, output bound 10, output noise 0.04, PCM_READ short-term weight
noise 0.0175, IR drop 1, learned input ranges, per-column learned output scales, weight clip 1, 512-row
tiles; ``AnalogSGD``), interleaved round by round in this one process. The injected programming noise
of the recipe (``WeightModifierType.PCM_NOISE``) is not implemented in aihwkit's CPU build; the step
uses ``ADD_NORMAL`` (a Gaussian per weight, once per mini-batch), which costs the same weight-sized draw.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

if __name__ == "__main__" and "--threads" in sys.argv:  # before torch starts its thread pools
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _n

import time  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.aihwkit_train_step", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import aihwkit
    import torch
    from aihwkit.nn.conversion import convert_to_analog
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.parameters import WeightModifierParameter
    from aihwkit.simulator.parameters.enums import WeightModifierType
    from aihwkit.simulator.presets import StandardHWATrainingPreset

    from bench.bench_train import torch_resnet20, torch_stepper

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fp = torch_resnet20()
    cfg = StandardHWATrainingPreset()
    cfg.modifier = WeightModifierParameter(type=WeightModifierType.ADD_NORMAL, std_dev=0.02)
    an = convert_to_analog(torch_resnet20(), cfg)
    opt_an = AnalogSGD(an.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    opt_an.regroup_param_groups(an)
    steppers = {"torch FP": torch_stepper(fp, torch.optim.SGD(fp.parameters(), lr=1e-4, momentum=0.9,
                                                              weight_decay=5e-4), args.batch),
                "aihwkit HWA": torch_stepper(an, opt_an, args.batch)}
    for s in steppers.values():  # warm-up (input ranges initialised from data, allocations)
        s()
    times = {k: [] for k in steppers}
    for r in range(args.rounds):
        for name, s in steppers.items():
            c0 = time.process_time()
            s()
            times[name].append(time.process_time() - c0)
        print(f"aihwkit round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    print(json.dumps({"times": times, "aihwkit": aihwkit.__version__, "torch": torch.__version__,
                      "preset": "StandardHWATrainingPreset + ADD_NORMAL modifier"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
