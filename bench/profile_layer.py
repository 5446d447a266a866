"""Profile one layer of one case: ``python -m bench.profile_layer --case int8 --layer layer1.0.conv2``.

Builds the network of ``--case`` (only the layer's crossbar analog: every other layer is
digital, so the build is quick), records the layer's input with a digital forward, then runs
the layer's ``matvec`` ``--repeats`` times under cProfile and prints the top functions by
internal time, the matvec seconds and the plain matmul seconds of its passes.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

from bench.cases import CASES, build_inputs, build_network
from bench.passes import MatvecTimer, crossbars, pass_matmul_seconds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", required=True, choices=sorted(c for c, v in CASES.items() if v.config))
    ap.add_argument("--layer", default="layer1.0.conv2")
    ap.add_argument("--net", default="resnet50")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    cfg = CASES[args.case].config()
    sd, x = build_inputs(args.net, 0)
    net = build_network(args.net, sd, lambda name: cfg if name == args.layer else None, 0)
    recs = {}
    net(x, digital=True, records=recs)
    layer = net.layers()[args.layer]
    timer = MatvecTimer(net)
    layer.forward(recs[args.layer].input)  # warm-up
    timer.reset()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(args.repeats):
        layer.forward(recs[args.layer].input)
    prof.disable()
    wall = (time.perf_counter() - t0) / args.repeats
    pass_s, n = pass_matmul_seconds(timer.calls[:1])
    (_, xb), = crossbars(net)
    print(f"{args.case} {args.layer}: {xb!r}, batch {timer.calls[0][2]}; matvec {timer.seconds / args.repeats:.4f} s "
          f"(layer forward {wall:.4f} s); {n} passes, their plain matmuls {pass_s:.4f} s; "
          f"ratio {timer.seconds / args.repeats / pass_s:.1f}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
