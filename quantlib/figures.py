"""Plotly figure builders. Every figure is computed from numpy summaries (histograms,
downsampled points), never from millions of raw points, so it stays light in a browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .histograms import uniform_histogram
from .schemes import QuantResult
from .sweeps import subsample

ORIGINAL, QUANTIZED, ERROR = "#1f77b4", "#ff7f0e", "#d62728"
MAX_LEVEL_MARKS = 64


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, bargap=0, margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", y=-0.2), template="plotly_white", height=360)
    return fig


def distribution_figure(x: np.ndarray, result: QuantResult, num_bins: int = 256) -> go.Figure:
    """Original vs dequantized histograms on shared bins, levels marked, clipping shaded."""
    xf, xh = x.ravel(), result.dequantized.ravel()
    lo, hi = float(min(xf.min(), xh.min())), float(max(xf.max(), xh.max()))
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = uniform_histogram(x, num_bins, lo, hi)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    fig.add_scatter(x=centres, y=counts, name="original", mode="lines", line_shape="hvh", fill="tozeroy",
                    line=dict(color=ORIGINAL, width=1))
    counts, _ = uniform_histogram(result.dequantized, num_bins, lo, hi)
    fig.add_bar(x=centres, y=counts, name="dequantized", marker_color=QUANTIZED, opacity=0.7)
    if result.clip_range is not None:
        c_lo, c_hi = result.clip_range
        if c_lo > lo:
            fig.add_vrect(x0=lo, x1=c_lo, fillcolor="grey", opacity=0.15, line_width=0)
        if c_hi < hi:
            fig.add_vrect(x0=c_hi, x1=hi, fillcolor="grey", opacity=0.15, line_width=0)
    if result.levels is not None and result.levels.size <= MAX_LEVEL_MARKS:
        lv = result.levels[(result.levels >= lo) & (result.levels <= hi)]
        fig.add_scatter(x=lv, y=np.zeros(lv.size), mode="markers", name=f"{lv.size} levels",
                        marker=dict(symbol="line-ns-open", size=8, color="black"))
    return _layout(fig, "Original vs dequantized", "value", "count")


def codes_figure(result: QuantResult) -> go.Figure:
    """Histogram of the integer codes, with levels used out of levels available."""
    c = result.codes.ravel().astype(np.int64)
    cmin = int(c.min())
    counts = np.bincount(c - cmin)
    codes = np.arange(cmin, cmin + counts.size)
    used = int(np.count_nonzero(counts))
    p = result.params
    available = (p.qmax - p.qmin + 1) if p is not None else (result.levels.size if result.levels is not None else used)
    fig = go.Figure(go.Bar(x=codes, y=counts, marker_color=QUANTIZED, name="codes"))
    eff = np.log2(max(used, 1))
    return _layout(fig, f"Codes: {used} of {available} levels used ({eff:.2f} effective bits)", "code", "count")


def error_figure(x: np.ndarray, result: QuantResult, num_bins: int = 128, max_points: int = 4000) -> go.Figure:
    """Histogram of x - x_hat, and a downsampled scatter of error against value."""
    from plotly.subplots import make_subplots

    e = x - result.dequantized  # float32 is plenty for a picture
    counts, edges = uniform_histogram(e, num_bins)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("error histogram", "error vs value"))
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, marker_color=ERROR, name="x - x̂", row=1, col=1)
    xs, es = subsample(x, max_points), subsample(e.reshape(x.shape), max_points)
    fig.add_scattergl(x=xs, y=es, mode="markers", marker=dict(size=3, color=ERROR, opacity=0.5),
                      name="sample", row=1, col=2)
    return _layout(fig, "Quantization error", "", "")


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
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv", name="x̂(x)", line_color=QUANTIZED))
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="identity", line=dict(dash="dot", color="grey"))
    if result.clip_range is not None:
        for v in result.clip_range:
            if lo <= v <= hi:
                fig.add_vline(x=v, line_dash="dash", line_color="grey")
    return _layout(fig, "Transfer function", "x", "x̂")


def bits_figure(df: pd.DataFrame, metric: str = "sqnr_db") -> go.Figure:
    """Metric against bit width, one line per scheme, with the 6.02 dB/bit reference."""
    fig = go.Figure()
    for scheme, part in df.groupby("scheme", sort=False):
        fig.add_scatter(x=part["bits"], y=part[metric], mode="lines+markers", name=str(scheme))
        if metric == "sqnr_db" and "reference_db" in part:
            fig.add_scatter(x=part["bits"], y=part["reference_db"], mode="lines", name=f"{scheme}: 6.02 dB/bit",
                            line=dict(dash="dot"), showlegend=True)
    return _layout(fig, f"{metric} vs bits", "bits", metric)


def threshold_figure(df: pd.DataFrame, metric: str = "mse") -> go.Figure:
    """Metric against clipping threshold, with each calibrator's pick marked."""
    sweep = df[df["kind"] == "sweep"].sort_values("threshold")
    fig = go.Figure(go.Scatter(x=sweep["threshold"], y=sweep[metric], mode="lines", name="sweep"))
    picks = df[df["kind"] != "sweep"]
    fig.add_scatter(x=picks["threshold"], y=picks[metric], mode="markers+text", text=picks["kind"],
                    textposition="top center", marker=dict(size=10, symbol="diamond"), name="calibrators")
    if metric == "mse":
        fig.update_yaxes(type="log")
    return _layout(fig, f"{metric} vs clipping threshold", "threshold", metric)


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


def sensitivity_figure(df: pd.DataFrame, float_value: float) -> go.Figure:
    """Accuracy with one layer quantized at a time."""
    fig = go.Figure(go.Bar(x=df["layer"], y=df["accuracy"], marker_color=QUANTIZED, name="one layer quantized",
                           text=[f"{v:.3f}" for v in df["accuracy"]], textposition="outside"))
    fig.add_hline(y=float_value, line_dash="dot", line_color="grey", annotation_text="float model")
    fig.update_yaxes(range=[0, 1.05])
    return _layout(fig, "Per-layer sensitivity", "layer", "accuracy")
