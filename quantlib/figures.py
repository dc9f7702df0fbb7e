"""Plotly figure builders. Every figure is computed from numpy summaries (histograms,
downsampled points), never from millions of raw points, so it stays light in a browser.

The figures a page redraws on every change (the Explore views and error curves) are written
as plain trace and layout dicts and wrapped by :func:`_figure` without plotly's per-property
validation, which costs ~10 ms a figure (mostly re-validating the template); the dicts here
are fixed, and the tests render every figure.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ._lazy import pandas as pd
from ._lazy import plotly_graph_objects as go
from ._lazy import plotly_io as pio
from .histograms import uniform_histogram
from .metrics import ValueHistograms, code_counts, value_histograms
from .schemes import QuantResult
from .sweeps import subsample

ORIGINAL, QUANTIZED, ERROR = "#1f77b4", "#ff7f0e", "#d62728"
MAX_LEVEL_MARKS = 64
TEMPLATE = "plotly_white"
HOUSE_LAYOUT = {"bargap": 0, "margin": {"l": 10, "r": 10, "t": 70, "b": 10}, "legend": {"orientation": "h", "y": -0.2},
                "height": 360}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    """The house layout on a figure built from graph objects."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template=TEMPLATE, **HOUSE_LAYOUT)
    return fig


@cache
def _template(trace_types: tuple[str, ...]) -> dict:
    """The house template as a plain dict, resolved once (shared: figures copy it): its layout,
    and trace defaults for ``trace_types`` only (plotly.js applies ``template.data[t]`` to traces
    of type t alone, so the rest would be dead weight in every chart sent to the browser)."""
    t = pio.templates[TEMPLATE].to_plotly_json()
    return {"data": {k: v for k, v in t["data"].items() if k in trace_types}, "layout": t["layout"]}


def _figure(data: list[dict], title: str, x: str, y: str, **layout: object) -> go.Figure:
    """A figure from plain trace dicts in the house layout (what :func:`_layout` gives), built
    without validation (see the module doc); ``layout`` entries are merged one level deep
    (``yaxis={"type": "log"}`` keeps the axis title)."""
    lay: dict = {"title": {"text": title}, "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
                 **HOUSE_LAYOUT, "template": _template(tuple(sorted({t["type"] for t in data})))}
    for k, v in layout.items():
        lay[k] = {**lay[k], **v} if isinstance(v, dict) and isinstance(lay.get(k), dict) else v
    return go.Figure({"data": data, "layout": lay}, _validate=False)


def _step(x: np.ndarray, y: np.ndarray, name: str, color: str, opacity: float = 1.0, **axes: str) -> dict:
    """A histogram drawn as one filled step outline (``hvh`` around the bin centres): it looks
    like gapless bars but is a single SVG path, where 2048 bars are 2048 elements for the
    browser to lay out (~0.4 s of a cold page load)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return {"type": "scatter", "x": x, "y": y, "name": name, "mode": "lines", "fill": "tozeroy",
            "fillcolor": f"rgba({r},{g},{b},{opacity})", "line": {"color": color, "width": 1, "shape": "hvh"}, **axes}


def _shape(kind: str, x0: float, x1: float, **style: object) -> dict:
    """A full-height shape between x0 and x1 (what ``add_vrect`` / ``add_vline`` make)."""
    return {"type": kind, "x0": x0, "x1": x1, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain", **style}


@cache
def _subplots_layout(titles: tuple[str, ...]) -> dict:
    """Axes and title annotations of a one-row grid of subplots, made once by ``make_subplots``."""
    from plotly.subplots import make_subplots

    lay = make_subplots(rows=1, cols=len(titles), subplot_titles=titles).to_dict()["layout"]
    lay.pop("template", None)
    return lay


def distribution_figure(x: np.ndarray, result: QuantResult, num_bins: int = 256,
                        histograms: ValueHistograms | None = None) -> go.Figure:
    """Original vs dequantized histograms on shared bins, levels marked, clipping shaded.
    ``histograms``: :func:`~quantlib.metrics.value_histograms` of x and the result, if at hand."""
    h = histograms if histograms is not None else value_histograms(x, result.dequantized, num_bins)
    lo, hi = h.lo, h.hi
    centres = (h.edges[:-1] + h.edges[1:]) / 2
    data = [{"type": "scatter", "x": centres, "y": h.x, "name": "original", "mode": "lines", "fill": "tozeroy",
             "line": {"color": ORIGINAL, "width": 1, "shape": "hvh"}},
            _step(centres, h.xhat, "dequantized", QUANTIZED, 0.7)]
    shapes = []
    if result.clip_range is not None:
        c_lo, c_hi = result.clip_range
        shaded = {"fillcolor": "grey", "opacity": 0.15, "line": {"width": 0}}
        if c_lo > lo:
            shapes.append(_shape("rect", lo, c_lo, **shaded))
        if c_hi < hi:
            shapes.append(_shape("rect", c_hi, hi, **shaded))
    if result.levels is not None and result.levels.size <= MAX_LEVEL_MARKS:
        lv = result.levels[(result.levels >= lo) & (result.levels <= hi)]
        data.append({"type": "scatter", "x": lv, "y": np.zeros(lv.size), "mode": "markers", "name": f"{lv.size} levels",
                     "marker": {"symbol": "line-ns-open", "size": 8, "color": "black"}})
    return _figure(data, "Original vs dequantized", "value", "count", **({"shapes": shapes} if shapes else {}))


def codes_figure(result: QuantResult) -> go.Figure:
    """Histogram of the integer codes, with levels used out of levels available."""
    cmin, counts = code_counts(result.codes)
    codes = np.arange(cmin, cmin + counts.size)
    used = int(np.count_nonzero(counts))
    p = result.params
    available = (p.qmax - p.qmin + 1) if p is not None else (result.levels.size if result.levels is not None else used)
    eff = np.log2(max(used, 1))
    return _figure([_step(codes, counts, "codes", QUANTIZED)],
                   f"Codes: {used} of {available} levels used ({eff:.2f} effective bits)", "code", "count")


def error_figure(x: np.ndarray, result: QuantResult, num_bins: int = 128, max_points: int = 1500) -> go.Figure:
    """Histogram of x - x_hat, and a downsampled scatter of error against value (SVG markers: a
    WebGL scatter costs a browser without a GPU a software GL context before its first frame)."""
    e = x - result.dequantized  # float32 is plenty for a picture
    counts, edges = uniform_histogram(e, num_bins)
    xs, es = subsample(x, max_points), subsample(e.reshape(x.shape), max_points)
    data = [_step((edges[:-1] + edges[1:]) / 2, counts, "x - x̂", ERROR, 0.8, xaxis="x", yaxis="y"),
            {"type": "scatter", "x": xs, "y": es, "mode": "markers", "marker": {"size": 3, "color": ERROR, "opacity": 0.5},
             "name": "sample", "xaxis": "x2", "yaxis": "y2"}]
    return _figure(data, "Quantization error", "", "",
                   **_subplots_layout(("error histogram", "error vs value")))


def transfer_figure(x: np.ndarray, result: QuantResult, points: int = 2001) -> go.Figure:
    """The staircase x -> x_hat over the data range, with the clipping thresholds.

    Per-tensor affine results are evaluated exactly on a fine grid with the same params;
    other schemes show the (x, x_hat) pairs of the data itself, sorted and downsampled.
    """
    from .integer import fake_quantize

    lo, hi = float(x.min()), float(x.max())
    p = result.params
    if p is not None and p.per_tensor:
        xs = np.linspace(lo, hi, points, dtype=np.float32)
        ys = fake_quantize(xs, p, rounding=result.settings.get("rounding", "half_even")
                           if result.settings.get("rounding") != "stochastic" else "half_even")
    else:
        xf, yf = subsample(x, 50_000), subsample(result.dequantized, 50_000)
        order = np.argsort(xf, kind="stable")
        keep = order[np.linspace(0, order.size - 1, min(points, order.size)).astype(np.int64)]
        xs, ys = xf[keep], yf[keep]
    data = [{"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": "x̂(x)", "line": {"color": QUANTIZED, "shape": "hv"}},
            {"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity",
             "line": {"dash": "dot", "color": "grey"}}]
    shapes = [_shape("line", v, v, line={"dash": "dash", "color": "grey"})
              for v in (result.clip_range or ()) if lo <= v <= hi]
    return _figure(data, "Transfer function", "x", "x̂", **({"shapes": shapes} if shapes else {}))


def bits_figure(df: pd.DataFrame, metric: str = "sqnr_db") -> go.Figure:
    """Metric against bit width, one line per scheme, with the 6.02 dB/bit reference."""
    data = []
    for scheme, part in df.groupby("scheme", sort=False):
        bits = part["bits"].to_numpy()
        data.append({"type": "scatter", "x": bits, "y": part[metric].to_numpy(), "mode": "lines+markers",
                     "name": str(scheme)})
        if metric == "sqnr_db" and "reference_db" in part:
            data.append({"type": "scatter", "x": bits, "y": part["reference_db"].to_numpy(), "mode": "lines",
                         "name": f"{scheme}: 6.02 dB/bit", "line": {"dash": "dot"}, "showlegend": True})
    return _figure(data, f"{metric} vs bits", "bits", metric)


def threshold_figure(df: pd.DataFrame, metric: str = "mse") -> go.Figure:
    """Metric against clipping threshold, with each calibrator's pick marked."""
    sweep = df[df["kind"] == "sweep"].sort_values("threshold")
    picks = df[df["kind"] != "sweep"]
    data = [{"type": "scatter", "x": sweep["threshold"].to_numpy(), "y": sweep[metric].to_numpy(), "mode": "lines",
             "name": "sweep"},
            {"type": "scatter", "x": picks["threshold"].to_numpy(), "y": picks[metric].to_numpy(), "mode": "markers+text",
             "text": picks["kind"].tolist(), "textposition": "top center", "marker": {"size": 10, "symbol": "diamond"},
             "name": "calibrators"}]
    return _figure(data, f"{metric} vs clipping threshold", "threshold", metric,
                   **({"yaxis": {"type": "log"}} if metric == "mse" else {}))


def small_multiples(x: np.ndarray, results: list[QuantResult], labels: list[str], num_bins: int = 128,
                    columns: int = 2) -> go.Figure:
    """One panel per result: original vs dequantized histogram, all panels on shared axes."""
    from plotly.subplots import make_subplots

    n = len(results)
    rows = max(1, -(-n // columns))
    lo = float(min([x.min()] + [r.dequantized.min() for r in results]))
    hi = float(max([x.max()] + [r.dequantized.max() for r in results]))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    orig, edges = uniform_histogram(x, num_bins, lo, hi)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = make_subplots(rows=rows, cols=columns, shared_xaxes="all", shared_yaxes="all",
                        subplot_titles=labels, vertical_spacing=0.12 if rows > 1 else 0.2)
    for i, r in enumerate(results):
        row, col = i // columns + 1, i % columns + 1
        counts, _ = uniform_histogram(r.dequantized, num_bins, lo, hi)
        fig.add_bar(x=centres, y=orig, marker_color=ORIGINAL, opacity=0.5, name="original", showlegend=i == 0,
                    row=row, col=col)
        fig.add_bar(x=centres, y=counts, marker_color=QUANTIZED, opacity=0.6, name="dequantized", showlegend=i == 0,
                    row=row, col=col)
    fig.update_layout(barmode="overlay")
    _layout(fig, "Original vs dequantized, per configuration", "", "")
    fig.update_layout(height=260 * rows + 80)
    return fig


def accuracy_figure(df: pd.DataFrame, metric: str = "accuracy", float_value: float | None = None) -> go.Figure:
    """Model accuracy (or agreement) against bit width, one line per configuration."""
    fig = go.Figure()
    for name, part in df.groupby("configuration", sort=False):
        fig.add_scatter(x=part["bits"], y=part[metric], mode="lines+markers", name=str(name))
    if float_value is not None:
        fig.add_hline(y=float_value, line_dash="dot", line_color="grey", annotation_text="float model")
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, f"{metric} vs bits", "bits", metric)


def sensitivity_figure(df: pd.DataFrame, float_value: float, metric: str = "accuracy") -> go.Figure:
    """The drop of ``metric`` from the float model (``float_value``) with one layer quantized at a
    time, on an axis that fits the drops (a 0-1 axis of the metric itself makes 0.969, 0.961 and
    0.954 look equal); each bar is labelled with the metric and its drop."""
    drop = float_value - df[metric].to_numpy(dtype=float)
    text = [f"{v:.4g} ({-d:+.3g})" for v, d in zip(df[metric], drop)]
    fig = go.Figure(go.Bar(x=df["layer"], y=drop, marker_color=QUANTIZED, name="one layer quantized",
                           text=text, textposition="outside", cliponaxis=False))
    lo, hi = min(0.0, float(drop.min())), max(0.0, float(drop.max()))
    pad = max((hi - lo) * 0.15, 1e-6)
    fig.update_yaxes(range=[lo - (pad if lo < 0 else 0), hi + pad], zeroline=True)
    return _layout(fig, f"Per-layer sensitivity: drop of {metric} from the float model ({float_value:.4g})",
                   "layer", f"float {metric} − {metric}")


# ------------------------------------------------------------------- value grids (Formats page)
GRID_MAX_POINTS = 4000  # markers per grid; bigger grids (fp16, bf16) are thinned evenly
GRID_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _symlog(v: np.ndarray, c: float) -> np.ndarray:
    """Symmetric log: linear within ±c (|v| = c maps to ±1), then one unit per binade: sign(v)(1 + log2(|v|/c))."""
    v = np.asarray(v, dtype=np.float64)
    a = np.abs(v)
    return np.sign(v) * np.where(a <= c, a / c, 1 + np.log2(np.maximum(a, c) / c))


def _symlog_axis(fig: go.Figure, c: float, top: float, title: str, **where) -> None:
    """Ticks at ±powers of ten (powers of two for a range under two decades), at most 6 a side, and 0."""
    top = max(top, c)
    lo10, hi10 = int(np.ceil(np.log10(c))), int(np.floor(np.log10(top)))
    if hi10 - lo10 >= 2:
        mags = 10.0 ** np.arange(lo10, hi10 + 1)
    else:
        mags = 2.0 ** np.arange(int(np.ceil(np.log2(c))), int(np.floor(np.log2(top))) + 1)
    mags = mags[:: max(1, -(-mags.size // 6))]
    pos = _symlog(mags, c)
    near_zero = pos < 0.05 * _symlog(top, c)  # labels that would collide with the 0 label
    mags, pos = mags[~near_zero], pos[~near_zero]
    fig.update_xaxes(tickvals=[*(-pos[::-1]), 0.0, *pos], ticktext=[*(f"−{m:g}" for m in mags[::-1]), "0",
                                                                        *(f"{m:g}" for m in mags)],
                     title_text=title, zeroline=True, **where)


def _grid_label(g) -> str:
    return f"{g.scheme} · {g.kind}"


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread items of ``n`` (both ends kept)."""
    return np.arange(n) if n <= max_points else np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _linthresh(grids) -> float:
    small = [g.min_positive for g in grids if g.min_positive]
    return float(min(small)) if small else 1.0


def grid_figure(grids: list, max_points: int = GRID_MAX_POINTS) -> go.Figure:
    """Every representable value of each :class:`~quantlib.formats.FormatGrid`, one row per grid, on a
    symmetric-log axis (linear within ±c, c the smallest non-zero magnitude shown; log2 beyond)."""
    c = _linthresh(grids)
    fig = go.Figure()
    for i, g in enumerate(grids):
        keep = _thin(g.size, max_points)
        v = g.values[keep]
        shown = "" if keep.size == g.size else f" ({keep.size:,} of {g.size:,} shown)"
        fig.add_scatter(x=_symlog(v, c), y=[_grid_label(g)] * v.size, customdata=v, mode="markers",
                        name=f"{_grid_label(g)}: {g.size:,} values{shown}",
                        marker=dict(symbol="line-ns-open", size=16, color=GRID_COLORS[i % len(GRID_COLORS)]),
                        hovertemplate="%{customdata:.6g}<extra>%{y}</extra>")
    _layout(fig, "Value grid: every representable value", "", "")
    _symlog_axis(fig, c, max(g.max_magnitude for g in grids),
                 f"value (levels: tensor units; element grids: units of the block scale) — symlog, linear within ±{c:.3g}")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(height=170 + 55 * len(grids))
    return fig


def grid_density_figure(grids: list, max_points: int = GRID_MAX_POINTS) -> go.Figure:
    """Density of each grid against magnitude: distinct magnitudes per binade [2^k, 2^(k+1)), and
    the gap between neighbouring values against their magnitude (both axes log)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("values per binade (distinct magnitudes)",
                                                        "gap to the neighbouring value"))
    for i, g in enumerate(grids):
        color = GRID_COLORS[i % len(GRID_COLORS)]
        k, counts = g.per_binade()
        fig.add_scatter(x=2.0**k, y=counts, mode="lines+markers", line_shape="hvh", name=_grid_label(g),
                        line=dict(color=color), legendgroup=g.scheme,
                        hovertemplate="[%{x:.3g}, 2·%{x:.3g}): %{y} values<extra></extra>", row=1, col=1)
        mag, gap = g.spacing()
        keep = _thin(mag.size, max_points)
        fig.add_scatter(x=mag[keep], y=gap[keep], mode="markers", marker=dict(size=4, color=color),
                        name=_grid_label(g), legendgroup=g.scheme, showlegend=False,
                        hovertemplate="|v| %{x:.4g}: gap %{y:.4g}<extra></extra>", row=1, col=2)
    fig.update_xaxes(type="log", title_text="magnitude |v|")
    fig.update_yaxes(title_text="values", row=1, col=1)
    fig.update_yaxes(type="log", title_text="gap", row=1, col=2)
    _layout(fig, "Density of values against magnitude", "magnitude |v|", "")
    fig.update_yaxes(title_text="values", row=1, col=1)
    fig.update_layout(legend=dict(orientation="v", x=1.02, y=1), height=400)
    return fig


def grid_landing_figure(landing, max_bars: int = 512, num_bins: int = 256) -> go.Figure:
    """How a tensor lands on a grid: elements per grid value (log count, symlog value axis), unused
    values marked, clip thresholds dashed. Grids over ``max_bars`` values are summed into
    ``num_bins`` equal bins of the symlog axis."""
    g = landing.grid
    c = g.min_positive or 1.0
    pos = _symlog(g.values, c)
    used = landing.counts > 0
    fig = go.Figure()
    if g.size <= max_bars:
        fig.add_bar(x=pos[used], y=landing.counts[used], customdata=g.values[used], name="elements per value",
                    marker_color=QUANTIZED, hovertemplate="%{customdata:.6g}: %{y:,}<extra></extra>")
        if (~used).any():
            fig.add_scatter(x=pos[~used], y=np.full(int((~used).sum()), 0.5), customdata=g.values[~used],
                            mode="markers", name="unused values", marker=dict(symbol="x-thin-open", size=7, color="grey"),
                            hovertemplate="%{customdata:.6g}: unused<extra></extra>")
        suffix = ""
    else:
        edges = np.linspace(pos[0], pos[-1], num_bins + 1) if pos[-1] > pos[0] else np.array([pos[0] - 1, pos[0] + 1])
        count, _ = np.histogram(pos, edges, weights=landing.counts)
        n_used, _ = np.histogram(pos, edges, weights=used.astype(np.int64))
        n_all, _ = np.histogram(pos, edges)
        centres = (edges[:-1] + edges[1:]) / 2
        keep = count > 0
        fig.add_bar(x=centres[keep], y=count[keep], customdata=np.stack([n_used[keep], n_all[keep]], axis=1),
                    name="elements per bin", marker_color=QUANTIZED,
                    hovertemplate="%{y:,} elements on %{customdata[0]:,} of %{customdata[1]:,} values<extra></extra>")
        suffix = f" (summed over {num_bins} bins)"
    for v, n, side in ((landing.clip_low, landing.clipped_low, "below"), (landing.clip_high, landing.clipped_high, "above")):
        fig.add_vline(x=float(_symlog(v, c)), line_dash="dash", line_color=ERROR,
                      annotation_text=f"clip {v:.4g}: {n:,} {side}", annotation_position="top")
    unit = "value" if g.kind == "levels" else "value / block scale"
    _layout(fig, f"{g.scheme}: {landing.used:,} of {g.size:,} values used, {landing.clip_share:.3%} clipped{suffix}",
            "", "elements")
    _symlog_axis(fig, c, max(g.max_magnitude, abs(landing.clip_low), abs(landing.clip_high)),
                 f"{unit} — symlog, linear within ±{c:.3g}")
    top = max(float(landing.counts.max()), 1.0) if g.size <= max_bars else max(float(count.max()), 1.0)
    fig.update_yaxes(type="log", dtick=1, range=[np.log10(0.3), np.log10(top) + 0.15])
    return fig


# ------------------------------------------------------------------- teaching and toolkits (Learn, Toolkits pages)
TOOLKIT_COLORS = {"pytorch": "#ee4c2c", "onnxruntime": "#005ced", "tensorrt": "#76b900", "quantlib": "#7f7f7f"}


def ranges_figure(x: np.ndarray, ranges: dict, num_bins: int = 256) -> go.Figure:
    """Histogram of ``x`` (log count) with the range each toolkit picked: ``ranges`` maps a
    toolkit name to (lo, hi); the lines are dashed for lo and solid for hi."""
    xf = x.ravel()
    lo = float(min([xf.min()] + [r[0] for r in ranges.values()]))
    hi = float(max([xf.max()] + [r[1] for r in ranges.values()]))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(xf, num_bins, (lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts, marker_color=ORIGINAL, opacity=0.5, name="x"))
    for i, (name, (a, b)) in enumerate(ranges.items()):
        color = TOOLKIT_COLORS.get(name, GRID_COLORS[i % len(GRID_COLORS)])
        for v, dash in ((a, "dash"), (b, "solid")):
            fig.add_scatter(x=[v, v], y=[0.8, max(int(counts.max()), 1) * 1.5], mode="lines", name=name,
                            legendgroup=name, showlegend=dash == "solid", line=dict(color=color, dash=dash, width=2),
                            hovertemplate=f"{name}: %{{x:.6g}}<extra></extra>")
    fig.update_yaxes(type="log")
    pad = 0.04 * (hi - lo)
    fig.update_xaxes(range=[lo - pad, hi + pad])
    return _layout(fig, "The range each toolkit's calibrator picks", "value", "count (log)")


def footprint_figure(df: pd.DataFrame) -> go.Figure:
    """Model memory per format (a :func:`quantlib.teaching.footprint_table`), with tokens/s as text."""
    fig = go.Figure(go.Bar(x=df["format"], y=df["memory GB"], marker_color=QUANTIZED, name="memory",
                           text=[f"{g:.3g} GB · {t:.3g} tok/s" for g, t in zip(df["memory GB"], df["tokens/s (memory-bound)"])],
                           textposition="outside"))
    fig.update_yaxes(range=[0, float(df["memory GB"].max()) * 1.25])
    return _layout(fig, "Weights in memory, and memory-bound tokens per second", "format", "GB")


def wrap_figure(df: pd.DataFrame) -> go.Figure:
    """Codes of a sweep of x (a :func:`quantlib.teaching.wrap_curve`): a wrapping cast's sawtooth
    beside the saturating staircase."""
    fig = go.Figure()
    fig.add_scatter(x=df["x"], y=df["wrap"], mode="lines", name="cast without clamp (wraps)", line=dict(color=ERROR))
    fig.add_scatter(x=df["x"], y=df["saturate"], mode="lines", name="clamp first (saturates)",
                    line=dict(color=ORIGINAL, dash="dash"))
    return _layout(fig, "int8 code of x: wrap-around vs saturation", "x", "code")
