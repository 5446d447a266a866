"""Drawing primitives of :mod:`refsim.plot.figures`: ticks, axes, text, markers, legends, with Pillow.

A :class:`Figure` maps data coordinates to pixels; the plot functions of
:mod:`refsim.plot.figures` build on these helpers. No global state is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["COLORS", "MARKERS", "STYLES", "Figure", "nice_ticks", "log_ticks", "dense_ticks"]

#: Series colours (RGB), the "tab10" palette: distinguishable and print-friendly.
COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
MARKERS = ("o", "s", "^", "D", "v", "x", "+", "*")
#: Line styles: solid, dashed, dotted.
STYLES = ("-", "--", ":")
BG, FG, GRID = (255, 255, 255), (0, 0, 0), (225, 225, 225)
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 86, 24, 44, 62  # plot-area margins, px


# --------------------------------------------------------------------------- ticks
def nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """About ``n`` ticks in ``[lo, hi]`` at multiples of ``1, 2 or 5 x 10^k``."""
    if not hi > lo:
        raise ValueError(f"nice_ticks: received lo={lo!r}, hi={hi!r}; expected lo < hi")
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.ceil(lo / step - 1e-9)
    ticks = [float(f"{k * step:.12g}") for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]


def dense_ticks(lo: float, hi: float, n_min: int = 5) -> list[float]:
    """At least ``n_min`` ticks in ``[lo, hi]`` at multiples of ``1, 2 or 5 x 10^k`` (for colour bars,
    whose limits are the data's, not rounded out to ticks): the largest such step that gives ``n_min``."""
    if not hi > lo:
        raise ValueError(f"dense_ticks: received lo={lo!r}, hi={hi!r}; expected lo < hi")
    mag = 10.0 ** math.ceil(math.log10(hi - lo))
    for step in (m * mag / 10**k for k in range(0, 6) for m in (1, 0.5, 0.2)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 >= n_min:
            ticks = [float(f"{k * step:.12g}") for k in range(first, last + 1)]
            return [0.0 if abs(t) < step * 1e-9 else t for t in ticks]
    return nice_ticks(lo, hi, n_min)


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[float]]:
    """Major ticks (decades; 1-2-5 within a decade when the range is narrow) and minor ticks."""
    if not 0 < lo < hi:
        raise ValueError(f"log_ticks: received lo={lo!r}, hi={hi!r}; expected 0 < lo < hi")
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
        raise ValueError(f"{name}: received an empty array; expected at least one value")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name}: received {int(bad.sum())} non-finite values (first at index "
                         f"{int(np.argmax(bad))}: {arr[bad][0]!r}); expected finite values (remove or replace them)")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name}: a log axis needs values > 0, received min {arr.min()!r}; "
                         f"use a linear axis or drop the non-positive points")
    return arr


def _check_size(size) -> tuple[int, int]:
    if (not isinstance(size, tuple) or len(size) != 2
            or not all(isinstance(s, int) and s >= 200 for s in size)):
        raise ValueError(f"size: received {size!r}; expected a (width, height) tuple of ints >= 200 px")
    return size


def _vertical_text(img: Image.Image, text: str, font, center: tuple[int, int], down: bool = False) -> None:
    """``text`` turned a quarter: read upwards (an axis label) or, with ``down``, downwards."""
    d = ImageDraw.Draw(img)
    w, h = _text_size(d, text, font)
    tile = Image.new("RGBA", (w + 4, h + 8), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2, 0), text, fill=FG + (255,), font=font)
    tile = tile.rotate(-90 if down else 90, expand=True)
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
            raise ValueError(f"limits: received {given!r}; expected finite lo < hi (> 0 on a log axis)")
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


def _axes(img, fig: Figure, *, title, xlabel, ylabel, xticks=None, xticklabels=None, xgrid=False,
          rotate_xticklabels=False, frame_box=None, extra_yticks=()) -> None:
    """Frame, grid, ticks with labels, axis labels and title.

    ``xticks`` (pixel columns) with ``xticklabels`` replace the numeric x ticks (``xgrid``: draw
    their grid lines; ``rotate_xticklabels``: labels written downwards, for long names).
    ``frame_box`` (default ``fig.box``): the frame drawn, when it is taller than the data box (a
    band below the data for exact zeros); ``extra_yticks``: ``(pixel row, label)`` pairs.
    """
    d = ImageDraw.Draw(img)
    small, big = _font(13), _font(16)
    l, t, r, _ = fig.box
    b = (frame_box or fig.box)[3]
    label_h = 0
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
                if xticks is None or xgrid:
                    d.line([(px, t), (px, b)], fill=GRID)
                d.line([(px, b), (px, b + 5)], fill=FG)
                w, h = _text_size(d, lab, small)
                if rotate_xticklabels:
                    _vertical_text(img, lab, small, (int(round(px)), int(b + 8 + w / 2)), down=True)
                    label_h = max(label_h, w)
                else:
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
    for py, lab in extra_yticks:
        d.line([(l - 5, py), (l, py)], fill=FG)
        w, h = _text_size(d, lab, small)
        d.text((l - 8 - w, py - h / 2 - 2), lab, fill=FG, font=small)
    _frame(img, d, (l, t, r, b), title=title, xlabel=xlabel, ylabel=ylabel, small=small, big=big,
           xlabel_dy=max(30, label_h + 14))


def _frame(img: Image.Image, d: ImageDraw.ImageDraw, box, *, title, xlabel, ylabel, small, big,
           xlabel_dy: int = 30) -> None:
    """The plot frame, the title above it, the x label below it and the y label to its left."""
    l, t, r, b = box
    d.rectangle([l, t, r, b], outline=FG)
    w, _ = _text_size(d, title, big)
    d.text(((l + r - w) / 2, 12), title, fill=FG, font=big)
    w, _ = _text_size(d, xlabel, small)
    d.text(((l + r - w) / 2, b + xlabel_dy), xlabel, fill=FG, font=small)
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


def _polyline(d: ImageDraw.ImageDraw, pts, color, width: int = 2, style: str = "-") -> None:
    """A polyline through the pixel points ``pts``: ``"-"`` solid, ``"--"`` dashed, ``":"`` dotted."""
    if style not in STYLES:
        raise ValueError(f"style: received {style!r}; expected one of {STYLES}")
    if len(pts) < 2:
        return
    if style == "-":
        d.line(pts, fill=color, width=width)
        return
    on, off = (9.0, 5.0) if style == "--" else (2.0, 4.0)
    phase = 0.0  # distance already walked in the current on+off period
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        seg = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < seg:
            in_on = phase < on
            step = min((on - phase) if in_on else (on + off - phase), seg - pos)
            if in_on:
                a, b = pos / seg, (pos + step) / seg
                d.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
                       fill=color, width=width)
            pos += step
            phase = (phase + step) % (on + off)


def _hollow_marker(d: ImageDraw.ImageDraw, kind: str, x: float, y: float, color) -> None:
    """An outlined marker (filled markers with a white centre): marks a special value, e.g. an exact 0."""
    _marker(d, kind, x, y, color, r=5)
    if kind in ("o", "s", "^", "v", "D"):
        _marker(d, kind, x, y, BG, r=2)


def _legend(img, fig: Figure, entries, occupied: np.ndarray) -> None:
    """Legend box in the corner of the plot area that covers the fewest drawn points."""
    d = ImageDraw.Draw(img)
    font = _font(13)
    row_h = 18
    w = max(_text_size(d, e[0], font)[0] for e in entries) + 54
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
    for i, (lab, color, marker, *style) in enumerate(entries):
        yc = y0 + 4 + row_h * i + row_h / 2
        if marker is None and not style:
            d.rectangle([x0 + 8, yc - 5, x0 + 28, yc + 5], fill=color)
        else:
            _polyline(d, [(x0 + 6, yc), (x0 + 42, yc)], color, 2, style[0] if style else "-")
            if marker is not None:
                _marker(d, marker, x0 + 24, yc, color)
        th = _text_size(d, lab, font)[1]
        d.text((x0 + 48, yc - th / 2 - 3), lab, fill=FG, font=font)


def _box(size) -> tuple[int, int, int, int]:
    return (MARGIN_L, MARGIN_T, size[0] - MARGIN_R, size[1] - MARGIN_B)


def _save(img: Image.Image, path) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ValueError(f"path: received {str(p)!r}; expected a file name ending in .png")
    p.parent.mkdir(parents=True, exist_ok=True)
    img.save(p)
    return p


# --------------------------------------------------------------------------- line plot
