r"""Why the quantized MobileNetV2 is at chance under rasch2023_standard: the isolation of
docs/results/families/README.md, section "Why MobileNetV2 fails".

Run from the repository root (about 3 minutes on one core; one programming seed, --seed)::

    REFSIM_DATA=/work/shared/data PYTHONPATH=$PWD python docs/results/families/mobilenet_isolation.py \
        --out docs/results/families/mobilenet_isolation.jsonl

It evaluates the first N of the 24 shared ImageNet samples (default 4; static input ranges
calibrated, as in the study, on samples 6..11, which are never evaluated) and writes one JSON line
per measurement and Markdown tables on stdout:

A. every non-ideality of rasch2023_standard alone, at the preset's own value, on the stress base
   (refsim.tools.stress.stress_base): samples correct, relative error of the logits against the
   digital (integer TFLite) network, and the per-layer errors (docs/MODEL.md L18) of the
   depthwise and the other layers;
B. the same with only one kind of layer on crossbars (first conv, depthwise, expand, project,
   head), the others digital;
C. per layer, each on the digital network's own input (so errors do not accumulate): L18
   (relative to the accumulator sum x W), the error relative to the accumulator plus bias (what
   the requantization sees), the share of the error that is one constant per output channel,
   and the mean / rms of the inputs x = q - z;
D. the same network with every layer's inputs driven centred, x - c (c the per-channel mean of
   the calibration inputs), the term sum_i c_i W_ij added digitally from the exact weights (an
   identity in exact arithmetic; not a refsim option, a diagnostic);
E. the global drift compensation factors (T3) of the 9 x 1 depthwise arrays against those of
   the other tiles (drift alone at 1 h, no programming noise);
F. the column currents of each kind of layer in unit currents (g_max v_read), against the
   output noise sigma 0.04 and the ADC step 10/127 of the preset;
G. the accumulated error of the residual stream (every project and ADD output) with the whole
   network analog under programming noise alone.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np

from refsim import presets
from refsim.nn import layer_report
from refsim.tools import family_models as fm
from refsim.tools.calibrate import LayerConfigs, derived_name, profile_input_range
from refsim.tools.inference import build_model, preprocess_image
from refsim.tools.preprocess import load_image
from refsim.tools.stress import stress_base

T_1H = presets.RASCH2023_TIMES_S["1h"]
#: each non-ideality of rasch2023_standard alone, at the preset's value, on the stress base
SINGLE = {
    "none (stress base)": {},
    "DAC 8 bits": {"dac.bits": 8},
    "ADC 8 bits, bound 10": {"adc.bits": 8, "adc.range_mode": "fixed", "adc.range_A": 5e-05},
    "output noise 0.04": {"device.out_noise_rel": 0.04},
    "PCM_READ 0.0175": {"device.read_model": "sqrt_state", "device.read_sigma_rel": 0.0175},
    "IR drop x1": {"device.ir_drop_scale": 1.0},
    "prog. noise (PCM)": {"device.prog_model": "pcm_rasch2023"},
    "drift 1 h, no compensation": {"device.drift_model": "pcm_rasch2023", "device.t_inference_s": T_1H},
    "drift 1 h, compensated": {"device.drift_model": "pcm_rasch2023", "device.t_inference_s": T_1H,
                               "device.drift_compensation": True},
    "drift 1 h, compensated, 1/f held": {"device.drift_model": "pcm_rasch2023", "device.t_inference_s": T_1H,
                                         "device.drift_compensation": True, "device.pcm_read_noise_held": True},
}
KINDS = ("first", "depthwise", "expand", "project", "head")


def kind(name: str) -> str:
    """The kind of a MobileNetV2 layer from its TFLite name."""
    tail = name.rsplit("/", 1)[-1]
    if tail == "Conv":
        return "first"
    if tail in ("depthwise", "expand", "project"):
        return tail
    return "head"  # Conv_1 and Logits/Conv2d_1c_1x1


def config(label: str):
    return presets.get("rasch2023_standard") if label == "rasch2023_standard (1 h)" else \
        stress_base().replace(**SINGLE[label])


class Study:
    def __init__(self, n: int, seed: int, root=None):
        root = fm.data_root(root)
        self.weights = str(root / "mobilenet" / "mobilenet_v2_1.0_224_quant.tflite")
        files, labels = fm._imagenet_samples(root, 12)
        self.m0 = build_model("mobilenet_v2", self.weights, None)
        x = np.stack([preprocess_image(load_image(f), self.m0) for f in files])
        self.x, self.labels, self.seed = x[:n], labels[:n], seed
        self.cal = x[6:12]
        self.ranges = fm.dac_ranges(self.m0.net, self.cal)
        self.y_digital = self.m0.net(self.x, digital=True)

    def model(self, cfg, ranges=None):
        return build_model("mobilenet_v2", self.weights, fm.with_ranges(cfg, self.ranges if ranges is None else ranges),
                           seed=self.seed)

    def score(self, y) -> dict:
        return {"correct": int(np.sum(np.argmax(y, 1) == self.labels)), "n": len(self.labels),
                "logit_rel_error": float(np.linalg.norm(y - self.y_digital) / np.linalg.norm(self.y_digital))}

    # A ---------------------------------------------------------------------------------------
    def single(self, label: str) -> dict:
        y, rows = layer_report(self.model(config(label)).net, self.x)
        dw = [r.rel_error for r in rows if kind(r.name) == "depthwise"]
        ot = [r.rel_error for r in rows if kind(r.name) != "depthwise"]
        return {"table": "A", "condition": label, **self.score(y), "dw_median": float(np.median(dw)),
                "dw_max": float(np.max(dw)), "other_median": float(np.median(ot)), "other_max": float(np.max(ot))}

    # B ---------------------------------------------------------------------------------------
    def only(self, label: str, kinds: tuple) -> dict:
        r = {k: v for k, v in self.ranges.items() if kind(k) in kinds}
        y = self.model(config(label), r).net(self.x)
        return {"table": "B", "condition": label, "analog": "+".join(kinds), "n_layers": len(r), **self.score(y)}

    # C ---------------------------------------------------------------------------------------
    def per_layer(self, label: str, net=None, table: str = "C") -> list:
        """Each conv on the digital network's input: accumulator errors, DC share, input centring."""
        net = self.model(config(label)).net if net is None else net
        vals = self.m0.net.run(self.x, digital=True)
        out = []
        for op, step in net.steps:
            if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            q = vals[op.inputs[0]]
            x = q.astype(np.float64) - step.zx
            (t, bt), (l, br) = step.pads
            xp = np.pad(x[:, :, :x.shape[2] + min(bt, 0), :x.shape[3] + min(br, 0)],
                        ((0, 0), (0, 0), (t, max(bt, 0)), (l, max(br, 0))))
            acc_a, acc_d = step.layer.forward(xp), step.layer.forward(xp, digital=True)
            e, pre = acc_a - acc_d, acc_d + step.bias[None, :, None, None]
            dc = np.broadcast_to(e.mean(axis=(0, 2, 3), keepdims=True), e.shape)
            out.append({"table": table, "condition": label, "layer": step.layer.name, "kind": kind(step.layer.name),
                        "l18": float(np.linalg.norm(e) / np.linalg.norm(acc_d)),
                        "rel_to_acc_plus_bias": float(np.linalg.norm(e) / np.linalg.norm(pre)),
                        "acc_over_acc_plus_bias": float(np.linalg.norm(acc_d) / np.linalg.norm(pre)),
                        "dc_share": float(np.sum(dc**2) / np.sum(e**2)),
                        "x_mean_over_rms": float(x.mean() / np.sqrt(np.mean(x**2)))})
        return out

    # D and G ---------------------------------------------------------------------------------
    def variant(self, label: str, *, centre: bool, layer_wide: bool):
        """The network under ``label`` with (``centre``) every layer's inputs driven as x - c, c the
        per-channel mean of the calibration inputs, sum_i c_i W_ij added from the exact weights, the DAC
        range the 99.9th percentile of |x - c|; and/or (``layer_wide``) the depthwise arrays not
        drift-compensated one by one but scaled by the median factor of the model's other tiles."""
        cfg = config(label)
        cent, ranges = {}, dict(self.ranges)
        if centre:
            rec: dict = {}
            self.m0.net.forward(self.cal, digital=True, records=rec)
            for name, r in rec.items():
                xin = np.asarray(r.input)
                cent[name] = xin.mean(axis=(0, 2, 3))
                ranges[name] = profile_input_range([xin - cent[name][None, :, None, None]], 99.9)
        factor, dw_cfg = 1.0, cfg
        if layer_wide and cfg.device.drift_compensation:
            factor = float(np.median([t.drift_scale for name, layer in self.model(cfg).net.layers().items()
                                      if kind(name) != "depthwise" for mm in layer.matmuls for t in mm.tiles]))
            dw_cfg = cfg.replace(**{"device.drift_compensation": False})
        layer_cfg = {n: (dw_cfg if kind(n) == "depthwise" else cfg).replace(**{
            "dac.range_mode": "fixed", "dac.x_max": float(v), "name": derived_name(cfg.name),
            "calibrated": tuple(sorted({*cfg.calibrated, "dac"}))})  # as fm.with_ranges: the check reads the field
            for n, v in ranges.items()}
        net = build_model("mobilenet_v2", self.weights, LayerConfigs(layer_cfg, default=None), seed=self.seed).net
        for name, layer in net.layers().items():
            w = layer.weight  # (C_out, C_in / G, kh, kw)
            c = cent.get(name, np.zeros(w.shape[1] * layer.groups))
            corr = np.einsum("oikl,i->o", w, c) if layer.groups == 1 else w.sum(axis=(1, 2, 3)) * c
            g = factor if kind(name) == "depthwise" else 1.0

            def fwd(x, *, digital=False, records=None, f=layer.forward, c=c, corr=corr, g=g):
                if digital:
                    return f(x, digital=True, records=records)
                return g * f(x - c[None, :, None, None], records=records) + corr[None, :, None, None]
            layer.forward = fwd
        return net, factor

    def variant_row(self, label: str, *, centre: bool, layer_wide: bool) -> dict:
        net, factor = self.variant(label, centre=centre, layer_wide=layer_wide)
        dw = [r["l18"] for r in self.per_layer(label, net) if r["kind"] == "depthwise"]
        what = " and ".join(w for w, on in (("inputs centred per channel", centre),
                                             ("depthwise compensated layer-wide", layer_wide)) if on)
        return {"table": "D", "condition": label, "variant": what, "factor": factor, "dw_median": float(np.median(dw)),
                "dw_max": float(np.max(dw)), **self.score(net(self.x))}

    # E ---------------------------------------------------------------------------------------
    def drift_factors(self) -> list:
        net = self.model(config("drift 1 h, compensated")).net
        a = {"depthwise": [], "other": []}
        for name, layer in net.layers().items():
            a["depthwise" if kind(name) == "depthwise" else "other"] += [t.drift_scale for mm in layer.matmuls
                                                                         for t in mm.tiles]
        ref = float(np.median(a["other"]))
        out = []
        for k, v in a.items():
            r = np.array(v) / ref
            out.append({"table": "E", "arrays": k, "n": int(r.size), "p1": float(np.percentile(r, 1)),
                        "p10": float(np.percentile(r, 10)), "median": float(np.median(r)),
                        "p90": float(np.percentile(r, 90)), "p99": float(np.percentile(r, 99)), "max": float(r.max()),
                        "frac_off_by_half": float(np.mean(np.abs(r - 1) > 0.5))})
        return out

    # G ---------------------------------------------------------------------------------------
    def accumulated(self, label: str) -> list:
        """Relative error ||q - q_digital|| / ||q_digital - z|| of every project and ADD output (the residual
        stream) when the whole network runs analog: how the per-layer errors add up."""
        net, t = self.model(config(label)).net, self.m0.net.model.tensors
        va, vd = net.run(self.x), self.m0.net.run(self.x, digital=True)
        out, block = [], "first"
        for op, step in net.steps:
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                block = step.layer.name
            if (op.opcode == "ADD" or block.endswith("/project")) and op.opcode in ("ADD", "CONV_2D"):
                o = op.outputs[0]
                z = int(t[o].zero_point[0])
                out.append({"table": "G", "condition": label, "after": block + (" + ADD" if op.opcode == "ADD" else ""),
                            "rel_error": float(np.linalg.norm(va[o] - vd[o]) / np.linalg.norm(vd[o] - z))})
        return out

    # F ---------------------------------------------------------------------------------------
    def currents(self) -> list:
        """Column currents in unit currents: acc / (alpha w_max,col), inputs x / alpha, weights w / w_max,col."""
        rec: dict = {}
        self.m0.net.forward(self.x, digital=True, records=rec)
        per = {k: [] for k in KINDS}
        for name, layer in self.m0.net.layers().items():
            w = layer.weight.reshape(layer.weight.shape[0], -1)
            wmax = np.abs(w).max(axis=1)
            wmax[wmax == 0] = 1.0
            i = np.asarray(rec[name].output) / (self.ranges[name] * wmax[None, :, None, None])
            per[kind(name)].append(i.ravel())
        out = []
        for k, v in per.items():
            a = np.abs(np.concatenate(v))
            out.append({"table": "F", "kind": k, "rms": float(np.sqrt(np.mean(a**2))), "median": float(np.median(a)),
                        "p99": float(np.percentile(a, 99)), "frac_below_noise": float(np.mean(a < 0.04)),
                        "frac_below_adc_step": float(np.mean(a < 10 / 127))})
        return out


def markdown(rows: list) -> str:
    t = {k: [r for r in rows if r["table"] == k] for k in "ABCDEFG"}
    lines = ["A. one non-ideality at the preset's value (stress base otherwise)", "",
             "| condition | correct | logit error | L18 depthwise median (max) | L18 others median (max) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['condition']} | {r['correct']}/{r['n']} | {r['logit_rel_error']:.2f} | "
              f"{r['dw_median']:.3f} ({r['dw_max']:.2f}) | {r['other_median']:.3f} ({r['other_max']:.2f}) |"
              for r in t["A"]]
    lines += ["", "B. only one kind of layer on crossbars", "", "| condition | analog layers | correct | logit error |",
              "|---|---|---|---|"]
    lines += [f"| {r['condition']} | {r['analog']} ({r['n_layers']}) | {r['correct']}/{r['n']} | "
              f"{r['logit_rel_error']:.2f} |" for r in t["B"]]
    lines += ["", "C. per layer on the digital input, median over the layers of each kind", "",
              "| condition | kind | L18 (of sum x W) | of sum x W + bias | sum x W / (sum x W + bias) | "
              "DC share of the error | input mean / rms |", "|---|---|---|---|---|---|---|"]
    for cond in dict.fromkeys(r["condition"] for r in t["C"]):
        for k in KINDS:
            rs = [r for r in t["C"] if r["condition"] == cond and r["kind"] == k]
            med = lambda f: float(np.median([r[f] for r in rs]))  # noqa: E731
            lines.append(f"| {cond} | {k} ({len(rs)}) | {med('l18'):.3f} | {med('rel_to_acc_plus_bias'):.3f} | "
                         f"{med('acc_over_acc_plus_bias'):.2f} | {med('dc_share'):.2f} | "
                         f"{med('x_mean_over_rms'):.2f} |")
    lines += ["", "D. variants of the mapping (diagnostics, not refsim options)", "",
              "| condition | variant | correct | logit error | L18 depthwise median (max) |", "|---|---|---|---|---|"]
    lines += [f"| {r['condition']} | {r['variant']} | {r['correct']}/{r['n']} | {r['logit_rel_error']:.2f} | "
              f"{r['dw_median']:.3f} ({r['dw_max']:.2f}) |" for r in t["D"]]
    lines += ["", "E. global drift compensation factor / median of the other tiles (drift alone, 1 h)", "",
              "| arrays | n | p1 | p10 | median | p90 | p99 | max | share off by > 50 % |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['arrays']} | {r['n']} | {r['p1']:.2f} | {r['p10']:.2f} | {r['median']:.2f} | {r['p90']:.2f} | "
              f"{r['p99']:.2f} | {r['max']:.1f} | {r['frac_off_by_half']:.3f} |" for r in t["E"]]
    lines += ["", "G. accumulated error of the residual stream, whole network analog", "",
              "| condition | after | relative error |", "|---|---|---|"]
    lines += [f"| {r['condition']} | {r['after'][12:]} | {r['rel_error']:.3f} |" for r in t["G"]]
    lines += ["", "F. |column current| in unit currents (digital network, calibrated alpha)", "",
              "| kind | rms | median | p99 | share < 0.04 (output noise sigma) | share < 10/127 (ADC step) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['rms']:.3f} | {r['median']:.3f} | {r['p99']:.2f} | {r['frac_below_noise']:.2f} | "
              f"{r['frac_below_adc_step']:.2f} |" for r in t["F"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=4, help="evaluated samples (the first N of the 24; at most 6)")
    p.add_argument("--seed", type=int, default=0, help="programming seed")
    p.add_argument("--out", default=None, help="JSONL file of the measurements")
    p.add_argument("--data", default=None)
    a = p.parse_args(argv)
    if not 1 <= a.n <= 6:
        raise SystemExit(f"--n: received {a.n}; expected 1..6 (samples 6..11 calibrate the ranges)")
    warnings.simplefilter("ignore")
    s = Study(a.n, a.seed, a.data)
    rows = [s.single(k) for k in SINGLE] + [s.single("rasch2023_standard (1 h)")]
    for label in ("prog. noise (PCM)", "rasch2023_standard (1 h)"):
        rows += [s.only(label, (k,)) for k in KINDS]
        rows += [s.only(label, tuple(k for k in KINDS if k not in drop)) for drop in
                 (("depthwise",), ("project",), ("depthwise", "project"))]
    for label in ("prog. noise (PCM)", "drift 1 h, compensated", "output noise 0.04", "rasch2023_standard (1 h)"):
        rows += s.per_layer(label)
    rows += [s.variant_row("prog. noise (PCM)", centre=True, layer_wide=False),
             s.variant_row("drift 1 h, compensated", centre=False, layer_wide=True)]
    rows += [s.variant_row("rasch2023_standard (1 h)", centre=c, layer_wide=lw) for c, lw in
             ((True, False), (False, True), (True, True))]
    rows += s.drift_factors() + s.currents() + s.accumulated("prog. noise (PCM)")
    for r in rows:
        r.update(seed=a.seed, samples=a.n)
    if a.out:
        with open(a.out, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
