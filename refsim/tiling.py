"""docs/MODEL.md step 13: splitting a matrix over physical arrays of at most ``rows_max x cols_max``.

Each tile is a separate set of arrays with its own DACs and ADCs; the partial
sums of the tiles along the input dimension are added digitally after the ADCs.
"""

from __future__ import annotations

__all__ = ["split_sizes", "tile_bounds", "check_scaling_scope"]


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


def check_scaling_scope(shape: tuple[int, int], cfg) -> None:
    """Refuse ``weight.scaling_scope="tile"`` where a tile's own range (W1 over the tile) could
    differ from refsim's range over the matrix: ``NotImplementedError`` naming the fields.

    ``cfg`` is a :class:`refsim.CrossbarConfig`, ``shape`` the matrix's ``(n_in, n_out)``. aihwkit
    (``weight_scaling_omega > 0``) scales every tile by its own ``max|W|``, per column or per tile;
    refsim's W1 is one range over the matrix, the same numbers exactly when the range's block is one
    tile: a fixed range always, a per-column range with one row tile, a single range with one tile.
    """
    w, a = cfg.weight, cfg.array
    if w.scaling_scope == "matrix" or w.scaling == "fixed":
        return
    n_in, n_out = shape
    rows, cols = split_sizes(n_in, a.rows_max, a.split), split_sizes(n_out, a.cols_max, a.split)
    if len(rows) == 1 and (w.scaling == "column" or len(cols) == 1):
        return
    one = "one row tile" if w.scaling == "column" else "one tile"
    need = (f"array.rows_max >= {n_in}" if w.scaling == "column"
            else f"array.rows_max >= {n_in} and array.cols_max >= {n_out}")
    raise NotImplementedError(
        f"weight.scaling_scope='tile' with weight.scaling={w.scaling!r} (aihwkit: mapping.weight_scaling_omega > 0, "
        f"each tile scaled by its own max|W|): the {n_in} x {n_out} matrix (aihwkit in_size {n_in}, out_size {n_out}) "
        f"splits into {len(rows)} x {len(cols)} tiles (array.rows_max={a.rows_max}, aihwkit mapping.max_input_size; "
        f"array.cols_max={a.cols_max}, mapping.max_output_size), and refsim scales over the whole matrix "
        f"(W1), not per tile. Use {one} ({need}: aihwkit max_input_size >= in_size, or 0"
        + ("" if w.scaling == "column" else ", and max_output_size >= out_size, or 0")
        + "), or one refsim crossbar per aihwkit tile (the blocks of refsim.tiling.tile_bounds(n, size_max, "
        "'even')) and add their outputs (docs/peer_mapping.md, weight.scaling)")
