"""Random streams named by keys: the one way refsim derives a generator from a seed.

Every random number refsim draws (programming error, faults, drift exponents, read noise,
output noise, stochastic rounding, the per-layer streams of a network) comes from a generator

.. math:: \\mathrm{rng}(s, k) = \\mathrm{Generator}(\\mathrm{PCG64}(
          \\mathrm{SeedSequence}(s, \\mathrm{spawn\\_key}=h(k))))

where ``s`` is a non-negative integer seed and ``h(k)`` is the first 16 bytes of
``sha256(repr(k))`` read as four little-endian 32-bit words, for a key ``k`` that is a tuple of
strings and integers naming the stream (e.g. ``(0, 1, "pos", "slice3", "read")`` for tile 0,
weight slice 1, device ``pos``, drive pass ``slice3``, read noise). A stream depends only on
``(s, k)``: never on the order in which streams are created or used, the batch size or the
number of streams (docs/MODEL.md section 0).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["key_words", "keyed_rng"]


def key_words(key: tuple) -> tuple[int, int, int, int]:
    """``h(key)``: four 32-bit words of ``sha256(repr(key))`` (the spawn key of the stream)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def keyed_rng(seed: int, key: tuple) -> np.random.Generator:
    """The generator of stream ``key`` under root ``seed`` (see the module docstring)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key_words(key))))
