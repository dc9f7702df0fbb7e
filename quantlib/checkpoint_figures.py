"""Figures and a standalone HTML page of a checkpoint report (:func:`quantlib.checkpoint_report`).

:func:`sqnr_heatmap`: layer index × tensor kind for one scheme, colour = SQNR (dB) — the worst tensor
of each cell (a layer's weight and bias share a kind); tensors outside the numbered layers
(embeddings, final norm, lm_head) in a last column ``–``. :func:`report_html`: the heatmap of every
scheme, the size totals, the keep-in-16-bit list and the whole table in one file (plotly.js
embedded once, opens offline).
"""

from __future__ import annotations

import html
import math

import numpy as np

from ._lazy import pandas as pd
from ._lazy import plotly_graph_objects as go
from .checkpoint import keep_in_16bit, size_totals
from .checkpoint_names import KINDS

NO_LAYER = "–"


def heatmap_grid(report: pd.DataFrame, scheme: str) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(kinds, layer labels, SQNR grid (kinds × layers, NaN where no tensor), tensor names grid) of one scheme."""
    g = report[report["scheme"] == scheme]
    if g.empty:
        raise ValueError(f"scheme {scheme!r} is not in the report; it has {list(dict.fromkeys(report['scheme']))}")
    kinds = [k for k in KINDS if k in set(g["kind"])]
    layers = sorted({int(v) for v in g["layer"].dropna()})
    cols = [str(v) for v in layers] + ([NO_LAYER] if g["layer"].isna().any() else [])
    z = np.full((len(kinds), len(cols)), np.nan)
    names = np.full(z.shape, "", dtype=object)
    for _, r in g.iterrows():
        i = kinds.index(r["kind"])
        j = cols.index(NO_LAYER if pd.isna(r["layer"]) else str(int(r["layer"])))
        v = float(r["sqnr_db"])
        if not math.isnan(v) and (math.isnan(z[i, j]) or v < z[i, j]):
            z[i, j], names[i, j] = v, r["tensor"]
    return kinds, cols, z, names


def sqnr_heatmap(report: pd.DataFrame, scheme: str) -> go.Figure:
    """Layer index × kind heatmap of one scheme's SQNR (dB; +inf, an exact tensor, shown at the top of the scale)."""
    kinds, cols, z, names = heatmap_grid(report, scheme)
    finite = z[np.isfinite(z)]
    top = float(finite.max()) if finite.size else 0.0
    shown = np.where(np.isposinf(z), top, z)
    fig = go.Figure(go.Heatmap(
        z=[[None if math.isnan(v) else v for v in row] for row in shown.tolist()], x=cols, y=kinds,
        customdata=[[[n, f"{v:.2f}"] for n, v in zip(nr, zr)] for nr, zr in zip(names.tolist(), z.tolist())],
        colorscale="Viridis", colorbar={"title": "SQNR dB"}, xgap=1, ygap=1,
        hovertemplate="layer %{x} · %{y}<br>%{customdata[0]}<br>SQNR %{customdata[1]} dB<extra></extra>",
    ))
    fig.update_layout(title=f"SQNR per layer and kind: {scheme}", xaxis_title="layer", yaxis_title="kind",
                      yaxis={"autorange": "reversed"}, height=max(260, 40 * len(kinds) + 120),
                      margin={"l": 80, "r": 20, "t": 50, "b": 40})
    return fig


def report_html(report: pd.DataFrame, title: str = "checkpoint") -> str:
    """A standalone HTML page of a report: per scheme its heatmap, then the totals, the keep list, the table."""
    from plotly.offline import get_plotlyjs

    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>quantlib checkpoint report: "
             f"{html.escape(title)}</title>\n<script>{get_plotlyjs()}</script></head>\n<body>\n"
             f"<h1>Checkpoint report: {html.escape(title)}</h1>\n"]
    totals = size_totals(report)
    parts.append("<h2>Size under each scheme</h2>\n" + totals.to_html(index=False, float_format=lambda v: f"{v:.6g}"))
    keep = keep_in_16bit(report)
    parts.append("<h2>Keep in 16 bits</h2>\n" + (keep.to_html(index=False, float_format=lambda v: f"{v:.4g}")
                                                 if not keep.empty else "<p>No tensor falls far below its scheme's median.</p>"))
    for scheme in dict.fromkeys(report["scheme"]):
        fig = sqnr_heatmap(report, scheme)
        parts.append(f"<h2>{html.escape(scheme)}</h2>\n" + fig.to_html(include_plotlyjs=False, full_html=False))
    parts.append("<h2>Every tensor and scheme</h2>\n" + report.to_html(index=False, float_format=lambda v: f"{v:.6g}",
                                                                        na_rep="-", border=0))
    parts.append("\n</body></html>\n")
    return "".join(parts)
