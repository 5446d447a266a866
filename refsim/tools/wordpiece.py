r"""BERT's WordPiece tokenizer in pure Python (Hugging Face ``BertTokenizer`` semantics).

Text -> token ids in two stages (Devlin et al. 2019; Wu et al. 2016):

1. **Basic tokenization** (:func:`basic_tokenize`): drop NUL, U+FFFD and
   control characters, turn every whitespace character into a space, put
   spaces around CJK ideographs; split on whitespace; lower-case each word
   and strip its accents (NFD decomposition, then every combining mark,
   Unicode category ``Mn``, removed); split every punctuation character
   (ASCII ``!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`` or Unicode category ``P*``)
   into a word of its own.
2. **WordPiece** (:meth:`WordPieceTokenizer.wordpiece`): each word is split
   greedily into the longest vocabulary entry from its start, then the
   longest ``##``-prefixed entry from where that one ended, and so on. A word
   with a part that matches nothing, or longer than ``max_input_chars_per_word``
   (100) characters, becomes ``[UNK]`` as a whole.

An encoded sentence is ``[CLS] t_1 .. t_n [SEP]``, truncated to ``max_length``
tokens (the word pieces at the end are dropped, the two special tokens kept),
padded with ``[PAD]`` (id 0) on the right to the longest sentence of the batch
(or to ``max_length`` with ``padding="max_length"``); the attention mask is 1
on real tokens and 0 on padding; token-type ids are 0 (one segment).

The vocabulary is ``vocab.txt``: one token a line, the line number (from 0)
is its id. Checked against the Hugging Face ``tokenizers`` library reading the
model's own ``tokenizer.json`` (tests/test_wordpiece.py).
"""
from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

import numpy as np

from refsim._validate import read_text_file

__all__ = ["WordPieceTokenizer", "Encoding", "basic_tokenize", "load_vocab"]


def load_vocab(path) -> dict:
    """``vocab.txt`` -> ``{token: id}``, id = 0-based line number (a trailing newline ends the file)."""
    lines = read_text_file(path, "vocab", "a UTF-8 vocab.txt (one token per line)").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {}
    for i, tok in enumerate(lines):
        tok = tok.rstrip("\r")
        if tok in vocab:
            raise ValueError(f"vocab: {os.fspath(path)!r} lists token {tok!r} twice (lines {vocab[tok] + 1} and {i + 1}).")
        vocab[tok] = i
    return vocab


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False  # whitespace, not control
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # all non-letter, non-digit ASCII, e.g. ^ $ ` (not all in category P)
    return unicodedata.category(ch).startswith("P")


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(cp: int) -> bool:
    """CJK Unified Ideographs blocks (not Japanese kana or Korean Hangul), as BERT's."""
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _clean(text: str) -> str:
    """Drop NUL, U+FFFD and control characters; whitespace -> ' '; spaces around CJK ideographs."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    return "".join(out)


def _strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _split_punctuation(word: str) -> list:
    pieces, current = [], []
    for ch in word:
        if _is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


def basic_tokenize(text: str, lowercase: bool = True, strip_accents: bool | None = None) -> list:
    """Stage 1: clean, split on whitespace, lower-case, strip accents, split punctuation.

    ``strip_accents=None`` strips them exactly when ``lowercase`` is True (BERT's default).
    """
    if not isinstance(text, str):
        raise TypeError(f"text: received {type(text).__name__}; expected str.")
    strip = lowercase if strip_accents is None else bool(strip_accents)
    words = []
    for word in _clean(text).split():
        if lowercase:
            word = word.lower()
        if strip:
            word = _strip_accents(word)
        words.extend(_split_punctuation(word))
    return words


@dataclass(frozen=True)
class Encoding:
    """A batch of encoded sentences, all arrays int64 of shape (N, L).

    ``input_ids``: token ids; ``attention_mask``: 1 real token, 0 padding;
    ``token_type_ids``: segment ids (0); ``tokens``: the token strings of
    each sentence, without padding.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    tokens: list

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class WordPieceTokenizer:
    """BERT uncased WordPiece tokenizer (see the module docstring).

    Parameters
    ----------
    vocab : path of ``vocab.txt`` or a dict ``{token: id}``.
    lowercase : bool, lower-case (and, with ``strip_accents=None``, strip accents).
    strip_accents : bool or None.
    max_input_chars_per_word : int, longer words become ``[UNK]``.
    max_length : int, default truncation length in tokens, [CLS] and [SEP] included.
    """

    def __init__(self, vocab, *, lowercase: bool = True, strip_accents: bool | None = None,
                 max_input_chars_per_word: int = 100, max_length: int = 512, unk_token: str = "[UNK]",
                 cls_token: str = "[CLS]", sep_token: str = "[SEP]", pad_token: str = "[PAD]"):
        self.vocab = dict(vocab) if isinstance(vocab, dict) else load_vocab(vocab)
        missing = [t for t in (unk_token, cls_token, sep_token, pad_token) if t not in self.vocab]
        if missing:
            raise ValueError(f"vocab: special tokens {missing} missing; expected {unk_token}, {cls_token}, "
                             f"{sep_token} and {pad_token} in the vocabulary.")
        self.max_length = self._check_length(max_length)
        self.lowercase, self.strip_accents = bool(lowercase), strip_accents
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.unk_token, self.cls_token, self.sep_token, self.pad_token = unk_token, cls_token, sep_token, pad_token
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}

    @staticmethod
    def _check_length(n) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"max_length: received {n!r}; expected an int >= 2 ([CLS] and [SEP]).")
        return int(n)

    def wordpiece(self, word: str) -> list:
        """Stage 2: greedy longest-match-first split of one word (``##`` marks a continuation)."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list:
        """Word pieces of ``text`` (no special tokens, no truncation)."""
        return [p for w in basic_tokenize(text, self.lowercase, self.strip_accents) for p in self.wordpiece(w)]

    def convert_tokens_to_ids(self, tokens) -> list:
        return [self.vocab[t] for t in tokens]

    def __call__(self, texts, *, max_length: int | None = None, padding: str = "longest") -> Encoding:
        """Encode a sentence or a list of sentences (see :class:`Encoding`).

        ``padding``: ``"longest"`` (to the longest sentence of the batch) or
        ``"max_length"``. Sentences longer than ``max_length`` tokens lose
        their last word pieces.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not all(isinstance(t, str) for t in texts):
            bad = next(type(t).__name__ for t in texts if not isinstance(t, str))
            raise TypeError(f"texts: received a list holding {bad}; expected str or a list of str.")
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding: received {padding!r}; expected 'longest' or 'max_length'.")
        n_max = self.max_length if max_length is None else self._check_length(max_length)
        tokens = [[self.cls_token] + self.tokenize(t)[: n_max - 2] + [self.sep_token] for t in texts]
        L = n_max if padding == "max_length" else max((len(t) for t in tokens), default=2)
        ids = np.full((len(texts), L), self.vocab[self.pad_token], dtype=np.int64)  # (N, L)
        mask = np.zeros((len(texts), L), dtype=np.int64)  # (N, L)
        for i, toks in enumerate(tokens):
            ids[i, : len(toks)] = self.convert_tokens_to_ids(toks)
            mask[i, : len(toks)] = 1
        return Encoding(ids, mask, np.zeros_like(ids), tokens)
