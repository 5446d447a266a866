"""Random draws of one multiply: from the crossbar's per-array streams, or replayed.

Every draw is keyed by a string naming the tile, weight slice, read or device, drive
pass and noise source (``t0.s1.pos.slice3.read``); the same keys are used in
:attr:`refsim.Trace.draws`, so a recorded trace replays bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refsim.config import CrossbarConfig
from refsim.program import Streams

__all__ = ["DrawKey", "MultiplyDraws", "draws_random_numbers"]


def draws_random_numbers(config: CrossbarConfig) -> bool:
    """True when programming or multiplying with ``config`` draws random numbers (needs ``rng``)."""
    d = config.device
    return (d.prog_model != "none" or d.has_stuck_faults() or d.drift_model == "pcm_rasch2023"
            or d.has_read_noise() or d.has_held_read_noise() or d.out_noise_rel > 0
            or (config.adc.bits is not None and config.adc.rounding == "stochastic"))


@dataclass(frozen=True)
class DrawKey:
    """Names the draws of one weight slice ``k`` of one tile: a draw of the parts ``(read or device,
    pass, source)`` is keyed ``t{tile}.s{k}{tag}.{read}.{pass}.{source}`` in :attr:`refsim.Trace.draws`
    and comes from the stream ``(tile, k[, tag], read, pass, source)`` (:class:`refsim.program.Streams`).
    ``tag`` marks the re-reads of bound management (``".bm1"``, ...)."""

    tile: int
    k: int
    tag: str = ""

    def name(self, parts: tuple[str, ...]) -> str:
        """The string key of the draw ``parts``."""
        return ".".join((f"t{self.tile}.s{self.k}{self.tag}",) + parts)

    def stream(self, parts: tuple[str, ...]) -> tuple:
        """The stream key of the draw ``parts``."""
        return (self.tile, self.k) + ((self.tag,) if self.tag else ()) + parts


class MultiplyDraws:
    """Per-multiply random draws: from the crossbar's streams, or replayed from a recorded dict."""

    def __init__(self, streams: Streams, replay: dict | None, record: dict | None):
        self.streams, self.replay, self.record = streams, replay, record

    def _draw(self, dk: DrawKey, parts: tuple[str, ...], shape: tuple, kind: str) -> np.ndarray:
        """One draw of ``shape``: replayed (checked against ``shape``) or from the stream; recorded."""
        key = dk.name(parts)
        if self.replay is not None:
            if key not in self.replay:
                raise ValueError(f"draws: missing key {key!r} needed to replay this multiply")
            out = np.asarray(self.replay[key], dtype=np.float64)
            if out.shape != shape:
                raise ValueError(f"draws[{key!r}]: received shape {out.shape}; expected shape {shape}")
        else:
            gen = self.streams.get(dk.stream(parts))
            out = gen.standard_normal(shape) if kind == "normal" else gen.random(shape)
        if self.record is not None:
            self.record[key] = out
        return out

    def normal(self, dk: DrawKey, parts: tuple[str, ...], shape: tuple) -> np.ndarray:
        """Standard normal draws N(0, 1) of the draw ``parts`` of slice ``dk``."""
        return self._draw(dk, parts, shape, "normal")

    def uniform(self, dk: DrawKey, parts: tuple[str, ...], shape: tuple) -> np.ndarray:
        """Uniform draws in [0, 1) of the draw ``parts`` of slice ``dk``."""
        return self._draw(dk, parts, shape, "uniform")

    def normal_chunks(self, dk: DrawKey, parts: tuple[str, ...], batch: int, shape: tuple, chunk: int):
        """Yield ``(b0, b1, xi)`` blocks of a ``(batch, *shape)`` normal draw, in order."""
        if self.replay is not None or self.record is not None:
            full = self.normal(dk, parts, (batch, *shape))
            for b0 in range(0, batch, chunk):
                yield b0, min(batch, b0 + chunk), full[b0 : b0 + chunk]
            return
        gen = self.streams.get(dk.stream(parts))
        for b0 in range(0, batch, chunk):
            b1 = min(batch, b0 + chunk)
            yield b0, b1, gen.standard_normal((b1 - b0, *shape))
