"""Plotly figures of the Rate–distortion page: the chart of every configuration against the
limits, the error-anatomy bar and one block of a block format. Built from the small tables of
:mod:`quantlib.rate` and :mod:`quantlib.anatomy` (a few hundred points), never from raw tensors."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from ._lazy import pandas as pd
from ._lazy import plotly_graph_objects as go
from ._lazy import plotly_io as pio
from .anatomy import BlockView, ErrorAnatomy
from .figures import HOUSE_LAYOUT, TEMPLATE
from .rate import LIMITS

AXES = {"bits_per_element": "bits per element (codes + scales + codebooks)",
        "code_entropy_bits": "code entropy, bits per element (what an ideal entropy coder needs)"}
METRICS = {"sqnr_db": "SQNR (dB)", "mse": "MSE"}
LIMIT_STYLE = {  # limit -> (colour, dash, mode)
    "shannon": ("#111111", "solid", "lines"),
    "lloyd_max": ("#2ca02c", "dot", "lines+markers"),
    "uniform": ("#9467bd", "dot", "lines+markers"),
    "entropy_coded_uniform": ("#8c564b", "dash", "lines"),
}
PALETTE = ("#1f77b4", "#ff7f0e", "#d62728", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#aec7e8", "#ffbb78",
           "#98df8a", "#ff9896", "#c5b0d5")
PARTS = (("block scale", "scale_mse", "#9467bd"), ("clipping", "clipping_mse", "#d62728"),
         ("rounding", "rounding_mse", "#1f77b4"))


@cache
def _template() -> dict:
    """The house template as a plain dict (figures here are built without plotly's validation)."""
    t = pio.templates[TEMPLATE].to_plotly_json()
    return {"data": {k: v for k, v in t["data"].items() if k in ("scatter", "bar")}, "layout": t["layout"]}


def _layout(title: str, x: str, y: str, **extra: object) -> dict:
    return {"title": {"text": title}, "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}},
            **HOUSE_LAYOUT, "template": _template(), **extra}


def rd_figure(points: pd.DataFrame, limits: pd.DataFrame | None = None, *, metric: str = "sqnr_db",
              x: str = "bits_per_element", highlight: str | None = None) -> go.Figure:
    """Every configuration (one colour per family), the Pareto front joined by a line, and the
    limits of this tensor on the same axes. ``metric``: ``sqnr_db`` or ``mse`` (log axis);
    ``x``: ``bits_per_element`` or ``code_entropy_bits``; ``highlight``: a label to ring."""
    if metric not in METRICS or x not in AXES:
        raise ValueError(f"metric must be one of {list(METRICS)} and x one of {list(AXES)}; got {metric!r}, {x!r}")
    data: list[dict] = []
    hover = ("<b>%{customdata[0]}</b><br>bits per element %{customdata[1]:.4g}<br>SQNR %{customdata[2]:.2f} dB"
             "<br>MSE %{customdata[3]:.4g}<br>code entropy %{customdata[4]:.3g} bits"
             "<br>%{customdata[5]:.2f} dB below the Shannon bound<extra>%{customdata[6]}</extra>")
    cols = ["label", "bits_per_element", "sqnr_db", "mse", "code_entropy_bits", "shannon_gap_db", "family"]
    for i, (family, df) in enumerate(points.groupby("family", sort=True)):
        data.append({"type": "scatter", "mode": "markers", "name": family, "x": df[x].tolist(), "y": df[metric].tolist(),
                     "customdata": df[cols].astype(object).where(df[cols].notna(), np.nan).values.tolist(),
                     "hovertemplate": hover,
                     "marker": {"color": PALETTE[i % len(PALETTE)], "size": 9, "opacity": 0.85,
                                "symbol": ["star" if p else "circle" for p in df["pareto"]],
                                "line": {"width": [1.5 if p else 0 for p in df["pareto"]], "color": "#000"}}})
    front = points[points["pareto"]].sort_values("bits_per_element")
    if len(front) and x == "bits_per_element":
        data.append({"type": "scatter", "mode": "lines", "name": "Pareto front (★)", "x": front[x].tolist(),
                     "y": front[metric].tolist(), "line": {"color": "#000", "width": 1, "shape": "hv"},
                     "hoverinfo": "skip"})
    if highlight is not None and (points["label"] == highlight).any():
        row = points[points["label"] == highlight].iloc[0]
        data.append({"type": "scatter", "mode": "markers", "name": "selected", "x": [row[x]], "y": [row[metric]],
                     "marker": {"size": 18, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#d62728"}},
                     "hoverinfo": "skip"})
    if limits is not None and len(limits):
        top = float(points[x].max()) if len(points) else 8.0
        for name, (colour, dash, mode) in LIMIT_STYLE.items():
            df = limits[(limits["limit"] == name) & (limits["rate_bits"] <= max(top, 8.0) + 0.5)]
            if len(df):
                data.append({"type": "scatter", "mode": mode, "name": LIMITS[name].title, "x": df["rate_bits"].tolist(),
                             "y": df[metric].tolist(), "line": {"color": colour, "dash": dash, "width": 1.5},
                             "marker": {"size": 5}, "hovertemplate": f"{LIMITS[name].title}<br>rate %{{x:.3g}} bits"
                             f"<br>{METRICS[metric]} %{{y:.4g}}<extra></extra>"})
    extra: dict = {"height": 520, "hovermode": "closest"}
    if metric == "mse":
        extra["yaxis"] = {"title": {"text": METRICS[metric]}, "type": "log"}
    return go.Figure({"data": data, "layout": _layout("Every configuration against the limits of this tensor",
                                                      AXES[x], METRICS[metric], **extra)}, _validate=False)


def anatomy_figure(parts: Sequence[tuple[str, ErrorAnatomy]]) -> go.Figure:
    """A stacked horizontal bar per (label, anatomy): block scale, clipping and rounding MSE."""
    labels = [p[0] for p in parts]
    data = []
    for name, attr, colour in PARTS:
        vals = [getattr(a, attr) for _, a in parts]
        share = [v / a.mse if a.mse > 0 else 0.0 for v, (_, a) in zip(vals, parts)]
        data.append({"type": "bar", "orientation": "h", "name": name, "y": labels, "x": vals,
                     "marker": {"color": colour}, "customdata": share,
                     "hovertemplate": f"{name}: MSE %{{x:.4g}} (%{{customdata:.1%}})<extra>%{{y}}</extra>"})
    lay = _layout("Where the error comes from", "MSE", "", barmode="stack", height=max(270, 180 + 45 * len(parts)),
                  legend={"orientation": "h", "y": -0.55, "x": 0, "traceorder": "normal"})
    lay["bargap"] = 0.3
    return go.Figure({"data": data, "layout": lay}, _validate=False)


def block_figure(view: BlockView) -> go.Figure:
    """One block: its values and their reconstructions by position, the error as thin bars."""
    t = view.table
    pos = t["position"].tolist()
    sat = t["saturated"].to_numpy()
    data = [
        {"type": "bar", "name": "error x − x̂", "x": pos, "y": t["error"].tolist(), "marker": {"color": "#d62728"},
         "opacity": 0.5, "hovertemplate": "position %{x}<br>error %{y:.4g}<extra></extra>"},
        {"type": "scatter", "mode": "markers", "name": "x", "x": pos, "y": t["x"].tolist(),
         "marker": {"color": "#1f77b4", "size": 8}, "hovertemplate": "position %{x}<br>x %{y:.6g}<extra></extra>"},
        {"type": "scatter", "mode": "markers", "name": "x̂ (code · scale)", "x": pos, "y": t["x_hat"].tolist(),
         "customdata": np.stack([t["code"].to_numpy().astype(np.float64), t["grid value"].to_numpy()], 1).tolist(),
         "marker": {"color": "#ff7f0e", "size": 9, "symbol": ["x" if s else "diamond" for s in sat]},
         "hovertemplate": "position %{x}<br>x̂ %{y:.6g}<br>code %{customdata[0]:.0f}, grid value "
                          "%{customdata[1]:.4g}<extra></extra>"},
    ]
    offset = "" if view.offset is None else f", offset {view.offset:.6g}"
    title = f"Block {view.index} of {view.blocks}: scale {view.scale:.6g}{offset} (× = saturated)"
    lay = _layout(title, "position in the tensor", "value", barmode="overlay")
    lay["bargap"] = 0.5
    return go.Figure({"data": data, "layout": lay}, _validate=False)
