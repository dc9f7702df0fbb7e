"""Serialisers behind the app's download buttons: plain bytes/str, no UI."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._lazy import pandas as pd
from ._lazy import plotly_graph_objects as go
from ._checks import check_num_bins
from .params import QuantParams

CSV_MAX_VALUES = 2**20  # text files beyond ~1 M values are not useful to anyone


def npy_bytes(a: np.ndarray) -> bytes:
    """The array as a .npy file (never pickled)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def csv_bytes(a: np.ndarray) -> bytes:
    """The array as CSV: one row per row of a 2-D array, one value per line otherwise.

    Refuses more than CSV_MAX_VALUES values (use .npy for those)."""
    if a.size > CSV_MAX_VALUES:
        raise ValueError(f"{a.size:,} values are too many for CSV (limit {CSV_MAX_VALUES:,}); download .npy instead")
    buf = io.StringIO()
    fmt = "%d" if a.dtype.kind in "iu" else "%.9g"
    np.savetxt(buf, a if a.ndim == 2 else a.reshape(-1, 1), fmt=fmt, delimiter=",")
    return buf.getvalue().encode()


def params_json(params: QuantParams | None, extra: Mapping[str, Any] | None = None) -> str:
    """Quantization parameters (and any extra fields such as scheme settings) as JSON."""
    doc: dict[str, Any] = {"params": params.to_dict() if params is not None else None}
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2, default=_jsonable)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def metrics_csv(rows: pd.DataFrame | Mapping[str, Any]) -> bytes:
    """A metrics table (or one metrics dict) as CSV."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame([dict(rows)])
    return df.to_csv(index=False).encode()


def figure_html(fig: go.Figure) -> str:
    """A self-contained interactive HTML file (plotly.js embedded, works offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def figures_html(figs: Mapping[str, go.Figure], title: str = "Figures") -> str:
    """Every figure of ``figs`` in ONE self-contained HTML file: plotly.js embedded once (~4.8 MB),
    then one heading (the dict key) and one interactive chart per figure, in order. Opens offline.
    An empty ``figs`` raises ValueError (a file with no chart is not worth a download)."""
    import html

    from plotly.offline import get_plotlyjs

    if not figs:
        raise ValueError("figures_html needs at least one figure")
    parts = []
    for i, (name, fig) in enumerate(figs.items()):
        div = fig.to_html(include_plotlyjs=False, full_html=False, div_id=f"figure-{i}")
        parts.append(f"<section>\n<h2>{html.escape(str(name))}</h2>\n{div}\n</section>")
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<script type=\"text/javascript\">{get_plotlyjs()}</script>\n"
            "</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n")


def python_snippet(source: Mapping[str, Any], configs: list[tuple[str, Mapping[str, Any]]],
                   num_bins: int | None = None) -> str:
    """A runnable script that rebuilds the tensor and each (scheme, settings) result with quantlib
    and prints its metrics. ``num_bins``: the histogram bins of the KL divergence, as the page
    computed it (None: the default of :func:`quantlib.metrics`), so the script prints the
    kl_divergence the page and its metrics.csv show."""
    if num_bins is not None:
        num_bins = check_num_bins(num_bins)
    bins_arg = "" if num_bins is None else f", num_bins={num_bins}"
    src = dict(source)
    kind = src.pop("source", "synthetic")
    if kind == "synthetic":
        load = (
            f"x = ql.synthetic({src['distribution']!r}, {src['size']}, seed={src['seed']}"
            + "".join(f", {k}={v!r}" for k, v in src.get("options", {}).items())
            + (f", shape={tuple(src['shape'])!r}" if src.get("shape") else "")
            + ")"
        )
    elif kind == "sample":
        load = f"x = ql.sample_tensors()[{src['name']!r}]"
    else:
        load = f"x = ql.load_tensors('YOUR_FILE')[{src['name']!r}]  # the file you uploaded"
    lines = ["import quantlib as ql", "", load, ""]
    for i, (scheme, settings) in enumerate(configs):
        args = "".join(f", {k}={v!r}" for k, v in settings.items())
        lines += [
            f"r{i} = ql.Quantizer({scheme!r}{args})(x)",
            f"print({scheme!r}, r{i}.metrics(x{bins_arg}).to_dict())",
        ]
    return "\n".join(lines) + "\n"
