"""Export golden vectors: a crossbar multiply, a layer, or a network's per-layer outputs.

:func:`export_crossbar` programs ``W`` with ``rng=np.random.default_rng(seed)``, runs
:meth:`refsim.Crossbar.trace` on ``x`` and writes every stage of the trace in
pipeline order (``docs/golden.md`` lists them) plus every random draw. A noisy case
is replayable: :func:`replay` rebuilds the crossbar from the recorded programming
draws and re-runs the multiply with the recorded per-multiply draws, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refsim.config import CrossbarConfig
from refsim.crossbar import Crossbar
from refsim.golden.format import GoldenWriter, load_golden
from refsim.trace import Trace

__all__ = ["export_crossbar", "export_trace", "export_layer", "export_network", "random_case", "replay",
           "ReplayResult"]

#: Suffix of the conductance stages, in pipeline order: trace key suffix -> (stage suffix, description).
_G_STAGES = (
    (".target", "G_target", "target conductance (M1), before device errors"),
    (".programmed", "G_programmed", "after programming error, stuck-at faults and clipping (devices G5, F1, G6)"),
    ("", "G_t", "at inference time t_inference_s, after drift (devices D1)"),
    (".eff", "G_eff", "effective matrix of the array with its wires (docs/MODEL.md section 4); equal to G_t without wires"),
)


def random_case(n_in: int, n_out: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A standard-normal ``W (n_in, n_out)`` and ``x (batch, n_in)`` for the CLI and the suite.

    Drawn from ``default_rng(SeedSequence(seed, spawn_key=(1,)))``, a stream distinct from
    the crossbar's ``default_rng(seed)``: W first, then x.
    """
    for name, v in (("n_in", n_in), ("n_out", n_out), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: received {v!r}; expected a positive int")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
    w = rng.standard_normal((n_in, n_out))
    x = rng.standard_normal((batch, n_in))
    return w, x


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: received {seed!r}; expected a non-negative int")
    return int(seed)


def export_trace(writer: GoldenWriter, tr: Trace, weights: np.ndarray, prefix: str = "") -> None:
    """Write every stage of one crossbar trace to ``writer``, in pipeline order, names prefixed."""
    cfg = tr.config
    quantized_w = cfg["weight"]["bits"] is not None
    real_dac = cfg["dac"]["bits"] is not None
    p = prefix
    writer.stage(p + "weights", weights, "weight units", description="W (n_in, n_out); y = x @ W")
    writer.stage(p + "w_max", tr.w_max, "weight units", description="weight range per column (n_out,)")
    writer.stage(p + "w_norm", tr.w_norm, "1", description="clip(W, -w_max, w_max) / w_max")
    if tr.weight_levels is not None:
        writer.stage(p + "weight_levels", tr.weight_levels, "level", integer=True,
                     description="signed integer levels q = round_half_even(w_norm Q)")
    for dev, per_slice in tr.device_levels.items():
        for k, lv in enumerate(per_slice):
            writer.stage(f"{p}device_levels.{dev}.s{k}", lv, "level", integer=quantized_w,
                         description=f"level on device {dev!r} in weight slice {k}")
    arrays = sorted({key.rsplit(".", 1)[0] for key in tr.conductances_S if key.endswith(".target")},
                    key=_array_order)
    for arr in arrays:
        for suffix, stage, desc in _G_STAGES:
            writer.stage(f"{p}{arr}.{stage}", tr.conductances_S[arr + suffix], "S", description=desc)
    writer.stage(p + "x", tr.x, "input units", description="crossbar inputs (B, n_in)")
    for ti, t in enumerate(tr.tiles):
        tp = f"{p}t{ti}."
        writer.stage(tp + "x_max", t.x_max, "input units", description=f"input range (D1), rows {t.r0}:{t.r1}")
        writer.stage(tp + "dac_codes", t.dac_codes, "code", integer=real_dac, description="DAC codes (D2)")
        for label, v in t.voltages_V.items():
            writer.stage(f"{tp}{label}.voltages_V", v, "V", description=f"row voltages of drive pass {label!r} (D3, D4)")
        for k in range(max((r.k for r in t.reads), default=-1) + 1):
            for r in (r for r in t.reads if r.k == k):
                rp = f"{tp}s{k}.{r.name}.{r.label}."
                writer.stage(rp + "current_A", r.current_A, "A",
                             description="column currents at the ADC input (X1, read noise, output effects)")
                if r.adc_codes is not None:
                    writer.stage(rp + "adc_codes", r.adc_codes, "code", integer=True, description="ADC codes (A1)")
            writer.stage(f"{tp}s{k}.digital", t.digital[f"s{k}"], "level",
                         description="digital read of slice k in net-level units, offset removed (X2)")
        writer.stage(tp + "partial", t.partial, "level x input units",
                     description=f"tile partial sum (X3) before the weight rescale; columns {t.c0}:{t.c1}")
    if tr.path == "linear_effective_matrix":
        writer.stage(p + "y_steps", tr.y_steps, "output units", description="step-by-step output (X3)")
    writer.stage(p + "y", tr.y, "output units", description="crossbar output (B, n_out), equal to matvec(x)")
    for key in sorted(tr.draws):
        writer.draw(p + key, tr.draws[key])
    meta = writer.manifest["meta"].setdefault("crossbars", {})
    meta[p] = {
        "shape": list(weights.shape), "path": tr.path, "read_sampling": tr.read_sampling,
        "level_scale": tr.level_scale, "weight_clip_fraction": tr.weight_clip_fraction,
        "adc_clip_fraction": tr.adc_clip_fraction, "dac_clip_fraction": tr.dac_clip_fraction,
        "tiles": [{"r0": t.r0, "r1": t.r1, "c0": t.c0, "c1": t.c1, "drift_scale": t.drift_scale,
                   "dac_clip_fraction": t.dac_clip_fraction,
                   "reads": [{"k": r.k, "name": r.name, "label": r.label, "coef": r.coef} for r in t.reads]}
                  for t in tr.tiles],
    }


def _array_order(key: str) -> tuple:
    t, s, dev = key.split(".")
    return int(t[1:]), int(s[1:]), {"pos": 0, "neg": 1, "single": 2, "ref": 3}.get(dev, 4)


def export_crossbar(path: str | Path, W, x, config: CrossbarConfig, seed: int = 0) -> Path:
    """Program ``W`` with ``Crossbar(W, config, rng=np.random.default_rng(seed))``, trace ``x`` and write it.

    Parameters
    ----------
    path : new or empty directory.
    W : (n_in, n_out) weights. x : (B, n_in) or (n_in,) inputs (written as (B, n_in)).
    config : :class:`refsim.CrossbarConfig` (JSON-serializable: no ``prog_sigma_fn``).
    seed : root seed of the crossbar's random streams.

    Returns the directory. The stages are listed in ``manifest.json`` in pipeline order.
    """
    seed = _check_seed(seed)
    x2 = np.atleast_2d(np.asarray(x, dtype=np.float64))
    xb = Crossbar(W, config, rng=np.random.default_rng(seed))
    tr = xb.trace(x2)
    writer = GoldenWriter(path, kind="crossbar", config=config.to_dict(), seed=seed)
    export_trace(writer, tr, xb.weights)
    return writer.close()


def _layer_inputs(layer, x) -> tuple[list[np.ndarray], dict]:
    """The crossbar inputs of a Linear or Conv2d layer, and what is needed to reassemble its output."""
    from refsim.nn import Conv2d, Linear
    from refsim.nn.functional import as_float64, im2col

    if isinstance(layer, Linear):
        x = as_float64(x, f"{layer.name} input")
        return [x.reshape(-1, layer.in_features)], {"lead": x.shape[:-1]}
    if isinstance(layer, Conv2d):
        x = as_float64(x, f"{layer.name} input", ndim=4)
        cols, oh, ow = im2col(x, layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        k = layer.Ws[0].shape[0]
        xs = [cols[:, g * k : (g + 1) * k] for g in range(layer.groups)]
        return xs, {"n": x.shape[0], "oh": oh, "ow": ow}
    raise NotImplementedError(
        f"export_layer: layer kind {getattr(layer, 'kind', type(layer).__name__)!r} is not supported; "
        f"Linear and Conv2d are (use export_network for per-layer inputs and outputs of other layers)")


def export_layer(path: str | Path, layer, x) -> Path:
    """Export one :class:`refsim.nn.Linear` or :class:`refsim.nn.Conv2d` layer on input ``x``.

    Stages: ``layer.input``; for every crossbar of the layer (conv group ``g``, prefix
    ``g{g}.``; no prefix for a single crossbar) all crossbar stages of its trace (its
    ``x`` is the im2col patch matrix for a convolution); ``layer.bias``; ``layer.output``
    (the crossbar outputs plus the bias, in the layer's layout). A digital layer
    (``config=None``) is refused.
    """
    from refsim.nn import Conv2d

    if layer.config is None:
        raise ValueError(f"layer {layer.name!r} is digital (config=None); nothing analog to export")
    xs, info = _layer_inputs(layer, x)
    mms = layer.matmuls if isinstance(layer, Conv2d) else [layer.matmul]
    writer = GoldenWriter(path, kind="layer", config=layer.config.to_dict(), seed=layer.seed,
                          meta={"layer": layer.name, "layer_kind": layer.kind})
    writer.stage("layer.input", np.asarray(x, dtype=np.float64), "input units", description="layer input")
    ys = []
    for g, (mm, xg) in enumerate(zip(mms, xs)):
        tr = mm.trace(xg)
        export_trace(writer, tr, mm.weights, prefix="" if len(mms) == 1 else f"g{g}.")
        ys.append(tr.y)
    y = np.concatenate(ys, axis=1)
    if layer.bias is not None:
        writer.stage("layer.bias", layer.bias, "output units", description="digital bias")
        y = y + layer.bias
    if isinstance(layer, Conv2d):
        y = y.reshape(info["n"], info["oh"], info["ow"], -1).transpose(0, 3, 1, 2)  # (N, C_out, OH, OW)
    else:
        y = y.reshape(*info["lead"], -1)
    writer.stage("layer.output", y, "output units", description="layer output (crossbar outputs + bias)")
    return writer.close()


def export_network(path: str | Path, net, x) -> Path:
    """Export a network's per-layer inputs and outputs from ``net.forward(x, records=records)``.

    Stages, in execution order: ``input``, then ``{layer}.input`` and ``{layer}.output``
    for every recorded layer, then ``output``. The per-layer configs are in
    ``meta.layers``. Per-array stages and draws are not exported at this level (export a
    single layer with :func:`export_layer` for those), so a network case is compared,
    not replayed.
    """
    records: dict = {}
    y = net.forward(x, records=records)
    layers = net.layers() if hasattr(net, "layers") else {}
    meta = {"layers": {}}
    for name, rec in records.items():
        cfg = getattr(layers.get(name), "config", None)
        meta["layers"][name] = {"kind": rec.kind, "analog": rec.analog, "n_arrays": rec.n_arrays,
                                "clip_fraction": None if np.isnan(rec.clip_fraction) else rec.clip_fraction,
                                "config": None if cfg is None else cfg.to_dict()}
    writer = GoldenWriter(path, kind="network", config=None, seed=getattr(net, "seed", None), meta=meta)
    writer.stage("input", np.asarray(x, dtype=np.float64), "input units", description="network input")
    for name, rec in records.items():
        writer.stage(f"{name}.input", rec.input, "input units", description=f"input of layer {name}")
        writer.stage(f"{name}.output", rec.output, "output units", description=f"output of layer {name}")
    writer.stage("output", y, "output units", description="network output")
    return writer.close()


@dataclass(frozen=True)
class ReplayResult:
    """The outputs of a replayed case, per crossbar prefix, and whether they equal the golden ones bit for bit."""

    y: dict[str, np.ndarray]  # prefix -> replayed output
    y_golden: dict[str, np.ndarray]  # prefix -> exported output
    bit_exact: bool


def replay(path: str | Path) -> ReplayResult:
    """Rebuild every crossbar of a golden case from its recorded draws and re-run its multiply.

    ``Crossbar(W, config, draws=draws)`` reproduces the programming (programming error,
    faults, drift), and ``matvec(x, draws=draws)`` the per-multiply noise (read noise,
    output noise), so ``y`` equals the exported ``y`` bit for bit.
    """
    g = load_golden(path)
    where = str(Path(path) / "manifest.json")
    if g.manifest.get("kind") == "network":
        raise ValueError(f"{where!r}: kind: received 'network'; expected 'crossbar' or 'layer' (a network "
                         "case has no draws to replay)")
    prefixes = g.manifest["meta"].get("crossbars")
    if not isinstance(prefixes, dict) or not prefixes:
        shown = "nothing" if prefixes is None else repr(prefixes)[:80]
        raise ValueError(f"{where!r}: meta.crossbars: received {shown}; expected a non-empty object keyed by "
                         "crossbar prefix")
    try:
        cfg = g.config
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where!r}: config: {exc}") from None
    if cfg is None:
        raise ValueError(f"{where!r}: config: received null; expected the case's CrossbarConfig")
    for p in prefixes:
        for stage in ("weights", "x", "y"):
            if p + stage not in g.stages:
                raise ValueError(f"{where!r}: stages: received no stage {p + stage!r}; expected one for crossbar "
                                 f"{p or '(single)'!r} of meta.crossbars")
    ys, ys_gold = {}, {}
    for p in prefixes:
        draws = {k[len(p):]: v for k, v in g.draws.items() if k.startswith(p)}
        xb = Crossbar(g[p + "weights"], cfg, draws=draws)
        ys[p] = xb.matvec(g[p + "x"], draws=draws)
        ys_gold[p] = g[p + "y"]
    exact = all(a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in
                ((ys[p], ys_gold[p]) for p in ys))
    return ReplayResult(ys, ys_gold, exact)
