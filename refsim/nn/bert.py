r"""BERT encoder (Hugging Face ``BertModel``, eval mode) with mean pooling: sentence embeddings.

Sentence-transformers models such as all-MiniLM-L6-v2 (6 layers, hidden 384,
12 heads) are this network followed by mean pooling and normalization to unit
Euclidean norm: the equations of docs/MODEL.md (L16), with input ids ``t`` (N, L),
token types ``s`` (N, L) and attention mask ``m`` (N, L) (1 = token, 0 = padding).

Each encoder layer is a post-norm :class:`refsim.nn.TransformerEncoderLayer`
with exact GELU and ``eps = layer_norm_eps``: its six weight matrices (Q, K, V,
attention output, intermediate, output) are :class:`refsim.nn.Linear` layers on
crossbars; ``QK^T`` and ``AV`` are digital, or analog on arrays programmed at
run time with ``runtime_config`` (:class:`refsim.nn.AttentionCore`). The
embedding lookups, LayerNorms, GELU, residual adds, softmax and pooling are
digital and exact. Hugging Face's names map to refsim's (layer ``i``)::

    encoder.layer.i.attention.self.{query,key,value}  -> encoder.layer.i.self_attn.{q,k,v}_proj
    encoder.layer.i.attention.output.dense            -> encoder.layer.i.self_attn.out_proj
    encoder.layer.i.attention.output.LayerNorm        -> norm1 of encoder layer i
    encoder.layer.i.intermediate.dense                -> encoder.layer.i.linear1
    encoder.layer.i.output.dense                      -> encoder.layer.i.linear2
    encoder.layer.i.output.LayerNorm                  -> norm2 of encoder layer i

BERT adds a large negative number to the scores of padded keys; refsim adds
``-inf``: both give them weight exactly 0. ``pooler.*`` (the CLS pooler, not
used by mean pooling) and the ``embeddings.position_ids`` buffer are ignored.
"""
from __future__ import annotations

import re

import numpy as np

from refsim.nn.engine import check_forward_args
from refsim.nn.functional import layer_norm
from refsim.nn.statedict import check_state_dict, strip_prefix
from refsim.nn.transformer import TransformerEncoderLayer

__all__ = ["BertEncoder", "bert_param_shapes", "bert_dims"]

#: Keys of a Hugging Face BertModel state dict that the sentence encoder does not use.
_UNUSED = re.compile(r"^(pooler\..*|embeddings\.position_ids)$")


def bert_param_shapes(vocab_size: int, hidden: int, n_layers: int, intermediate: int, max_positions: int,
                      type_vocab_size: int) -> dict:
    """Every parameter of a Hugging Face ``BertModel`` (without pooler) -> its shape."""
    h, f = hidden, intermediate
    shapes = {"embeddings.word_embeddings.weight": (vocab_size, h),
              "embeddings.position_embeddings.weight": (max_positions, h),
              "embeddings.token_type_embeddings.weight": (type_vocab_size, h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,)}
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        for m in ("query", "key", "value"):
            shapes[f"{p}attention.self.{m}.weight"], shapes[f"{p}attention.self.{m}.bias"] = (h, h), (h,)
        shapes.update({f"{p}attention.output.dense.weight": (h, h), f"{p}attention.output.dense.bias": (h,),
                       f"{p}attention.output.LayerNorm.weight": (h,), f"{p}attention.output.LayerNorm.bias": (h,),
                       f"{p}intermediate.dense.weight": (f, h), f"{p}intermediate.dense.bias": (f,),
                       f"{p}output.dense.weight": (h, f), f"{p}output.dense.bias": (h,),
                       f"{p}output.LayerNorm.weight": (h,), f"{p}output.LayerNorm.bias": (h,)})
    return shapes


def bert_dims(state_dict: dict) -> dict:
    """Architecture sizes read from a state dict's shapes (``bert.`` prefix stripped)."""
    sd = strip_prefix(state_dict, "bert.")
    try:
        vocab, hidden = np.shape(sd["embeddings.word_embeddings.weight"])
        n_layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"^encoder\.layer\.(\d+)\.", k)))
        return {"vocab_size": int(vocab), "hidden": int(hidden), "n_layers": n_layers,
                "intermediate": int(np.shape(sd["encoder.layer.0.intermediate.dense.weight"])[0]),
                "max_positions": int(np.shape(sd["embeddings.position_embeddings.weight"])[0]),
                "type_vocab_size": int(np.shape(sd["embeddings.token_type_embeddings.weight"])[0])}
    except (KeyError, ValueError) as exc:
        raise ValueError(f"state_dict: not a BERT model (no {exc}); expected Hugging Face BertModel keys "
                         "such as 'embeddings.word_embeddings.weight' and 'encoder.layer.0.*'.") from None


def _layer_params(p: dict, i: int) -> dict:
    """Hugging Face keys of encoder layer ``i`` -> :class:`TransformerEncoderLayer` keys."""
    pre = f"encoder.layer.{i}."
    g = lambda k: p[pre + k]  # noqa: E731
    qkv = [f"attention.self.{m}" for m in ("query", "key", "value")]
    return {
        "self_attn.in_proj_weight": np.concatenate([g(f"{k}.weight") for k in qkv]),  # (3H, H)
        "self_attn.in_proj_bias": np.concatenate([g(f"{k}.bias") for k in qkv]),  # (3H,)
        "self_attn.out_proj.weight": g("attention.output.dense.weight"),
        "self_attn.out_proj.bias": g("attention.output.dense.bias"),
        "norm1.weight": g("attention.output.LayerNorm.weight"), "norm1.bias": g("attention.output.LayerNorm.bias"),
        "linear1.weight": g("intermediate.dense.weight"), "linear1.bias": g("intermediate.dense.bias"),
        "linear2.weight": g("output.dense.weight"), "linear2.bias": g("output.dense.bias"),
        "norm2.weight": g("output.LayerNorm.weight"), "norm2.bias": g("output.LayerNorm.bias"),
    }


class BertEncoder:
    r"""BERT encoder with mean pooling and unit-norm normalization (L16).

    Parameters
    ----------
    state_dict : dict
        Hugging Face ``BertModel`` parameters (an optional ``bert.`` prefix is
        stripped; ``pooler.*`` and ``embeddings.position_ids`` are ignored).
    num_heads : int
        Attention heads (``num_attention_heads`` of the model's config.json).
    layer_norm_eps : float
        ``layer_norm_eps`` of config.json (1e-12 for BERT).
    normalize : bool
        Normalize the pooled embedding to unit Euclidean norm (sentence-transformers' ``Normalize``).
    config, seed, runtime_config
        As for :class:`refsim.nn.TransformerEncoderLayer`; layer names are
        listed in the module docstring (``config`` may be a callable of them).

    Shapes: input_ids, attention_mask, token_type_ids (N, L) int -> (N, hidden).
    """

    kind = "bert"

    def __init__(self, state_dict: dict, num_heads: int, *, layer_norm_eps: float = 1e-12, normalize: bool = True,
                 config=None, seed: int = 0, runtime_config=None):
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict: received {type(state_dict).__name__}; expected a dict of arrays.")
        sd = {k: v for k, v in strip_prefix(state_dict, "bert.").items() if not _UNUSED.match(k)}
        self.dims = bert_dims(sd)
        p = check_state_dict(sd, bert_param_shapes(**self.dims), "BERT")
        if not layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps: received {layer_norm_eps!r}; expected a float > 0.")
        self.eps, self.normalize = float(layer_norm_eps), bool(normalize)
        self.word = p["embeddings.word_embeddings.weight"]  # (V, H)
        self.position = p["embeddings.position_embeddings.weight"]  # (P, H)
        self.token_type = p["embeddings.token_type_embeddings.weight"]  # (T, H)
        self.emb_norm = (p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"])
        self.encoder = [
            TransformerEncoderLayer(_layer_params(p, i), num_heads, activation="gelu", layer_norm_eps=self.eps,
                                    batch_first=True, name=f"encoder.layer.{i}", config=config, seed=seed,
                                    runtime_config=runtime_config)
            for i in range(self.dims["n_layers"])
        ]

    @property
    def hidden_size(self) -> int:
        return self.dims["hidden"]

    def layers(self) -> dict:
        """Layers with a record, by name, in execution order."""
        return {name: m for layer in self.encoder for name, m in layer.layers().items()}

    @property
    def n_arrays(self) -> int:
        """Physical arrays holding the weights (0 if digital)."""
        return sum(layer.self_attn.n_arrays + layer.linear1.n_arrays + layer.linear2.n_arrays
                   for layer in self.encoder)

    def _inputs(self, input_ids, attention_mask, token_type_ids):
        if hasattr(input_ids, "input_ids"):  # a refsim.tools.wordpiece.Encoding
            enc = input_ids
            input_ids = enc.input_ids
            attention_mask = enc.attention_mask if attention_mask is None else attention_mask
            token_type_ids = enc.token_type_ids if token_type_ids is None else token_type_ids
        ids = self._int_array(input_ids, "input_ids", self.dims["vocab_size"])
        n, L = ids.shape
        if L > self.dims["max_positions"]:
            raise ValueError(f"input_ids: received {L} tokens a sentence; expected at most "
                             f"{self.dims['max_positions']} (the position embeddings).")
        mask = np.ones_like(ids) if attention_mask is None else self._int_array(attention_mask, "attention_mask", 2)
        types = np.zeros_like(ids) if token_type_ids is None else self._int_array(
            token_type_ids, "token_type_ids", self.dims["type_vocab_size"])
        for name, a in (("attention_mask", mask), ("token_type_ids", types)):
            if a.shape != ids.shape:
                raise ValueError(f"{name}: received shape {a.shape}; expected {ids.shape}, that of input_ids.")
        if mask.size and not mask[:, 0].all():
            raise ValueError(f"attention_mask: row {int(np.argmin(mask[:, 0]))} starts with padding; expected "
                             "1 on every sentence's first token ([CLS]): padding goes on the right.")
        return ids, mask, types

    @staticmethod
    def _int_array(a, name: str, upper: int) -> np.ndarray:
        arr = np.asarray(a)
        if arr.dtype.kind not in "iub" or arr.ndim != 2:
            raise ValueError(f"{name}: received dtype {arr.dtype}, shape {arr.shape}; expected a 2-D int array (N, L).")
        if arr.size and (arr.min() < 0 or arr.max() >= upper):
            raise ValueError(f"{name}: received values in [{arr.min()}, {arr.max()}]; expected 0 <= value < {upper}.")
        return arr.astype(np.int64)

    def embed(self, input_ids, token_type_ids=None) -> np.ndarray:
        r""":math:`x^{(0)}` (N, L, H): the embedding lookups and their LayerNorm, digital."""
        ids, _, types = self._inputs(input_ids, None, token_type_ids)
        x = self.word[ids] + self.token_type[types] + self.position[: ids.shape[1]]  # (N, L, H)
        return layer_norm(x, *self.emb_norm, self.eps)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, *, digital: bool = False,
                records: dict | None = None) -> np.ndarray:
        """Sentence embeddings ``e`` (N, H); ``input_ids`` may be a :class:`refsim.tools.wordpiece.Encoding`.

        ``records``: a dict that receives the :class:`LayerRecord` of every crossbar layer.
        """
        check_forward_args(digital, records)
        ids, mask, types = self._inputs(input_ids, attention_mask, token_type_ids)
        x = self._hidden(ids, mask, types, digital, records)  # (N, L, H)
        m = mask[..., None].astype(np.float64)  # (N, L, 1)
        u = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)  # (N, H)
        if not self.normalize:
            return u
        return u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)

    __call__ = forward

    def token_embeddings(self, input_ids, attention_mask=None, token_type_ids=None, *,
                         digital: bool = False) -> np.ndarray:
        r"""Last hidden state :math:`x^{(n)}` (N, L, H), before pooling."""
        check_forward_args(digital, None)
        ids, mask, types = self._inputs(input_ids, attention_mask, token_type_ids)
        return self._hidden(ids, mask, types, digital, None)

    def _hidden(self, ids, mask, types, digital, records):
        x = self.embed(ids, types)  # (N, L, H)
        padded = mask == 0  # (N, L), True = may not be attended to
        for layer in self.encoder:
            x = layer.forward(x, src_key_padding_mask=padded, digital=digital, records=records)
        return x
