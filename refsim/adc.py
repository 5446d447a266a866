"""docs/MODEL.md step 11: the analog-to-digital converter.

An ADC with full-scale current ``I_fs`` (A) and largest code ``N`` converts a current ``I`` to
the code ``k`` of (A1), in the code range :attr:`refsim.ADCConfig.code_range` (sign-magnitude,
unsigned or two's complement); its digital output is ``k * I_lsb`` (A), ``I_lsb = I_fs / N``.
A midrise ADC (A4, CrossSim's signed ``QuantizerADC``) has ``N = 2^b - 1`` and the odd codes
``-N, -N + 2, .., N``: 2^b levels evenly over ``[-I_fs, I_fs]``, zero not among them.

**Ties.** The decision levels lie at half-integer multiples of ``I_lsb``. In exact
arithmetic a noise-free array can put a current exactly on one (``I / I_lsb = 2.5``);
float64 round-off in the analog sum then lands a few ulps to either side and would
decide the tie arbitrarily. :func:`adc_convert` therefore treats a value within
``tie_window`` of a decision level as on it and rounds it half to even. The window
(:func:`tie_window`) is a bound on that round-off, tiny against one LSB, so that
noise-free pipelines equal the exact integer oracle bit for bit.
"""

from __future__ import annotations

import numpy as np

from refsim.scratch import row_blocks

__all__ = ["adc_convert", "tie_window", "TIE_ULPS"]

#: Round-off allowance of the analog sum, in units of float64 eps per row of the array.
TIE_ULPS = 16.0


def tie_window(rows: int, n_levels: int, span_ratio: float) -> float:
    """Half-width ``delta``, in LSBs, of the band around a decision level treated as an exact tie
    (A2): ``rows`` of the array, ``n_levels`` the ADC's ``N``, ``span_ratio`` the ratio of the largest
    current a sum's terms can reach to the ADC range (``G_max / span``); ``delta`` bounds the float64
    error of the analog sum in LSBs.
    """
    return TIE_ULPS * np.finfo(np.float64).eps * (rows + 1) * n_levels * span_ratio


def adc_convert(
    i_A: np.ndarray, lsb_A: float, code_range: tuple[int, int], *, window: float = 0.0,
    u: np.ndarray | None = None, overwrite: bool = False, check_clip: bool = True, out: np.ndarray | None = None,
    midrise: bool = False,
) -> tuple[np.ndarray, int]:
    """Equation (A1) with the tie rule (A2): integer-valued codes (float64) and the number clipped.

    With uniform draws ``u`` in [0, 1) (same shape as ``i_A``) the rounding is stochastic
    instead (A3).

    Parameters
    ----------
    i_A : (..., cols) currents, A (or any unit: ``lsb_A`` in the same unit; the crossbar passes
        currents already in units of ``I_lsb`` with ``lsb_A = 1`` when nothing acts on them between
        the array and the ADC, see :func:`refsim.analog.analog_multiply`).
    lsb_A : the step ``I_fs / N``, A.
    code_range : ``(k_lo, k_hi)``, the smallest and largest codes: ``(-N, N)`` (sign-magnitude),
        ``(0, N)`` (unsigned), ``(-N, N - 1)`` (two's complement); :attr:`refsim.ADCConfig.code_range`.
    window : tie band half-width in LSBs (:func:`tie_window`); 0 rounds the float64 value as it is.
    u : optional uniform draws for stochastic rounding.
    overwrite : ``i_A`` is scratch space: ``I / I_lsb`` is formed in it (no division at all when
        ``lsb_A == 1``) and its values are lost. Saves one ``(..., cols)`` array and one pass.
    check_clip : False when the caller has proven ``|I| / I_lsb + window < min(k_hi, -k_lo) + 1/2``
        (no code can leave the range): the two reductions of the clip test are skipped.
    out : optional contiguous float64 array of the shape of ``i_A`` for the codes.
    midrise : the midrise grid (A4, ``adc.levels="midrise"``, code_range ``(-N, N)``): the odd codes
        ``k = 2 round_half_even((I / I_lsb + N) / 2) - N``; zero is not a level.

    The steps run on blocks of rows that stay in the core's cache (:mod:`refsim.scratch`);
    every value is converted on its own, so the blocks do not change the result.
    """
    if out is not None and (out.shape != i_A.shape or not out.flags.c_contiguous):
        raise ValueError(f"out: received shape {out.shape} (contiguous: {out.flags.c_contiguous}); "
                         f"expected a contiguous array of shape {i_A.shape}")
    if overwrite:  # I / I_lsb is formed in i_A, block by block
        z, lsb = i_A, lsb_A
    else:
        z, lsb = i_A / lsb_A, 1.0
    k = np.empty(z.shape) if out is None else out
    z2, k2 = _as_rows(z), _as_rows(k)  # k is contiguous: k2 is a view
    u2 = None if u is None else _as_rows(u)
    n_clipped = 0
    for blk in row_blocks(*z2.shape):  # element-wise: blocks only keep the passes in cache
        if midrise:  # (A4): index j = (z + N) / 2 on the grid 0 .. N, then k = 2 j - N
            n_hi = code_range[1]
            zb = z2[blk]
            if lsb != 1.0:
                np.divide(zb, lsb, out=zb)
            zb += n_hi
            zb *= 0.5
            n_clipped += _convert_block(zb, 1.0, k2[blk], None if u2 is None else u2[blk], window / 2, (0, n_hi),
                                        True)
            k2[blk] *= 2.0
            k2[blk] -= n_hi
            continue
        n_clipped += _convert_block(z2[blk], lsb, k2[blk], None if u2 is None else u2[blk], window, code_range,
                                    check_clip)
    return k, n_clipped


def _as_rows(a: np.ndarray) -> np.ndarray:
    """``a`` as a 2-D array of its last axis (a view where ``a`` is contiguous)."""
    return a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)


def _convert_block(z: np.ndarray, lsb: float, k: np.ndarray, u: np.ndarray | None, window: float,
                   code_range: tuple[int, int], check_clip: bool) -> int:
    """(A1) for a block of rows: codes of ``z / lsb`` (``z`` is overwritten) into ``k``; returns the
    number clipped."""
    if lsb != 1.0:
        np.divide(z, lsb, out=z)
    if u is not None:
        np.floor(np.add(z, u, out=k), out=k)
    else:
        np.rint(z, out=k)
    if window > 0 and u is None and z.size:
        # |z - k| <= 1/2 always; a value within `window` of a half-integer is a tie: round it half
        # to even. Two reductions tell whether any value is that close; only then are the few
        # such values located (by index: cheaper than boolean masks over the whole array)
        d = np.subtract(z, k, out=z)
        edge = 0.5 - window
        hi, lo = d.max() >= edge, d.min() <= -edge
        if hi or lo:
            flat_d, flat_k = d.reshape(-1), k.reshape(-1)  # blocks of whole rows of a contiguous k: a view
            idx = np.flatnonzero((d >= edge) | (d <= -edge)) if hi and lo else \
                np.flatnonzero(d >= edge) if hi else np.flatnonzero(d <= -edge)
            below = np.floor(flat_d[idx] + flat_k[idx])  # d + k is z again, exactly (z - k is exact: Sterbenz)
            flat_k[idx] = np.where(np.remainder(below, 2.0) == 0.0, below, below + 1.0)
    k_lo, k_hi = code_range
    n_clipped = 0
    if check_clip and k.size:  # count and clip only the side that clips
        if k.max() > k_hi:
            n_clipped += int(np.count_nonzero(k > k_hi))
            np.minimum(k, k_hi, out=k)
        if k.min() < k_lo:
            n_clipped += int(np.count_nonzero(k < k_lo))
            np.maximum(k, k_lo, out=k)
    return n_clipped
