"""Random draws of one multiply: from the crossbar's per-array streams, or replayed.

Every draw is keyed by a string naming the tile, weight slice, read or device, drive
pass and noise source (``t0.s1.pos.slice3.read``); the same keys are used in
:attr:`refsim.Trace.draws`, so a recorded trace replays bit for bit.
"""

from __future__ import annotations

import numpy as np

from refsim.config import CrossbarConfig
from refsim.program import Streams

__all__ = ["MultiplyDraws", "draws_random_numbers"]


def draws_random_numbers(config: CrossbarConfig) -> bool:
    """True when programming or multiplying with ``config`` draws random numbers (needs ``rng``)."""
    d = config.device
    return (d.prog_model != "none" or d.has_stuck_faults() or d.drift_model == "pcm_rasch2023"
            or d.has_read_noise() or d.has_held_read_noise() or d.out_noise_rel > 0
            or (config.adc.bits is not None and config.adc.rounding == "stochastic"))


class MultiplyDraws:
    """Per-multiply random draws: from the crossbar's streams, or replayed from a recorded dict."""

    def __init__(self, streams: Streams, replay: dict | None, record: dict | None):
        self.streams, self.replay, self.record = streams, replay, record

    def _draw(self, key: str, stream_key: tuple, shape: tuple, kind: str) -> np.ndarray:
        """One draw of ``shape``: replayed (checked against ``shape``) or from the stream; recorded."""
        if self.replay is not None:
            if key not in self.replay:
                raise ValueError(f"draws: missing key {key!r} needed to replay this multiply")
            out = np.asarray(self.replay[key], dtype=np.float64)
            if out.shape != shape:
                raise ValueError(f"draws[{key!r}]: expected shape {shape}, received {out.shape}")
        else:
            gen = self.streams.get(stream_key)
            out = gen.standard_normal(shape) if kind == "normal" else gen.random(shape)
        if self.record is not None:
            self.record[key] = out
        return out

    def normal(self, key: str, stream_key: tuple, shape: tuple) -> np.ndarray:
        """Standard normal draws N(0, 1)."""
        return self._draw(key, stream_key, shape, "normal")

    def uniform(self, key: str, stream_key: tuple, shape: tuple) -> np.ndarray:
        """Uniform draws in [0, 1)."""
        return self._draw(key, stream_key, shape, "uniform")

    def normal_chunks(self, key: str, stream_key: tuple, batch: int, shape: tuple, chunk: int):
        """Yield ``(b0, b1, xi)`` blocks of a ``(batch, *shape)`` normal draw, in order."""
        if self.replay is not None or self.record is not None:
            full = self.normal(key, stream_key, (batch, *shape))
            for b0 in range(0, batch, chunk):
                yield b0, min(batch, b0 + chunk), full[b0 : b0 + chunk]
            return
        gen = self.streams.get(stream_key)
        for b0 in range(0, batch, chunk):
            b1 = min(batch, b0 + chunk)
            yield b0, b1, gen.standard_normal((b1 - b0, *shape))
