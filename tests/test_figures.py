"""The figure builders show what they are named for: checked on the figure objects themselves
(trace order, axis types and ranges, the points drawn), against quantlib's own quantizers."""

import numpy as np
import pytest

import quantlib as ql
from quantlib import figures
from quantlib.metrics import value_histograms

X = ql.synthetic("normal_with_outliers", 2**14, 3)


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_the_original_is_an_outline_drawn_over_the_dequantized_histogram():
    r = ql.Quantizer("symmetric", bits=3)(X)
    fig = figures.distribution_figure(X, r, 128)
    names = [t.name for t in fig.data]
    assert names.index("original") > names.index("dequantized")  # later traces are drawn on top
    assert _trace(fig, "original").fill in (None, "none") and _trace(fig, "dequantized").fill == "tozeroy"
    assert len(_trace(fig, "original").x) == 128 and fig.layout.yaxis.type != "log"
    assert figures.distribution_figure(X, r, 128, log_counts=True).layout.yaxis.type == "log"


def test_zooming_to_the_clipping_range_bins_only_that_range():
    r = ql.Quantizer("symmetric", bits=4, calibration="percentile", percentile=99.0)(X)
    lo, hi = figures.VIEW_RANGES["clipping range"](X, r)
    c_lo, c_hi = r.clip_range
    assert lo < c_lo < c_hi < hi and hi - lo == pytest.approx(1.2 * (c_hi - c_lo), rel=1e-6)
    h = value_histograms(X, r.dequantized, 64, (lo, hi))
    assert h.edges[0] == lo and h.edges[-1] == hi
    assert h.x.sum() == np.count_nonzero((X >= lo) & (X <= hi))
    fig = figures.distribution_figure(X, r, 64, h)
    assert tuple(fig.layout.xaxis.range) == (lo, hi)
    err = figures.error_figure(X, r, 64, value_range=(lo, hi))
    assert tuple(err.layout.xaxis2.range) == (lo, hi)
    density = _trace(err, "values")  # counts of the values inside the zoom only
    assert lo <= min(density.x) and max(density.x) <= hi
    assert np.asarray(density.customdata).sum() == np.count_nonzero((X >= lo) & (X <= hi))


def test_central_range_leaves_the_outliers_off_the_axis():
    r = ql.Quantizer("symmetric")(X)
    lo, hi = figures.VIEW_RANGES["central 99.9 %"](X, r)
    assert hi < 0.5 * float(np.abs(X).max())  # outliers are 20x the bulk here
    assert np.mean((X >= lo) & (X <= hi)) > 0.995


@pytest.mark.parametrize("bits", [4, 8, 12])
def test_zoomed_staircases_show_the_steps_and_the_knee_at_any_width(bits):
    r = ql.Quantizer("symmetric", bits=bits)(X)
    p = r.params
    knee = figures.transfer_figure(X, r, window="upper clipping knee")
    y = np.asarray(_trace(knee, "x̂(x)").y)
    # 8 steps below the last level, then flat: 9 distinct values, the top one the clip value
    assert np.unique(y).size == figures.STEPS_SHOWN + 1 and y.max() == np.float32(r.clip_range[1])
    zero = figures.transfer_figure(X, r, window="steps near zero")
    xs, ys = np.asarray(_trace(zero, "x̂(x)").x), np.asarray(_trace(zero, "x̂(x)").y)
    k = figures.STEPS_SHOWN  # the codes within 8 steps of 0 (a 4-bit grid has fewer above 0)
    assert np.unique(ys).size == min(p.qmax, k) - max(p.qmin, -k) + 1
    np.testing.assert_array_equal(ys, ql.fake_quantize(xs.astype(np.float32), p))


def test_per_channel_transfer_is_the_chosen_channels_own_staircase():
    w = ql.synthetic("laplace", 64 * 64, 1, shape=(64, 64)) * np.linspace(0.1, 3, 64, dtype=np.float32)[:, None]
    r = ql.Quantizer("symmetric", bits=4, granularity="per_channel")(w)
    fig = figures.transfer_figure(w, r, channel=40)
    xs, ys = np.asarray(fig.data[0].x, np.float32), np.asarray(fig.data[0].y)
    own = ql.QuantParams(scale=r.params.scale[40], zero_point=0, qmin=r.params.qmin, qmax=r.params.qmax)
    np.testing.assert_array_equal(ys, ql.fake_quantize(xs, own))
    assert "channel 40" in fig.layout.title.text
    assert xs.min() == w[40].min() and xs.max() == w[40].max()  # the channel's own range, not -60 .. 60


def test_the_error_panels_have_axis_titles_and_room_for_signed_ticks():
    fig = figures.error_figure(X, ql.Quantizer("symmetric", bits=4)(X))
    lay = fig.layout
    assert lay.xaxis.title.text and lay.yaxis.title.text and lay.xaxis2.title.text and lay.yaxis2.title.text
    assert lay.xaxis2.domain[0] - lay.xaxis.domain[1] >= 0.15


def test_threshold_figure_marks_the_calibrator_in_use_without_text_labels():
    df = ql.sweep_threshold(X, bits=4, num_points=16, max_samples=2**14, percentile=99.0)
    fig = figures.threshold_figure(df, selected="percentile")
    picks = [t for t in fig.data if t.name != "sweep"]
    assert all("text" not in (t.mode or "") for t in picks)
    used = [t for t in picks if t.name.endswith("(in use)")]
    assert [t.name for t in used] == ["percentile (in use)"] and used[0].marker.size > picks[0].marker.size
    # the percentile pick is the one for the percentile asked for
    lo, hi = ql.calibrate(ql.sweeps.subsample(X, 2**14), "percentile", bits=4, percentile=99.0)
    assert used[0].x[0] == pytest.approx(max(abs(lo), abs(hi)))


def test_fixed_width_formats_are_points_at_the_bits_they_cost():
    for name, family_bpe in [("mxfp4", {"mxfp4": 4.25, "mxfp6_e2m3": 6.25, "mxfp8_e4m3": 8.25}),
                             ("nf4", {"nf4": 4.5, "fp4_bnb": 4.5}),
                             ("q4_0", {"q4_0": 4.5, "q4_1": 5.0, "q8_0": 8.5})]:
        df = ql.sweep_bits(X.reshape(-1)[:4096], name, range(2, 9))
        fam = df[df["series"] == ql.sweeps.series_of(name)]
        got = dict(zip(fam["scheme"], fam["bits_per_element"]))
        assert {k: got[k] for k in family_bpe} == family_bpe, name
        fig = figures.bits_figure(df, current=[(ql.sweeps.series_of(name), name, family_bpe[name])])
        pts = _trace(fig, ql.sweeps.series_of(name))
        assert pts.mode.startswith("markers")  # points, not a line over bit widths
        mark = next(t for t in fig.data if t.name.startswith("current"))
        assert mark.x[0] == family_bpe[name]
        assert sum(t.name == "6.02 dB per bit" for t in fig.data) == 1
    nf4 = ql.sweep_bits(X.reshape(-1)[:4096], "nf4", [4])
    beside = nf4[nf4["scheme"] == "int_group"]  # nf4 beside int4 with one absmax per block of 64
    assert list(beside["bits_per_element"]) == [4.5]


def test_bad_view_arguments_are_refused_with_what_is_allowed():
    r = ql.Quantizer("symmetric")(X)
    with pytest.raises(ValueError, match=r"window 'sideways' is not one of \['data range', 'steps near zero'"):
        figures.transfer_figure(X, r, window="sideways")
    for bad in [(1.0, -1.0), (0.0, np.inf), (np.nan, 1.0)]:
        with pytest.raises(ValueError, match="value_range must be finite"):
            value_histograms(X, r.dequantized, 64, bad)


def test_the_four_views_are_panels_of_one_figure_that_keep_their_content():
    r = ql.Quantizer("symmetric", bits=3, calibration="percentile", percentile=99.0)(X)
    figs = {"distribution": figures.distribution_figure(X, r, 64, log_counts=True), "codes": figures.codes_figure(r),
            "error": figures.error_figure(X, r, 64), "transfer": figures.transfer_figure(X, r)}
    views = figures.views_figure(figs)
    assert [t.name for t in views.data] == [t.name for f in figs.values() for t in f.data]  # every trace, in order
    notes = [a.text for a in views.layout.annotations]
    assert all(f"<b>{f.layout.title.text}</b>" in notes for f in figs.values())  # each panel keeps its title
    lay = views.layout
    assert lay.yaxis.type == "log" and tuple(lay.xaxis.range) == tuple(figs["distribution"].layout.xaxis.range)
    assert lay.xaxis4.title.text == "value x" and lay.yaxis4.title.text == "error x − x̂"  # the error's right panel
    assert {t.xaxis for t in views.data if t.name in ("x̂(x)", "identity")} == {"x5"}
    assert {s.xref for s in lay.shapes} == {"x", "x5"}  # clipping shaded / dashed on their own panels
    for a in "xy":  # panels do not overlap
        spans = sorted(tuple(lay[f"{a}axis{i if i > 1 else ''}"].domain) for i in range(1, 6))
        assert all(0 <= lo < hi <= 1 for lo, hi in spans)
    shown = [t.name for t in views.data if t.showlegend is not False]
    assert shown == ["dequantized", "original", "8 levels", "x̂(x)", "identity"]  # one-trace panels need none


def test_the_error_curves_are_two_panels_with_their_legends_below_them():
    bits = ql.sweep_bits(X.reshape(-1)[:4096], "nf4", range(2, 9))
    thr = ql.sweep_threshold(X, bits=4, num_points=16, max_samples=2**14)
    figs = {"bits": figures.bits_figure(bits), "threshold": figures.threshold_figure(thr, selected="minmax")}
    curves = figures.views_figure(figs, figures.CURVE_GRID, figures.CURVE_CELL, legends="below")
    lay = curves.layout
    assert [a.name for a in lay.annotations if a.name] == ["bits", "threshold"]
    assert lay.yaxis2.type == "log"  # the threshold's MSE axis
    for legend, axis in ((lay.legend, lay.yaxis), (lay.legend2, lay.yaxis2)):  # one entry a line, under its panel
        assert legend.orientation == "v" and legend.y < axis.domain[0]
    entries = max(sum(t.showlegend is not False for t in f.data) for f in figs.values())
    assert lay.height >= figures.CURVE_CELL["plot"] + 20 * entries
