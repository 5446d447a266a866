"""One benchmark case in a fresh process: ``python -m bench.worker --case NAME [--net resnet50] ...``.

Prints one line ``BENCH_RESULT {json}`` (see :func:`bench.suite.run_case`). Timing protocol:

* ``build_s``: building the network (programming every crossbar) from the state dict;
* ``first_s``: the first forward (first image, cold caches);
* ``forward_s`` and ``numpy_s``: best of interleaved rounds (plain NumPy forward of the same
  network, ``net(x, digital=True)``, i.e. im2col + ``x @ W`` with the same weights, then the
  analog forward), until ``--repeats`` rounds or ``--budget-s`` seconds; so both see the same load;
* ``matvec_s``: time inside the crossbars' ``matvec`` in the best analog forward, and
  ``pass_matmul_s``: the plain matmul time of all its analog passes (:mod:`bench.passes`);
* ``peak_rss_GB``: ``ru_maxrss`` of this process (it also holds the state dict and the image);
  ``inputs_rss_GB``: the resident memory after building those, before the network.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

from bench.cases import CASES, PER_CELL_LAYERS, build_inputs, build_network, wire_config
from bench.passes import MatvecTimer, crossbars, network_passes, pass_matmul_seconds


def rss_GB() -> float:
    """Current resident set size (GB), from /proc/self/status (NaN where unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return float("nan")


def peak_rss_GB() -> float:
    """Peak resident set size of this process (GB); ru_maxrss is KiB on Linux, bytes on macOS."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1e9 if sys.platform == "darwin" else r * 1024 / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _timed_cpu(fn):
    """Wall seconds and this process's CPU seconds of ``fn()`` (with one BLAS thread, the CPU
    seconds are what the wall time would be on an otherwise idle core)."""
    c0 = time.process_time()
    out, wall = _timed(fn)
    return out, wall, time.process_time() - c0


def interleaved(analog, digital, timer, repeats: int, budget_s: float) -> dict:
    """Best analog and digital forward times over interleaved rounds, and the calls of the best analog one."""
    best_a = best_d = np.inf
    best_calls, rounds, t_start, cache = [], 0, time.perf_counter(), {}
    while rounds < repeats and (rounds == 0 or time.perf_counter() - t_start < budget_s):
        _, t_d = _timed(digital)
        if timer is not None:
            timer.reset()
        _, t_a = _timed(analog)
        best_d = min(best_d, t_d)
        if timer is not None:  # the plain matmuls of this round's passes, right after them
            pass_matmul_seconds(timer.calls, repeats=1, cache=cache)
        if t_a < best_a:
            best_a, best_calls = t_a, list(timer.calls) if timer is not None else []
        rounds += 1
    return {"forward_s": best_a, "numpy_s": best_d, "rounds": rounds, "calls": best_calls, "cache": cache}


def run_refsim(case, args, sd, x) -> dict:
    cfg = case.config()
    net, build_s = _timed(lambda: build_network(args.net, sd, cfg, args.seed))
    sd.clear()
    timer = MatvecTimer(net)
    y, first_s = _timed(lambda: net(x))
    r = interleaved(lambda: net(x), lambda: net(x, digital=True), timer, args.repeats, args.budget_s)
    pass_s, _ = pass_matmul_seconds(r["calls"], repeats=2, cache=r["cache"])
    out = {
        "build_s": build_s, "first_s": first_s, "forward_s": r["forward_s"], "numpy_s": r["numpy_s"],
        "rounds": r["rounds"], "matvec_s": sum(c[3] for c in r["calls"]), "pass_matmul_s": pass_s,
        "n_passes": network_passes(net), "n_crossbars": len(crossbars(net)), "n_arrays": int(net.n_arrays),
        "read_sampling": sorted({xb.read_sampling for _, xb in crossbars(net)}),
        "logits": y.ravel().tolist(),
    }
    if case.kind == "wire":
        out.update(geff_extrapolation(net))
    return out


def geff_extrapolation(net) -> dict:
    """Exact G_eff (wire_config's resistances) timed once per distinct array shape, summed over all arrays."""
    from refsim.wires.parasitics import effective_conductance

    w = wire_config().wire
    shapes: dict = {}
    for _, xb in crossbars(net):
        cond = xb.conductances()
        for key, g in cond.items():
            if key.count(".") == 2:  # t{tile}.s{k}.{device}: the conductances at inference time
                entry = shapes.setdefault(g.shape, [0, g])
                entry[0] += 1
    per_shape = []
    for shape, (count, g) in sorted(shapes.items()):
        _, sec, cpu = _timed_cpu(lambda: effective_conductance(g, w.r_row_ohm, w.r_col_ohm,
                                                               r_driver_ohm=w.r_driver_ohm, r_sense_ohm=w.r_sense_ohm))
        per_shape.append({"shape": list(shape), "count": count, "seconds": sec, "cpu_s": cpu})
    return {"geff_total_s": sum(p["count"] * p["seconds"] for p in per_shape),
            "geff_total_cpu_s": sum(p["count"] * p["cpu_s"] for p in per_shape), "geff_shapes": per_shape,
            "geff_arrays": sum(p["count"] for p in per_shape)}


def run_per_cell(case, args, sd, x) -> dict:
    """Exact per-cell read noise: build all, time the analog forward of ``PER_CELL_LAYERS`` on their
    recorded inputs, extrapolate the other layers by multiply-accumulates (B * n_in * n_out)."""
    cfg = case.config()
    net, build_s = _timed(lambda: build_network(args.net, sd, cfg, args.seed))
    sd.clear()
    timer = MatvecTimer(net)
    recs = {}
    _, numpy_s = _timed(lambda: net(x, digital=True, records=recs))
    macs = {name: recs[name].output.size * xb.shape[0] for name, xb in crossbars(net)}
    layers = net.layers()
    sub = [n for n in PER_CELL_LAYERS if n in layers] or list(layers)[:2]
    timer.reset()
    per_layer = []
    for name in sub:
        n0 = len(timer.calls)
        _, sec, cpu = _timed_cpu(lambda: layers[name].forward(recs[name].input))
        per_layer.append({"layer": name, "seconds": sec, "cpu_s": cpu, "matvec_s": sum(c[3] for c in timer.calls[n0:]),
                          "macs": macs[name]})
    sub_matvec = sum(p["matvec_s"] for p in per_layer)
    sub_macs = sum(p["macs"] for p in per_layer)
    all_macs = sum(macs.values())
    pass_s, _ = pass_matmul_seconds(timer.calls)
    matvec_est = sub_matvec / sub_macs * all_macs
    return {
        "build_s": build_s, "first_s": float("nan"), "numpy_s": numpy_s, "rounds": 0,
        "forward_s": numpy_s + matvec_est,  # extrapolated (digital forward + analog matvecs)
        "extrapolated": True, "per_layer": per_layer, "measured_mac_fraction": sub_macs / all_macs,
        "matvec_s": sub_matvec, "pass_matmul_s": pass_s,
        "n_passes": network_passes(net), "n_crossbars": len(crossbars(net)), "n_arrays": int(net.n_arrays),
        "read_sampling": sorted({xb.read_sampling for _, xb in crossbars(net)}),
    }


def run_numpy(case, args, sd, x) -> dict:
    net, build_s = _timed(lambda: build_network(args.net, sd, None, args.seed))
    sd.clear()
    y, first_s = _timed(lambda: net(x))
    r = interleaved(lambda: net(x), lambda: net(x), None, args.repeats, args.budget_s)
    best = min(r["forward_s"], r["numpy_s"])  # the same forward, timed twice per round
    return {"build_s": build_s, "first_s": first_s, "forward_s": best, "numpy_s": best,
            "rounds": r["rounds"], "n_passes": 0, "logits": y.ravel().tolist()}


def run_torch(case, args, sd, x) -> dict:
    try:
        import torch
    except ImportError:
        return {"skipped": "torch is not installed"}
    from bench.cases import NETWORKS
    from bench.torch_ref import torch_resnet

    if NETWORKS[args.net][0] != "resnet":
        return {"skipped": f"no PyTorch model of {args.net}"}

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, case.dtype)
    net = build_network(args.net, sd, None, args.seed)
    model, build_s = _timed(lambda: torch_resnet(sd, dtype))
    sd.clear()
    xt = torch.as_tensor(x, dtype=dtype)

    def fwd():
        with torch.no_grad():
            return model(xt)

    y, first_s = _timed(fwd)
    r = interleaved(fwd, lambda: net(x), None, args.repeats, args.budget_s)
    y_np = net(x)
    y_t = y.double().numpy()
    return {"build_s": build_s, "first_s": first_s, "forward_s": r["forward_s"], "numpy_s": r["numpy_s"],
            "rounds": r["rounds"], "n_passes": 0,
            "max_rel_diff_vs_numpy": float(np.max(np.abs(y_t - y_np)) / np.max(np.abs(y_np)))}


RUNNERS = {"refsim": run_refsim, "wire": run_refsim, "per_cell": run_per_cell, "numpy": run_numpy, "torch": run_torch}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="one benchmark case (used by python -m bench)")
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--net", default="resnet50")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    case = CASES[args.case]
    (sd, x), inputs_s = _timed(lambda: build_inputs(args.net, args.seed, args.weights))
    inputs_rss = rss_GB()
    res = RUNNERS[case.kind](case, args, sd, x)
    res.update(case=case.name, inputs_s=inputs_s, inputs_rss_GB=inputs_rss, peak_rss_GB=peak_rss_GB())
    print("BENCH_RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
