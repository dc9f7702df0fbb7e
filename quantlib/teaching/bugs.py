"""The source blog's three bugs, each beside the corrected behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._checks import as_float_array, check_bits, check_num_bins
from ..integer import dequantize, quantize
from ..params import QuantParams
from ..schemes import Quantizer
from .numbers import num
from .worked import blog_params

if TYPE_CHECKING:
    import pandas as pd

_F32 = np.float32


def wrap_lesson(values: object, params: QuantParams | None = None) -> pd.DataFrame:
    """The blog's int8 conversion without clamping, beside the fix.

    For each value: x / s, the code a plain integer cast keeps (``overflow="wrap"``: the low
    bits, so 12.8 / 0.1 = 128 becomes -128) and what it dequantizes to, beside the saturated
    code and value. ``params`` default: the blog's scale 0.1, int8.
    """
    import pandas as pd

    p = params or blog_params()
    x = as_float_array(values).ravel()
    wrapped = quantize(x, p, overflow="wrap")
    sat = quantize(x, p)
    with np.errstate(over="ignore", divide="ignore"):
        y = np.divide(x, _F32(p.scale), dtype=_F32)
    return pd.DataFrame({
        "x": x, "x / s": y,
        "blog: code (wraps)": wrapped.astype(np.int64), "blog: x_hat": dequantize(wrapped, p),
        "fixed: code (saturates)": sat.astype(np.int64), "fixed: x_hat": dequantize(sat, p),
    })


def wrap_curve(params: QuantParams | None = None, points: int = 801) -> pd.DataFrame:
    """Codes of a sweep of x from 2 below to 2 beyond the representable range: the sawtooth a
    wrapping cast makes beside the saturating staircase."""
    import pandas as pd

    p = params or blog_params()
    lo, hi = (p.qmin - p.zero_point) * p.scale, (p.qmax - p.zero_point) * p.scale
    span = hi - lo
    x = np.linspace(lo - span, hi + span, points).astype(_F32)
    return pd.DataFrame({"x": x, "wrap": quantize(x, p, overflow="wrap").astype(np.int64),
                         "saturate": quantize(x, p).astype(np.int64)})


@dataclass(frozen=True)
class HistogramLesson:
    num_bins: int
    lo: float
    hi: float
    width: float
    out_of_range: int  # elements whose unclamped index is num_bins (or more)
    table: pd.DataFrame  # a few elements: x, raw index, valid?, clamped index, quantlib's code


def histogram_bin_lesson(x: object, num_bins: int = 16) -> HistogramLesson:
    """The blog's bin index ``int((x - min) / width)`` runs to ``num_bins`` at x = max (an
    index past the end of the histogram); quantlib's histogram scheme clamps it to
    ``num_bins - 1``. The table shows min, a middle value, the largest value below max and
    max; ``out_of_range`` counts the tensor's elements that would index past the end."""
    import pandas as pd

    from ..binning import histogram_quantize

    x = as_float_array(x)
    num_bins = check_num_bins(num_bins)
    flat = x.ravel()
    lo, hi = float(flat.min()), float(flat.max())
    w = (hi - lo) / num_bins
    if w == 0:
        raw = np.zeros(flat.size, dtype=np.int64)
    else:
        raw = np.floor((flat.astype(np.float64) - lo) / w).astype(np.int64)
    codes = histogram_quantize(x, num_bins)[0].ravel()
    middle = int(np.argpartition(flat, flat.size // 2)[flat.size // 2])
    below = np.where(flat < hi, flat, -np.inf)
    below_max = int(np.argmax(below)) if np.isfinite(below.max()) else int(np.argmin(flat))
    picks = list(dict.fromkeys([int(np.argmin(flat)), middle, below_max, int(np.argmax(flat))]))
    table = pd.DataFrame({
        "index": picks,
        "x": flat[picks],
        "blog: bin index": raw[picks],
        "blog: inside the histogram?": [bool(0 <= raw[k] < num_bins) for k in picks],
        "fixed: clamped index": np.clip(raw[picks], 0, num_bins - 1),
        "quantlib histogram code": codes[picks].astype(np.int64),
    })
    return HistogramLesson(num_bins, lo, hi, w, int(np.count_nonzero(raw >= num_bins)), table)


def asymmetric_lesson(weights: object, activations: object, bits: int = 8) -> pd.DataFrame:
    """"Asymmetric" is not "weights and activations get different scales".

    Every tensor gets its own scale in both schemes; asymmetric means a zero-point that
    shifts the grid off centre, so a one-sided range (post-ReLU activations) uses every
    code. One row per (tensor, scheme): scale, zero-point, code range, levels used of those
    available, SQNR.
    """
    import pandas as pd

    bits = check_bits(bits, symmetric=True)  # the symmetric scheme is one of the two
    rows = []
    for name, t in (("weights", weights), ("activations", activations)):
        t = as_float_array(t)
        for scheme in ("symmetric", "asymmetric"):
            r = Quantizer(scheme, bits=bits)(t)
            m = r.metrics(t)
            p = r.params
            rows.append({"tensor": name, "range": f"[{num(t.min())}, {num(t.max())}]", "scheme": scheme,
                         "scale": float(p.scale), "zero-point": int(p.zero_point), "codes": f"[{p.qmin}, {p.qmax}]",
                         "levels used": m.levels_used, "levels available": p.qmax - p.qmin + 1, "SQNR dB": m.sqnr_db})
    return pd.DataFrame(rows)
