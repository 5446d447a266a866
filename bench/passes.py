"""Analog passes of a network's crossbars, and what one pass costs against one matmul.

An *analog pass* is one read of one physical array pair with one drive of its
rows, followed by its ADC. For one ``Crossbar.matvec`` the count is

.. math:: n_{pass} = \\sum_{tiles} \\sum_{weight\\ slices} n_{reads} \\cdot n_{drive}

read from the crossbar itself: ``crossbar.tiles`` (tiles, their ``slices``, each
slice's ``reads``: one per ADC input, two with ``mapping.subtraction="digital"``),
and ``n_drive = len(refsim.dac.drive_passes(codes, config.dac))`` (1; the number
of input slices with bit-serial inputs; twice that with ``signed_inputs="two_pass"``).
Every pass of a tile multiplies ``(B, rows) @ (rows, cols)``, so the *matmul time
of that pass* is the time of a plain NumPy product of those shapes (in the
config's precision). :func:`pass_matmul_seconds` times those products; the ratio
``crossbar matvec seconds / sum over its passes of the pass matmul seconds`` is the
"time per analog pass relative to the matmul time of that pass".

:class:`MatvecTimer` wraps every crossbar's ``matvec`` of a network (instance
attribute, nothing in refsim changes) and records the wall time and batch of
every call.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from refsim.dac import drive_passes

__all__ = ["crossbars", "matvec_passes", "network_passes", "MatvecTimer", "pass_matmul_seconds", "PassShapes"]


def crossbars(net) -> list[tuple[str, object]]:
    """``(layer name, crossbar)`` for every analog matmul of a refsim network (digital ones skipped)."""
    out = []
    for name, layer in net.layers().items():
        for mm in getattr(layer, "matmuls", None) or [layer.matmul]:
            if hasattr(mm, "tiles"):
                out.append((name, mm))
    return out


def n_drive_passes(xb, rows: int) -> int:
    """Drive passes of one tile of ``rows`` rows (the count depends on the config, not on the values)."""
    cfg = xb.config.dac
    codes = np.zeros((1, rows))
    return len(drive_passes(codes, cfg))


@dataclass(frozen=True)
class PassShapes:
    """The passes of one matvec: ``[(rows, cols, n_passes)]``, one entry per (tile, slice, read)."""

    entries: tuple[tuple[int, int, int], ...]

    @property
    def n_passes(self) -> int:
        return sum(n for _, _, n in self.entries)


def matvec_passes(xb) -> PassShapes:
    """The analog passes of one ``matvec`` of crossbar ``xb`` (tiles x slices x reads x drive passes)."""
    entries = []
    for t in xb.tiles:
        rows = t.r1 - t.r0
        n_drive = n_drive_passes(xb, rows)
        for s in t.slices:
            for r in s.reads:
                cols = 1 if all(d == "ref" for d, _ in r.devices) else s.cols  # a reference column read is 1 wide
                entries.append((rows, cols, n_drive))
    return PassShapes(tuple(entries))


def network_passes(net) -> int:
    """Analog passes of one forward of ``net`` (one matvec per crossbar; the batch is not counted)."""
    return sum(matvec_passes(xb).n_passes for _, xb in crossbars(net))


class MatvecTimer:
    """Wraps every crossbar's ``matvec`` of ``net``; ``calls`` collects ``(name, xb, batch, seconds)``.

    ``reset()`` clears the calls (call it before the forward you want to attribute).
    """

    def __init__(self, net):
        self.calls: list[tuple[str, object, int, float]] = []
        for name, xb in crossbars(net):
            xb.matvec = self._wrap(name, xb, xb.matvec)

    def _wrap(self, name, xb, fn):
        def timed(x, **kw):
            t0 = time.perf_counter()
            y = fn(x, **kw)
            self.calls.append((name, xb, int(np.prod(np.shape(x)[:-1])), time.perf_counter() - t0))
            return y

        return timed

    def reset(self) -> None:
        self.calls = []

    @property
    def seconds(self) -> float:
        return float(sum(c[3] for c in self.calls))


def _best_matmul_seconds(b: int, rows: int, cols: int, dtype, repeats: int, rng) -> float:
    a = rng.standard_normal((b, rows)).astype(dtype)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ g
        best = min(best, time.perf_counter() - t0)
    return best


def pass_matmul_seconds(calls, repeats: int = 3, cache: dict | None = None) -> tuple[float, int]:
    """Sum over the recorded matvec calls of (pass matmul seconds x passes), and the total passes.

    Each distinct ``(B, rows, cols, dtype)`` product is timed ``repeats`` times and the best kept;
    ``cache`` (a dict) carries the best times over several calls, so that timing the products
    again in every round of an interleaved measurement keeps the best over all rounds.
    """
    cache = {} if cache is None else cache
    rng = np.random.default_rng(0)
    timed = set()
    total, n_total = 0.0, 0
    for _, xb, b, _ in calls:
        dtype = np.float32 if xb.config.precision == "float32" else np.float64
        for rows, cols, n in matvec_passes(xb).entries:
            key = (b, rows, cols, np.dtype(dtype).name)
            if key not in timed:
                t = _best_matmul_seconds(b, rows, cols, dtype, repeats, rng)
                cache[key] = min(cache.get(key, np.inf), t)
                timed.add(key)
            total += cache[key] * n
            n_total += n
    return total, n_total
