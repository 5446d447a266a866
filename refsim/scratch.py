"""Scratch arrays reused by the multiplies of a thread, and cache-sized blocks of rows.

Every ``Crossbar.matvec`` runs the same steps with temporaries of the same few shapes: the
DAC's codes ``(B, rows)``, every read's currents and ADC codes ``(B, cols)``. Fresh memory costs
a page fault per 4 KiB page on first touch (NumPy returns large arrays to the system when they
are freed), which on the benchmark machine costs as much as several element-wise passes over
that memory. So the multiplies of a thread share one :class:`Scratch` (:func:`thread_scratch`):
its arrays grow to the largest shapes asked for and are reused by every later multiply, of any
crossbar. Nothing a caller receives (outputs, trace records) is ever a scratch array, and the
contents of a scratch array never reach a result without being written first in the same
multiply: reuse changes no number. :func:`release` frees the calling thread's arrays.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

__all__ = ["Scratch", "scratch_array", "thread_scratch", "release", "block_rows", "row_blocks", "row_loops",
           "BLOCK_ELEMENTS", "LONG_ROW"]

#: Element-wise steps (DAC, ADC) run on blocks of whole rows of about this many elements (1 MiB of
#: float64): the several passes of a step then reuse the block from the core's cache instead of
#: streaming the whole batch from memory at every pass. Blocks never change the arithmetic.
BLOCK_ELEMENTS = 2**17

#: Rows of at least this many elements are scaled by a per-row factor one row per inner loop (:func:`row_loops`).
LONG_ROW = 256


class Scratch:
    """Named scratch arrays: :meth:`get` returns an array of any shape for a name, a contiguous view
    of that name's flat buffer, which is allocated on first use and again only when a larger one is
    asked for (so the layers of a network, of different shapes, share the same memory)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: tuple, shape: tuple[int, ...]) -> np.ndarray:
        """A float64 array of ``shape`` for ``name`` (its contents are undefined)."""
        n = int(np.prod(shape))
        buf = self._buffers.get(name)
        if buf is None or buf.size < n:
            buf = self._buffers[name] = np.empty(n)
        return buf[:n].reshape(shape)


_LOCAL = threading.local()


def thread_scratch() -> Scratch:
    """The calling thread's scratch arrays (created on first use)."""
    sc = getattr(_LOCAL, "scratch", None)
    if sc is None:
        sc = _LOCAL.scratch = Scratch()
    return sc


def release() -> None:
    """Free the calling thread's scratch arrays (the next multiply allocates them again)."""
    _LOCAL.scratch = None


def scratch_array(scratch: Scratch | None, name: tuple, shape: tuple[int, ...]) -> np.ndarray | None:
    """``scratch.get(name, shape)``, or None (let NumPy allocate) without a scratch."""
    return None if scratch is None else scratch.get(name, shape)


def block_rows(row_len: int) -> int:
    """Rows per block of an array whose rows hold ``row_len`` elements (at least 1)."""
    return max(1, BLOCK_ELEMENTS // max(row_len, 1))


def row_blocks(n_rows: int, row_len: int):
    """Slices ``b0:b1`` covering ``range(n_rows)`` in blocks of :func:`block_rows` rows, in order."""
    step = block_rows(row_len)
    return [slice(b0, min(b0 + step, n_rows)) for b0 in range(0, n_rows, step)]


@contextmanager
def row_loops(row_len: int):
    """A context in which a ufunc of rows of ``row_len`` elements and a per-row factor ``(B, 1)`` (the
    DAC's ``c_max / x_max``, the digital rescale by ``x_max``) loops over the rows as they lie, for rows of at
    least :data:`LONG_ROW` elements. NumPy's buffered iteration (default buffer 8,192 elements) would copy the
    factor into its buffer once per element, an extra pass over the data (about 1.7x the time of the
    multiply of a 1024 x 512 array); a small buffer makes it skip the copy. Short rows keep the default
    (there, one inner loop per row costs more than the copy). Same arithmetic either way."""
    if row_len < LONG_ROW:
        yield
        return
    old = np.setbufsize(16)
    try:
        yield
    finally:
        np.setbufsize(old)
