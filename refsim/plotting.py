"""Small, dependency-light plots written as PNG files with Pillow (no matplotlib).

Good enough for tutorials and sweep results: line plots with linear or log axes,
1-2-5 ticks with numeric labels, error bars, a legend; grouped bar plots; and
heatmaps with a colour bar. Every function writes one file and returns a
:class:`Figure` that can map data coordinates to pixels (used by the tests).
Nothing is shown on screen and no global state is kept.

>>> from refsim.plotting import line_plot
>>> line_plot("out.png", [("ideal", [1, 2, 3], [1.0, 0.5, 0.25])],
...           title="error vs bits", xlabel="ADC bits", ylabel="RMS error (rel.)", ylog=True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["Figure", "line_plot", "bar_plot", "heatmap", "nice_ticks", "log_ticks"]

#: Series colours (RGB), the "tab10" palette: distinguishable and print-friendly.
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
MARKERS = ("o", "s", "^", "D", "v", "x", "+", "*")
BG, FG, GRID = (255, 255, 255), (0, 0, 0), (225, 225, 225)
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 86, 24, 44, 62  # plot-area margins, px


# --------------------------------------------------------------------------- ticks
def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """About ``n`` ticks in ``[lo, hi]`` at multiples of ``1, 2 or 5 x 10^k``."""
    if not hi > lo:
        raise ValueError(f"nice_ticks: expected lo < hi, received lo={lo!r}, hi={hi!r}")
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = [float(f"{k * step:.12g}") for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[float]]:
    """Major ticks (decades; 1-2-5 within a decade when the range is narrow) and minor ticks."""
    if not 0 < lo < hi:
        raise ValueError(f"log_ticks: expected 0 < lo < hi, received lo={lo!r}, hi={hi!r}")
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    step = max(1, math.ceil((d1 - d0) / 8))
    mults = (1, 2, 5) if d1 - d0 <= 2 else (1,)
    major = [float(f"{m * 10.0**d:.12g}") for d in range(d0, d1 + 1, step) for m in mults]
    minor = [float(f"{m * 10.0**d:.12g}") for d in range(d0, d1 + 1) for m in range(2, 10)]
    lo_k, hi_k = lo * (1 - 1e-9), hi * (1 + 1e-9)
    major = [v for v in major if lo_k <= v <= hi_k]
    return major, [v for v in minor if lo_k <= v <= hi_k and v not in major]


def _fmt(v: float) -> str:
    """Short tick label: ``0.25``, ``1000``, ``1e-06``."""
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e4:
        s = f"{v:.6g}"
    else:
        s = f"{v:.3g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    return s


# --------------------------------------------------------------------------- helpers
def _font(size: int):
    """PIL's default font at ``size`` px (Pillow >= 10.1), else the fixed bitmap default."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # older Pillow: no size argument
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


def _finite(name: str, values, *, positive: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one value, received an empty array")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name}: expected finite values, received {int(bad.sum())} non-finite "
                         f"(first at index {int(np.argmax(bad))}: {arr[bad][0]!r}); remove or replace them")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name}: a log axis needs values > 0, received min {arr.min()!r}; "
                         f"use a linear axis or drop the non-positive points")
    return arr


def _check_size(size) -> tuple[int, int]:
    if (not isinstance(size, tuple) or len(size) != 2
            or not all(isinstance(s, int) and s >= 200 for s in size)):
        raise ValueError(f"size: expected a (width, height) tuple of ints >= 200 px, received {size!r}")
    return size


def _vertical_text(img: Image.Image, text: str, font, center: tuple[int, int]) -> None:
    d = ImageDraw.Draw(img)
    w, h = _text_size(d, text, font)
    tile = Image.new("RGBA", (w + 4, h + 8), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2, 0), text, fill=FG + (255,), font=font)
    tile = tile.rotate(90, expand=True)
    img.paste(tile, (center[0] - tile.width // 2, center[1] - tile.height // 2), tile)


@dataclass(frozen=True)
class Figure:
    """A written plot: where it is and how data map to pixels in its plot area."""

    path: Path
    size: tuple[int, int]
    box: tuple[int, int, int, int]  # plot area (left, top, right, bottom), px
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    xlog: bool = False
    ylog: bool = False

    def to_pixel(self, x: float, y: float) -> tuple[float, float]:
        """Pixel coordinates (column, row) of the data point ``(x, y)``."""
        l, t, r, b = self.box
        fx = _frac(x, self.xlim, self.xlog)
        fy = _frac(y, self.ylim, self.ylog)
        return l + fx * (r - l), b - fy * (b - t)


def _frac(v, lim, log):
    if log:
        return (np.log10(v) - math.log10(lim[0])) / (math.log10(lim[1]) - math.log10(lim[0]))
    return (np.asarray(v, dtype=np.float64) - lim[0]) / (lim[1] - lim[0])


def _limits(values: np.ndarray, log: bool, given) -> tuple[float, float]:
    if given is not None:
        lo, hi = float(given[0]), float(given[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) or (log and lo <= 0):
            raise ValueError(f"limits: expected finite lo < hi (> 0 on a log axis), received {given!r}")
        return lo, hi
    lo, hi = float(values.min()), float(values.max())
    if log:
        if lo == hi:
            lo, hi = lo / 2, hi * 2
        d0, d1 = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
        if d1 - d0 > 2:  # wide range: whole decades
            return 10.0**d0, 10.0**d1
        # narrow range: round out to 1-2-5 steps
        cands = [float(f"{m * 10.0**d:.12g}") for d in range(d0 - 1, d1 + 1) for m in (1, 2, 5)]
        return max(c for c in cands if c <= lo * (1 + 1e-9)), min(c for c in cands if c >= hi * (1 - 1e-9))
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else (hi - lo)
    return min(lo, math.floor(lo / step + 1e-9) * step), max(hi, math.ceil(hi / step - 1e-9) * step)


def _axes(img, fig: Figure, *, title, xlabel, ylabel, xticks=None, xticklabels=None) -> None:
    """Frame, grid, ticks with labels, axis labels and title."""
    d = ImageDraw.Draw(img)
    small, big = _font(13), _font(16)
    l, t, r, b = fig.box
    for axis, lim, log in (("x", fig.xlim, fig.xlog), ("y", fig.ylim, fig.ylog)):
        if axis == "x" and xticks is not None:
            major, minor, labels = list(xticks), [], list(xticklabels)
        elif log:
            major, minor = log_ticks(*lim)
            labels = [_fmt(v) for v in major]
        else:
            major, minor = nice_ticks(*lim), []
            labels = [_fmt(v) for v in major]
        for v, lab in zip(major, labels):
            if axis == "x":
                px = fig.to_pixel(v, fig.ylim[0])[0] if xticks is None else v
                if xticks is None:
                    d.line([(px, t), (px, b)], fill=GRID)
                d.line([(px, b), (px, b + 5)], fill=FG)
                w, h = _text_size(d, lab, small)
                d.text((px - w / 2, b + 8), lab, fill=FG, font=small)
            else:
                py = fig.to_pixel(fig.xlim[0], v)[1]
                d.line([(l, py), (r, py)], fill=GRID)
                d.line([(l - 5, py), (l, py)], fill=FG)
                w, h = _text_size(d, lab, small)
                d.text((l - 8 - w, py - h / 2 - 2), lab, fill=FG, font=small)
        for v in minor:
            if axis == "x":
                px = fig.to_pixel(v, fig.ylim[0])[0]
                d.line([(px, b), (px, b + 3)], fill=FG)
            else:
                py = fig.to_pixel(fig.xlim[0], v)[1]
                d.line([(l - 3, py), (l, py)], fill=FG)
    d.rectangle([l, t, r, b], outline=FG)
    w, h = _text_size(d, title, big)
    d.text(((l + r - w) / 2, 12), title, fill=FG, font=big)
    w, h = _text_size(d, xlabel, small)
    d.text(((l + r - w) / 2, b + 30), xlabel, fill=FG, font=small)
    _vertical_text(img, ylabel, small, (16, (t + b) // 2))


def _marker(d: ImageDraw.ImageDraw, kind: str, x: float, y: float, color, r: int = 4) -> None:
    if kind == "o":
        d.ellipse([x - r, y - r, x + r, y + r], fill=color)
    elif kind == "s":
        d.rectangle([x - r, y - r, x + r, y + r], fill=color)
    elif kind == "^":
        d.polygon([(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)], fill=color)
    elif kind == "v":
        d.polygon([(x, y + r + 1), (x - r - 1, y - r), (x + r + 1, y - r)], fill=color)
    elif kind == "D":
        d.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], fill=color)
    elif kind == "x":
        d.line([(x - r, y - r), (x + r, y + r)], fill=color, width=2)
        d.line([(x - r, y + r), (x + r, y - r)], fill=color, width=2)
    elif kind == "+":
        d.line([(x - r - 1, y), (x + r + 1, y)], fill=color, width=2)
        d.line([(x, y - r - 1), (x, y + r + 1)], fill=color, width=2)
    else:  # "*"
        _marker(d, "x", x, y, color, r)
        _marker(d, "+", x, y, color, r)


def _legend(img, fig: Figure, entries, occupied: np.ndarray) -> None:
    """Legend box in the corner of the plot area that covers the fewest drawn points."""
    d = ImageDraw.Draw(img)
    font = _font(13)
    row_h = 18
    w = max(_text_size(d, lab, font)[0] for lab, _, _ in entries) + 42
    h = row_h * len(entries) + 8
    l, t, r, b = fig.box
    corners = [(r - w - 6, t + 6), (l + 6, t + 6), (r - w - 6, b - h - 6), (l + 6, b - h - 6)]

    def cost(c):
        x0, y0 = c
        if occupied.size == 0:
            return 0
        inside = ((occupied[:, 0] >= x0) & (occupied[:, 0] <= x0 + w)
                  & (occupied[:, 1] >= y0) & (occupied[:, 1] <= y0 + h))
        return int(inside.sum())

    x0, y0 = min(corners, key=cost)
    d.rectangle([x0, y0, x0 + w, y0 + h], fill=BG, outline=(150, 150, 150))
    for i, (lab, color, marker) in enumerate(entries):
        yc = y0 + 4 + row_h * i + row_h / 2
        if marker is None:
            d.rectangle([x0 + 8, yc - 5, x0 + 28, yc + 5], fill=color)
        else:
            d.line([(x0 + 6, yc), (x0 + 30, yc)], fill=color, width=2)
            _marker(d, marker, x0 + 18, yc, color)
        th = _text_size(d, lab, font)[1]
        d.text((x0 + 36, yc - th / 2 - 3), lab, fill=FG, font=font)


def _box(size) -> tuple[int, int, int, int]:
    return (MARGIN_L, MARGIN_T, size[0] - MARGIN_R, size[1] - MARGIN_B)


def _save(img: Image.Image, path) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"path: expected a file name ending in .png, received {str(p)!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    img.save(p)
    return p


# --------------------------------------------------------------------------- line plot
def line_plot(path, series, *, title: str, xlabel: str, ylabel: str, xlog: bool = False, ylog: bool = False,
              errorbars=None, legend: bool = True, size: tuple[int, int] = (800, 500),
              xlim=None, ylim=None) -> Figure:
    """Line plot of ``series`` written to the PNG file ``path``.

    Parameters
    ----------
    series : list of ``(label, xs, ys)`` or ``(label, xs, ys, yerr)``; ``xs``, ``ys`` (and ``yerr``,
        one-sided half-widths >= 0) of equal length, all finite. Each series gets its own colour
        and marker.
    xlabel, ylabel : axis labels; put the unit in them, e.g. ``"current (uA)"``.
    xlog, ylog : logarithmic axes (values must be > 0).
    errorbars : None (draw the ``yerr`` given in ``series``), False (draw none), or a list with
        one ``yerr`` array (or None) per series, overriding the ones in ``series``.
    xlim, ylim : ``(lo, hi)``; default: the data range rounded out to ticks (decades on log axes).

    Returns the :class:`Figure` (path, plot box, limits). Non-finite data raise ``ValueError``.
    """
    size = _check_size(size)
    if not isinstance(series, (list, tuple)) or len(series) == 0:
        raise ValueError(f"series: expected a non-empty list of (label, xs, ys[, yerr]), received {series!r}")
    if errorbars is not None and errorbars is not False and len(errorbars) != len(series):
        raise ValueError(f"errorbars: expected None, False or one entry per series ({len(series)}), "
                         f"received {len(errorbars)} entries")
    data = []
    for i, s in enumerate(series):
        if len(s) not in (3, 4):
            raise ValueError(f"series[{i}]: expected (label, xs, ys) or (label, xs, ys, yerr), received {len(s)} items")
        label = str(s[0])
        xs = _finite(f"series[{i}] ({label!r}) xs", s[1], positive=xlog)
        ys = _finite(f"series[{i}] ({label!r}) ys", s[2], positive=ylog)
        if xs.shape != ys.shape:
            raise ValueError(f"series[{i}] ({label!r}): xs has {xs.size} values, ys has {ys.size}; expected equal")
        err = s[3] if len(s) == 4 else None
        if errorbars is False:
            err = None
        elif errorbars is not None:
            err = errorbars[i]
        if err is not None:
            err = _finite(f"series[{i}] ({label!r}) yerr", err)
            if err.shape != ys.shape or (err < 0).any():
                raise ValueError(f"series[{i}] ({label!r}) yerr: expected {ys.size} values >= 0")
        data.append((label, xs, ys, err))
    all_x = np.concatenate([x for _, x, _, _ in data])
    ys_ext = []
    for _, _, y, e in data:
        ys_ext.append(y)
        if e is not None:
            ys_ext.append(y + e)
            lo = y - e
            ys_ext.append(lo[lo > 0] if ylog else lo)
    fig = Figure(Path(path), size, _box(size), _limits(all_x, xlog, xlim),
                 _limits(np.concatenate(ys_ext), ylog, ylim), xlog, ylog)
    img = Image.new("RGB", size, BG)
    _axes(img, fig, title=title, xlabel=xlabel, ylabel=ylabel)
    d = ImageDraw.Draw(img)
    occupied, entries = [], []
    for i, (label, xs, ys, err) in enumerate(data):
        color, marker = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        px, py = fig.to_pixel(xs, ys)
        pts = list(zip(np.asarray(px, float).tolist(), np.asarray(py, float).tolist()))
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        if err is not None:
            lo = np.maximum(ys - err, fig.ylim[0]) if ylog else ys - err
            _, plo = fig.to_pixel(xs, lo)
            _, phi = fig.to_pixel(xs, ys + err)
            for x_, a, c in zip(np.atleast_1d(px), np.atleast_1d(plo), np.atleast_1d(phi)):
                d.line([(x_, a), (x_, c)], fill=color, width=1)
                d.line([(x_ - 4, a), (x_ + 4, a)], fill=color)
                d.line([(x_ - 4, c), (x_ + 4, c)], fill=color)
        if len(pts) <= 60:
            for x_, y_ in pts:
                _marker(d, marker, x_, y_, color)
        entries.append((label, color, marker if len(pts) <= 60 else None))
        # sample the polyline densely so the legend avoids lines as well as markers
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] or pts):
            for f in np.linspace(0, 1, 12):
                occupied.append((x0 + f * (x1 - x0), y0 + f * (y1 - y0)))
    if legend and any(lab for lab, _, _ in entries):
        _legend(img, fig, entries, np.asarray(occupied))
    _save(img, path)
    return fig


# --------------------------------------------------------------------------- bar plot
def bar_plot(path, categories, series, *, title: str, xlabel: str, ylabel: str, ylog: bool = False,
             legend: bool = True, size: tuple[int, int] = (800, 500)) -> Figure:
    """Grouped bar plot: ``categories`` (names on the x axis), ``series`` a list of ``(label, values)``
    or ``(label, values, yerr)`` with one value per category. Bars start at 0 (at the lower
    limit on a log axis)."""
    size = _check_size(size)
    cats = [str(c) for c in categories]
    if not cats or not series:
        raise ValueError("bar_plot: expected at least one category and one series")
    data = []
    for i, s in enumerate(series):
        vals = _finite(f"series[{i}] ({s[0]!r}) values", s[1], positive=ylog)
        if vals.size != len(cats):
            raise ValueError(f"series[{i}] ({s[0]!r}): expected {len(cats)} values (one per category), "
                             f"received {vals.size}")
        err = _finite(f"series[{i}] ({s[0]!r}) yerr", s[2]) if len(s) > 2 and s[2] is not None else None
        data.append((str(s[0]), vals, err))
    ext = np.concatenate([v + (0 if e is None else e) for _, v, e in data]
                         + ([] if ylog else [np.zeros(1)]))
    ext_lo = np.concatenate([v for _, v, _ in data])
    ylim = _limits(np.concatenate([ext, ext_lo]), ylog, None)
    fig = Figure(Path(path), size, _box(size), (0.0, float(len(cats))), ylim, False, ylog)
    img = Image.new("RGB", size, BG)
    centers = [fig.to_pixel(k + 0.5, ylim[0])[0] for k in range(len(cats))]
    _axes(img, fig, title=title, xlabel=xlabel, ylabel=ylabel, xticks=centers, xticklabels=cats)
    d = ImageDraw.Draw(img)
    group_w = (fig.box[2] - fig.box[0]) / len(cats) * 0.8
    bar_w = group_w / len(data)
    base = ylim[0] if ylog else 0.0
    entries = []
    for i, (label, vals, err) in enumerate(data):
        color = COLORS[i % len(COLORS)]
        for k, v in enumerate(vals):
            x0 = centers[k] - group_w / 2 + i * bar_w
            _, y_top = fig.to_pixel(k, v)
            _, y_base = fig.to_pixel(k, base)
            d.rectangle([x0 + 1, min(y_top, y_base), x0 + bar_w - 1, max(y_top, y_base)], fill=color)
            if err is not None:
                xc = x0 + bar_w / 2
                _, a = fig.to_pixel(k, max(v - err[k], ylim[0]) if ylog else v - err[k])
                _, c = fig.to_pixel(k, v + err[k])
                d.line([(xc, a), (xc, c)], fill=FG)
                d.line([(xc - 3, a), (xc + 3, a)], fill=FG)
                d.line([(xc - 3, c), (xc + 3, c)], fill=FG)
        entries.append((label, color, None))
    if legend and len(data) > 1:
        tops = [(centers[k] - group_w / 2 + (i + 0.5) * bar_w, fig.to_pixel(k, v)[1])
                for i, (_, vals, _) in enumerate(data) for k, v in enumerate(vals)]
        _legend(img, fig, entries, np.asarray(tops))
    _save(img, path)
    return fig


# --------------------------------------------------------------------------- heatmap
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)
_DIVERGING = np.array([[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]], float)


def _colormap(f: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour map: ``f`` in [0, 1] -> uint8 RGB."""
    pos = np.clip(f, 0, 1) * (len(anchors) - 1)
    i = np.minimum(pos.astype(int), len(anchors) - 2)
    w = (pos - i)[..., None]
    return np.round(anchors[i] * (1 - w) + anchors[i + 1] * w).astype(np.uint8)


def heatmap(path, array, *, title: str, xlabel: str, ylabel: str, colorbar_label: str,
            symmetric: bool = False, size: tuple[int, int] = (800, 500)) -> Figure:
    """Image of a 2-D ``array`` (row 0 at the top), cell ``[i, j]`` at column ``j``, row ``i``.

    ``symmetric=True`` uses a blue-white-red map centred on 0 (for signed data such as
    weights); otherwise a viridis-like map from min to max. Axis ticks are array indices.
    """
    size = _check_size(size)
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"array: expected a non-empty 2-D array, received shape {a.shape}")
    _finite("array", a)
    if symmetric:
        m = float(np.abs(a).max()) or 1.0
        vlim, anchors = (-m, m), _DIVERGING
    else:
        lo, hi = float(a.min()), float(a.max())
        vlim, anchors = ((lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)), _VIRIDIS
    l, t, r, b = _box(size)
    r -= 90  # room for the colour bar
    rows, cols = a.shape
    fig = Figure(Path(path), size, (l, t, r, b), (-0.5, cols - 0.5), (rows - 0.5, -0.5))
    img = Image.new("RGB", size, BG)
    rgb = _colormap((a - vlim[0]) / (vlim[1] - vlim[0]), anchors)
    img.paste(Image.fromarray(rgb, "RGB").resize((r - l, b - t), Image.NEAREST), (l, t))
    _axes_index(img, fig, rows, cols, title=title, xlabel=xlabel, ylabel=ylabel)
    # colour bar
    cb_l, cb_r = r + 20, r + 40
    grad = _colormap(np.linspace(1, 0, b - t)[:, None] * np.ones((1, cb_r - cb_l)), anchors)
    img.paste(Image.fromarray(grad, "RGB"), (cb_l, t))
    d = ImageDraw.Draw(img)
    d.rectangle([cb_l, t, cb_r, b], outline=FG)
    small = _font(13)
    for v in nice_ticks(*vlim, n=5):
        py = b - (v - vlim[0]) / (vlim[1] - vlim[0]) * (b - t)
        if t - 1 <= py <= b + 1:
            d.line([(cb_r, py), (cb_r + 4, py)], fill=FG)
            h = _text_size(d, _fmt(v), small)[1]
            d.text((cb_r + 6, py - h / 2 - 2), _fmt(v), fill=FG, font=small)
    _vertical_text(img, colorbar_label, small, (size[0] - 12, (t + b) // 2))
    _save(img, path)
    return fig


def _axes_index(img, fig: Figure, rows: int, cols: int, *, title, xlabel, ylabel) -> None:
    d = ImageDraw.Draw(img)
    small, big = _font(13), _font(16)
    l, t, r, b = fig.box
    for n, axis in ((cols, "x"), (rows, "y")):
        ticks = [v for v in nice_ticks(0, max(n - 1, 1), n=min(n, 8)) if float(v).is_integer() and v <= n - 1]
        for v in ticks:
            lab = str(int(v))
            w, h = _text_size(d, lab, small)
            if axis == "x":
                px = fig.to_pixel(v, 0)[0]
                d.line([(px, b), (px, b + 5)], fill=FG)
                d.text((px - w / 2, b + 8), lab, fill=FG, font=small)
            else:
                py = fig.to_pixel(0, v)[1]
                d.line([(l - 5, py), (l, py)], fill=FG)
                d.text((l - 8 - w, py - h / 2 - 2), lab, fill=FG, font=small)
    d.rectangle([l, t, r, b], outline=FG)
    w, _ = _text_size(d, title, big)
    d.text(((l + r - w) / 2, 12), title, fill=FG, font=big)
    w, _ = _text_size(d, xlabel, small)
    d.text(((l + r - w) / 2, b + 30), xlabel, fill=FG, font=small)
    _vertical_text(img, ylabel, small, (16, (t + b) // 2))
