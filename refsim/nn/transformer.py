"""Transformer encoder layer (PyTorch ``nn.TransformerEncoderLayer``, eval mode).

Parameter names equal PyTorch's: ``self_attn.in_proj_weight``,
``self_attn.in_proj_bias``, ``self_attn.out_proj.weight/bias``,
``linear1.weight/bias``, ``linear2.weight/bias``, ``norm1.weight/bias``,
``norm2.weight/bias``. Dropout is the identity (inference).
"""
from __future__ import annotations

from refsim.nn.attention import MultiheadAttention
from refsim.nn.engine import check_forward_args
from refsim.nn.functional import as_float64, gelu, layer_norm, relu
from refsim.nn.linear import Linear

__all__ = ["TransformerEncoderLayer"]

_ACTIVATIONS = {"relu": relu, "gelu": gelu}


class TransformerEncoderLayer:
    """One encoder layer: self-attention and feed-forward, each with a residual (L14):
    post-norm (``norm_first=False``, PyTorch default) or pre-norm (``norm_first=True``).
    The linear maps and the attention projections run on crossbars; LayerNorm,
    activation and residual adds are digital and exact.

    Parameters
    ----------
    params : dict
        PyTorch state dict of the layer (keys listed in the module docstring).
    nhead : int
    activation : "relu" or "gelu" (exact erf GELU, as PyTorch's "gelu")
    layer_norm_eps : float
    batch_first, norm_first : bool
    name : str
        Prefix of the sublayer names ("" gives PyTorch's bare names).
    config, seed, runtime_config
        As for :class:`refsim.nn.MultiheadAttention`.

    Shapes: src (S, N, E), or (N, S, E) if batch_first, or (S, E) -> same shape.
    """

    def __init__(self, params: dict, nhead: int, *, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, name: str = "", config=None,
                 seed: int = 0, runtime_config=None):
        if not isinstance(params, dict):
            raise TypeError(f"params: received {type(params).__name__}; expected a dict")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation: received {activation!r}; expected 'relu' or 'gelu'")
        if not layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps: received {layer_norm_eps!r}; expected > 0")
        pre = f"{name}." if name else ""
        expected = {"linear1.weight", "linear2.weight", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}
        optional = {"linear1.bias", "linear2.bias"}
        attn = {k[len("self_attn."):]: v for k, v in params.items() if k.startswith("self_attn.")}
        rest = {k: v for k, v in params.items() if not k.startswith("self_attn.")}
        missing = sorted(expected - set(rest))
        extra = sorted(set(rest) - expected - optional)
        if missing or extra:
            raise ValueError(f"{name or 'TransformerEncoderLayer'} params: received missing keys {missing}, unexpected keys "
                             f"{extra}; expected {sorted(expected | optional)}")
        self.name, self.activation = name, activation
        self.batch_first, self.norm_first, self.eps = bool(batch_first), bool(norm_first), float(layer_norm_eps)
        kw = dict(config=config, seed=seed)
        self.self_attn = MultiheadAttention(attn, nhead, batch_first=True, name=f"{pre}self_attn",
                                            runtime_config=runtime_config, **kw)
        self.linear1 = Linear(rest["linear1.weight"], rest.get("linear1.bias"), name=f"{pre}linear1", **kw)
        self.linear2 = Linear(rest["linear2.weight"], rest.get("linear2.bias"), name=f"{pre}linear2", **kw)
        E = self.self_attn.embed_dim
        self.norms = {}
        for key in ("norm1", "norm2"):
            w = as_float64(rest[f"{key}.weight"], f"{key}.weight", ndim=1, finite=True)
            b = as_float64(rest[f"{key}.bias"], f"{key}.bias", ndim=1, finite=True)
            if w.shape != (E,) or b.shape != (E,):
                raise ValueError(f"{key}.weight/bias: received shape {w.shape}, {b.shape}; expected shape ({E},)")
            self.norms[key] = (w, b)

    def layers(self) -> dict:
        """Layers with a record, by name."""
        return {**self.self_attn.layers(), self.linear1.name: self.linear1, self.linear2.name: self.linear2}

    def _norm(self, key, x):
        w, b = self.norms[key]
        return layer_norm(x, w, b, self.eps)

    def _sa(self, x, digital, records, mask, kpm):
        return self.self_attn.forward(x, x, x, key_padding_mask=kpm, need_weights=False, attn_mask=mask,
                                      digital=digital, records=records)[0]

    def _ff(self, x, digital, records):
        act = _ACTIVATIONS[self.activation]
        h = act(self.linear1.forward(x, digital=digital, records=records))
        return self.linear2.forward(h, digital=digital, records=records)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False, *,
                digital: bool = False, records: dict | None = None):
        """Apply the layer; ``records``: a dict that receives the records of every sublayer."""
        check_forward_args(digital, records)
        if is_causal and src_mask is None:
            raise ValueError("is_causal=True requires src_mask (the causal mask), as in PyTorch.")
        x = as_float64(src, "src", ndim=(2, 3))
        if x.ndim == 3 and not self.batch_first:
            x = x.transpose(1, 0, 2)  # (N, S, E)
        if self.norm_first:
            x = x + self._sa(self._norm("norm1", x), digital, records, src_mask, src_key_padding_mask)
            x = x + self._ff(self._norm("norm2", x), digital, records)
        else:
            x = self._norm("norm1", x + self._sa(x, digital, records, src_mask, src_key_padding_mask))
            x = self._norm("norm2", x + self._ff(x, digital, records))
        if x.ndim == 3 and not self.batch_first:
            x = x.transpose(1, 0, 2)  # (S, N, E)
        return x

    __call__ = forward
