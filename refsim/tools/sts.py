r"""Sentence embeddings on crossbars and the STS Benchmark: the Python side of ``refsim eval --model minilm``.

::

    model = load_sentence_model("minilm", config=presets.get("int8"))   # files from the installed package
    pairs = load_sts("../shared/data/sts-b/dev.tsv")
    res = evaluate_sts(model, pairs)                  # analog; digital=True: same weights, exact float64
    res["spearman"]

The score is Spearman's rank correlation between the cosine similarity of the
two sentences' embeddings and the gold scores (0..5) of the pairs:

.. math:: \rho = \mathrm{corr}\big(\mathrm{rank}(\cos(e_{1,i}, e_{2,i})),\ \mathrm{rank}(g_i)\big)

with average ranks for ties (:func:`scipy.stats.spearmanr`);
:math:`\cos(a, b) = a \cdot b / (\lVert a \rVert \lVert b \rVert)`.

**Batching.** Sentences are grouped by token count and each batch holds
sentences of one length only, so there is no padding: a sentence's embedding
does not depend on which others share its batch, also when ``QK^T`` and ``AV``
run on arrays programmed at run time (padded keys would otherwise be
programmed into them and take part in their weight scaling).
"""
from __future__ import annotations

import csv
import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.stats import pearsonr, spearmanr

from refsim._validate import check_int, check_scalar, read_json_file, read_text_file, received
from refsim.nn.bert import BertEncoder
from refsim.nn.engine import announcing
from refsim.tools.wordpiece import WordPieceTokenizer

__all__ = ["SentenceModel", "StsData", "load_sentence_model", "encode_sentences", "load_sts", "evaluate_sts",
           "calibration_sentences", "calibrate_sentence_model", "SENTENCE_MODELS"]

#: Accepted ``--model`` values for sentence-embedding models.
SENTENCE_MODELS = ("minilm",)


@dataclass
class SentenceModel:
    """A tokenizer and a :class:`refsim.nn.BertEncoder`, with where they came from."""

    encoder: BertEncoder
    tokenizer: WordPieceTokenizer
    name: str
    weights: str  # path of the weights file
    build_s: float  # wall time to build (program) the encoder, s

    @property
    def net(self) -> BertEncoder:
        return self.encoder


def _read_json(path: Path) -> dict:
    """A JSON object file of the model (config.json...); every defect a ValueError naming the file."""
    where = f"--weights: {Path(path).name} {str(path)!r}"
    expected = "a JSON object (the model's configuration)"
    data = read_json_file(path, where, file_expected=expected, json_expected=expected)
    if not isinstance(data, dict):
        raise ValueError(received(where, f"JSON of type {type(data).__name__}", expected))
    return data


def load_sentence_model(model: str = "minilm", weights=None, config=None, *, seed: int = 0, runtime_config=None,
                        on_layer: Callable[[str], None] | None = None) -> SentenceModel:
    """Build a sentence-embedding model from its files.

    Parameters
    ----------
    model : ``"minilm"`` (all-MiniLM-L6-v2).
    weights : None (the file in the installed package, :func:`refsim.io.packaged.packaged_model_dir`),
        a ``model.safetensors`` path or a directory holding one. ``config.json`` and
        ``vocab.txt`` are read beside it, or from the package where absent there.
    config, seed, runtime_config : as for :class:`refsim.nn.BertEncoder`.
    on_layer : called with each crossbar layer's name just before it is programmed.

    Raises
    ------
    ValueError, FileNotFoundError, NotImplementedError : unknown model, missing or unfit files.
    """
    from refsim.io import CheckpointError, load_state_dict
    from refsim.io.packaged import packaged_model_dir

    if model not in SENTENCE_MODELS:
        raise ValueError(f"--model: received {model!r}; expected one of {SENTENCE_MODELS}.")
    if weights is None:
        path = packaged_model_dir(model) / "model.safetensors"
    else:
        path = Path(os.fspath(weights))
        path = path / "model.safetensors" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"--weights: no weights file at {str(path)!r}")
    files = {}
    for f in ("config.json", "vocab.txt", "sentence_bert_config.json", "1_Pooling/config.json"):
        here = path.parent / f
        files[f] = here if here.is_file() else None
    if files["config.json"] is None or files["vocab.txt"] is None:
        try:
            pkg = packaged_model_dir(model)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"--weights: no config.json and vocab.txt beside {str(path)!r}, and {exc}") from None
        files = {f: (p if p is not None else (pkg / f if (pkg / f).is_file() else None)) for f, p in files.items()}
    cfg = _read_json(files["config.json"])
    heads = check_int(f"--weights: config.json {str(files['config.json'])!r}: num_attention_heads",
                      cfg.get("num_attention_heads"), low=1, high=1 << 16)
    eps = check_scalar(f"--weights: config.json {str(files['config.json'])!r}: layer_norm_eps",
                       cfg.get("layer_norm_eps", 1e-12), low=0.0, low_open=True)
    if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise NotImplementedError(f"config.json: hidden_act {cfg.get('hidden_act')!r}, position_embedding_type "
                                  f"{cfg.get('position_embedding_type')!r}; refsim supports 'gelu' and 'absolute'.")
    if files["1_Pooling/config.json"] is not None and not _read_json(files["1_Pooling/config.json"]).get(
            "pooling_mode_mean_tokens", False):
        raise NotImplementedError("1_Pooling/config.json: only mean pooling (pooling_mode_mean_tokens) is supported.")
    st = _read_json(files["sentence_bert_config.json"]) if files["sentence_bert_config.json"] else {}
    max_length = check_int(f"--weights: sentence_bert_config.json {str(files['sentence_bert_config.json'])!r}: "
                           "max_seq_length", st.get("max_seq_length", 512), low=1, high=1 << 20)
    tokenizer = WordPieceTokenizer(files["vocab.txt"], max_length=max_length)
    try:
        sd = load_state_dict(path)
    except CheckpointError as exc:
        raise ValueError(f"--weights: cannot read {str(path)!r}: {exc}") from None
    cb = announcing(config, on_layer)
    t0 = time.perf_counter()
    enc = BertEncoder(sd, heads, layer_norm_eps=eps,
                      config=cb, seed=seed, runtime_config=runtime_config)
    return SentenceModel(enc, tokenizer, model, str(path), time.perf_counter() - t0)


def encode_sentences(model: SentenceModel, sentences, *, batch_size: int = 64, digital: bool = False,
                     progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Embeddings (N, H) of ``sentences``, in batches of sentences of equal token count.

    ``progress(b)`` is called after each batch of ``b`` sentences.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size: received {batch_size!r}; expected a positive int.")
    sentences = list(sentences)
    enc = model.tokenizer(sentences, padding="longest") if sentences else None
    out = np.empty((len(sentences), model.encoder.hidden_size))
    if not sentences:
        return out
    lengths = enc.attention_mask.sum(axis=1)  # (N,)
    for L in np.unique(lengths):
        idx = np.flatnonzero(lengths == L)
        for start in range(0, len(idx), batch_size):
            b = idx[start : start + batch_size]
            out[b] = model.encoder(enc.input_ids[b, :L], enc.attention_mask[b, :L], enc.token_type_ids[b, :L],
                                   digital=digital)
            if progress is not None:
                progress(len(b))
    return out


@dataclass
class StsData:
    """Sentence pairs with gold similarity scores (0..5)."""

    sentence1: list
    sentence2: list
    scores: np.ndarray  # (N,) float64

    def __len__(self) -> int:
        return len(self.scores)


def load_sts(path, *, limit: int | None = None) -> StsData:
    """Read an STS-B ``.tsv`` (GLUE layout: header with ``sentence1``, ``sentence2``, ``score``).

    Lines are split on tabs with quoting off (some sentences hold unbalanced
    double quotes). ``limit`` keeps the first ``limit`` pairs.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"--limit: received {limit!r}; expected a positive int.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--data: no STS-B .tsv file at {os.fspath(path)!r}")
    text = read_text_file(path, "--data", "a UTF-8 STS-B .tsv file (GLUE layout)", newline="")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    except csv.Error as exc:  # e.g. a field over csv's 128 KiB limit
        raise ValueError(received("--data", f"{os.fspath(path)!r}, which csv cannot split ({exc})",
                                  "a tab-separated STS-B file (GLUE layout)")) from None
    if not rows or not {"sentence1", "sentence2", "score"} <= set(rows[0]):
        raise ValueError(f"--data: {os.fspath(path)!r} has header {rows[0] if rows else []}; expected columns "
                         "'sentence1', 'sentence2' and 'score' (GLUE STS-B layout).")
    c1, c2, cs = (rows[0].index(c) for c in ("sentence1", "sentence2", "score"))
    body = rows[1:][:limit]
    for i, r in enumerate(body):
        if len(r) != len(rows[0]):
            raise ValueError(f"--data: line {i + 2} of {os.fspath(path)!r} has {len(r)} fields; expected "
                             f"{len(rows[0])}, as the header.")
    scores = []
    for i, r in enumerate(body):
        try:
            score = float(r[cs])
        except ValueError:
            score = float("nan")
        if not np.isfinite(score):
            raise ValueError(received("--data", f"score {r[cs][:40]!r} on line {i + 2} of {os.fspath(path)!r}",
                                      "a finite number (the gold similarity)"))
        scores.append(score)
    return StsData([r[c1] for r in body], [r[c2] for r in body], np.array(scores))


def evaluate_sts(model: SentenceModel, data: StsData, *, batch_size: int = 64, digital: bool = False,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Spearman (and Pearson) correlation of cosine similarity with the gold scores.

    Returns ``{"spearman", "pearson", "n", "seconds", "cosine"}`` (``cosine``: (N,) array).
    """
    t0 = time.perf_counter()
    e = encode_sentences(model, data.sentence1 + data.sentence2, batch_size=batch_size, digital=digital,
                         progress=progress)  # (2N, H)
    n = len(data)
    a, b = e[:n], e[n:]
    cos = np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
    rho = float(spearmanr(cos, data.scores).statistic) if n > 1 else float("nan")
    r = float(pearsonr(cos, data.scores).statistic) if n > 1 else float("nan")
    return {"spearman": rho, "pearson": r, "n": n, "seconds": time.perf_counter() - t0, "cosine": cos}


def calibration_sentences(path, n: int) -> list:
    """The first ``n`` sentences of a plain-text (UTF-8) file, to calibrate converter ranges on.

    Lines are joined with spaces and split after ``.``, ``!`` or ``?`` followed by
    whitespace; pieces of fewer than 3 or more than 500 characters are skipped.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--calibrate-n: received {n!r}; expected a positive int.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--calibrate-on: no text file at {os.fspath(path)!r}")
    text = " ".join(read_text_file(path, "--calibrate-on", "a UTF-8 plain-text file", newline="").split())
    out = [t for t in re.split(r"(?<=[.!?])\s+", text) if 3 <= len(t) <= 500][:n]
    if not out:
        raise ValueError(f"--calibrate-on: {os.fspath(path)!r} holds no sentence; expected plain text.")
    return out


def calibrate_sentence_model(model: SentenceModel, sentences, *, ranges=None, percentile: float = 99.9):
    """Per-layer calibrated configs of ``model``'s crossbar layers, profiled on ``sentences``.

    :func:`refsim.tools.calibrate.calibrate_network` on the encoder with the sentences in
    one padded batch (the exact digital activations; padded rows are profiled too). Returns
    a :class:`refsim.tools.calibrate.LayerConfigs` to build the model again with.
    """
    from refsim.tools.calibrate import RANGES, LayerConfigs, calibrate_network, calibration_ranges

    configs = {n: m.config for n, m in model.encoder.layers().items() if m.config is not None}
    runtime = [n for n, m in model.encoder.layers().items() if m.kind == "attention" and m.config is not None]
    if runtime:
        raise NotImplementedError(f"calibration: the run-time QK^T / AV arrays ({runtime[0]}, ...) cannot be "
                                  "calibrated; build the model without runtime_config (no --runtime-attention).")
    if not configs:
        return LayerConfigs({}, default=None)
    ranges = calibration_ranges(next(iter(configs.values()))) if ranges is None else ranges
    ranges = ranges or RANGES
    out = calibrate_network(model.encoder, model.tokenizer(list(sentences)), percentile=percentile, ranges=ranges)
    return LayerConfigs(out, default=None)
