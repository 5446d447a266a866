r"""textgenrnn's character language model on crossbars (Woolf, ``textgenrnn``, MIT licence).

The architecture of ``textgenrnn/model.py`` (``textgenrnn_model``, no context input)::

    ids (N, L) -> embedding (V, D) -> rnn_1 LSTM(H) -> ... -> rnn_K LSTM(H)
      -> rnn_concat = [embedded, rnn_1, ..., rnn_K] (N, L, C), C = D + K H
      -> attention (AttentionWeightedAverage, one weight per channel) (N, C)
      -> output Dense(V) (softmax in Keras; here the logits)

The shipped model has V = 465 (464 characters and the padding index 0), D = 100, K = 2,
H = 128, L = 40. Crossbars hold the LSTM matrices (two per LSTM, as :class:`refsim.nn.LSTM`)
and the output layer (:class:`refsim.nn.Linear`); the embedding lookup and the attention
average are digital and exact (the attention has one weight per channel: a dot product
with a vector, not a matrix layer). Parameter names follow PyTorch (``embedding.weight``,
``rnn_1.weight_ih_l0``, ..., ``attention.weight``, ``output.weight``, ``output.bias``);
:mod:`refsim.tools.textgenrnn` maps the Keras file onto them.
"""
from __future__ import annotations

import re

import numpy as np

from refsim.nn.engine import check_forward_args, check_seed
from refsim.nn.functional import as_float64
from refsim.nn.linear import Linear
from refsim.nn.lstm import LSTM

__all__ = ["KERAS_EPSILON", "attention_weighted_average", "TextgenRNN"]

#: ``K.epsilon()`` of Keras (default 1e-7), added to the attention's normalizer.
KERAS_EPSILON = 1e-7

_RNN = re.compile(r"^rnn_(\d+)\.(.+)$")


def attention_weighted_average(x: np.ndarray, w: np.ndarray, eps: float = KERAS_EPSILON):
    """textgenrnn's ``AttentionWeightedAverage`` (no mask, L17), digital and exact.

    Parameters
    ----------
    x : ndarray (N, L, C)
    w : ndarray (C,), one attention weight per channel.
    eps : Keras' ``K.epsilon()`` (1e-7).

    Returns
    -------
    y : (N, C), and the attention weights a : (N, L).
    """
    s = x @ w  # (N, L)
    e = np.exp(s - np.max(s, axis=-1, keepdims=True))
    a = e / (np.sum(e, axis=-1, keepdims=True) + eps)
    return np.einsum("nl,nlc->nc", a, x), a


class TextgenRNN:
    """textgenrnn's network (module docstring) with its weight matmuls on crossbars.

    Parameters
    ----------
    params : dict
        ``embedding.weight`` (V, D); for k = 1..K, ``rnn_{k}.weight_ih_l0`` (4H, in_k),
        ``rnn_{k}.weight_hh_l0`` (4H, H), ``rnn_{k}.bias_ih_l0``, ``rnn_{k}.bias_hh_l0`` (4H,)
        (PyTorch layout and gate order i, f, g, o; in_1 = D, in_k = H); ``attention.weight``
        (C,), C = D + K H; ``output.weight`` (V, C), ``output.bias`` (V,).
    config : CrossbarConfig, None (exact digital) or callable ``layer name -> config``.
        The layers are named ``rnn_1``, ..., ``rnn_K`` and ``output`` (Keras' names).
    seed : int, network seed (:func:`refsim.nn.crossbar_rng`).

    Shapes: token ids (N, L) (or (L,)) -> logits (N, V) (or (V,)).
    """

    def __init__(self, params: dict, *, config=None, seed: int = 0):
        if not isinstance(params, dict):
            raise TypeError(f"params: received {type(params).__name__}; expected a dict of arrays")
        seed = check_seed(seed)
        n_rnn = max((int(m.group(1)) for k in params if (m := _RNN.match(k))), default=0)
        fixed = {"embedding.weight", "attention.weight", "output.weight", "output.bias"}
        missing = sorted(fixed - set(params))
        extra = sorted(k for k in params if k not in fixed and not ((m := _RNN.match(k)) and int(m.group(1)) >= 1))
        if missing or extra or n_rnn < 1:
            raise ValueError(f"params: missing keys {missing + ([] if n_rnn else ['rnn_1.*'])}, unexpected "
                             f"keys {extra}; expected embedding.weight, rnn_1.* .. rnn_K.*, attention.weight, "
                             "output.weight, output.bias")
        self.embedding = as_float64(params["embedding.weight"], "embedding.weight", ndim=2).copy()
        V, D = self.embedding.shape
        self.rnns = []
        for k in range(1, n_rnn + 1):
            sub = {m.group(2): v for key, v in params.items() if (m := _RNN.match(key)) and int(m.group(1)) == k}
            if not sub:
                raise ValueError(f"params: no rnn_{k}.* keys although rnn_{n_rnn}.* exist")
            lstm = LSTM(sub, batch_first=True, name=f"rnn_{k}", config=config, seed=seed)
            n_in = D if k == 1 else self.rnns[-1].hidden_size
            if lstm.num_layers != 1 or lstm.bidirectional or lstm.input_size != n_in or not lstm.has_bias:
                raise ValueError(f"rnn_{k}: received a {lstm.num_layers}-layer{' bidirectional' * lstm.bidirectional}"
                                 f" LSTM with input size {lstm.input_size}, bias {lstm.has_bias}; expected one "
                                 f"unidirectional layer with biases and input size {n_in}")
            self.rnns.append(lstm)
        C = D + sum(r.hidden_size for r in self.rnns)
        self.attention = as_float64(params["attention.weight"], "attention.weight", ndim=1).copy()
        if self.attention.shape != (C,):
            raise ValueError(f"attention.weight: received shape {self.attention.shape}; expected ({C},) "
                             f"(embedding {D} + LSTM outputs)")
        self.output = Linear(params["output.weight"], params["output.bias"], name="output", config=config, seed=seed)
        if self.output.weight.shape != (V, C):
            raise ValueError(f"output.weight: received shape {self.output.weight.shape}; expected ({V}, {C})")
        self.num_classes, self.embedding_dim = V, D

    def layers(self) -> dict:
        """The crossbar-backed layers by name: ``rnn_1``, ..., ``rnn_K``, ``output``."""
        return {**{r.name: r for r in self.rnns}, self.output.name: self.output}

    @property
    def n_arrays(self) -> int:
        return sum(layer.n_arrays for layer in self.layers().values())

    def _ids(self, ids) -> tuple[np.ndarray, bool]:
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2) or arr.shape[-1] < 1:
            raise TypeError(f"ids: received dtype {arr.dtype}, shape {arr.shape}; expected integer token ids "
                            "of shape (N, L) or (L,), L >= 1")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_classes):
            raise ValueError(f"ids: received values in [{arr.min()}, {arr.max()}]; expected 0 .. "
                             f"{self.num_classes - 1}")
        return (arr[None] if arr.ndim == 1 else arr), arr.ndim == 1

    def features(self, ids, *, digital: bool = False, records: dict | None = None):
        """The concatenation ``[embedded, rnn_1, ..., rnn_K]`` (N, L, C) that the attention averages."""
        check_forward_args(digital, records)
        x, _ = self._ids(ids)
        seq = [self.embedding[x]]  # (N, L, D), digital lookup
        for rnn in self.rnns:
            seq.append(rnn.forward(seq[-1], digital=digital, records=records)[0])  # (N, L, H)
        return np.concatenate(seq, axis=-1)

    def forward(self, ids, *, digital: bool = False, records: dict | None = None):
        """Logits (N, V) of the next character after each row of ``ids`` (N, L).

        ``digital=True``: exact float64 matmuls with the same weights; ``records``: a dict that
        receives the :class:`~refsim.nn.LayerRecord` of ``rnn_1`` .. ``rnn_K`` and ``output``.
        """
        _, unbatched = self._ids(ids)
        feats = self.features(ids, digital=digital, records=records)
        pooled, _ = attention_weighted_average(feats, self.attention)
        logits = self.output.forward(pooled, digital=digital, records=records)
        return logits[0] if unbatched else logits

    __call__ = forward
