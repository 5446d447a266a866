"""Multi-head attention (PyTorch ``nn.MultiheadAttention`` semantics, eval mode).

The four weight projections (q, k, v, out) are :class:`refsim.nn.Linear`
layers, each on its own crossbar, named ``{name}.q_proj``, ``{name}.k_proj``,
``{name}.v_proj`` (rows of PyTorch's ``in_proj_weight``) and
``{name}.out_proj``. The activation-by-activation products ``Q K^T`` and
``A V`` are digital by default; with ``runtime_config`` they run on arrays
*programmed at run time* from the activations (so they carry programming /
write noise), and their record is flagged ``runtime_arrays=True``.
"""
from __future__ import annotations

import math

import numpy as np

from refsim.presets import check_calibrated
from refsim.nn.engine import (
    LayerRecord,
    check_seed,
    check_forward_args,
    combine_clip_fractions,
    combine_stats,
    crossbar_rng,
    program_matmul,
    resolve_config,
    run_matmuls,
)
from refsim.nn.functional import as_float64, softmax
from refsim.nn.linear import Linear

__all__ = ["MultiheadAttention", "AttentionCore", "merge_masks"]


def _float_mask(mask, name: str) -> np.ndarray:
    """Bool mask (True = not allowed) -> additive float mask (-inf); float mask as is."""
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        return np.where(m, -np.inf, 0.0)
    return as_float64(m, name)


def merge_masks(attn_mask, key_padding_mask, n_batch: int, num_heads: int, L: int, S: int):
    """Combine PyTorch's two masks into one additive mask of shape (N, H, L, S) (L13).

    Boolean entries that are True mean "may not attend" and become ``-inf``;
    float entries are added to the scores. ``attn_mask`` is (L, S) or
    (N*H, L, S); ``key_padding_mask`` is (N, S). Returns None if both are None.
    """
    out = None
    if attn_mask is not None:
        m = _float_mask(attn_mask, "attn_mask")
        if m.shape == (L, S):
            out = np.broadcast_to(m, (n_batch, num_heads, L, S))
        elif m.shape == (n_batch * num_heads, L, S):
            out = m.reshape(n_batch, num_heads, L, S)  # (N, H, L, S)
        else:
            raise ValueError(
                f"attn_mask: received shape {m.shape}; expected shape {(L, S)} or {(n_batch * num_heads, L, S)}"
            )
    if key_padding_mask is not None:
        kp = _float_mask(key_padding_mask, "key_padding_mask")
        if kp.shape != (n_batch, S):
            raise ValueError(f"key_padding_mask: received shape {kp.shape}; expected shape {(n_batch, S)}")
        kp = kp[:, None, None, :]  # (N, 1, 1, S)
        out = kp + (0.0 if out is None else out)
    return None if out is None else np.broadcast_to(out, (n_batch, num_heads, L, S))


class AttentionCore:
    """Scaled dot-product attention per head (L13): the activation-by-activation products
    ``Q K^T`` and ``A V``.

    Digital by default. With ``runtime_config``, for each (batch, head) a
    crossbar is programmed at run time with ``K^T`` (d, S) and multiplied by
    ``Q/sqrt(d)``, and another with ``V`` (S, d) multiplied by ``A``; their
    programming noise is drawn from ``runtime_rng`` (a stream held by the
    layer, so draws depend on the sequence of calls, as run-time writes do).

    Shapes: q (N, H, L, d), k (N, H, S, d), v (N, H, S, d), mask (N, H, L, S)
    or None -> o (N, H, L, d), attention weights (N, H, L, S).
    """

    kind = "attention"

    def __init__(self, *, name: str, runtime_config=None, seed: int = 0):
        self.name = name
        self.config = resolve_config(runtime_config, name)
        self.runtime_rng = crossbar_rng(check_seed(seed), name + ".runtime")
        self.n_arrays = 0  # no weights programmed ahead of time

    def _products(self, a_rows, b_mats, stats):
        """``a_rows[n, h] @ b_mats[n, h]`` for every (n, h), on run-time-programmed arrays."""
        n_b, n_h = a_rows.shape[:2]
        out = np.empty(a_rows.shape[:-1] + (b_mats.shape[-1],))
        check_calibrated(self.config, f"layer {self.name!r} (run-time arrays)")
        for n in range(n_b):
            for h in range(n_h):
                xb = program_matmul(np.ascontiguousarray(b_mats[n, h]), self.config, self.runtime_rng, self.name)
                (out[n, h],) = run_matmuls([xb], [a_rows[n, h]], stats)
        return out

    def forward(self, q, k, v, mask=None, *, digital: bool = False, records: dict | None = None):
        """Return ``(o, attn)``. ``records``: a dict that receives this layer's :class:`LayerRecord`."""
        check_forward_args(digital, records)
        d = q.shape[-1]
        qs = q * (1.0 / math.sqrt(d))  # scale q first, as PyTorch does
        runtime = self.config is not None and not digital
        stats = [] if records is not None else None
        if runtime:
            scores = self._products(qs, np.swapaxes(k, -1, -2), stats)  # (N, H, L, S)
        else:
            scores = qs @ np.swapaxes(k, -1, -2)  # (N, H, L, S)
        if mask is not None:
            scores = scores + mask
        attn = softmax(scores, axis=-1)  # (N, H, L, S)
        o = self._products(attn, v, stats) if runtime else attn @ v  # (N, H, L, d)
        if records is not None:
            records[self.name] = LayerRecord(
                name=self.name, kind=self.kind, input=q, output=o, analog=runtime,
                n_arrays=2 * q.shape[0] * q.shape[1] if runtime else 0,
                clip_fraction=combine_clip_fractions(stats) if runtime else float("nan"),
                runtime_arrays=runtime, extra={"k": k, "v": v, "mask": mask},
                stats=combine_stats(stats) if runtime else {},
            )
        return o, attn

    __call__ = forward

    def digital_replay(self, rec):
        """Core output recomputed digitally from a record's q, k, v and mask."""
        return self.forward(rec.input, rec.extra["k"], rec.extra["v"], rec.extra["mask"], digital=True)[0]


class MultiheadAttention:
    """PyTorch ``nn.MultiheadAttention`` (``kdim = vdim = embed_dim``, eval mode; L13).

    Parameters
    ----------
    params : dict
        ``in_proj_weight`` (3E, E), optional ``in_proj_bias`` (3E,),
        ``out_proj.weight`` (E, E), optional ``out_proj.bias`` (E,).
    num_heads : int
        Must divide E.
    batch_first : bool
        Inputs (N, L, E) instead of (L, N, E). Unbatched (L, E) is accepted.
    runtime_config : CrossbarConfig or None
        If given, ``QK^T`` and ``AV`` run on arrays programmed at run time.
    name, config, seed
        As for :class:`refsim.nn.Linear`; the projections are named
        ``{name}.q_proj``, ``.k_proj``, ``.v_proj``, ``.out_proj``.
    """

    kind = "attention"

    def __init__(self, params: dict, num_heads: int, *, batch_first: bool = False, name: str = "self_attn",
                 config=None, seed: int = 0, runtime_config=None):
        if not isinstance(params, dict):
            raise TypeError(f"params: received {type(params).__name__}; expected a dict")
        unsupported = {"q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v"} & set(params)
        if unsupported:
            raise NotImplementedError(
                f"{name}: kdim/vdim != embed_dim and add_bias_kv are not supported (keys {sorted(unsupported)})."
            )
        allowed = {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}
        missing = sorted({"in_proj_weight", "out_proj.weight"} - set(params))
        extra = sorted(set(params) - allowed)
        if missing or extra:
            raise ValueError(f"{name} params: received missing keys {missing}, unexpected keys {extra}; expected {sorted(allowed)}")
        w_in = as_float64(params["in_proj_weight"], f"{name}.in_proj_weight", ndim=2, finite=True)
        E = w_in.shape[1]
        if w_in.shape != (3 * E, E):
            raise ValueError(f"{name}.in_proj_weight: received shape {w_in.shape}; expected shape {(3 * E, E)}")
        if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or num_heads < 1 or E % num_heads:
            raise ValueError(f"num_heads: received {num_heads!r}; expected a positive int dividing embed_dim={E}")
        b_in = params.get("in_proj_bias")
        if b_in is not None:
            b_in = as_float64(b_in, f"{name}.in_proj_bias", ndim=1, finite=True)
            if b_in.shape != (3 * E,):
                raise ValueError(f"{name}.in_proj_bias: received shape {b_in.shape}; expected shape {(3 * E,)}")
        self.name, self.embed_dim, self.num_heads = name, E, int(num_heads)
        self.batch_first = bool(batch_first)
        self.config = resolve_config(config, name)
        kw = dict(config=config, seed=seed)
        self.q_proj, self.k_proj, self.v_proj = (
            Linear(w_in[i * E : (i + 1) * E], None if b_in is None else b_in[i * E : (i + 1) * E],
                   name=f"{name}.{p}", **kw)
            for i, p in enumerate(("q_proj", "k_proj", "v_proj"))
        )
        self.out_proj = Linear(params["out_proj.weight"], params.get("out_proj.bias"), name=f"{name}.out_proj", **kw)
        self.core = AttentionCore(name=f"{name}.attn", runtime_config=runtime_config, seed=seed)

    def layers(self) -> dict:
        """Layers with a record, by name: the four projections and the attention core."""
        return {m.name: m for m in (self.q_proj, self.k_proj, self.v_proj, self.core, self.out_proj)}

    @property
    def n_arrays(self) -> int:
        return sum(m.n_arrays for m in (self.q_proj, self.k_proj, self.v_proj, self.out_proj))

    def _to_nle(self, t, label):
        t = as_float64(t, label, ndim=(2, 3))
        if t.shape[-1] != self.embed_dim:
            raise ValueError(f"{label}: received shape {t.shape}; expected a last axis of embed_dim={self.embed_dim}")
        if t.ndim == 2:
            return t[None]  # (1, L, E)
        return t if self.batch_first else t.transpose(1, 0, 2)  # (N, L, E)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False, *, digital: bool = False,
                records: dict | None = None):
        """PyTorch-compatible forward; returns ``(attn_output, attn_weights or None)``.

        Shapes (batch_first=False): query (L, N, E), key/value (S, N, E) ->
        attn_output (L, N, E); weights (N, L, S) averaged over heads, or
        (N, H, L, S) with ``average_attn_weights=False``. ``is_causal`` is a
        hint only (as in PyTorch): pass the causal ``attn_mask`` as well. ``records``: a dict that
        receives the records of the four projections and the attention core.
        """
        check_forward_args(digital, records)
        if is_causal and attn_mask is None:
            raise ValueError("is_causal=True requires attn_mask (the causal mask), as in PyTorch.")
        unbatched = np.ndim(query) == 2
        q_in, k_in, v_in = (self._to_nle(t, lab) for t, lab in ((query, "query"), (key, "key"), (value, "value")))
        n_b, L, E = q_in.shape
        S, H = k_in.shape[1], self.num_heads
        if k_in.shape[0] != n_b or v_in.shape[:2] != k_in.shape[:2]:
            raise ValueError(f"key, value: received shapes {np.shape(key)}, {np.shape(value)}; expected the query's batch and "
                             "equal leading shapes")
        if unbatched and key_padding_mask is not None:
            key_padding_mask = np.asarray(key_padding_mask)[None]
        mask = merge_masks(attn_mask, key_padding_mask, n_b, H, L, S)
        split = lambda t: t.reshape(n_b, -1, H, E // H).transpose(0, 2, 1, 3)  # (N, H, T, d)
        kw = dict(digital=digital, records=records)
        q = split(self.q_proj.forward(q_in, **kw))
        k = split(self.k_proj.forward(k_in, **kw))
        v = split(self.v_proj.forward(v_in, **kw))
        o, attn = self.core.forward(q, k, v, mask, **kw)
        o = o.transpose(0, 2, 1, 3).reshape(n_b, L, E)  # (N, L, E)
        y = self.out_proj.forward(o, **kw)
        if unbatched:
            y, attn = y[0], attn[0]
        elif not self.batch_first:
            y = y.transpose(1, 0, 2)  # (L, N, E)
        if not need_weights:
            return y, None
        return y, (attn.mean(axis=-3) if average_attn_weights else attn)

    __call__ = forward
