"""One training step of the CIFAR ResNet-20 at batch 128, float32: refsim FP, refsim HWA, PyTorch CPU.

Run:  python -m bench.bench_train [--rounds 5] [--batch 128] [--threads 1] [--out bench/results_train.md]
                                  [--no-write]

A step is forward, softmax cross-entropy, backward and an SGD-with-momentum update (PyTorch:
``zero_grad``, forward, ``cross_entropy``, ``backward``, ``SGD(momentum=0.9, weight_decay=5e-4).step``;
refsim: :class:`refsim.train.net.TrainNet` and the update of :mod:`refsim.train.loop`). HWA is the
forward of ``refsim train`` with ``rasch2023_standard`` (N1-N9: DAC, ADC, IR drop, short-term and
output noise, injected programming + 20 s read noise at eta = 1, drawn per step). "refsim FP + HWA
products" is the FP step whose layers also form, and discard, the three products that the HWA forward
adds on the same inputs (the IR drop's two sums and the short-term noise's variance): the matmul floor
of an exact HWA step, measured rather than argued. The four run in
one process on the same cores (``--threads`` BLAS/OpenMP threads for NumPy and torch alike),
interleaved round by round, so the machine's load falls on all four alike; the report gives CPU
seconds (``time.process_time``: on a shared machine it leaves out the time other processes hold
the cores), best and median over the rounds, and the ratios of the same run. Peak memory: the
resident set of a fresh process that runs HWA steps only (``--worker memory``). Writes
``bench/results_train.md`` (``--out``).
"""
from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__" and "--threads" in sys.argv:  # before NumPy starts its BLAS
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_v] = _n

import datetime  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("results_train.md")
NO_PRODUCTS = "refsim HWA without IR drop and short-term noise"
_DATA = [Path(os.environ["REFSIM_DATA"])] if os.environ.get("REFSIM_DATA") else []
_DATA += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
WEIGHTS = next((d / "weights" / "resnet20-12fca82f.th" for d in _DATA
                if (d / "weights" / "resnet20-12fca82f.th").exists()), _DATA[0] / "weights" / "resnet20-12fca82f.th")


def _state_dict():
    from refsim.nn.cifar_resnet import cifar_resnet_param_shapes
    from refsim.nn.statedict import random_params, strip_prefix

    if WEIGHTS.exists():
        from refsim.io import load_state_dict
        return strip_prefix(load_state_dict(str(WEIGHTS)), "module."), str(WEIGHTS.name)
    return random_params(cifar_resnet_param_shapes(20), np.random.default_rng(0)), "random (He-normal, seed 0)"


def _with_hwa_products(layer, cols, w_used, rng, nonneg=None, tiles=None):
    """An FP layer's product ``cols @ w`` and, discarded, the three more that the HWA forward of
    rasch2023_standard forms on the same inputs: ``cols @ |w|`` and ``cols @ (w p)`` (the IR drop's
    sums, O3) and ``cols^2 @ |w|`` (the short-term noise's variance, R5); nothing else."""
    w = tiles[0].w_cat
    zz = cols @ np.concatenate([w, np.abs(w), w * np.float32(0.5)], axis=1)
    np.square(cols) @ np.abs(w)
    return np.ascontiguousarray(zz[:, :w.shape[1]])


def _refsim_stepper(sd, hwa, batch: int, products_only: bool = False):
    """A refsim training step: ``hwa`` False (FP), True (rasch2023_standard's HWA forward) or a dict of
    :class:`refsim.train.hwa.HWAConfig` options on it (e.g. a non-ideality switched off)."""
    from refsim import presets
    from refsim.streams import keyed_rng
    from refsim.train.functional_grad import softmax_cross_entropy_backward, softmax_cross_entropy_forward
    from refsim.train.hwa import HWAConfig
    from refsim.train.loop import TrainOptions, _sgd
    from refsim.train.net import TrainNet

    opts_hwa = hwa if isinstance(hwa, dict) else {}
    net = TrainNet(sd, HWAConfig(presets.get("rasch2023_standard"), **opts_hwa) if hwa is not False else None)
    if products_only:  # the matmul floor of an exact HWA step: the FP step plus the HWA forward's products
        for layer in net.layers.values():
            layer.mvm_forward = functools.partial(_with_hwa_products, layer)
    opts = TrainOptions(lr=1e-4, momentum=0.9, weight_decay=5e-4)
    params, mom, state = net.params(), {}, {"k": 0}
    gen = np.random.default_rng(0)
    x = gen.normal(size=(batch, 32, 32, 3)).astype(np.float32)
    y = gen.integers(0, 10, batch)

    def step():
        k = state["k"]
        rng = (lambda name: keyed_rng(0, ("bench", k, name))) if hwa is not False else None
        # alpha is initialised from data on the first step only (refsim train: the first 10 of ~400)
        logits, cache = net.forward(x, train=True, eta=1.0, rng=rng, alpha_init=k == 0)
        loss, c = softmax_cross_entropy_forward(logits, y)
        grads = net.backward(softmax_cross_entropy_backward(1.0, c), cache)
        net.update_running_stats(cache)
        del cache
        _sgd(net, params, grads, mom, opts.lr, opts)
        state["k"] = k + 1
        return loss
    return step


def torch_resnet20():
    """The CIFAR ResNet-20 (option A shortcuts) as a ``torch.nn.Module`` in training mode (random init):
    the network of the torch and aihwkit columns (:mod:`bench.aihwkit_train_step` imports it)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, i, o, stride):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
            self.conv2, self.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
            self.option_a, self.pad = stride != 1 or i != o, o // 4

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.option_a else x
            return F.relu(out + sc)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
            blocks, i = [], 16
            for k, o in enumerate((16, 32, 64)):
                for j in range(3):
                    blocks.append(Block(i, o, 2 if k > 0 and j == 0 else 1))
                    i = o
            self.layers, self.linear = nn.Sequential(*blocks), nn.Linear(64, 10)

        def forward(self, x):
            return self.linear(self.layers(F.relu(self.bn1(self.conv1(x)))).mean((2, 3)))

    return Net().train()


def torch_stepper(net, opt, batch: int):
    """One step of ``net`` with optimizer ``opt`` on a fixed random batch: ``zero_grad``, forward,
    ``cross_entropy``, ``backward``, ``opt.step()``; returns the loss."""
    import torch
    import torch.nn.functional as F

    gen = np.random.default_rng(0)
    x = torch.from_numpy(gen.normal(size=(batch, 3, 32, 32)).astype(np.float32))
    y = torch.from_numpy(gen.integers(0, 10, batch))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return float(loss.detach())
    return step


def _torch_stepper(sd, batch: int, threads: int):
    import torch

    torch.set_num_threads(threads)
    net = torch_resnet20()
    return torch_stepper(net, torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4), batch)


def _memory_worker(batch: int, steps: int) -> None:
    sd, _ = _state_dict()
    step = _refsim_stepper(sd, True, batch)
    for _ in range(steps):
        step()
    print(json.dumps({"maxrss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_train", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads of NumPy and torch (default: 1)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--aihwkit-python", default=os.environ.get("AIHWKIT_PYTHON"),
                    help="a Python with aihwkit and torch: also time aihwkit's own HWA step (bench/aihwkit_train_step.py) "
                         "against its torch FP step (default: $AIHWKIT_PYTHON; none: skipped)")
    ap.add_argument("--aihwkit-rounds", type=int, default=3, help="rounds of the aihwkit run (default: 3; a step takes "
                    "seconds)")
    ap.add_argument("--worker", choices=("memory",), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "memory":
        _memory_worker(args.batch, 2)
        return 0
    sd, weights = _state_dict()
    steppers = {"refsim FP": _refsim_stepper(sd, False, args.batch), "refsim HWA": _refsim_stepper(sd, True, args.batch),
                "refsim FP + HWA products": _refsim_stepper(sd, False, args.batch, products_only=True),
                NO_PRODUCTS: _refsim_stepper(sd, {"ir_drop": False, "short_term_noise": False}, args.batch)}
    try:
        steppers["torch"] = _torch_stepper(sd, args.batch, args.threads)
    except ImportError:
        print("torch not installed: the torch column is skipped", file=sys.stderr)
    for s in steppers.values():  # warm-up (allocations, alpha initialisation)
        s()
    times = {k: [] for k in steppers}
    walls = {k: [] for k in steppers}
    for r in range(args.rounds):
        for name, s in steppers.items():
            w0, c0 = time.perf_counter(), time.process_time()
            s()
            times[name].append(time.process_time() - c0)
            walls[name].append(time.perf_counter() - w0)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()),
              file=sys.stderr)
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    mem = json.loads(subprocess.run([sys.executable, "-m", "bench.bench_train", "--worker", "memory", "--batch",
                                     str(args.batch)], cwd=REPO, env=env, capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])["maxrss_MiB"]
    ak = _aihwkit_run(args) if args.aihwkit_python else None
    best = {k: min(v) for k, v in times.items()}
    med = {k: float(np.median(v)) for k, v in times.items()}
    lines = _report(args, weights, best, med, walls, mem, ak)
    print("\n".join(lines))
    if not args.no_write:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


def _aihwkit_run(args) -> dict:
    """bench/aihwkit_train_step.py under ``--aihwkit-python``: its per-round CPU seconds and versions."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS=str(args.threads),
               OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    r = subprocess.run([args.aihwkit_python, "-m", "bench.aihwkit_train_step", "--rounds", str(args.aihwkit_rounds),
                        "--batch", str(args.batch), "--threads", str(args.threads)], cwd=REPO, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"--aihwkit-python {args.aihwkit_python}: bench.aihwkit_train_step failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _report(args, weights, best, med, walls, mem, ak=None) -> list:
    cmd = "python -m bench.bench_train" + "".join(
        f" --{k} {v}" for k, v in (("rounds", args.rounds), ("batch", args.batch), ("threads", args.threads)))
    if ak is not None:
        cmd += f" --aihwkit-python PY --aihwkit-rounds {args.aihwkit_rounds}"
    import numpy
    tv = ""
    try:
        import torch
        tv = f", torch {torch.__version__}"
    except ImportError:
        pass
    out = ["# Training step of the CIFAR ResNet-20: refsim FP and HWA against PyTorch's CPU step", "",
           f"Command: `{cmd}`  ",
           f"Date: {datetime.datetime.now().isoformat(timespec='seconds')}  ",
           f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, NumPy "
           f"{numpy.__version__}{tv}; load average {tuple(round(x, 2) for x in os.getloadavg())}; "
           f"{args.threads} thread(s) for NumPy's BLAS and torch alike", "",
           f"Definitions: bench/bench_train.py. One step = forward, cross-entropy, backward, SGD with momentum, "
           f"batch {args.batch}, float32, weights {weights}. HWA = rasch2023_standard's forward (N1-N9, noise "
           "redrawn every step, eta = 1). CPU seconds (`time.process_time`), best / median of "
           f"{args.rounds} interleaved rounds, all in one process on the same cores.", "",
           "| step | best CPU (s) | median CPU (s) | median wall (s) |", "|---|---:|---:|---:|"]
    for k in best:
        out.append(f"| {k} | {best[k]:.3f} | {med[k]:.3f} | {float(np.median(walls[k])):.3f} |")
    out.append("")
    if "torch" in best:
        r = med["refsim FP"] / med["torch"]
        out.append(f"- **refsim FP / torch** (median CPU): **{r:.2f}** (target <= 3: {'met' if r <= 3 else 'not met'})")
    r = med["refsim HWA"] / med["refsim FP"]
    out.append(f"- **refsim HWA / refsim FP** (median CPU): **{r:.2f}** (target <= 1.5: "
               f"{'met' if r <= 1.5 else 'not met'})")
    r = med["refsim FP + HWA products"] / med["refsim FP"]
    out.append(f"- matmul floor of an exact HWA step, **(refsim FP + HWA products) / refsim FP** (median CPU): "
               f"**{r:.2f}** (the FP step plus the three products per layer that the HWA forward adds, "
               "nothing else: an HWA step that computes rasch2023_standard's crossbar cannot be cheaper)")
    r = med[NO_PRODUCTS] / med["refsim FP"]
    out.append(f"- **{NO_PRODUCTS} / refsim FP** (median CPU): **{r:.2f}** (the HWA forward with the two "
               "non-idealities that need per-vector products switched off, `HWAConfig(ir_drop=False, "
               "short_term_noise=False)`: DAC, ADC, output noise, injected programming + 20 s read noise, "
               "learned alpha and scales stay)")
    if ak is not None:
        am = {k: float(np.median(v)) for k, v in ak["times"].items()}
        ra = am["aihwkit HWA"] / am["torch FP"]
        out.append(f"- **aihwkit's own HWA step / its torch FP step** (median CPU of {args.aihwkit_rounds} interleaved "
                   f"rounds in one process; aihwkit {ak['aihwkit']} built for the CPU, torch {ak['torch']}, "
                   f"{ak['preset']}, `bench/aihwkit_train_step.py` via `--aihwkit-python`): **{ra:.1f}** "
                   f"({am['aihwkit HWA']:.2f} s against {am['torch FP']:.3f} s)")
        if "torch" in med:
            rr = med["refsim HWA"] / med["torch"]
            out.append(f"- refsim HWA / torch FP in this run: {rr:.2f}; against aihwkit's HWA step (each over the "
                       f"torch FP step of its own run): **{rr / ra:.2f}** of aihwkit's time")
    n_steps = 10 * -(-5170 // args.batch)
    est = n_steps * med["refsim HWA"] / 60
    out.append(f"- 10 HWA epochs on the 5,170 training images = {n_steps} steps: about **{est:.0f} min** of CPU "
               f"at {args.threads} thread(s) (target <= 30 min)")
    out.append(f"- Peak resident memory of a process running HWA steps at batch {args.batch}: **{mem:.0f} MiB** "
               "(target <= 4096 MiB)")
    return out


if __name__ == "__main__":
    sys.exit(main())
