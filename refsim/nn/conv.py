"""2-D convolution on crossbars, by im2col.

PyTorch layout and names: ``weight`` (out_channels, in_channels/groups, kh, kw),
``bias`` (out_channels,). The input is unfolded into patches
(:func:`refsim.nn.functional.im2col`, columns ordered ``(c, i, j)``), and group
``g`` multiplies its patch columns with its own crossbar holding
``W_g`` (C_in/G * kh * kw, C_out/G) of docs/MODEL.md (L11). The bias is added digitally.
"""
from __future__ import annotations

import numpy as np

from refsim.nn.engine import WeightLayer, check_forward_args, run_matmuls
from refsim.nn.functional import as_float64, im2col, pair, resolve_conv_padding
from refsim.nn.linear import check_bias

__all__ = ["Conv2d"]


class Conv2d(WeightLayer):
    """2-D convolution, each group on its own crossbar (L11): (N, C_in, H, W) -> (N, C_out, OH, OW).

    Parameters
    ----------
    weight : ndarray, shape (C_out, C_in/groups, kh, kw)
    bias : ndarray, shape (C_out,), or None
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
    groups : int
        ``C_out`` must be divisible by ``groups``; ``C_in = groups * weight.shape[1]``.
    padding_mode : str
        Only ``"zeros"`` is supported.
    name, config, seed
        As for :class:`refsim.nn.Linear`; group ``g`` uses ``crossbar_rng(seed, name, g)``.

    Shapes: x (N, C_in, H, W) -> y (N, C_out, OH, OW).
    """

    kind = "conv2d"

    def __init__(
        self,
        weight,
        bias=None,
        *,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        padding_mode: str = "zeros",
        name: str = "conv",
        config=None,
        seed: int = 0,
    ):
        weight = as_float64(weight, f"{name}.weight", ndim=4, finite=True)  # (C_out, C_in/G, kh, kw)
        c_out = weight.shape[0]
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"groups: received {groups!r}; expected a positive int")
        if c_out % groups:
            raise ValueError(
                f"{name}.weight has {c_out} output channels, not divisible by groups={groups}."
            )
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"padding_mode={padding_mode!r} is not supported; only 'zeros'."
            )
        self.bias = check_bias(bias, c_out, f"{name}.bias")
        self.stride = pair(stride, "stride", 1)
        self.dilation = pair(dilation, "dilation", 1)
        self.kernel_size = weight.shape[2:]
        self._c_in_g = weight.shape[1]
        self.padding = resolve_conv_padding(padding, self.kernel_size, self.dilation, self.stride)
        self.groups = int(groups)
        super().__init__(name, config, seed)
        o_g = c_out // self.groups
        # W_g: (C_in/G * kh * kw, o_g), one per group, crossbar convention y = x @ W;
        # each back end keeps a private read-only copy, which the digital path also uses
        self.matmuls = [
            self.program(weight[g * o_g : (g + 1) * o_g].reshape(o_g, -1).T, name, g,
                         name if self.groups == 1 else f"{name}[group {g}]")
            for g in range(self.groups)
        ]
        self.Ws = [mm.weights for mm in self.matmuls]

    @property
    def weight(self) -> np.ndarray:
        """PyTorch-layout weight (C_out, C_in/G, kh, kw) (a view when groups == 1)."""
        blocks = [W.T.reshape((W.shape[1], self._c_in_g) + tuple(self.kernel_size)) for W in self.Ws]
        return blocks[0] if self.groups == 1 else np.concatenate(blocks, axis=0)

    @property
    def in_channels(self) -> int:
        return self._c_in_g * self.groups

    @property
    def out_channels(self) -> int:
        return sum(W.shape[1] for W in self.Ws)

    def forward(self, x, *, digital: bool = False, records: dict | None = None):
        """Apply the convolution: ``y (N, C_out, OH, OW)``. ``digital=True``: exact im2col matmul,
        same weights. ``records``: a dict that receives this layer's :class:`LayerRecord`."""
        check_forward_args(digital, records)
        x = as_float64(x, f"{self.name} input", ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.name} input must have {self.in_channels} channels (N, C, H, W); "
                f"received shape {x.shape}."
            )
        n = x.shape[0]
        cols, oh, ow = im2col(x, self.kernel_size, self.stride, self.padding, self.dilation)
        # cols: (N*OH*OW, C_in*kh*kw); group g owns the column block g*K:(g+1)*K
        k = self.Ws[0].shape[0]
        xs = [cols] if self.groups == 1 else [cols[:, g * k : (g + 1) * k] for g in range(self.groups)]
        stats = [] if records is not None else None
        ys = run_matmuls([self.backend(mm, digital) for mm in self.matmuls], xs, stats)
        y = ys[0] if self.groups == 1 else np.concatenate(ys, axis=1)  # (N*OH*OW, C_out)
        if self.bias is not None:
            y = y + self.bias
        y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)  # (N, C_out, OH, OW)
        self.add_record(records, x, y, digital, stats)
        return y

    __call__ = forward

    def digital_replay(self, rec):
        """Output of this layer recomputed with exact matmuls from a record's input."""
        return self.forward(rec.input, digital=True)
