"""Plotly figures of the Model impact page: sensitivity heatmap, bit plan, metric vs bits,
per-channel activation ranges. Built from small tables (one row per layer, per bit width, per
channel), never from raw activations."""

from __future__ import annotations

import numpy as np

from .._lazy import pandas as pd
from .._lazy import plotly_graph_objects as go
from ..figures import HOUSE_LAYOUT, QUANTIZED, TEMPLATE


def _house(fig: go.Figure, title: str, x: str, y: str, **layout: object) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template=TEMPLATE, **{**HOUSE_LAYOUT, **layout})
    return fig


def _grid(df: pd.DataFrame, column: str) -> tuple[list[int], list[str], np.ndarray]:
    """``df[column]`` laid out as (layer index) x (kind), kinds in the order they first appear."""
    rows = sorted(df["index"].unique().tolist())
    kinds = list(dict.fromkeys(df["kind"]))
    z = np.full((len(rows), len(kinds)), np.nan)
    for r in df.itertuples(index=False):
        z[rows.index(r.index), kinds.index(r.kind)] = getattr(r, column)
    return rows, kinds, z


def sensitivity_heatmap(df: pd.DataFrame, objective: str) -> go.Figure:
    """The drop of ``objective`` (float minus quantized) with one layer quantized at a time, as
    layer index x projection kind; the colour scale starts at 0 (no damage)."""
    rows, kinds, z = _grid(df, "drop")
    text = [[f"{v:.2g}" if np.isfinite(v) else "" for v in row] for row in z]
    top = float(np.nanmax(z)) if np.isfinite(np.nanmax(z)) and np.nanmax(z) > 0 else 1e-12
    fig = go.Figure(go.Heatmap(z=z, x=kinds, y=[str(r) for r in rows], text=text, texttemplate="%{text}",
                               colorscale="Reds", zmin=0, zmax=top, colorbar={"title": "drop"},
                               hovertemplate="layer %{y} · %{x}<br>drop %{z:.3g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    return _house(fig, f"Per-layer sensitivity: drop of {objective} when only that layer is quantized",
                  "projection", "layer", height=max(260, 60 * len(rows) + 140))


def plan_heatmap(table: pd.DataFrame) -> go.Figure:
    """A bit plan (``BitPlan.table``) on the same grid: colour = bits per weight, text = configuration."""
    rows, kinds, z = _grid(table, "bits_per_weight")
    labels = {(r.index, r.kind): r.configuration for r in table.itertuples(index=False)}
    text = [[f"{labels.get((r, k), '')}<br>{z[i, j]:.2f} b" for j, k in enumerate(kinds)] for i, r in enumerate(rows)]
    fig = go.Figure(go.Heatmap(z=z, x=kinds, y=[str(r) for r in rows], text=text, texttemplate="%{text}",
                               colorscale="Blues", colorbar={"title": "bits"},
                               hovertemplate="layer %{y} · %{x}<br>%{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    return _house(fig, "The plan: bits per weight of each layer", "projection", "layer",
                  height=max(260, 60 * len(rows) + 140))


def metric_bits_figure(df: pd.DataFrame, metric: str, float_value: float | None = None) -> go.Figure:
    """``metric`` against bit width, one line per configuration; the y axis fits the values
    (with the float model's value in range), so 0.999 and 0.99 do not look alike."""
    fig = go.Figure()
    for name, part in df.groupby("configuration", sort=False):
        fig.add_scatter(x=part["bits"], y=part[metric], mode="lines+markers", name=str(name))
    fit_metric_axis(fig, df[metric].to_numpy(dtype=float), float_value, pad_share=0.08)
    return _house(fig, f"{metric} vs bits", "bits", metric)


def fit_metric_axis(fig: go.Figure, values: np.ndarray, float_value: float | None = None, *,
                    pad_share: float = 0.08) -> None:
    """Fit ``fig``'s y axis to the finite ``values`` (plus the float model's value, drawn as a dotted
    line when given), padded by ``pad_share`` of their span (at least 1e-4), so that a metric of 0.999
    and one of 0.99 do not look alike. Nothing changes when no value is finite."""
    vals = np.asarray(values, dtype=float)
    if float_value is not None and np.isfinite(float_value):
        fig.add_hline(y=float_value, line_dash="dot", line_color="grey", annotation_text="float model")
        vals = np.append(vals, float_value)
    vals = vals[np.isfinite(vals)]
    if vals.size:
        lo, hi = float(vals.min()), float(vals.max())
        pad = max((hi - lo) * pad_share, 1e-4)
        fig.update_yaxes(range=[lo - pad, hi + pad])


def channel_stats(x: np.ndarray) -> pd.DataFrame:
    """Per input channel of ``x`` (tokens, channels): max |x|, and that over the median channel's."""
    a = np.abs(np.asarray(x, dtype=np.float32)).max(axis=0).astype(np.float64)
    med = float(np.median(a))
    return pd.DataFrame({"channel": np.arange(a.size), "max_abs": a,
                         "times_median": a / med if med > 0 else np.full(a.size, np.inf)})


def channel_figure(stats: pd.DataFrame, layer: str, top: int = 5) -> go.Figure:
    """Per-channel max |x| of a layer's real inputs; the ``top`` largest channels are labelled."""
    fig = go.Figure(go.Bar(x=stats["channel"], y=stats["max_abs"], marker_color=QUANTIZED, name="max |x|"))
    med = float(stats["max_abs"].median())
    fig.add_hline(y=med, line_dash="dot", line_color="grey", annotation_text=f"median channel {med:.3g}")
    for r in stats.nlargest(top, "max_abs").itertuples(index=False):
        fig.add_annotation(x=r.channel, y=r.max_abs, text=f"ch {r.channel}: {r.max_abs:.3g}", showarrow=True,
                           arrowhead=2, ay=-25)
    fig.update_layout(bargap=0)
    return _house(fig, f"Per-channel max |x| of the inputs of {layer}", "input channel", "max |x|")
