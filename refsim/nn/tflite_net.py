r"""A uint8-quantized TFLite graph (e.g. MobileNetV2) on refsim layers.

:func:`tflite_net` turns a :class:`refsim.io.tflite.TFLiteModel` into a
:class:`QuantizedNet`. Every CONV_2D and DEPTHWISE_CONV_2D becomes a
:class:`refsim.nn.Conv2d` whose weight is the file's integer weight minus its
zero point, :math:`W = q_w - z_w \in [-255, 255]` (PyTorch layout; depthwise:
``groups = C_in``); its input is the integer activation minus its zero point,
:math:`x = q_x - z_x`, zero-padded as TFLite pads (SAME: ``ceil(H/s)`` outputs,
``floor(P/2)`` rows on top, the rest at the bottom). The layer's output is the
int32 accumulator :math:`\sum x W` (eq. Q1), computed

* digitally (``digital=True`` or ``config=None``): exact float64 matmuls of
  integers below :math:`2^{53}`, hence exactly TFLite's int32 sums;
* on crossbars: the 8-bit weights map onto the conductance levels, and the
  analog result is rounded to the nearest integer (the digital accumulator
  register, saturated to int32).

Everything else is digital and exactly TFLite's integer kernels
(:mod:`refsim.nn.quantized`): bias, requantization with fused ReLU6 clamping
(eq. Q1), ADD (eq. Q2), AVERAGE_POOL_2D (eq. Q3), RESHAPE, and the uint8
SOFTMAX of TFLite's reference kernel in gemmlowp fixed point (eq. Q4).

Activations travel as q values (int64 arrays); 4-D tensors as NCHW (TFLite
stores NHWC). ``forward`` takes a uint8 NHWC batch and returns the
dequantized input of the final SOFTMAX, :math:`s\,(q - z)` (the logits).
"""
from __future__ import annotations

import numpy as np

from refsim.nn.conv import Conv2d
from refsim.nn.engine import check_forward_args, check_seed
from refsim.nn.quantized import (
    INT32_MAX, INT32_MIN, AddParams, activation_range, average_pool_uint8, conv_multiplier,
    quantize_multiplier, quantized_add, requantize, softmax_uint8,
)

__all__ = ["QuantizedNet", "tflite_net", "same_padding"]


def same_padding(size: int, kernel: int, stride: int, dilation: int, padding: str) -> tuple[int, int, int]:
    """TFLite's output size and (before, after) padding along one axis.

    SAME: ``out = ceil(size / stride)``; VALID: ``out = floor((size - k_eff) / stride) + 1``;
    ``total = max((out - 1) stride + k_eff - size, 0)``, ``before = total // 2`` and
    ``after = (out - 1) stride + k_eff - size - before`` (negative: rows never read).
    """
    k_eff = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride if padding == "SAME" else (size - k_eff + stride) // stride
    before = max((out - 1) * stride + k_eff - size, 0) // 2 if padding == "SAME" else 0
    return out, before, (out - 1) * stride + k_eff - size - before


def _per_tensor(t, what: str, dtype: str = "uint8"):
    if t.dtype != dtype or t.scale is None or t.scale.size != 1:
        raise ValueError(f"{what}: tensor {t.name!r} is {t.dtype} with "
                         f"{0 if t.scale is None else t.scale.size} scales; expected per-tensor {dtype}")
    return np.float32(t.scale[0]), int(t.zero_point[0])


def _layer_name(weight_name: str, index: int, taken: set) -> str:
    """``MobilenetV2/expanded_conv_1/expand/Conv2D_Fold;...`` -> ``MobilenetV2/expanded_conv_1/expand``."""
    name = weight_name.split(";")[0].rsplit("/", 1)[0] if "/" in weight_name else ""
    return name if name and name not in taken else f"op{index}"


class _Conv:
    def __init__(self, op, t, name, config, seed):
        x, w, b = (t[i] if i >= 0 else None for i in (op.inputs + (-1,))[:3])
        y = t[op.outputs[0]]
        self.sx, self.zx = _per_tensor(x, f"{op.opcode} {name} input")
        sw, zw = _per_tensor(w, f"{op.opcode} {name} weight")
        self.sy, self.zy = _per_tensor(y, f"{op.opcode} {name} output")
        if w.data is None or len(w.shape) != 4 or len(x.shape) != 4:
            raise ValueError(f"{op.opcode} {name}: needs a constant 4-D weight and a 4-D input")
        o = op.options
        wq = w.data.astype(np.float64) - zw
        if op.opcode == "DEPTHWISE_CONV_2D":  # (1, kh, kw, C_in * dm)
            c_in, dm = x.shape[3], o["depth_multiplier"]
            if w.shape[0] != 1 or dm < 1 or w.shape[3] != c_in * dm:
                raise ValueError(f"{name}: depthwise weight {w.shape} for {c_in} channels, multiplier {dm}")
            weight, groups = wq.transpose(3, 0, 1, 2), c_in  # (C_out, 1, kh, kw)
        else:  # (C_out, kh, kw, C_in)
            if w.shape[3] != x.shape[3]:
                raise ValueError(f"{name}: weight {w.shape} for an input of {x.shape[3]} channels")
            weight, groups = wq.transpose(0, 3, 1, 2), 1
        if len(y.shape) != 4 or y.shape[0] != x.shape[0] or y.shape[3] != weight.shape[0]:
            raise ValueError(f"{op.opcode} {name} output: received shape {y.shape}; expected 4-D (batch {x.shape[0]}, "
                             f"height, width, {weight.shape[0]} channels)")
        self.bias = np.zeros(weight.shape[0], np.int64)
        if b is not None:
            if b.dtype != "int32" or b.data is None or b.shape != (weight.shape[0],):
                raise ValueError(f"{name}: bias: received {b.dtype} {b.shape}; expected a constant int32 ({weight.shape[0]},)")
            self.bias = b.data.astype(np.int64)
        self.stride = (o["stride_h"], o["stride_w"])
        dil = (o["dilation_h_factor"], o["dilation_w_factor"])
        if min(self.stride + dil) < 1:
            raise ValueError(f"{name}: strides, dilations: received {self.stride}, {dil}; expected values >= 1")
        self.pads = []
        for ax in (1, 2):
            out, before, after = same_padding(x.shape[ax], w.shape[ax], self.stride[ax - 1], dil[ax - 1],
                                              o["padding"])
            if out != y.shape[ax]:
                raise ValueError(f"{name}: output size {y.shape[ax]} on axis {ax}; TFLite gives {out}")
            self.pads.append((before, after))
        self.mult = quantize_multiplier(conv_multiplier(self.sx, sw, self.sy))
        self.act = activation_range(o["fused_activation_function"], self.sy, self.zy)
        self.dilation, self.depthwise = dil, groups > 1
        self.layer = Conv2d(weight, None, stride=self.stride, dilation=dil, groups=groups, name=name,
                            config=config, seed=seed)
        self._taps = weight[:, 0] if self.depthwise else None  # (C_out, kh, kw), depthwise fast path

    def _depthwise_exact(self, x):
        """Digital depthwise accumulator as a sum over kernel taps (exact: integers < 2^53)."""
        n, c, h, w = x.shape
        dm = self._taps.shape[0] // c
        kh, kw = self._taps.shape[1:]
        (sh, sw), (dh, dw) = self.stride, self.dilation
        oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
        x = np.repeat(x, dm, axis=1) if dm > 1 else x  # output channel c * dm + m reads input channel c
        acc, tmp = np.zeros((n, c * dm, oh, ow)), np.empty((n, c * dm, oh, ow))
        for i in range(kh):
            for j in range(kw):
                view = x[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                acc += np.multiply(view, self._taps[None, :, i, j, None, None], out=tmp)
        return acc

    def __call__(self, q, digital, records):
        x = q.astype(np.float64) - self.zx  # (N, C, H, W)
        (t, bt), (l, br) = self.pads
        x = np.pad(x[:, :, :x.shape[2] + min(bt, 0), :x.shape[3] + min(br, 0)],
                   ((0, 0), (0, 0), (t, max(bt, 0)), (l, max(br, 0))))
        if self.depthwise and digital and records is None:
            acc = self._depthwise_exact(x)  # equal to the layer's digital path, faster
        else:
            acc = self.layer.forward(x, digital=digital, records=records)  # (N, C_out, OH, OW), integer-valued
        acc = np.rint(acc)  # a new array: a recorded layer output stays as the layer produced it
        acc = np.clip(acc, INT32_MIN, INT32_MAX, out=acc).astype(np.int64)
        acc += self.bias[:, None, None]
        return requantize(acc, *self.mult, self.zy, self.act)


#: operator -> (required inputs, allowed inputs)
_ARITY = {"CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "ADD": (2, 2), "AVERAGE_POOL_2D": (1, 1),
          "RESHAPE": (1, 2), "SOFTMAX": (1, 1)}


def _check_operands(op, t, ready: set) -> None:
    """Operand counts, no absent required input, inputs computed before use, sizes that agree."""
    lo, hi = _ARITY.get(op.opcode, (0, 0))
    what = f"{op.opcode} op{op.index}"
    if not lo <= len(op.inputs) <= hi or len(op.outputs) != 1 or any(i < 0 for i in op.inputs[:lo]):
        raise ValueError(f"{what}: {len(op.inputs)} inputs {op.inputs} and {len(op.outputs)} outputs; "
                         f"expected {lo}..{hi} inputs (the first {lo} present) and 1 output")
    missing = [i for i in op.inputs if i >= 0 and i not in ready]
    if missing:
        raise ValueError(f"{what}: input tensors {missing} are not computed before this operator")
    x, y = t[op.inputs[0]], t[op.outputs[0]]
    if op.opcode in ("RESHAPE", "SOFTMAX") and np.prod(x.shape) != np.prod(y.shape):
        raise ValueError(f"{what}: {x.shape} -> {y.shape} changes the number of elements")
    if op.opcode in ("ADD", "AVERAGE_POOL_2D") and (len(x.shape) != 4 or len(y.shape) != 4):
        raise ValueError(f"{what}: received shapes {x.shape} -> {y.shape}; expected 4-D NHWC input and output")
    if op.opcode == "ADD" and not x.shape == t[op.inputs[1]].shape == y.shape:
        raise NotImplementedError(f"{what}: shapes {x.shape} + {t[op.inputs[1]].shape} -> {y.shape}; "
                                  "only equal shapes (no broadcasting) are supported")
    if op.opcode == "AVERAGE_POOL_2D":
        o = op.options
        if min(o["filter_height"], o["filter_width"], o["stride_h"], o["stride_w"]) < 1:
            raise ValueError(f"{what}: filter and strides: received {o}; expected values >= 1")
        outs = [same_padding(x.shape[ax], o[k], o[s], 1, o["padding"])[0]
                for ax, k, s in ((1, "filter_height", "stride_h"), (2, "filter_width", "stride_w"))]
        if tuple(outs) != tuple(y.shape[1:3]) or x.shape[3] != y.shape[3]:
            raise ValueError(f"{what}: options {o} map {x.shape} to {outs}, not {y.shape}")


def _check_same(t_in, t_out, what: str):
    if (_per_tensor(t_in, what) != _per_tensor(t_out, what)):
        raise ValueError(f"{what}: input and output quantization differ; TFLite requires them equal")


class QuantizedNet:
    """A uint8 TFLite graph whose convolutions run on crossbars (see the module docstring).

    Shapes: x uint8 (N, H, W, C) NHWC (TFLite's layout) -> logits float64 (N, classes).
    """

    def __init__(self, model, *, config=None, seed: int = 0):
        self.model, self.seed = model, check_seed(seed)
        t = model.tensors
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"tflite model: {len(model.inputs)} inputs, {len(model.outputs)} outputs; "
                             "expected 1 and 1")
        self.input_tensor = t[model.inputs[0]]
        self.input_scale, self.input_zero_point = _per_tensor(self.input_tensor, "model input")
        if len(self.input_tensor.shape) != 4 or self.input_tensor.shape[0] != 1:
            raise ValueError(f"model input: shape {self.input_tensor.shape}; expected (1, H, W, C)")
        self.steps, self._layers, taken = [], {}, set()
        self.logits_tensor = None
        ready = {model.inputs[0]} | {i for i, x in enumerate(t) if x.data is not None}
        for op in model.operators:
            _check_operands(op, t, ready)
            ready.add(op.outputs[0])
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                name = _layer_name(t[op.inputs[1]].name, op.index, taken)
                taken.add(name)
                step = _Conv(op, t, name, config, self.seed)
                self._layers[name] = step.layer
            elif op.opcode == "ADD":
                (s1, z1), (s2, z2) = (_per_tensor(t[i], f"ADD op{op.index} input") for i in op.inputs)
                sy, zy = _per_tensor(t[op.outputs[0]], f"ADD op{op.index} output")
                step = AddParams(s1, z1, s2, z2, sy, zy,
                                 activation_range(op.options["fused_activation_function"], sy, zy))
            elif op.opcode == "AVERAGE_POOL_2D":
                _check_same(t[op.inputs[0]], t[op.outputs[0]], f"AVERAGE_POOL_2D op{op.index}")
                step = op
            elif op.opcode == "RESHAPE":
                _check_same(t[op.inputs[0]], t[op.outputs[0]], f"RESHAPE op{op.index}")
                step = op
            elif op.opcode == "SOFTMAX":
                if _per_tensor(t[op.outputs[0]], "SOFTMAX output") != (np.float32(1 / 256), 0):
                    raise NotImplementedError("SOFTMAX: uint8 output must have scale 1/256 and zero point 0 "
                                              "(TFLite requires it)")
                step = op
                self.logits_tensor = op.inputs[0]
            else:  # the reader refuses other ops; kept for a hand-built model
                raise NotImplementedError(f"operator {op.opcode} is not supported")
            self.steps.append((op, step))
        self.output_index = model.outputs[0]
        if self.logits_tensor is None:
            self.logits_tensor = self.output_index
        self.num_classes = int(t[self.logits_tensor].shape[-1])

    def layers(self) -> dict:
        """Every crossbar-backed layer (:class:`refsim.nn.Conv2d`), by name, in execution order."""
        return dict(self._layers)

    @property
    def n_arrays(self) -> int:
        return sum(layer.n_arrays for layer in self._layers.values())

    def _check_input(self, x) -> np.ndarray:
        x = np.asarray(x)
        want = self.input_tensor.shape[1:]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != want:
            raise ValueError(f"x: received dtype {x.dtype}, shape {x.shape}; expected uint8 (N, "
                             f"{', '.join(map(str, want))}) NHWC (refsim.tools.preprocess.tflite_preprocess)")
        return x

    def run(self, x, *, digital: bool = False, records: dict | None = None) -> dict:
        """Every tensor's q values (int64) by tensor index; 4-D tensors in NCHW order."""
        x = self._check_input(x)
        t = self.model.tensors
        vals = {self.model.inputs[0]: x.transpose(0, 3, 1, 2).astype(np.int64)}
        for op, step in self.steps:
            a = vals[op.inputs[0]]
            if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                y = step(a, digital, records)
            elif op.opcode == "ADD":
                y = quantized_add(a, vals[op.inputs[1]], step)
            elif op.opcode == "AVERAGE_POOL_2D":
                o, shp = op.options, t[op.inputs[0]].shape
                geo = [same_padding(shp[ax], o[k], o[s], 1, o["padding"])
                       for ax, k, s in ((1, "filter_height", "stride_h"), (2, "filter_width", "stride_w"))]
                sy, zy = _per_tensor(t[op.outputs[0]], "AVERAGE_POOL_2D output")
                y = average_pool_uint8(a, (o["filter_height"], o["filter_width"]), (o["stride_h"], o["stride_w"]),
                                       (geo[0][1], geo[1][1]), (geo[0][0], geo[1][0]),
                                       activation_range(o["fused_activation_function"], sy, zy))
            elif op.opcode == "RESHAPE":
                shape = t[op.outputs[0]].shape
                nhwc = a.transpose(0, 2, 3, 1) if a.ndim == 4 else a
                y = nhwc.reshape((a.shape[0],) + tuple(shape[1:]))
                y = y.transpose(0, 3, 1, 2) if y.ndim == 4 else y
            else:  # SOFTMAX
                s_in, _ = _per_tensor(t[op.inputs[0]], "SOFTMAX input")
                y = softmax_uint8(a, s_in, op.options["beta"])
            vals[op.outputs[0]] = y
        return vals

    def tensors(self, x, *, digital: bool = False) -> dict:
        """Every tensor of the forward pass by TFLite name, in TFLite's layout (NHWC), as uint8."""
        vals = self.run(x, digital=digital)
        return {self.model.tensors[i].name: (v.transpose(0, 2, 3, 1) if v.ndim == 4 else v).astype(np.uint8)
                for i, v in vals.items()}

    def quantized_outputs(self, x, *, digital: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(logits_q, output_q)``: uint8 input of the final SOFTMAX and the graph output, (N, classes)."""
        vals = self.run(x, digital=digital)
        flat = lambda v: v.reshape(v.shape[0], -1).astype(np.uint8)  # noqa: E731
        return flat(vals[self.logits_tensor]), flat(vals[self.output_index])

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        """Logits :math:`s (q - z)` float64 (N, classes); ``records``: a dict that receives every
        conv's record."""
        check_forward_args(digital, records)
        q = self.run(x, digital=digital, records=records)[self.logits_tensor]
        s, z = _per_tensor(self.model.tensors[self.logits_tensor], "logits")
        return float(s) * (q.reshape(q.shape[0], -1).astype(np.float64) - z)

    __call__ = forward


def tflite_net(source, *, config=None, seed: int = 0) -> QuantizedNet:
    """Read a ``.tflite`` file (path, bytes or a :class:`TFLiteModel`) and build its :class:`QuantizedNet`."""
    from refsim.io.tflite import TFLiteModel, read_tflite

    model = source if isinstance(source, TFLiteModel) else read_tflite(source)
    return QuantizedNet(model, config=config, seed=seed)
