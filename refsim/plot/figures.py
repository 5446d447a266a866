"""Small, dependency-light plots written as PNG files with Pillow (no matplotlib).

Good enough for tutorials and sweep results: line plots with linear or log axes,
1-2-5 ticks with numeric labels (or named ticks, e.g. layer names), error bars, per-series
colours, markers and line styles (one colour per preset, dashed and solid for two metrics of
it), exact zeros on a log axis drawn as "0 (exact)", a legend; grouped bar plots from 0 with
value labels; and heatmaps, alone or side by side on one colour scale, with a colour bar of at
least 5 ticks. Every function writes one file and returns a :class:`Figure` (a list of them
for :func:`heatmap_panels`) that can map data coordinates to pixels (used by the tests).
Nothing is shown on screen and no global state is kept.

>>> from refsim.plot.figures import line_plot
>>> line_plot("out.png", [("ideal", [1, 2, 3], [1.0, 0.5, 0.25])],
...           title="error vs bits", xlabel="ADC bits", ylabel="RMS error (rel.)", ylog=True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from refsim.plot.canvas import (  # noqa: F401  (COLORS, MARKERS, Figure, ticks: part of this module's API)
    BG, COLORS, FG, MARKERS, STYLES, Figure, _axes, _box, _check_size, _finite, _fmt, _font, _frame, _hollow_marker,
    _legend, _limits, _marker, _polyline, _save, _text_size, _vertical_text, dense_ticks, log_ticks, nice_ticks,
)

__all__ = ["Figure", "line_plot", "bar_plot", "heatmap", "heatmap_panels", "nice_ticks", "log_ticks", "dense_ticks"]


def line_plot(path, series, *, title: str, xlabel: str, ylabel: str, xlog: bool = False, ylog: bool = False,
              errorbars=None, legend: bool = True, size: tuple[int, int] = (800, 500),
              xlim=None, ylim=None, colors=None, markers=None, styles=None, xticklabels=None,
              exact_zeros: bool = False) -> Figure:
    """Line plot of ``series`` written to the PNG file ``path``.

    Parameters
    ----------
    series : list of ``(label, xs, ys)`` or ``(label, xs, ys, yerr)``; ``xs``, ``ys`` (and ``yerr``,
        one-sided half-widths >= 0) of equal length, all finite. Each series gets its own colour
        and marker unless ``colors`` / ``markers`` say otherwise.
    xlabel, ylabel : axis labels; put the unit in them, e.g. ``"current (uA)"``.
    xlog, ylog : logarithmic axes (values must be > 0).
    errorbars : None (draw the ``yerr`` given in ``series``), False (draw none), or a list with
        one ``yerr`` array (or None) per series, overriding the ones in ``series``.
    xlim, ylim : ``(lo, hi)``; default: the data range rounded out to ticks (decades on log axes).
    colors : one entry per series, an index into :data:`COLORS` or an RGB tuple (e.g. the same
        colour for two series of one preset).
    markers, styles : one entry per series: a marker of :data:`MARKERS` (or None: no marker), a line
        style of :data:`STYLES` (``"-"`` solid, ``"--"`` dashed, ``":"`` dotted).
    xticklabels : ``[(x, name), ...]``: named x ticks (e.g. layer names) instead of numbers; written
        downwards, with the plot made shorter to fit them, when they do not fit side by side.
    exact_zeros : on a log y axis, accept ``ys == 0`` and draw those points as hollow markers in a
        band below the axis labelled "0 (exact)", joined by dotted lines (a log axis has no 0).

    Returns the :class:`Figure` (path, plot box, limits). Non-finite data raise ``ValueError``.
    """
    size = _check_size(size)
    if not isinstance(series, (list, tuple)) or len(series) == 0:
        raise ValueError(f"series: received {series!r}; expected a non-empty list of (label, xs, ys[, yerr])")
    if errorbars is not None and errorbars is not False and len(errorbars) != len(series):
        raise ValueError(f"errorbars: expected None, False or one entry per series ({len(series)}), "
                         f"received {len(errorbars)} entries")
    for name, per in (("colors", colors), ("markers", markers), ("styles", styles)):
        if per is not None and len(per) != len(series):
            raise ValueError(f"{name}: received {len(per)} entries; expected one per series ({len(series)})")
    zeros_ok = exact_zeros and ylog
    data = []
    for i, s in enumerate(series):
        if len(s) not in (3, 4):
            raise ValueError(f"series[{i}]: received {len(s)} items; expected (label, xs, ys) or (label, xs, ys, yerr)")
        label = str(s[0])
        xs = _finite(f"series[{i}] ({label!r}) xs", s[1], positive=xlog)
        ys = _finite(f"series[{i}] ({label!r}) ys", s[2])
        if ylog and zeros_ok and (ys < 0).any():
            raise ValueError(f"series[{i}] ({label!r}) ys: a log axis needs values > 0 (or exact zeros), "
                             f"received min {ys.min()!r}")
        if ylog and not zeros_ok:
            _finite(f"series[{i}] ({label!r}) ys", ys, positive=True)
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
        ys_ext.append(y[y != 0] if zeros_ok else y)
        if e is not None:
            ys_ext.append(y + e)
            lo = y - e
            ys_ext.append(lo[lo > 0] if ylog else lo)
    has_zeros = zeros_ok and any((y == 0).any() for _, _, y, _ in data)
    if not any(v.size for v in ys_ext):
        raise ValueError("series: every y value is 0; a log axis needs at least one value > 0")
    l, t, r, b = _box(size)
    tick_px, rotate = None, False
    if xticklabels is not None:
        tick_x = _finite("xticklabels positions", [v for v, _ in xticklabels], positive=xlog)
        names = [str(n) for _, n in xticklabels]
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        widths = [_text_size(probe, n, _font(13))[0] for n in names]
        gap = (r - l) / max(len(names), 1)
        rotate = max(widths) > 0.9 * gap
        if rotate:
            b = size[1] - (max(widths) + 40)
            if b - t < 100:
                raise ValueError(f"xticklabels: names up to {max(widths)} px wide leave no room for the plot; "
                                 f"use a taller size (received {size}) or shorter names")
    frame_b, band = b, (34 if has_zeros else 0)
    fig = Figure(Path(path), size, (l, t, r, b - band), _limits(all_x, xlog, xlim),
                 _limits(np.concatenate(ys_ext), ylog, ylim), xlog, ylog)
    zero_row = b - band / 2
    if xticklabels is not None:
        tick_px = [fig.to_pixel(v, fig.ylim[0])[0] for v in tick_x]
    img = Image.new("RGB", size, BG)
    _axes(img, fig, title=title, xlabel=xlabel, ylabel=ylabel, xticks=tick_px,
          xticklabels=None if tick_px is None else names, xgrid=True, rotate_xticklabels=rotate,
          frame_box=(l, t, r, frame_b), extra_yticks=[(zero_row, "0 (exact)")] if has_zeros else ())
    d = ImageDraw.Draw(img)
    if has_zeros:  # the axis break between the lowest decade and the exact zeros
        _polyline(d, [(l, b - band), (r, b - band)], (150, 150, 150), 1, "--")
    occupied, entries = [], []
    for i, (label, xs, ys, err) in enumerate(data):
        color = COLORS[i % len(COLORS)] if colors is None else (
            COLORS[colors[i] % len(COLORS)] if isinstance(colors[i], (int, np.integer)) else tuple(colors[i]))
        marker = MARKERS[i % len(MARKERS)] if markers is None else markers[i]
        style = "-" if styles is None else styles[i]
        zero = (ys == 0) if zeros_ok else np.zeros(ys.shape, bool)
        px = np.atleast_1d(np.asarray(fig.to_pixel(xs, np.where(zero, fig.ylim[0], ys))[0], float))
        py = np.atleast_1d(np.asarray(fig.to_pixel(xs, np.where(zero, fig.ylim[0], ys))[1], float))
        py[zero] = zero_row
        pts = list(zip(px.tolist(), py.tolist()))
        for k in range(len(pts) - 1):
            _polyline(d, pts[k:k + 2], color, 2, ":" if zero[k] != zero[k + 1] else style)
        if err is not None:
            lo = np.maximum(ys - err, fig.ylim[0]) if ylog else ys - err
            _, plo = fig.to_pixel(xs, lo)
            _, phi = fig.to_pixel(xs, ys + err)
            for x_, a, c, z in zip(px, np.atleast_1d(plo), np.atleast_1d(phi), zero):
                if z:
                    continue
                d.line([(x_, a), (x_, c)], fill=color, width=1)
                d.line([(x_ - 4, a), (x_ + 4, a)], fill=color)
                d.line([(x_ - 4, c), (x_ + 4, c)], fill=color)
        if marker is not None and len(pts) <= 60:
            for (x_, y_), z in zip(pts, zero):
                (_hollow_marker if z else _marker)(d, marker, x_, y_, color)
        entries.append((label, color, marker if len(pts) <= 60 else None, style))
        # sample the polyline densely so the legend avoids lines as well as markers
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] or pts):
            for f in np.linspace(0, 1, 12):
                occupied.append((x0 + f * (x1 - x0), y0 + f * (y1 - y0)))
    if legend and any(e[0] for e in entries):
        _legend(img, fig, entries, np.asarray(occupied))
    _save(img, path)
    return fig


# --------------------------------------------------------------------------- bar plot
def bar_plot(path, categories, series, *, title: str, xlabel: str, ylabel: str, ylog: bool = False,
             legend: bool = True, size: tuple[int, int] = (800, 500), value_format: str | None = None) -> Figure:
    """Grouped bar plot: ``categories`` (names on the x axis), ``series`` a list of ``(label, values)``
    or ``(label, values, yerr)`` with one value per category. Bars start at 0 (at the lower
    limit on a log axis, where bar lengths do not compare: prefer the linear default).
    ``value_format`` (e.g. ``"{:.1f}"``): write each bar's value above it."""
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
    if value_format is not None:  # headroom for the value labels
        ext = np.concatenate([ext, ext * (1.5 if ylog else 1.08)])
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
            if value_format is not None:
                lab = value_format.format(v)
                tw, th = _text_size(d, lab, _font(11))
                top = min(y_top, y_base) if err is None else min(y_top, fig.to_pixel(k, v + err[k])[1])
                d.text((x0 + bar_w / 2 - tw / 2, top - th - 5), lab, fill=FG, font=_font(11))
            if err is not None:
                xc = x0 + bar_w / 2
                _, a = fig.to_pixel(k, max(v - err[k], ylim[0]) if ylog else v - err[k])
                _, c = fig.to_pixel(k, v + err[k])
                d.line([(xc, a), (xc, c)], fill=FG)
                d.line([(xc - 3, a), (xc + 3, a)], fill=FG)
                d.line([(xc - 3, c), (xc + 3, c)], fill=FG)
        entries.append((label, color, None))
    if legend and len(data) > 1:
        lift = (0, 20) if value_format is not None else (0,)  # the value labels above the bars too
        tops = [(centers[k] - group_w / 2 + (i + 0.5) * bar_w, fig.to_pixel(k, v)[1] - dy)
                for i, (_, vals, _) in enumerate(data) for k, v in enumerate(vals) for dy in lift]
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
    weights); otherwise a viridis-like map from min to max. Axis ticks are array indices; the
    colour bar has at least 5 labelled ticks.
    """
    return heatmap_panels(path, [("", array)], title=title, xlabel=xlabel, ylabel=ylabel,
                          colorbar_label=colorbar_label, symmetric=symmetric, size=size)[0]


def heatmap_panels(path, panels, *, title: str, xlabel: str, ylabel: str, colorbar_label: str,
                   symmetric: bool = False, size: tuple[int, int] = (1000, 420)) -> list[Figure]:
    """Several 2-D arrays side by side on **one** colour scale (one colour bar), e.g. a signal and its
    error, so that their sizes compare at a glance. ``panels``: ``[(subtitle, array), ...]``.
    Returns one :class:`Figure` per panel (its box maps cell ``[i, j]`` to pixels)."""
    size = _check_size(size)
    if not isinstance(panels, (list, tuple)) or not panels:
        raise ValueError(f"panels: received {panels!r}; expected a non-empty list of (subtitle, 2-D array)")
    arrays = []
    for k, (sub, array) in enumerate(panels):
        a = np.asarray(array, dtype=np.float64)
        if a.ndim != 2 or 0 in a.shape:
            raise ValueError(f"panels[{k}] ({sub!r}): received shape {a.shape}; expected a non-empty 2-D array")
        arrays.append(_finite(f"panels[{k}] ({sub!r})" if sub else "array", a).reshape(a.shape))
    if symmetric:
        m = max(float(np.abs(a).max()) for a in arrays) or 1.0
        vlim, anchors = (-m, m), _DIVERGING
    else:
        lo, hi = min(float(a.min()) for a in arrays), max(float(a.max()) for a in arrays)
        vlim, anchors = ((lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)), _VIRIDIS
    l, t, r, b = _box(size)
    r -= 100  # room for the colour bar
    n = len(arrays)
    gap = 50 if n > 1 else 0
    if n > 1:
        t += 18  # room for the subtitles
    width = (r - l - gap * (n - 1)) / n
    if width < 40:
        raise ValueError(f"size: {size} leaves {width:.0f} px per panel for {n} panels; expected a wider size")
    img = Image.new("RGB", size, BG)
    d = ImageDraw.Draw(img)
    small, big = _font(13), _font(16)
    figs = []
    for k, (a, (sub, _)) in enumerate(zip(arrays, panels)):
        pl = int(round(l + k * (width + gap)))
        pr = int(round(pl + width))
        rows, cols = a.shape
        fig = Figure(Path(path), size, (pl, t, pr, b), (-0.5, cols - 0.5), (rows - 0.5, -0.5))
        rgb = _colormap((a - vlim[0]) / (vlim[1] - vlim[0]), anchors)
        img.paste(Image.fromarray(rgb, "RGB").resize((pr - pl, b - t), Image.NEAREST), (pl, t))
        _axes_index(img, fig, rows, cols, title=title if n == 1 else "", xlabel=xlabel,
                    ylabel=ylabel if k == 0 else "")
        if sub:
            w = _text_size(d, sub, small)[0]
            d.text(((pl + pr - w) / 2, t - 18), sub, fill=FG, font=small)
        figs.append(fig)
    if n > 1:  # one title over all panels
        w = _text_size(d, title, big)[0]
        d.text(((l + r - w) / 2, 12), title, fill=FG, font=big)
    # colour bar
    cb_l, cb_r = r + 20, r + 40
    grad = _colormap(np.linspace(1, 0, b - t)[:, None] * np.ones((1, cb_r - cb_l)), anchors)
    img.paste(Image.fromarray(grad, "RGB"), (cb_l, t))
    d.rectangle([cb_l, t, cb_r, b], outline=FG)
    for v in dense_ticks(*vlim, n_min=5):
        py = b - (v - vlim[0]) / (vlim[1] - vlim[0]) * (b - t)
        if t - 1 <= py <= b + 1:
            d.line([(cb_r, py), (cb_r + 4, py)], fill=FG)
            h = _text_size(d, _fmt(v), small)[1]
            d.text((cb_r + 6, py - h / 2 - 2), _fmt(v), fill=FG, font=small)
    _vertical_text(img, colorbar_label, small, (size[0] - 12, (t + b) // 2))
    _save(img, path)
    return figs


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
    _frame(img, d, fig.box, title=title, xlabel=xlabel, ylabel=ylabel, small=small, big=big)
