"""refsim.plot.figures: files written at the requested size, clear errors, pixels where the data say."""

import numpy as np
import pytest
from PIL import Image

from refsim.plot import figures as plotting
from refsim.plot.figures import bar_plot, heatmap, line_plot, log_ticks, nice_ticks


def _rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_line_plot_writes_png_of_requested_size(tmp_path):
    p = tmp_path / "sub" / "a.png"
    fig = line_plot(p, [("a", [1, 2, 3], [1.0, 4.0, 9.0]), ("b", [1, 2, 3], [2.0, 3.0, 1.0], [0.1, 0.2, 0.3])],
                    title="t", xlabel="x (s)", ylabel="y (A)", size=(640, 400))
    assert p.is_file() and fig.path == p
    with Image.open(p) as img:
        assert img.format == "PNG" and img.size == (640, 400)


@pytest.mark.parametrize("xlog,ylog", [(False, True), (True, False), (True, True)])
def test_log_axes(tmp_path, xlog, ylog):
    p = tmp_path / "log.png"
    line_plot(p, [("s", [1, 10, 100], [1e-3, 1e-2, 5e-1])], title="t", xlabel="x", ylabel="y",
              xlog=xlog, ylog=ylog)
    assert Image.open(p).size == (800, 500)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises_clear_error(tmp_path, bad):
    with pytest.raises(ValueError, match="finite"):
        line_plot(tmp_path / "x.png", [("s", [0, 1, 2], [0.0, bad, 1.0])], title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="finite"):
        heatmap(tmp_path / "h.png", np.array([[0.0, bad]]), title="t", xlabel="x", ylabel="y", colorbar_label="c")
    with pytest.raises(ValueError, match="finite"):
        bar_plot(tmp_path / "b.png", ["a", "b"], [("s", [1.0, bad])], title="t", xlabel="x", ylabel="y")
    assert not any(tmp_path.iterdir())


def test_other_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="log axis"):
        line_plot(tmp_path / "x.png", [("s", [1, 2], [0.0, 1.0])], title="t", xlabel="x", ylabel="y", ylog=True)
    with pytest.raises(ValueError, match="xs has 2 values, ys has 3"):
        line_plot(tmp_path / "x.png", [("s", [1, 2], [0, 1, 2])], title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match=".png"):
        line_plot(tmp_path / "x.jpg", [("s", [1, 2], [0, 1])], title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="size"):
        line_plot(tmp_path / "x.png", [("s", [1, 2], [0, 1])], title="t", xlabel="x", ylabel="y", size=(10, 10))


def test_known_line_lands_on_expected_pixels(tmp_path):
    """A horizontal line at y = 0.5 over x in [0, 1], with limits fixed to [0, 1]^2: the pixels on the
    line have the series colour; pixels well above and below it are background (or grid)."""
    p = tmp_path / "line.png"
    fig = line_plot(p, [("s", np.linspace(0, 1, 200), np.full(200, 0.5))], title="t", xlabel="x", ylabel="y",
                    xlim=(0, 1), ylim=(0, 1), legend=False)
    img = _rgb(p)
    color = np.array(plotting.COLORS[0])
    l, t, r, b = fig.box
    col0, row = fig.to_pixel(0.3, 0.5)
    assert (int(round(col0)), int(round(row))) == (int(round(l + 0.3 * (r - l))), int(round((t + b) / 2)))
    for xv in (0.2, 0.4, 0.6, 0.75):
        c, rr = (int(round(v)) for v in fig.to_pixel(xv, 0.5))
        window = img[rr - 2 : rr + 3, c]
        assert (np.abs(window.astype(int) - color).sum(axis=1) < 30).any(), (xv, window)
        for yv in (0.3, 0.7):
            c2, r2 = (int(round(v)) for v in fig.to_pixel(xv, yv))
            assert np.abs(img[r2, c2].astype(int) - color).sum() > 100


def test_diagonal_line_and_log_mapping(tmp_path):
    """y = x on log-log axes: the point (10, 10) is in the middle of [1, 100]^2 and carries the colour."""
    p = tmp_path / "diag.png"
    fig = line_plot(p, [("s", [1, 10, 100], [1, 10, 100])], title="t", xlabel="x", ylabel="y",
                    xlog=True, ylog=True, legend=False)
    assert fig.xlim == (1, 100) and fig.ylim == (1, 100)
    l, t, r, b = fig.box
    c, rr = fig.to_pixel(10, 10)
    assert c == pytest.approx((l + r) / 2) and rr == pytest.approx((t + b) / 2)
    img = _rgb(p)
    assert np.abs(img[int(round(rr)), int(round(c))].astype(int) - np.array(plotting.COLORS[0])).sum() < 30


def test_heatmap_cells_coloured_in_place(tmp_path):
    """Row 0 is at the top: a single hot cell at [0, 2] is red (diverging map) at its pixel."""
    a = np.zeros((4, 5))
    a[0, 2] = 1.0
    a[3, 0] = -1.0
    p = tmp_path / "h.png"
    fig = heatmap(p, a, title="t", xlabel="col", ylabel="row", colorbar_label="w", symmetric=True)
    img = _rgb(p).astype(int)
    c, r = (int(round(v)) for v in fig.to_pixel(2, 0))
    assert img[r, c, 0] > 150 and img[r, c, 2] < 80  # red
    c, r = (int(round(v)) for v in fig.to_pixel(0, 3))
    assert img[r, c, 2] > 150 and img[r, c, 0] < 80  # blue
    c, r = (int(round(v)) for v in fig.to_pixel(4, 2))
    assert (img[r, c] > 230).all()  # zero is white


def test_bar_plot(tmp_path):
    p = tmp_path / "bars.png"
    fig = bar_plot(p, ["a", "b", "c"], [("s1", [1, 2, 3]), ("s2", [3, 2, 1], [0.1, 0.1, 0.1])],
                   title="t", xlabel="x", ylabel="y (%)", size=(600, 400))
    assert Image.open(p).size == (600, 400)
    assert fig.ylim[0] == 0
    with pytest.raises(ValueError, match="one per category"):
        bar_plot(p, ["a", "b"], [("s", [1, 2, 3])], title="t", xlabel="x", ylabel="y")


def test_ticks():
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-3, 7, n=6) == [-2.0, 0.0, 2.0, 4.0, 6.0]
    steps = np.diff(nice_ticks(0.013, 0.0871))
    assert np.allclose(steps, steps[0])
    major, minor = log_ticks(1e-4, 1)
    assert major == [1e-4, 1e-3, 1e-2, 0.1, 1.0] and 2e-4 in minor
    major, _ = log_ticks(1, 50)
    assert major == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    with pytest.raises(ValueError):
        nice_ticks(1, 1)
    with pytest.raises(ValueError):
        log_ticks(0, 1)


def test_dense_ticks_give_enough_colorbar_ticks():
    from refsim.plot.figures import dense_ticks
    for lo, hi in [(-1.05, -0.28), (1.2, 24.8), (4.2, 252.8), (-2.2, 2.2), (0.013, 0.0871)]:
        ticks = dense_ticks(lo, hi)
        assert len(ticks) >= 5 and all(lo <= v <= hi for v in ticks), (lo, hi, ticks)
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0])
        mant = steps[0] / 10 ** np.floor(np.log10(steps[0]))
        assert any(np.isclose(mant, m) for m in (1, 2, 5)), steps[0]


def test_exact_zeros_on_log_axis_drawn_in_their_band(tmp_path):
    """ys == 0 on a log axis: accepted with exact_zeros=True, drawn below the data box (the
    "0 (exact)" band) as hollow markers; refused without it."""
    p = tmp_path / "z.png"
    xs, ys = [1, 2, 3, 4], [1.0, 0.1, 0.0, 0.0]
    with pytest.raises(ValueError, match="log axis"):
        line_plot(p, [("s", xs, ys)], title="t", xlabel="x", ylabel="y", ylog=True)
    fig = line_plot(p, [("s", xs, ys)], title="t", xlabel="x", ylabel="y", ylog=True, exact_zeros=True,
                    legend=False)
    img = _rgb(p).astype(int)
    color = np.array(plotting.COLORS[0])
    l, t, r, b = fig.box
    assert fig.ylim[0] <= 0.1 and b < 500 - 62  # the data box ends above the frame: the band is below it
    col = int(round(fig.to_pixel(3, 1.0)[0]))
    band = img[b + 2 : 500 - 62, col - 6 : col + 7]
    hits = np.argwhere((np.abs(band - color).sum(axis=2) < 40))
    assert hits.size, "no marker of the exact zero in the band below the axis"
    centre = band[hits[:, 0].mean().round().astype(int), 6]
    assert (centre > 230).all(), "the exact-zero marker is hollow (white centre)"
    with pytest.raises(ValueError, match="every y value is 0"):
        line_plot(p, [("s", xs, [0.0] * 4)], title="t", xlabel="x", ylabel="y", ylog=True, exact_zeros=True)


def test_colors_styles_and_named_ticks(tmp_path):
    """Two series with one colour: solid and dashed; the dashed one has gaps along its line."""
    p = tmp_path / "s.png"
    names = [f"layer{i}.conv{i % 2 + 1}" for i in range(20)]
    fig = line_plot(p, [("a", range(20), np.full(20, 2.0)), ("b", range(20), np.full(20, 1.0))],
                    colors=[3, 3], styles=["-", "--"], markers=[None, None], legend=False,
                    xticklabels=list(enumerate(names)), title="t", xlabel="layer", ylabel="y", ylim=(0, 3))
    assert fig.box[3] < 500 - 62  # rotated names took room from the plot
    img = _rgb(p).astype(int)
    color = np.array(plotting.COLORS[3])
    c0, c1 = (int(round(fig.to_pixel(v, 0)[0])) for v in (2, 17))

    def coverage(yv):
        row = int(round(fig.to_pixel(0, yv)[1]))
        strip = img[row - 1 : row + 2, c0:c1]
        return (np.abs(strip - color).sum(axis=2) < 40).any(axis=0).mean()

    assert coverage(2.0) > 0.97 and 0.4 < coverage(1.0) < 0.9
    with pytest.raises(ValueError, match="styles"):
        line_plot(p, [("a", [1, 2], [1, 2])], styles=["-", "--"], title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="style"):
        line_plot(p, [("a", [1, 2], [1, 2])], styles=["-."], title="t", xlabel="x", ylabel="y")


def test_heatmap_panels_share_one_scale(tmp_path):
    """The same value is the same colour in every panel; a panel of zeros is white (diverging)."""
    from refsim.plot.figures import heatmap_panels
    a = np.array([[1.0, -1.0], [0.5, 0.0]])
    figs = heatmap_panels(tmp_path / "p.png", [("signal", a), ("error", 0.5 * np.ones((2, 2))), ("zero", np.zeros((3, 3)))],
                          title="t", xlabel="col", ylabel="row", colorbar_label="v", symmetric=True)
    img = _rgb(tmp_path / "p.png").astype(int)
    px = lambda f, j, i: img[int(round(f.to_pixel(j, i)[1])), int(round(f.to_pixel(j, i)[0]))]
    assert len(figs) == 3 and figs[0].box[2] < figs[1].box[0]
    assert np.array_equal(px(figs[0], 0, 1), px(figs[1], 1, 0))  # 0.5 in both panels
    assert (px(figs[2], 1, 1) > 240).all()
    assert px(figs[0], 0, 0)[0] > 150 and px(figs[0], 0, 0)[2] < 80
