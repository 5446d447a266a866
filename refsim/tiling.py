"""docs/MODEL.md step 13: splitting a matrix over physical arrays of at most ``rows_max x cols_max``.

Each tile is a separate set of arrays with its own DACs and ADCs; the partial
sums of the tiles along the input dimension are added digitally after the ADCs.
"""

from __future__ import annotations

__all__ = ["split_sizes", "tile_bounds"]


def split_sizes(n: int, n_max: int | None, mode: str) -> list[int]:
    """Sizes of the tiles along one dimension of length ``n``.

    ``even``: ``t = ceil(n / n_max)`` tiles of near-equal size (the first ``n mod t`` one
    larger), as aihwkit splits; ``fill``: full tiles of ``n_max`` then the remainder, as
    CrossSim's "max" policy. ``n_max=None`` gives one tile.

    >>> split_sizes(10, 4, "even"), split_sizes(10, 4, "fill")
    ([4, 3, 3], [4, 4, 2])
    """
    if n_max is None or n <= n_max:
        return [n]
    t = -(-n // n_max)
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
