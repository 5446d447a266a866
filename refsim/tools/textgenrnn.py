r"""textgenrnn's pretrained character model: import, text encoding, bits per character.

The model ships in the PyPI package ``textgenrnn`` (Max Woolf, MIT licence;
``pip install --no-deps textgenrnn``: without ``--no-deps`` it pulls in TensorFlow, which
refsim does not need; the package's own ``import textgenrnn`` needs TensorFlow, so refsim
only *locates* its data files, :func:`find_textgenrnn_files`). Files read:

* ``textgenrnn_weights.hdf5`` -- Keras 2.1.5 weights (read by :mod:`refsim.io.keras_hdf5`,
  h5py being the optional ``models`` extra);
* ``textgenrnn_vocab.json`` -- ``{character: index}``, indices 1..464 (0 is padding).

**Keras -> PyTorch mapping of the LSTMs** (:func:`lstm_params`). Keras stores ``kernel``
(in, 4H), ``recurrent_kernel`` (H, 4H) with column blocks in gate order i, f, c, o (PyTorch's
i, f, g, o). The shipped file was saved from ``CuDNNLSTM`` (its ``bias`` has 8H entries: the
input bias, then the recurrent bias, both added, as PyTorch's ``bias_ih`` and ``bias_hh``).
``CuDNNLSTM`` hands each gate's (in, H) block to cuDNN flattened row by row, and cuDNN reads
that buffer as the gate's (H, in) matrix ``W`` of ``W x``, so

.. math:: W_{ih}^{(g)} = \mathrm{reshape}_{H\times in}(\mathrm{kernel}[:, gH:(g+1)H]), \qquad
          W_{hh}^{(g)} = \mathrm{recurrent\_kernel}[:, gH:(g+1)H]

(no transpose of the recurrent block: it is (H, H) and already read as ``W h``). This is the
conversion Keras itself applies when it loads CuDNNLSTM weights into an ``LSTM`` (tf.keras
``hdf5_format._convert_rnn_weights``). A plain Keras ``LSTM`` file (bias of 4H) maps as
``W_ih = kernel^T``, ``W_hh = recurrent_kernel^T``, ``b_ih = bias``, ``b_hh = 0``.
textgenrnn builds its LSTMs with ``recurrent_activation='sigmoid'`` "for parity with
CuDNNLSTM" (``textgenrnn/model.py``), which is :class:`refsim.nn.LSTM`'s sigmoid.

**Text** (:func:`normalize_text`): curly quotes to ``'`` and ``"``, em and en dashes to
``-`` (as ../shared/data/README.md suggests for Alice); every run of whitespace (line breaks
included: the vocabulary has no newline) to one space; a character outside the vocabulary
whose Unicode decomposition (NFKD) starts with a vocabulary character becomes that character
(``ù`` -> ``u``). What is still outside the vocabulary is encoded as 0 in a context (as
textgenrnn's ``textgenrnn_encode_sequence``) and is not scored as a target.

**Bits per character** (:func:`bits_per_char`): for scored positions t (every ``stride``-th
from t = ``maxlen`` = 40), the model reads characters t-40 .. t-1 (zero initial state, as a
fresh Keras ``predict``) and the score is the mean of :math:`-\log_2 p(c_t \mid c_{t-40..t-1})`.
"""
from __future__ import annotations

import os
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable

import numpy as np

from refsim.io.errors import CorruptCheckpointError, UnsupportedCheckpointError
from refsim.io.keras_hdf5 import KerasWeights, read_keras_hdf5
from refsim.nn.textgenrnn import TextgenRNN

__all__ = ["MAXLEN", "ASCII_MAP", "TextgenModel", "find_textgenrnn_files", "lstm_params", "keras_to_params", "lstm_layout",
           "load_vocab", "load_textgenrnn", "normalize_text", "encode", "bits_per_char"]

#: Context length of textgenrnn (``config['max_length']``).
MAXLEN = 40
#: Characters mapped to ASCII before encoding.
ASCII_MAP = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-", "\u2013": "-"}


def find_textgenrnn_files() -> tuple[str, str]:
    """Paths of ``textgenrnn_weights.hdf5`` and ``textgenrnn_vocab.json`` in the installed package
    (:func:`refsim.io.packaged.packaged_model_dir`: located, not imported; importing it needs TensorFlow)."""
    from refsim.io.packaged import packaged_model_dir

    d = packaged_model_dir("textgenrnn")
    return os.fspath(d / "textgenrnn_weights.hdf5"), os.fspath(d / "textgenrnn_vocab.json")


def _shapes(kw: KerasWeights, layer: str) -> dict:
    """``{weight name without the layer prefix: shape}`` of ``layer``."""
    return {n.rsplit("/", 1)[-1]: np.shape(a) for n, a in kw.layers.get(layer, {}).items()}


def lstm_layout(kw: KerasWeights, layer: str) -> str:
    """``"CuDNNLSTM"`` (bias of 8H: input and recurrent biases) or ``"LSTM"`` (bias of 4H)."""
    sh = _shapes(kw, layer)
    return "CuDNNLSTM" if sh.get("bias:0") == (2 * sh.get("kernel:0", (0, 0))[-1],) else "LSTM"


def lstm_params(kw: KerasWeights, layer: str, n_in: int) -> dict:
    """PyTorch-layout parameters (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``)
    of the Keras LSTM or CuDNNLSTM ``layer`` (module docstring for the mapping)."""
    stored = kw.layers.get(layer, {})
    if any("forward_" in n or "backward_" in n for n in stored):
        raise UnsupportedCheckpointError(f"{kw.path}: {layer} is a Bidirectional LSTM (weights {list(stored)}); "
                                         "only unidirectional textgenrnn models are supported")
    shapes = _shapes(kw, layer)
    rec = shapes.get("recurrent_kernel:0")
    if rec is None or len(rec) != 2 or rec[1] != 4 * rec[0]:
        raise CorruptCheckpointError(f"{kw.path}: {layer}/recurrent_kernel:0: received shape {rec}; "
                                     "expected (H, 4H)")
    H = rec[0]
    kernel = kw.get(layer, "kernel:0", (n_in, 4 * H))
    recurrent = kw.get(layer, "recurrent_kernel:0", (H, 4 * H))
    if shapes.get("bias:0") == (8 * H,):  # CuDNNLSTM: per gate, the (n_in, H) block read row by row as (H, n_in)
        bias = kw.get(layer, "bias:0", (8 * H,))
        w_ih = np.concatenate([kernel[:, g * H:(g + 1) * H].reshape(H, n_in) for g in range(4)])
        w_hh = np.concatenate([recurrent[:, g * H:(g + 1) * H] for g in range(4)])
        b_ih, b_hh = bias[:4 * H], bias[4 * H:]
    else:  # Keras LSTM: y = x @ kernel
        bias = kw.get(layer, "bias:0", (4 * H,))
        w_ih, w_hh, b_ih, b_hh = kernel.T, recurrent.T, bias, np.zeros(4 * H)
    return {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}


def keras_to_params(kw: KerasWeights) -> dict:
    """refsim/PyTorch parameters of :class:`refsim.nn.TextgenRNN` from textgenrnn's Keras weights.

    Layers read: ``embedding`` (``embeddings:0`` (V, D)), ``rnn_1`` .. ``rnn_K`` (K >= 1, as many
    as the file has), ``attention`` (``attention_W:0`` (C, 1)) and ``output`` (``kernel:0`` (C, V),
    ``bias:0`` (V,)). Every shape is checked; errors name the file and the entry.
    """
    emb = kw.layers.get("embedding", {})
    e = next(iter(emb.values()), None)
    if e is None or e.ndim != 2:
        raise CorruptCheckpointError(f"{kw.path}: embedding/embeddings:0: received "
                                     f"{'nothing' if e is None else e.shape}; expected a (V, D) matrix")
    V, D = e.shape
    params = {"embedding.weight": kw.get("embedding", "embeddings:0", (V, D))}
    n_in, k, C = D, 1, D
    while f"rnn_{k}" in kw.layers:
        for key, arr in lstm_params(kw, f"rnn_{k}", n_in).items():
            params[f"rnn_{k}.{key}"] = arr
        n_in = params[f"rnn_{k}.weight_hh_l0"].shape[1]
        C, k = C + n_in, k + 1
    if k == 1:
        raise CorruptCheckpointError(f"{kw.path}: no layer 'rnn_1'; the file has layers {list(kw.layers)}")
    params["attention.weight"] = kw.get("attention", "attention_W:0", (C, 1))[:, 0]
    params["output.weight"] = kw.get("output", "kernel:0", (C, V)).T
    params["output.bias"] = kw.get("output", "bias:0", (V,))
    return params


def load_vocab(path, num_classes: int | None = None) -> dict:
    """``{token: index}`` from textgenrnn's vocabulary JSON; indices 1 .. V-1, distinct (0 is padding)."""
    from refsim._validate import read_json_file

    path = os.fspath(path)
    expected = "textgenrnn's vocabulary, a JSON object {char: int}"
    vocab = read_json_file(path, f"--vocab: {path!r}", file_expected=expected, json_expected=expected)
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and type(v) is int for k, v in vocab.items()):
        raise ValueError(f"--vocab: {path!r} holds {type(vocab).__name__}; expected a JSON object {{char: int}}")
    idx = sorted(vocab.values())
    if idx != list(range(1, len(vocab) + 1)):
        raise ValueError(f"--vocab: {path!r}: received indices {idx[:3]}..{idx[-3:]}; expected 1 .. {len(vocab)}, "
                         "each once")
    if num_classes is not None and len(vocab) + 1 != num_classes:
        raise ValueError(f"--vocab: {path!r} has {len(vocab)} tokens; the weights expect {num_classes - 1} "
                         "(V - 1, 0 being padding)")
    return vocab


@dataclass
class TextgenModel:
    """A built textgenrnn network with its vocabulary."""

    net: TextgenRNN
    vocab: dict
    weights: str
    vocab_path: str
    lstm_layout: str  # "CuDNNLSTM" or "LSTM"
    build_s: float
    maxlen: int = MAXLEN


def load_textgenrnn(weights=None, vocab=None, config=None, *, seed: int = 0) -> TextgenModel:
    """Build textgenrnn on crossbars. ``weights``/``vocab`` None: the files of the installed package.

    ``config``: CrossbarConfig, None (exact digital) or callable ``layer name -> config``.
    """
    if weights is None or vocab is None:
        try:
            w_pkg, v_pkg = find_textgenrnn_files()
        except FileNotFoundError as exc:
            missing = " and ".join(f for f, v in (("--weights", weights), ("--vocab", vocab)) if v is None)
            raise FileNotFoundError(f"{missing}: not given, and {exc}") from None
        weights, vocab = weights or w_pkg, vocab or v_pkg
    kw = read_keras_hdf5(weights)
    params = keras_to_params(kw)
    layout = lstm_layout(kw, "rnn_1")
    voc = load_vocab(vocab, params["embedding.weight"].shape[0])
    t0 = time.perf_counter()
    net = TextgenRNN(params, config=config, seed=seed)
    return TextgenModel(net, voc, os.fspath(weights), os.fspath(vocab), layout, time.perf_counter() - t0)


def normalize_text(text: str, vocab: dict) -> str:
    """The text as scored (module docstring): ASCII quotes/dashes, single spaces, accents stripped
    where the base character is in ``vocab``."""
    if not isinstance(text, str):
        raise TypeError(f"text: received {type(text).__name__}; expected str")
    text = " ".join(text.translate(str.maketrans(ASCII_MAP)).split())
    out = []
    for ch in text:
        if ch not in vocab:
            base = unicodedata.normalize("NFKD", ch)[:1]
            ch = base if base in vocab else ch
        out.append(ch)
    return "".join(out)


def encode(text: str, vocab: dict) -> np.ndarray:
    """Token ids (len(text),) int64 of single characters; 0 for characters outside ``vocab``."""
    return np.fromiter((vocab.get(ch, 0) for ch in text), dtype=np.int64, count=len(text))


def bits_per_char(model: TextgenModel, text: str, *, limit: int | None = None, stride: int = 1,
                  batch_size: int = 128, digital: bool = False, report: bool = False,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Next-character cross-entropy of ``text`` in bits per character (module docstring).

    Parameters
    ----------
    text : the raw text; :func:`normalize_text` is applied first.
    limit : score at most this many positions (the first ones); None: all.
    stride : score positions t = 40, 40 + stride, 40 + 2 stride, ...
    batch_size : contexts per forward pass.
    digital : exact float64 matmuls instead of the crossbars.
    report : per-layer report (:func:`refsim.nn.layer_report`) of the first batch.

    Returns
    -------
    dict with ``bits_per_char``, ``top1_accuracy`` (argmax = next character), ``n`` (positions
    scored), ``n_skipped_oov`` (targets outside the vocabulary), ``n_chars`` (normalized text
    length), ``seconds`` and, with ``report``, ``layers`` (list of LayerReport).
    """
    from refsim.nn import layer_report

    for label, v in (("stride", stride), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label}: received {v!r}; expected a positive int")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"--limit: received {limit!r}; expected a positive int")
    ids = encode(normalize_text(text, model.vocab), model.vocab)
    L = model.maxlen
    cand = np.arange(L, len(ids), stride)
    known = ids[cand] != 0
    if limit is not None and np.sum(known) > limit:
        cand, known = cand[:np.flatnonzero(known)[limit - 1] + 1], known[:np.flatnonzero(known)[limit - 1] + 1]
    pos, n_oov = cand[known], int(np.sum(~known))
    if len(pos) == 0:
        raise ValueError(f"--data: the text has {len(ids)} characters after normalization; nothing to score "
                         f"(needs more than {L}, with in-vocabulary targets)")
    t0, nll, hits, rows = time.perf_counter(), 0.0, 0, None
    for start in range(0, len(pos), batch_size):
        p = pos[start:start + batch_size]
        ctx = ids[p[:, None] + np.arange(-L, 0)]  # (B, L)
        if report and rows is None:
            logits, rows = layer_report(model.net, ctx, digital=digital)
        else:
            logits = model.net(ctx, digital=digital)  # (B, V)
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
        nll -= float(np.sum(logp[np.arange(len(p)), ids[p]]))
        hits += int(np.sum(np.argmax(logits, axis=1) == ids[p]))
        if progress is not None:
            progress(len(p))
    out = {"bits_per_char": nll / len(pos) / np.log(2), "top1_accuracy": hits / len(pos), "n": int(len(pos)),
           "n_skipped_oov": n_oov, "n_chars": int(len(ids)), "stride": stride,
           "seconds": time.perf_counter() - t0}
    if report:
        out["layers"] = rows
    return out
