"""docs/MODEL.md step 12: the digital side of one tile, shift-and-add and rescale.

Every ADC conversion (or, with an ideal ADC, every read current) of a tile contributes a
*term* ``(a, f)``: an array ``a`` ``(B, cols)`` (a reference-column read or the digital
offset: ``(B, 1)``) and a scalar ``f`` that turns it into net-level units (X2). A read of
all the drive passes of bit-serial inputs at once contributes one *stacked* term,
``a (P, B, cols)`` with factors ``f (P,)``; the factors carry the sign of each read, the pass
coefficients ``a`` and the slices' ``2^sigma_k`` of X2 and X3. The tile's output ``(B, cols)``
is X3 (docs/MODEL.md): the sum of the terms times the per-vector scale ``(B,)`` (``x_max``
times the drift compensation ``alpha``) and the weight rescale ``w_max / lambda`` (a scalar, or
``(cols,)`` per column). :func:`combine_terms` computes it with as few passes over
``(B, cols)`` as the terms allow: a single term needs one multiply. A uniform weight rescale
is folded into the per-vector scale; a per-column one is applied by the crossbar once, to the
sum of the row tiles.
"""

from __future__ import annotations

import numpy as np

from refsim.scratch import row_loops

__all__ = ["combine_terms", "weighted_sum"]

_TINY = float(np.finfo(np.float64).tiny)


def _reduce_stacked(terms: list[tuple[np.ndarray, float | np.ndarray]]) -> list[tuple[np.ndarray, float]]:
    """A stacked term ``(a (P, B, cols), f (P,))`` (every drive pass of one read) becomes
    ``(sum_p f_p a_p, 1)``: one pass over the stack instead of two per drive pass."""
    return [(np.tensordot(f, a, axes=1), 1.0) if a.ndim == 3 else (a, f) for a, f in terms]


def weighted_sum(terms: list[tuple[np.ndarray, float]], shape: tuple[int, int]) -> np.ndarray:
    """``sum_t f_t a_t`` as a new ``shape`` array (the terms are left intact): the recorded X2 value."""
    out = np.zeros(shape)
    for a, f in _reduce_stacked(terms):
        out += a * f
    return out


def _sum_into_scratch(terms: list[tuple[np.ndarray, float]], shape: tuple[int, int]) -> np.ndarray:
    """``sum_t f_t a_t`` in term order, accumulated in the first full-width array (overwritten)."""
    full = [i for i, (a, _) in enumerate(terms) if a.shape == shape]
    if full:
        i0 = full[0]
        acc = np.multiply(terms[i0][0], terms[i0][1], out=terms[i0][0])
        rest = terms[:i0] + terms[i0 + 1 :]
    else:
        acc, rest = np.zeros(shape), terms
    for a, f in rest:
        acc += np.multiply(a, f, out=a) if a.shape == shape else a * f  # (B, 1) broadcasts
    return acc


def _scale_rows(a: np.ndarray, x_max: np.ndarray, c: float, out: np.ndarray | None) -> np.ndarray:
    """``a * x_max[:, None] * c`` in one pass (``a`` is scratch); where ``x_max * c`` would be subnormal,
    ``a * c`` first and ``x_max`` last, so that a subnormal result is rounded once."""
    with row_loops(a.shape[-1]):
        if not x_max.size or abs(c) * x_max.min() >= _TINY:  # x_max > 0: the smallest |x_max * c| is normal
            return np.multiply(a, (x_max * c)[:, None], out=out)
        return np.multiply(np.multiply(a, c, out=a), x_max[:, None], out=out)


def combine_terms(slices: list[tuple[list[tuple[np.ndarray, float]], float]], shape: tuple[int, int],
                  x_max: np.ndarray, scale: float, out: np.ndarray | None = None) -> np.ndarray:
    """Equation (X3) for one tile from its terms: ``(B, cols)`` with ``shape = (B, cols)``.

    ``slices``: per weight slice ``(terms, 2^sigma_k)``, the terms as in the module docstring
    (arrays of the full shape are scratch space, overwritten). Each slice is summed first, then
    the slices, as the hardware's shift-and-add does; this order also keeps the result an odd
    function of the terms (negating every term negates the result exactly).
    ``x_max`` ``(B,)``; ``scale`` a number (drift compensation, and the weight rescale when it is
    uniform; a per-column rescale is the caller's, after the row tiles are summed). ``out``:
    optional ``(B, cols)`` array (or view) to write into; it is returned.
    """
    slices = [(_reduce_stacked(terms), shift) for terms, shift in slices]
    if len(slices) == 1 and len(slices[0][0]) == 1 and slices[0][0][0][0].shape == shape:
        (((a, f),), shift), = slices  # one term: a single pass
        return _scale_rows(a, x_max, scale * shift * f, out)
    acc = None
    for terms, shift in slices:
        p = _sum_into_scratch(terms, shape)
        if shift != 1.0:
            p *= shift
        acc = p if acc is None else np.add(acc, p, out=acc)
    return _scale_rows(acc, x_max, scale, out)
