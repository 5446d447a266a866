"""docs/MODEL.md step 13: splitting a matrix over physical arrays of at most ``rows_max x cols_max``.

Each tile is a separate set of arrays with its own DACs and ADCs; the partial
sums of the tiles along the input dimension are added digitally after the ADCs.
"""

from __future__ import annotations

__all__ = ["split_sizes", "tile_bounds"]


def split_sizes(n: int, n_max: int | None, mode: str) -> list[int]:
    """Sizes of the tiles along one dimension of length ``n``.

    ``even``: ``t = ceil(n / n_max)`` tiles of near-equal size (the first ``n mod t`` one
    larger), as aihwkit splits; ``fill``: full tiles of ``n_max`` then the remainder.
    ``n_max=None`` gives one tile.

    CrossSim's partition strategies (``AnalogCore.__init__``, CrossSim 3.2): when ``t`` divides
    ``n`` every tile has ``n / t``; otherwise ``crosssim_max`` is ``fill`` and
    ``crosssim_equal`` gives every tile but the last ``round_half_even(n / t)`` and the last
    the remainder (which may exceed ``n_max``).

    >>> split_sizes(10, 4, "even"), split_sizes(10, 4, "fill"), split_sizes(10, 3, "crosssim_equal")
    ([4, 3, 3], [4, 4, 2], [2, 2, 2, 4])
    """
    if n_max is None or n <= n_max:
        return [n]
    t = -(-n // n_max)
    if mode.startswith("crosssim"):
        if n % t == 0:
            return [n // t] * t
        size = n_max if mode == "crosssim_max" else round(n / t)  # Python's round: half to even, as np.round
        return [size] * (t - 1) + [n - size * (t - 1)]
    if mode == "fill":
        return [n_max] * (t - 1) + [n - n_max * (t - 1)]
    base, extra = divmod(n, t)
    return [base + 1] * extra + [base] * (t - extra)


def tile_bounds(n: int, n_max: int | None, mode: str) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges of the tiles of :func:`split_sizes`."""
    out, start = [], 0
    for size in split_sizes(n, n_max, mode):
        out.append((start, start + size))
        start += size
    return out
