"""Plotly figure builders. Every figure is computed from numpy summaries (histograms,
downsampled points), never from millions of raw points, so it stays light in a browser.

The figures a page redraws on every change (the Explore views and error curves) are written
as plain trace and layout dicts and wrapped by :func:`_figure` without plotly's per-property
validation, which costs ~10 ms a figure (mostly re-validating the template); the dicts here
are fixed, and the tests render every figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

import numpy as np

from ._lazy import pandas as pd
from ._lazy import plotly_graph_objects as go
from ._lazy import plotly_io as pio
from .histograms import uniform_histogram
from .metrics import ValueHistograms, code_counts, value_histograms
from .params import code_range_of
from .schemes import QuantResult
from .sweeps import subsample

ORIGINAL, QUANTIZED, ERROR = "#1f77b4", "#ff7f0e", "#d62728"
MAX_LEVEL_MARKS = 64
TEMPLATE = "plotly_white"
HOUSE_LAYOUT = {"bargap": 0, "margin": {"l": 10, "r": 10, "t": 70, "b": 10}, "legend": {"orientation": "h", "y": -0.2},
                "height": 360}


#: A horizontal legend between the title and the plot area, clear of the x-axis title below
#: (HOUSE_LAYOUT's legend at y = -0.2 lands on that title in a figure of the house height).
LEGEND_ON_TOP = {"legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
                 "margin": {"l": 10, "r": 10, "t": 100, "b": 10}}


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


def view_all(x: np.ndarray, result: QuantResult) -> tuple[float, float]:
    """Every value of x and x̂."""
    return float(min(x.min(), result.dequantized.min())), float(max(x.max(), result.dequantized.max()))


def view_clipping(x: np.ndarray, result: QuantResult) -> tuple[float, float]:
    """The clipping range with 10 % of its width either side (all values when there is none)."""
    if result.clip_range is None:
        return view_all(x, result)
    lo, hi = result.clip_range
    pad = 0.1 * (hi - lo) if hi > lo else 0.5
    return float(max(lo - pad, x.min())), float(min(hi + pad, x.max()))


def view_central(x: np.ndarray, result: QuantResult) -> tuple[float, float]:
    """The central 99.9 % of x (outliers off the axis), from a 262 144-value sample."""
    lo, hi = np.quantile(subsample(x, 2**18), [0.0005, 0.9995])
    return (float(lo), float(hi)) if hi > lo else view_all(x, result)


#: The x ranges the value plots offer: label -> (lo, hi) from x and the result. The
#: distribution, error-vs-value and transfer plots share the one chosen.
VIEW_RANGES = {"all values": view_all, "clipping range": view_clipping, "central 99.9 %": view_central}


def distribution_figure(x: np.ndarray, result: QuantResult, num_bins: int = 128,
                        histograms: ValueHistograms | None = None, log_counts: bool = False) -> go.Figure:
    """Dequantized histogram (filled) under the original's outline, on shared bins; levels
    marked, clipping shaded. ``histograms``: :func:`~quantlib.metrics.value_histograms` of x and
    the result (its range is the plot's: pass a zoomed one to zoom), if at hand. A few
    dequantized spikes would flatten the original to the axis on a linear count axis:
    ``log_counts`` shows both."""
    h = histograms if histograms is not None else value_histograms(x, result.dequantized, num_bins)
    lo, hi = h.lo, h.hi
    centres = (h.edges[:-1] + h.edges[1:]) / 2
    data = [_step(centres, h.xhat, "dequantized", QUANTIZED, 0.55),
            {"type": "scatter", "x": centres, "y": h.x, "name": "original", "mode": "lines",
             "line": {"color": ORIGINAL, "width": 2, "shape": "hvh"}}]
    shapes = []
    if result.clip_range is not None:
        c_lo, c_hi = result.clip_range
        shaded = {"fillcolor": "grey", "opacity": 0.15, "line": {"width": 0}}
        if c_lo > lo:
            shapes.append(_shape("rect", lo, min(c_lo, hi), **shaded))
        if c_hi < hi:
            shapes.append(_shape("rect", max(c_hi, lo), hi, **shaded))
    if result.levels is not None and result.levels.size <= MAX_LEVEL_MARKS:
        lv = result.levels[(result.levels >= lo) & (result.levels <= hi)]
        data.append({"type": "scatter", "x": lv, "y": np.full(lv.size, 1.0 if log_counts else 0.0), "mode": "markers",
                     "name": f"{lv.size} levels", "marker": {"symbol": "line-ns-open", "size": 8, "color": "black"}})
    width = (hi - lo) / max(h.x.size, 1)
    layout: dict = {"xaxis": {"range": [lo, hi]}}
    if log_counts:
        layout["yaxis"] = {"type": "log", "title": {"text": "count (log)"}}
    if shapes:
        layout["shapes"] = shapes
    return _figure(data, f"Original vs dequantized ({h.x.size} bins of {width:.3g})", "value", "count", **layout)


def codes_figure(result: QuantResult, log_counts: bool = False) -> go.Figure:
    """Histogram of the integer codes, with levels used out of levels available."""
    cmin, counts = code_counts(result.codes)
    codes = np.arange(cmin, cmin + counts.size)
    used = int(np.count_nonzero(counts))
    p = result.params
    available = (p.qmax - p.qmin + 1) if p is not None else (result.levels.size if result.levels is not None else used)
    eff = np.log2(max(used, 1))
    return _figure([_step(codes, counts, "codes", QUANTIZED)],
                   f"Codes: {used} of {available} levels used ({eff:.2f} effective bits)", "code", "count",
                   **({"yaxis": {"type": "log", "title": {"text": "count (log)"}}} if log_counts else {}))


def error_figure(x: np.ndarray, result: QuantResult, num_bins: int = 128, max_points: int = 2**20,
                 value_range: tuple[float, float] | None = None, log_counts: bool = False,
                 density_bins: tuple[int, int] = (128, 48)) -> go.Figure:
    """Histogram of x - x̂, and the error against the value as a density: how many values fall
    in each (value, error) cell of a ``density_bins`` grid, on a log colour scale (a single
    value still shows, a clipped outlier among them). ``value_range``: the density's x range
    (the value plots' shared zoom); it counts the values inside it, every one of them up to
    ``max_points`` (an evenly strided sample of that many beyond, which the hover says).
    The density is one image for the browser: the downsampled scatter it replaces drew each
    of its 600 markers as an SVG element, 45 ms of plotly.js on every move of a control."""
    e = x - result.dequantized  # float32 is plenty for a picture
    counts, edges = uniform_histogram(e, num_bins)
    xf, ef = x.reshape(-1), e.reshape(-1)
    if value_range is not None:
        inside = (xf >= value_range[0]) & (xf <= value_range[1])
        if inside.any():
            xf, ef = xf[inside], ef[inside]
    n = xf.size
    xs, es = subsample(xf, max_points), subsample(ef, max_points)
    nx, ny = density_bins
    x_lo, x_hi = value_range if value_range is not None else (float(xs.min()), float(xs.max()))
    e_lo, e_hi = float(es.min()), float(es.max())
    x_hi, e_hi = (x_hi if x_hi > x_lo else x_lo + 1.0), (e_hi if e_hi > e_lo else e_lo + 1.0)
    ix = np.clip(((xs - x_lo) * (nx / (x_hi - x_lo))).astype(np.int64), 0, nx - 1)
    iy = np.clip(((es - e_lo) * (ny / (e_hi - e_lo))).astype(np.int64), 0, ny - 1)
    cells = np.bincount(iy * nx + ix, minlength=nx * ny).reshape(ny, nx)
    shown = np.where(cells > 0, np.log10(np.maximum(cells, 1)) + 0.5, np.nan)  # 1 value: a light cell, not none
    of = f" of {xs.size:,} sampled" if xs.size < n else ""
    data = [_step((edges[:-1] + edges[1:]) / 2, counts, "x - x̂", ERROR, 0.8, xaxis="x", yaxis="y"),
            {"type": "heatmap", "x": x_lo + (np.arange(nx) + 0.5) * ((x_hi - x_lo) / nx),
             "y": e_lo + (np.arange(ny) + 0.5) * ((e_hi - e_lo) / ny), "z": shown, "customdata": cells,
             "colorscale": [[0, "#f6c5c5"], [1, "#67000d"]], "showscale": False, "hoverongaps": False,
             "name": "values", "xaxis": "x2", "yaxis": "y2",
             "hovertemplate": f"value %{{x:.3g}}, error %{{y:.3g}}: %{{customdata:,}} values{of}<extra></extra>"}]
    lay = _error_layout()
    if value_range is not None:
        lay = {**lay, "xaxis2": {**lay["xaxis2"], "range": list(value_range)}}
    if log_counts:
        lay = {**lay, "yaxis": {**lay["yaxis"], "type": "log", "title": {"text": "count (log)"}}}
    return _figure(data, "Quantization error", "", "", **lay)


@cache
def _error_layout() -> dict:
    """Two panels far enough apart that the right one's tick labels (signed errors) clear the
    left one, each with its axis titles."""
    from plotly.subplots import make_subplots

    lay = make_subplots(rows=1, cols=2, subplot_titles=("error histogram", "error vs value (log density)"),
                        horizontal_spacing=0.16).to_dict()["layout"]
    lay.pop("template", None)
    lay["xaxis"]["title"] = {"text": "error x − x̂"}
    lay["yaxis"]["title"] = {"text": "count"}
    lay["xaxis2"]["title"] = {"text": "value x"}
    lay["yaxis2"]["title"] = {"text": "error x − x̂", "standoff": 4}
    lay["yaxis2"]["tickformat"] = ".2~g"
    lay["showlegend"] = False
    return lay


TRANSFER_WINDOWS = ("data range", "steps near zero", "upper clipping knee")
STEPS_SHOWN = 8  # levels either side of the centre of a zoomed staircase


def _transfer_params(result: QuantResult, channel: int | None):
    """(per-tensor params, channel index) of the result — its own params, or one channel's of a
    per-channel result (index None for per-tensor) — or (None, None) when it has neither."""
    from .params import QuantParams

    p = result.params
    if p is None:
        return None, None
    if p.per_tensor:
        return p, None
    if p.group_size is None and channel is not None and np.ndim(p.scale) == 1:
        c = int(np.clip(channel, 0, np.size(p.scale) - 1))
        zp = p.zero_point if np.ndim(p.zero_point) == 0 else np.ravel(p.zero_point)[c]
        amax = None if p.amax is None else np.ravel(p.amax)[c]
        return QuantParams(scale=np.ravel(p.scale)[c], zero_point=int(zp), qmin=p.qmin, qmax=p.qmax,
                           convention=p.convention, amax=amax), c
    return None, None


def transfer_figure(x: np.ndarray, result: QuantResult, points: int = 2001, *, window: str = "data range",
                    channel: int | None = None, value_range: tuple[float, float] | None = None) -> go.Figure:
    """The staircase x -> x̂ with the clipping thresholds.

    Per-tensor affine results (and one ``channel`` of a per-channel one) are evaluated exactly
    on a fine grid with the same params; other schemes show the (x, x̂) pairs of the data
    itself, sorted and downsampled. ``window`` (:data:`TRANSFER_WINDOWS`): the data range (or
    ``value_range``, the value plots' zoom), or a window of STEPS_SHOWN steps either side of 0
    or of the upper clipping threshold, where the steps and the knee show at any bit width.
    """
    from .integer import fake_quantize

    if window not in TRANSFER_WINDOWS:
        raise ValueError(f"window {window!r} is not one of {list(TRANSFER_WINDOWS)}")
    p, c = _transfer_params(result, channel)
    title = "Transfer function"
    if c is not None:  # one channel: its own values' range
        title += f" (channel {c})"
        xc = np.take(x, c, axis=result.params.axis)
        lo, hi = float(xc.min()), float(xc.max())
    else:
        lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
    clip = result.clip_range
    if p is not None:
        clip = code_range_of(p)
        step = float(np.asarray(p.scale, dtype=np.float64))
        if window == "steps near zero":
            lo, hi = -STEPS_SHOWN * step, STEPS_SHOWN * step
        elif window == "upper clipping knee":
            lo, hi = clip[1] - STEPS_SHOWN * step, clip[1] + STEPS_SHOWN * step
        xs = np.linspace(lo, hi, points, dtype=np.float32)
        ys = fake_quantize(xs, p, rounding=result.settings.get("rounding", "half_even")
                           if result.settings.get("rounding") != "stochastic" else "half_even")
    else:
        xf, yf = subsample(x, 50_000), subsample(result.dequantized, 50_000)
        inside = (xf >= lo) & (xf <= hi)
        xf, yf = (xf[inside], yf[inside]) if inside.any() else (xf, yf)
        order = np.argsort(xf, kind="stable")
        keep = order[np.linspace(0, order.size - 1, min(points, order.size)).astype(np.int64)]
        xs, ys = xf[keep], yf[keep]
        if window != "data range":
            title += " (zoomed windows need per-tensor affine params: showing the data range)"
    data = [{"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": "x̂(x)", "line": {"color": QUANTIZED, "shape": "hv"}},
            {"type": "scatter", "x": [lo, hi], "y": [lo, hi], "mode": "lines", "name": "identity",
             "line": {"dash": "dot", "color": "grey"}}]
    shapes = [_shape("line", v, v, line={"dash": "dash", "color": "grey"}) for v in (clip or ()) if lo <= v <= hi]
    return _figure(data, title, "x", "x̂", xaxis={"range": [lo, hi]}, **({"shapes": shapes} if shapes else {}))


#: Explore's four views in one figure (:func:`views_figure`): (figure key, row, column) on a grid of two by two.
VIEW_GRID = (("distribution", 0, 0), ("codes", 0, 1), ("error", 1, 0), ("transfer", 1, 1))
#: Explore's two error curves side by side in one figure: metric against bits, against the clipping threshold.
CURVE_GRID = (("bits", 0, 0), ("threshold", 0, 1))
_CELL = {"plot": 230, "above": 64, "below": 56}  # px: plot area, title + legend above it, ticks + axis title below
#: The error curves' cells: a two-line title above (the threshold's note), their legends below the axis title.
CURVE_CELL = {"plot": 280, "above": 56, "below": 60}  # and 20 px a legend entry
_COLUMN_GAP = 0.1  # of the width: the right column's count axis and its title (0.07 touched the left panel)


def _remap(ref: str | None, axes: dict[str, str]) -> str | None:
    """An axis reference (``x``, ``y2``, ``x domain``) of a panel, renamed to its axis in the grid."""
    if not ref or ref == "paper":
        return ref
    name, _, rest = ref.partition(" ")
    return f"{axes.get(name, name)} {rest}".strip()


def views_figure(figs: dict[str, go.Figure], grid=VIEW_GRID, cell: dict | None = None,
                 legends: str = "above") -> go.Figure:
    """Several figures as the panels of ONE figure, each keeping its traces, axes (types, ranges,
    titles), shapes, notes, title and legend. A browser draws one figure much faster than the
    same panels as separate charts: plotly.js pays a fixed cost per chart (its axes, legend and
    modebar laid out, its text measured), and a chart element that changes is drawn from scratch
    (Streamlit mounts it anew), so Explore's four views cost four of those on every move.
    ``grid``: (key of ``figs``, row, column) of each panel, two columns; ``cell``: its heights in
    px (plot area, title and legend above it, ticks and axis title below); ``legends``: each
    panel's legend "above" its plot area, under its title, or "below" its axis title."""
    cell = dict(cell or _CELL)
    if legends == "below":  # one entry a line: a horizontal legend wraps at the figure's width, not the panel's
        entries = max(sum(t.get("showlegend", True) is not False for t in figs[key].to_plotly_json()["data"])
                      for key, _, _ in grid)
        cell["below"] += 20 * entries
    rows = 1 + max(r for _, r, _ in grid)
    row_px = cell["above"] + cell["plot"] + cell["below"]
    height = rows * row_px
    data: list[dict] = []
    layout: dict = {"height": height, "margin": {"l": 10, "r": 10, "t": 0, "b": 0}, "bargap": 0,
                    "shapes": [], "annotations": [], "showlegend": True}
    n = counted = 0  # axes, legends
    for key, r, c in grid:
        fig = figs[key].to_plotly_json()  # no deep copy (to_dict: 5 ms a panel): what changes is copied below
        lay = fig["layout"]
        x0 = 0.0 if c == 0 else 0.5 + _COLUMN_GAP / 2
        x1 = 0.5 - _COLUMN_GAP / 2 if c == 0 else 1.0
        top = 1 - (r * row_px + cell["above"]) / height
        bottom = 1 - (r * row_px + cell["above"] + cell["plot"]) / height

        def sx(v: float) -> float:
            return x0 + v * (x1 - x0)

        def sy(v: float) -> float:
            return bottom + v * (top - bottom)

        suffixes = sorted({m.group(1) for m in (re.match(r"[xy]axis(\d*)$", name) for name in lay) if m}
                          | {(t.get("xaxis") or "x")[1:] for t in fig["data"]}, key=lambda s: int(s or 1))
        axes = {}
        for s in suffixes:
            n += 1
            for a in "xy":
                axes[f"{a}{s}"] = f"{a}{n if n > 1 else ''}"
        for s in suffixes:
            for a, scale in (("x", sx), ("y", sy)):
                ax = dict(lay.get(f"{a}axis{s}", {}))
                lo, hi = ax.get("domain", (0, 1))
                ax["domain"] = [scale(lo), scale(hi)]
                ax["anchor"] = axes[f"{'y' if a == 'x' else 'x'}{s}"]
                layout[f"{a}axis{axes[a + s][1:]}"] = ax
        legend = len(fig["data"]) > 1 and lay.get("showlegend", True)
        if legend:
            counted += 1
            name = f"legend{counted if counted > 1 else ''}"
        for t in fig["data"]:
            t = dict(t)
            t["xaxis"], t["yaxis"] = axes[t.get("xaxis") or "x"], axes[t.get("yaxis") or "y"]
            if legend:
                t["legend"] = name
            else:
                t["showlegend"] = False
            data.append(t)
        if legend:
            below = legends == "below"
            layout[name] = {"orientation": "v" if below else "h", "x": x0, "xanchor": "left", "bgcolor": "rgba(0,0,0,0)",
                            "y": bottom - 52 / height if below else top, "yanchor": "top" if below else "bottom"}
        for shape in lay.get("shapes", ()):
            layout["shapes"].append({**shape, "xref": _remap(shape.get("xref"), axes),
                                     "yref": _remap(shape.get("yref"), axes)})
        for note in lay.get("annotations", ()):  # the panels' own titles (xref paper): into the cell
            note = dict(note)
            if note.get("xref", "paper") == "paper":
                note["x"] = sx(note.get("x", 0.5))
            if note.get("yref", "paper") == "paper":
                note["y"] = sy(note.get("y", 0.5))
            layout["annotations"].append(note)
        title = (lay.get("title") or {}).get("text")
        if title:
            layout["annotations"].append({"text": f"<b>{title}</b>", "x": x0, "xanchor": "left", "xref": "paper",
                                          "y": 1 - r * row_px / height, "yanchor": "top", "yref": "paper",
                                          "showarrow": False, "align": "left", "font": {"size": 15}, "name": key})
    types = tuple(sorted({t["type"] for t in data}))
    layout["template"] = _template(types)
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def bits_figure(df: pd.DataFrame, metric: str = "sqnr_db",
                current: Iterable[tuple[str, str, float]] = ()) -> go.Figure:
    """Metric against bits per element (a :func:`~quantlib.sweep_bits` frame, or several
    concatenated): a swept scheme is a line, a family of fixed-width formats a set of labelled
    points; one 6.02 dB-per-bit reference line (SQNR only). ``current``: (series, scheme, bits
    per element) triples, each marking that scheme's point of that series nearest to it (the
    setting in use)."""
    data = []
    for series, part in df.groupby("series", sort=False):
        bpe, y = part["bits_per_element"].to_numpy(), part[metric].to_numpy()
        names = part["scheme"].astype(str).tolist()
        if (part["kind"] == "point").all():
            data.append({"type": "scatter", "x": bpe, "y": y, "mode": "markers+text", "name": str(series),
                         "text": names, "textposition": ["top center" if i % 2 else "bottom center" for i in range(len(names))],
                         "textfont": {"size": 10}, "marker": {"size": 9},
                         "hovertemplate": "%{text}: %{x:.4g} bits/element, %{y:.4g}<extra></extra>"})
        else:
            data.append({"type": "scatter", "x": bpe, "y": y, "mode": "lines+markers", "name": str(series),
                         "customdata": part["bits"].to_numpy(),
                         "hovertemplate": f"{series}, %{{customdata}} bits: %{{x:.4g}} bits/element, %{{y:.4g}}<extra></extra>"})
    if metric == "sqnr_db" and "reference_db" in df and df["reference_db"].notna().any():
        first = df.loc[df["reference_db"].notna(), "series"].iloc[0]  # one line: the first series' own anchor
        line = df.loc[(df["series"] == first) & df["reference_db"].notna(), ["bits_per_element", "reference_db"]]
        slope = 20 * np.log10(2)  # dB per bit
        lo, hi = float(df["bits_per_element"].min()), float(df["bits_per_element"].max())
        b0, r0 = line.iloc[0]
        ends = pd.DataFrame({"bits_per_element": [lo, hi], "reference_db": [r0 + slope * (lo - b0), r0 + slope * (hi - b0)]})
        data.append({"type": "scatter", "x": ends["bits_per_element"].to_numpy(), "y": ends["reference_db"].to_numpy(),
                     "mode": "lines", "name": "6.02 dB per bit", "line": {"dash": "dot", "color": "grey"},
                     "hoverinfo": "skip"})
    rings: dict[tuple[float, float], list[str]] = {}  # one ring per point: configurations on one point share it
    for series, scheme, at in current:
        part = df[(df["series"] == series) & (df["scheme"] == scheme)]
        if len(part):
            row = part.iloc[int(np.argmin(np.abs(part["bits_per_element"].to_numpy() - at)))]
            names = rings.setdefault((float(row["bits_per_element"]), float(row[metric])), [])
            name = row["scheme"] if row["kind"] == "point" else series  # a format by its name, a sweep by its line
            if name not in names:
                names.append(name)
    for (bx, by), names in rings.items():
        shown = ", ".join(names)
        data.append({"type": "scatter", "x": [bx], "y": [by], "mode": "markers",
                     "name": f"current: {shown}" if len(shown) <= 40 else f"current: {len(names)} configurations",
                     "showlegend": len(data) < 12,
                     "marker": {"size": 16, "symbol": "circle-open", "color": "black", "line": {"width": 2}},
                     "hovertemplate": f"in use: {shown}, %{{x:.4g}} bits/element, %{{y:.4g}}<extra></extra>"})
    name = metric_title(metric)
    return _figure(data, f"{name} vs bits per element", "bits per element (scales included)", name)


def metric_title(metric: str) -> str:
    """A metric's name as a person reads it, with its unit ("SQNR (dB)"; :data:`quantlib.metrics.METRIC_INFO`),
    or the name as given for a metric outside it (a model's accuracy)."""
    from .metrics import METRIC_INFO

    return METRIC_INFO[metric].title() if metric in METRIC_INFO else metric


CALIBRATOR_SYMBOLS = ("diamond", "square", "triangle-up", "cross", "star", "x", "pentagon", "hexagon")


def threshold_figure(df: pd.DataFrame, metric: str = "mse", selected: str | None = None, note: str = "") -> go.Figure:
    """Metric against clipping threshold (a :func:`~quantlib.sweep_threshold` frame), each
    calibrator's pick a marker of its own in the legend (no text labels to collide), the
    ``selected`` one ringed; ``note`` goes under the title (e.g. what the sweep is not)."""
    sweep = df[df["kind"] == "sweep"].sort_values("threshold")
    picks = df[df["kind"] != "sweep"]
    data = [{"type": "scatter", "x": sweep["threshold"].to_numpy(), "y": sweep[metric].to_numpy(), "mode": "lines",
             "name": "sweep", "line": {"color": "grey"}}]
    for i, (_, row) in enumerate(picks.iterrows()):
        data.append({"type": "scatter", "x": [row["threshold"]], "y": [row[metric]], "mode": "markers",
                     "name": row["kind"] + (" (in use)" if row["kind"] == selected else ""),
                     "marker": {"size": 16 if row["kind"] == selected else 10,
                                "symbol": CALIBRATOR_SYMBOLS[i % len(CALIBRATOR_SYMBOLS)],
                                "line": {"width": 3 if row["kind"] == selected else 0, "color": "black"}},
                     "hovertemplate": f"{row['kind']}: threshold %{{x:.4g}}, {metric_title(metric)} %{{y:.4g}}<extra></extra>"})
    title = f"{metric_title(metric)} vs clipping threshold" + (f"<br><sup>{note}</sup>" if note else "")
    return _figure(data, title, "threshold max(|lo|, |hi|)", metric_title(metric),
                   legend={"orientation": "v", "x": 1.02, "y": 1, "yanchor": "top"},
                   **({"yaxis": {"type": "log"}} if metric == "mse" else {}))


def small_multiples(x: np.ndarray, results: list[QuantResult], labels: list[str], num_bins: int = 128,
                    columns: int = 2, shared_y: bool = False, log_y: bool = False) -> go.Figure:
    """One panel per result: original vs dequantized histogram on one shared value axis. Each
    panel has its own count axis unless ``shared_y`` (one tall spike, e.g. a 3-bit grid's, would
    flatten every other panel); ``log_y`` draws the counts on a log axis."""
    from plotly.subplots import make_subplots

    n = len(results)
    rows = max(1, -(-n // columns))
    lo = float(min([x.min()] + [r.dequantized.min() for r in results]))
    hi = float(max([x.max()] + [r.dequantized.max() for r in results]))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    orig, edges = uniform_histogram(x, num_bins, lo, hi)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = make_subplots(rows=rows, cols=columns, shared_xaxes="all", shared_yaxes="all" if shared_y else False,
                        subplot_titles=labels, vertical_spacing=0.12 if rows > 1 else 0.2)
    for i, r in enumerate(results):
        row, col = i // columns + 1, i % columns + 1
        counts, _ = uniform_histogram(r.dequantized, num_bins, lo, hi)
        fig.add_bar(x=centres, y=orig, marker_color=ORIGINAL, opacity=0.5, name="original", showlegend=i == 0,
                    row=row, col=col)
        fig.add_bar(x=centres, y=counts, marker_color=QUANTIZED, opacity=0.6, name="dequantized", showlegend=i == 0,
                    row=row, col=col)
    fig.update_layout(barmode="overlay")
    if log_y:
        fig.update_yaxes(type="log", dtick=1)
    _layout(fig, "Original vs dequantized, per configuration", "", "")
    fig.update_layout(height=260 * rows + 80)
    return fig


def pareto_figure(df: pd.DataFrame, cost: str = "bits/element", quality: str = "SQNR dB",
                  label: str = "configuration", front: str = "Pareto-optimal", decimals: int | None = None) -> go.Figure:
    """Quality against cost, one marker per row of ``df`` (named by its ``label`` column), and
    the Pareto front (the rows whose ``front`` column is True) joined by a line in cost order:
    the configurations nothing else beats at equal or fewer bits. ``decimals``: the precision the
    costs are compared at (a table that ranks 4.0005 and 4.001 bits as one cost): the cost axis then
    spans at least 100 units of that precision (one bit for 2 decimals), so overheads the table calls
    equal do not fill the chart's width."""
    fig = go.Figure()
    on = df[df[front].astype(bool)].sort_values(cost)
    if len(on) > 1:
        fig.add_scatter(x=on[cost], y=on[quality], mode="lines", name="Pareto front",
                        line=dict(color="grey", dash="dot"), hoverinfo="skip")
    for i, (name, c, q, best) in enumerate(zip(df[label], df[cost], df[quality], df[front].astype(bool))):
        fig.add_scatter(x=[c], y=[q], mode="markers", name=str(name),
                        marker=dict(size=12 if best else 9, symbol="circle" if best else "circle-open",
                                    color=GRID_COLORS[i % len(GRID_COLORS)], line=dict(width=2)),
                        hovertemplate=f"{name}<br>%{{x:.4g}} {cost}, %{{y:.4g}} {quality}"
                                      + (" (Pareto-optimal)" if best else "") + "<extra></extra>")
    _layout(fig, f"{quality} against {cost} (filled: Pareto-optimal)", cost, quality)
    fig.update_layout(legend=dict(orientation="v", x=1.02, y=1, yanchor="top"), height=420)
    costs = df[cost].to_numpy(dtype=float)
    costs = costs[np.isfinite(costs)]
    if decimals is not None and costs.size:
        lo, hi = float(costs.min()), float(costs.max())
        span = max(hi - lo, 100 * 10.0**-decimals)
        mid = (lo + hi) / 2
        fig.update_xaxes(range=[mid - span * 0.6, mid + span * 0.6])
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
    fig.update_layout(height=200 + 55 * len(grids), **LEGEND_ON_TOP)
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
    fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"))  # the clip notes sit on top
    return fig


# ------------------------------------------------------------------- teaching and toolkits (Learn, Toolkits pages)
TOOLKIT_COLORS = {"pytorch": "#ee4c2c", "onnxruntime": "#005ced", "tensorrt": "#76b900", "quantlib": "#7f7f7f"}


def ranges_figure(x: np.ndarray, ranges: dict, num_bins: int = 256, labels: dict | None = None) -> go.Figure:
    """Histogram of ``x`` (log count, a label at each power of ten only) with the range each
    toolkit picked: ``ranges`` maps a toolkit name to (lo, hi); the lines are dashed for lo and
    solid for hi. Lines of different toolkits often coincide (under min-max all four pick the
    same range), so each toolkit's lines reach a height of their own, topped by a marker in its
    colour, and a toolkit whose range equals an earlier one's says so in the legend.
    ``labels``: legend names (default: the keys)."""
    xf = x.ravel()
    lo = float(min([xf.min()] + [r[0] for r in ranges.values()]))
    hi = float(max([xf.max()] + [r[1] for r in ranges.values()]))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(xf, num_bins, (lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    labels = {k: (labels or {}).get(k, k) for k in ranges}
    fig = go.Figure(go.Bar(x=centres, y=counts, marker_color=ORIGINAL, opacity=0.5, name="x"))
    peak, n, seen = max(int(counts.max()), 1), len(ranges), {}
    for i, (name, (a, b)) in enumerate(ranges.items()):
        color = TOOLKIT_COLORS.get(name, GRID_COLORS[i % len(GRID_COLORS)])
        top = peak * 1.6 * 2.5 ** (n - 1 - i)  # the first toolkit tallest: later, shorter lines leave its top visible
        same = seen.setdefault((float(a), float(b)), labels[name])
        legend = labels[name] if same == labels[name] else f"{labels[name]} (same range as {same})"
        for v, dash in ((a, "dash"), (b, "solid")):
            fig.add_scatter(x=[v, v], y=[0.8, top], mode="lines+markers", name=legend, legendgroup=name,
                            showlegend=dash == "solid", line=dict(color=color, dash=dash, width=2),
                            marker=dict(size=[0, 9], color=color, symbol="diamond"),
                            hovertemplate=f"{labels[name]}: %{{x:.6g}}<extra></extra>")
    fig.update_yaxes(type="log", dtick=1)
    pad = 0.04 * (hi - lo)
    fig.update_xaxes(range=[lo - pad, hi + pad])
    _layout(fig, "The range each toolkit's calibrator picks", "value", "count (log)")
    return fig.update_layout(**LEGEND_ON_TOP)


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
