"""Error curves as tidy DataFrames (one row per point), ready for plotting or a table.

* :func:`sweep_bits` — metrics of any registry scheme against the bits per element it costs
  (at each bit width, or its family's points for a fixed-width format), with the 6.02
  dB-per-bit reference line (each extra bit halves the step, quartering the MSE).
* :func:`sweep_threshold` — metrics against the clipping threshold, plus one row per
  calibrator marking the range it picks: the trade-off between clipping and rounding error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._checks import MAX_BITS, MIN_BITS, as_float_array, check_bits, check_int
from ._lazy import pandas as pd
from .calibration import METHODS, calibrate
from .integer import candidate_sse, dequantize, qparams_from_range, quantize
from .metrics import mse_sqnr
from .schemes import SCHEMES, Quantizer

DB_PER_BIT = 20 * np.log10(2)  # 6.0206 dB
METRIC_COLUMNS = ("mse", "sqnr_db", "cosine_similarity", "max_abs_error", "clip_ratio", "clipping_mse", "rounding_mse")


def subsample(x: np.ndarray, max_samples: int | None) -> np.ndarray:
    """A deterministic, evenly strided subsample of at most ``max_samples`` elements (flattened)."""
    flat = x.ravel()
    if max_samples is None or flat.size <= max_samples:
        return flat
    step = flat.size / max_samples
    return flat[(np.arange(max_samples) * step).astype(np.int64)]


#: Values the app's bit curves are estimated on (Explore, Compare): whole rows of a matrix, with its extremes.
CURVE_SAMPLES = 2**18


def structured_sample(x: np.ndarray, max_samples: int | None) -> np.ndarray:
    """About ``max_samples`` values of ``x`` (all of it when it is no larger) that keep what a quantizer
    sees of it, for curves that must stay interactive on large tensors.

    A tensor of 2 or more dimensions keeps whole slices along its first axis (rows: a weight's output
    channels), evenly strided, its shape otherwise whole: a per-channel or per-group scheme meets the
    same channels and blocks as on the whole tensor, and an outlier input column, present in every row,
    stays in. A vector gives an evenly strided subsample. Either way the elements holding the tensor's
    minimum and maximum are always in (their rows, for a matrix, each in place of the strided one nearest
    to it: the sample's size does not change), so a range calibrated on the sample (min–max, the
    threshold sweep's end) is the whole tensor's. Degenerate: a row longer than ``max_samples`` still
    gives one row (two, when the minimum and maximum lie in different rows).
    """
    if max_samples is None or x.size <= max_samples:
        return x
    flat = x.reshape(-1)
    ends = np.array([int(np.argmin(flat)), int(np.argmax(flat))])
    if x.ndim < 2:
        n = max(max_samples, 2)
        return flat[_with(np.arange(n) * (x.size / n), ends)]
    rows, per_row = x.shape[0], x.size // x.shape[0]
    end_rows = np.unique(ends // per_row)
    keep = max(end_rows.size, min(rows, max_samples // per_row))
    return x[_with(np.arange(keep) * (rows / keep), end_rows)]


def _with(strided: np.ndarray, must: np.ndarray) -> np.ndarray:
    """Sorted int64 indices: ``strided`` with each index of ``must`` put in place of the strided index
    nearest to it (so the count stays that of ``strided``; an index already there stays)."""
    idx = strided.astype(np.int64)
    taken = np.zeros(idx.size, bool)  # an index put in for one of ``must`` is not given up for another
    for m in np.unique(must):
        hit = np.flatnonzero(idx == m)
        if hit.size:
            taken[hit] = True
            continue
        free = np.flatnonzero(~taken)
        j = free[int(np.argmin(np.abs(idx[free] - m)))]
        idx[j], taken[j] = m, True
    return np.unique(idx)


def sweep_bits(
    x: object,
    scheme: str = "symmetric",
    bit_widths: Iterable[int] = range(MIN_BITS, MAX_BITS + 1),
    *,
    max_samples: int | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Metrics of ``scheme`` (with ``settings``) against the bits each element costs.

    A scheme whose code width is a setting is run at each width in ``bit_widths`` that its own
    ``bits`` setting allows (1 bit for asymmetric, quantile, Lloyd-Max …, not for symmetric: see
    each spec's ``Setting.min``): one series, named after the scheme. A fixed-width format (nf4, mxfp4, q4_0, fp8 … see
    :attr:`SchemeSpec.fixed_width`) costs what it costs: it is one point, and its series is its
    family — every fixed-width scheme registered under the same ``family``, each at its own
    bits per element with the settings it shares with ``scheme``. Either way the configurations
    of the spec's ``compare_with`` follow, each swept over ``bit_widths`` as a series of its own.

    Columns: series, kind ("swept": a scheme at each width; "point": a fixed-width format),
    scheme, bits (of one code), bits_per_element (scales, zero-points and
    codebooks included: the x a fair comparison uses), the metrics in METRIC_COLUMNS, and
    ``reference_db`` — a 6.02 dB-per-bit line through ``scheme``'s first finite point, against
    bits_per_element (each extra bit halves the step and quarters the MSE).
    ``max_samples`` evaluates on :func:`structured_sample` (None: all of x): an estimate, whole rows of a
    matrix with its extremes in.
    """
    x = as_float_array(x)
    spec = SCHEMES[Quantizer(scheme).name]
    sample = structured_sample(x, max_samples)
    given = spec.validate(settings)
    rows: list[dict[str, Any]] = []
    if spec.fixed_width:
        for name, member in SCHEMES.items():
            if member.family == spec.family and member.fixed_width:
                shared = {k: v for k, v in given.items() if k in {t.name for t in member.settings}}
                try:
                    rows.append(_point(sample, name, member.validate(shared), series_of(name), "point"))
                except ValueError:  # a sibling that cannot take this tensor (e.g. its block layout)
                    continue
        rows.sort(key=lambda r: r["bits_per_element"])
    else:
        rows += _swept(sample, scheme, given, bit_widths, series_of(scheme))
    for name, extra in spec.compare_with(given):
        try:
            other = SCHEMES[name].validate(extra)
        except (KeyError, ValueError):  # a companion that does not take these settings
            continue
        swept = SCHEMES[name].at_bits(8, other)
        rows += _swept(sample, name, other, bit_widths, Quantizer(name, **extra).describe(omit=swept))
    df = pd.DataFrame(rows, columns=["series", "kind", "scheme", "bits", "bits_per_element", *METRIC_COLUMNS])
    finite = df[np.isfinite(df["sqnr_db"]) & (df["scheme"] == spec.name)]
    if len(finite):
        anchor = finite.iloc[0]
        df["reference_db"] = anchor["sqnr_db"] + DB_PER_BIT * (df["bits_per_element"] - anchor["bits_per_element"])
    else:
        df["reference_db"] = np.nan
    return df


def series_of(scheme: str) -> str:
    """The name of the series ``scheme``'s own points have in a :func:`sweep_bits` frame."""
    spec = SCHEMES[Quantizer(scheme).name]
    return f"{spec.family} formats" if spec.fixed_width else spec.name


def _point(sample: np.ndarray, scheme: str, settings: dict[str, Any], series: str, kind: str) -> dict[str, Any]:
    r = Quantizer(scheme, **settings)(sample)
    m = r.metrics(sample).to_dict()
    return {"series": series, "kind": kind, "scheme": scheme, "bits": SCHEMES[scheme].code_bits(settings),
            "bits_per_element": r.bits_per_element, **{k: m[k] for k in METRIC_COLUMNS}}


def _swept(sample: np.ndarray, scheme: str, settings: dict[str, Any], bit_widths: Iterable[int],
           series: str) -> list[dict[str, Any]]:
    spec = SCHEMES[scheme]
    return [_point(sample, scheme, s, series, "swept")
            for s in (_at_bits(spec, check_bits(b), settings) for b in bit_widths) if s is not None]


def _at_bits(spec: Any, bits: int, settings: dict[str, Any]) -> dict[str, Any] | None:
    """``settings`` at ``bits`` bits, or None when the scheme's settings refuse that width (a
    symmetric grid at 1 bit); ``settings`` themselves are already valid, so only the width can fail."""
    try:
        return spec.validate({**settings, **spec.at_bits(bits, settings)})
    except ValueError:
        return None


def sweep_threshold(
    x: object,
    *,
    bits: int = 8,
    symmetric: bool = True,
    convention: str = "quantlib",
    num_points: int = 64,
    num_bins: int | None = None,
    methods: Iterable[str] | None = None,
    max_samples: int | None = 2**18,
    percentile: float | None = None,
) -> pd.DataFrame:
    """Metrics against the clipping threshold, with each calibrator's pick.

    Sweep rows (``kind="sweep"``) shrink the min-max range by t in (0, 1] (``num_points``
    values): [t*min, t*max] (symmetric: [-t*a, t*a]). Pick rows (``kind=<method>``) use the
    range that calibrator chooses (``percentile``: the percentile calibrator's, None: its
    default). ``threshold`` is max(|lo|, |hi|). All rows are exact
    per-tensor quantizations with the convention's own arithmetic, on :func:`structured_sample` of
    about ``max_samples`` values (the tensor's minimum and maximum in); the sweep's candidates are evaluated together
    (:func:`quantlib.integer.candidate_sse`: one fused pass each, nothing of size candidates x n).
    """
    x = as_float_array(x)
    bits = check_bits(bits, symmetric=symmetric)
    num_points = check_int(num_points, "num_points", 2, 4096)
    methods = list(METHODS) if methods is None else list(methods)
    sample = structured_sample(x, max_samples).reshape(-1)  # its ends are the tensor's: the sweep starts there
    lo0, hi0 = float(sample.min()), float(sample.max())
    if symmetric:
        a = max(abs(lo0), abs(hi0))
        lo0, hi0 = -a, a
    t = np.linspace(1.0, 1.0 / num_points, num_points)
    sig = float(np.dot(sample.astype(np.float64), sample.astype(np.float64)))
    los, his = (lo0 * t).astype(np.float32), (hi0 * t).astype(np.float32)
    params = qparams_from_range(los, his, bits=bits, symmetric=symmetric, convention=convention, axis=0)
    mse = candidate_sse(sample, params) / sample.size
    with np.errstate(divide="ignore"):
        sqnr = np.where(mse > 0, 10 * np.log10(sig / np.where(mse > 0, mse, 1) / sample.size), np.inf)
    sweep = pd.DataFrame({"kind": "sweep", "lo": los.astype(np.float64), "hi": his.astype(np.float64), "mse": mse,
                          "sqnr_db": sqnr})
    rows: list[dict[str, Any]] = []
    for m in methods:
        options = {"percentile": percentile} if m == "percentile" and percentile is not None else {}
        lo, hi = calibrate(sample, m, bits=bits, symmetric=symmetric, convention=convention, num_bins=num_bins,
                           **options)
        p = qparams_from_range(lo, hi, bits=bits, symmetric=symmetric, convention=convention)
        mse, sqnr_db = mse_sqnr(sample, dequantize(quantize(sample, p), p), p)
        rows.append({"kind": m, "lo": float(lo), "hi": float(hi), "mse": mse, "sqnr_db": sqnr_db})
    df = pd.concat([sweep, pd.DataFrame(rows)], ignore_index=True) if rows else sweep
    df["threshold"] = np.maximum(df["lo"].abs(), df["hi"].abs())
    return df[["kind", "threshold", "lo", "hi", "mse", "sqnr_db"]]
