"""Plotly figures of the Methods page, built from the small tables of :mod:`.compare` and
:mod:`.views` (one row per method and bit width, per input channel, per column)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._lazy import pandas as pd
from .._lazy import plotly_graph_objects as go
from ..figures import HOUSE_LAYOUT, ORIGINAL, QUANTIZED, TEMPLATE
from ..models.figures import fit_metric_axis


def _house(fig: go.Figure, title: str, **layout: object) -> go.Figure:
    fig.update_layout(title=title, template=TEMPLATE, **{**HOUSE_LAYOUT, **layout})
    return fig


def error_bits_figure(curves: pd.DataFrame, error: str = "heldout_error") -> go.Figure:
    """Relative output error (log axis) against bits per element, one line per method (rows of
    :func:`~quantlib.linear.compare.error_vs_bits`; hover: the code width)."""
    fig = go.Figure()
    for name, part in curves.groupby("method", sort=False):
        part = part.sort_values("bits_per_element")
        fig.add_scatter(x=part["bits_per_element"], y=part[error], mode="lines+markers", name=str(name),
                        customdata=part["bits"].fillna("own"),
                        hovertemplate="%{customdata} bits · %{x:.3f} bits/element<br>error %{y:.3g}<extra>"
                                      + str(name) + "</extra>")
    fig.update_yaxes(type="log", exponentformat="power")
    where = "held-out" if error == "heldout_error" else "calibration"
    return _house(fig, f"Output error vs bits per element ({where} tokens)", xaxis_title="bits per element",
                  yaxis_title="relative output MSE")


def scaling_figure(df: pd.DataFrame, title: str) -> go.Figure:
    """Per input channel max |x| (top, axis y) and max |w| (bottom, axis y2), before and after a
    per-channel scaling (rows of :func:`~quantlib.linear.views.channel_scaling`), log axes. Two
    stacked axes laid out by hand: ``make_subplots`` costs more than the traces on a live slider."""
    traces = []
    for axis, side in (("y", "x"), ("y2", "w")):
        for when, colour in (("before", ORIGINAL), ("after", QUANTIZED)):
            traces.append(go.Scatter(x=df["channel"], y=df[f"{side}_max_{when}"], mode="markers", xaxis="x",
                                     yaxis=axis, marker={"size": 4, "color": colour}, name=f"{when} scaling",
                                     legendgroup=when, showlegend=axis == "y"))
    fig = go.Figure(traces)
    log = {"type": "log", "exponentformat": "power"}
    fig.update_layout(yaxis={"domain": [0.54, 1.0], "title": "inputs: max |x|", **log},
                      yaxis2={"domain": [0.0, 0.46], "title": "weights: max |w|", **log},
                      xaxis={"title": "input channel", "anchor": "y2"})
    return _house(fig, title, height=560)


def rotation_figure(samples: Mapping[str, np.ndarray], bins: int = 120) -> go.Figure:
    """Histograms of the weights (left) and the inputs (right) before and after the rotation,
    each titled with its max / std (how far the largest value sits from the bulk)."""
    titles = []
    for side in ("weights", "inputs"):
        b, a = samples[f"{side}_before"], samples[f"{side}_after"]
        titles.append(f"{side}: max/std {_peak(b):.1f} → {_peak(a):.1f}")
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=titles)
    for col, side in ((1, "weights"), (2, "inputs")):
        for when, colour in (("before", ORIGINAL), ("after", QUANTIZED)):
            v = samples[f"{side}_{when}"]
            fig.add_histogram(x=v, nbinsx=bins, name=f"{when} rotation", marker_color=colour, opacity=0.6,
                              legendgroup=when, showlegend=col == 1, row=1, col=col)
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(type="log")
    return _house(fig, "Before and after the rotation (log counts)", height=420)


def _peak(a: np.ndarray) -> float:
    s = float(np.std(a))
    return float(np.max(np.abs(a))) / s if s > 0 else float("inf")


def column_error_figure(df: pd.DataFrame, title: str = "Output error per input column") -> go.Figure:
    """Each input column's share of the output error (:func:`~quantlib.linear.views.column_errors`,
    :func:`~quantlib.linear.views.own_column_errors`), one line per method, log axis."""
    fig = go.Figure()
    for name in df.columns:
        if name != "column":
            fig.add_scatter(x=df["column"], y=df[name], mode="lines", name=str(name), line={"width": 1})
    fig.update_yaxes(type="log", exponentformat="power")
    return _house(fig, title, xaxis_title="input column",
                  yaxis_title="share of the output MSE")


def model_figure(df: pd.DataFrame, metric: str, float_value: float | None = None) -> go.Figure:
    """The model's ``metric`` per method (bars) at its average bits per weight (hover)."""
    fig = go.Figure(go.Bar(x=df["method"], y=df[metric], marker_color=QUANTIZED,
                           customdata=df["average_bits"], hovertemplate="%{x}<br>" + metric +
                           " %{y:.4f}<br>%{customdata:.3f} bits per weight<extra></extra>"))
    fit_metric_axis(fig, df[metric].to_numpy(dtype=float), float_value, pad_share=0.1)
    return _house(fig, f"Whole model: {metric} per method", xaxis_title="method", yaxis_title=metric)
