"""Error metrics between a tensor and its quantized reconstruction.

With ``e = x - x_hat`` and ``N`` elements:

* ``mse = mean(e**2)``, ``rmse``, ``mae = mean(|e|)``, ``max_abs_error = max|e|``;
* ``sqnr_db = 10 log10(sum(x**2) / sum(e**2))`` — +inf when e == 0; -inf when x == 0
  everywhere but e is not;
* ``psnr_db = 10 log10(max|x|**2 / mse)``;
* ``cosine_similarity = <x, x_hat> / (|x| |x_hat|)`` (1.0 when both are all zero);
* ``kl_divergence``: KL(P || Q) in nats between histograms of x and x_hat on shared bins
  (``num_bins`` over [min, max] of both), each smoothed with 1e-10 so empty bins stay finite;
* ``clip_ratio``: share of elements outside the representable range extended by half a
  step, [(qmin - z - 1/2) s, (qmax - z + 1/2) s] (needs ``params``);
* ``clipping_mse`` + ``rounding_mse`` = ``mse`` exactly: the squared error of clipped
  elements and of the rest, each divided by N;
* ``levels_used`` (distinct codes, or distinct values of x_hat), ``code_entropy_bits``
  (Shannon entropy of the code histogram — what an ideal entropy coder would need);
* ``bits_per_element``: code bits plus the scale (32 bits) and zero-point overhead per group.

The summaries behind them are public so a caller drawing them computes each once:
:func:`value_histograms` (the KL histograms, also the distribution plot), :func:`code_counts`
(the code histogram), :func:`mse_sqnr` (two metrics for curves of many points).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._checks import as_float_array, check_num_bins
from . import _kernels
from .histograms import uniform_histogram
from .params import QuantParams, blocks, broadcastable


@dataclass(frozen=True)
class Metrics:
    mse: float
    rmse: float
    mae: float
    max_abs_error: float
    sqnr_db: float
    psnr_db: float
    cosine_similarity: float
    kl_divergence: float
    clip_ratio: float
    clipping_mse: float
    rounding_mse: float
    levels_used: int
    code_entropy_bits: float
    bits_per_element: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def __getitem__(self, key: str) -> float:
        return getattr(self, key)


def _db(num: float, den: float) -> float:
    """10 log10(num / den); +inf for a perfect reconstruction (den == 0), -inf when num == 0."""
    if den == 0:
        return float("inf")
    if num == 0:
        return float("-inf")
    return float(10.0 * np.log10(num / den))


def clip_mask(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """True where ``x`` lies beyond half a step outside the representable range."""
    xb, restore = blocks(x, params.axis, params.group_size)
    s = broadcastable(np.asarray(params.scale, dtype=np.float64), x.ndim, params.axis, params.group_size)
    z = broadcastable(np.asarray(params.zero_point, dtype=np.float64), x.ndim, params.axis, params.group_size)
    lo = (params.qmin - z - 0.5) * s
    hi = (params.qmax - z + 0.5) * s
    return restore((xb < lo) | (xb > hi))


def bits_per_element(params: QuantParams, size: int) -> float:
    """Code bits + per-group overhead: 32-bit scale, and the zero-point's bits when it is not 0."""
    groups = int(np.size(params.scale))
    zp_bits = 0 if np.all(np.asarray(params.zero_point) == 0) else params.bits
    return params.bits + groups * (32 + zp_bits) / size


_COUNT_SLICE = 2**20


def code_counts(codes: object) -> tuple[int, np.ndarray]:
    """``(first, counts)``: the smallest code and how many elements hold each code from it to
    the largest (int64). Counted in slices, so 16 M codes need no 128 MB int64 copy."""
    flat = np.asarray(codes).ravel()
    first = int(flat.min())
    counts = np.zeros(int(flat.max()) - first + 1, dtype=np.int64)
    for i in range(0, flat.size, _COUNT_SLICE):
        part = flat[i : i + _COUNT_SLICE].astype(np.int64)
        part -= first
        counts += np.bincount(part, minlength=counts.size)
    return first, counts


def _pair(x: object, xhat: object) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(x, "x")
    xhat = as_float_array(xhat, "xhat")
    if x.shape != xhat.shape:
        raise ValueError(f"x and xhat must have the same shape, got {x.shape} and {xhat.shape}")
    return x, xhat


def _sums(x: np.ndarray, xhat: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(sum e², sum x², sum x̂², sum x·x̂, sum |e|, max |e|) in float64."""
    if _kernels.usable(x) and _kernels.usable(xhat):
        return _kernels.error_sums(x, xhat)
    xd, hd = x.astype(np.float64).ravel(), xhat.astype(np.float64).ravel()
    e = xd - hd
    return float(e @ e), float(xd @ xd), float(hd @ hd), float(xd @ hd), float(np.abs(e).sum()), float(np.abs(e).max())


def _clipped(x: np.ndarray, xhat: np.ndarray, params: QuantParams | None,
             clipped: np.ndarray | None = None) -> tuple[int, float]:
    """(elements clipped, their sum of squared errors): those of the mask ``clipped`` when given, else
    :func:`clip_mask` of ``params``; nothing is clipped without either."""
    if clipped is not None:
        mask = np.asarray(clipped, bool).reshape(x.shape)
    elif params is None:
        return 0, 0.0
    else:
        mask = clip_mask(x, params)
    clipped = np.count_nonzero(mask)
    ec = x[mask].astype(np.float64) - xhat[mask] if clipped else np.zeros(0)
    return clipped, float(ec @ ec)


def mse_sqnr(x: object, xhat: object, params: QuantParams | None = None) -> tuple[float, float]:
    """``(mse, sqnr_db)`` exactly as :func:`metrics` gives them, without its histograms and code
    statistics: for curves that draw only these two."""
    x, xhat = _pair(x, xhat)
    total, sig = _sums(x, xhat)[:2]
    clip_sum = _clipped(x, xhat, params)[1]
    return clip_sum / x.size + (total - clip_sum) / x.size, _db(sig, total)


@dataclass(frozen=True)
class ValueHistograms:
    """Counts of x and of x_hat on the same ``edges``: equal bins over [lo, hi], the span of
    both (a zero span is widened to ±0.5), placed by ``np.histogram``'s rule."""

    lo: float
    hi: float
    edges: np.ndarray
    x: np.ndarray
    xhat: np.ndarray


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is, for every place that names it: a short ``label`` with its ``unit``, one plain
    ``sentence`` and its ``formula`` (LaTeX; x the tensor, x̂ its reconstruction, N elements)."""

    label: str
    unit: str
    sentence: str
    formula: str

    def title(self) -> str:
        """The label with its unit, as an axis or column title: "SQNR (dB)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def help(self) -> str:
        """The sentence and the formula, as a tooltip (Markdown with inline LaTeX)."""
        return f"{self.sentence} ${self.formula}$"


#: Every metric of :class:`Metrics` by its field name.
METRIC_INFO: dict[str, MetricInfo] = {
    "mse": MetricInfo("MSE", "", "Mean squared error: the average of the squared differences between the "
                      "tensor and its reconstruction. Lower is better.", r"\tfrac1N\sum_i (x_i-\hat x_i)^2"),
    "rmse": MetricInfo("RMSE", "", "Root of the mean squared error, in the tensor's own units.",
                       r"\sqrt{\mathrm{MSE}}"),
    "mae": MetricInfo("MAE", "", "Mean absolute error.", r"\tfrac1N\sum_i |x_i-\hat x_i|"),
    "max_abs_error": MetricInfo("max error", "", "The largest absolute error of any element.",
                                r"\max_i |x_i-\hat x_i|"),
    "sqnr_db": MetricInfo("SQNR", "dB", "Signal-to-quantization-noise ratio: the tensor's power over the "
                          "error's, in decibels. Higher is better; one more bit adds about 6 dB.",
                          r"10\log_{10}\frac{\sum_i x_i^2}{\sum_i (x_i-\hat x_i)^2}"),
    "psnr_db": MetricInfo("PSNR", "dB", "Peak signal-to-noise ratio: the largest squared value over the MSE, "
                          "in decibels.", r"10\log_{10}\frac{\max_i x_i^2}{\mathrm{MSE}}"),
    "cosine_similarity": MetricInfo("cosine", "", "Cosine of the angle between the tensor and its "
                                    "reconstruction as vectors: 1 when they point the same way.",
                                    r"\frac{\langle x, \hat x\rangle}{\lVert x\rVert\,\lVert \hat x\rVert}"),
    "kl_divergence": MetricInfo("KL divergence", "nats", "How far the histogram of the reconstruction is "
                                "from the tensor's (the same bins). Lower is better.",
                                r"\sum_b P_b \ln \frac{P_b}{Q_b}"),
    "clip_ratio": MetricInfo("clipped", "share", "The share of elements beyond the grid's ends by more than "
                             "half a step: their codes were clamped.",
                             r"\tfrac1N\,\#\{i : x_i \text{ beyond the clip thresholds}\}"),
    "clipping_mse": MetricInfo("clipping MSE", "", "The part of the MSE that comes from clipped elements.",
                               r"\tfrac1N\sum_{i\ \mathrm{clipped}} (x_i-\hat x_i)^2"),
    "rounding_mse": MetricInfo("rounding MSE", "", "The part of the MSE that comes from rounding the "
                               "elements inside the range.", r"\tfrac1N\sum_{i\ \mathrm{not\ clipped}} (x_i-\hat x_i)^2"),
    "levels_used": MetricInfo("levels used", "", "How many distinct codes the tensor uses.",
                              r"\#\{q_i\}"),
    "code_entropy_bits": MetricInfo("code entropy", "bits", "The Shannon entropy of the codes' histogram: "
                                    "the bits per element an ideal entropy coder would need.",
                                    r"-\sum_q p_q \log_2 p_q"),
    "bits_per_element": MetricInfo("bits per element", "bits", "What each element costs: its code plus its "
                                   "share of every stored scale, zero-point and codebook.",
                                   r"b + \tfrac{\text{bits of scales and zero-points}}{N}"),
}


def value_histograms(x: object, xhat: object, num_bins: int = 256,
                     value_range: tuple[float, float] | None = None) -> ValueHistograms:
    """The histograms behind :func:`metrics`' KL divergence and the original-vs-dequantized
    plot; compute them once and hand them to both. ``value_range``: bin [lo, hi] only (a
    zoomed plot; values outside are not counted), instead of the span of both."""
    x, xhat = _pair(x, xhat)
    if value_range is None:
        lo, hi = float(min(x.min(), xhat.min())), float(max(x.max(), xhat.max()))
    else:
        lo, hi = map(float, value_range)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ValueError(f"value_range must be finite (lo, hi) with lo <= hi, got {value_range!r}")
    return _value_histograms(x, xhat, check_num_bins(num_bins), lo, hi)


def _value_histograms(x: np.ndarray, xhat: np.ndarray, num_bins: int, lo: float, hi: float) -> ValueHistograms:
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = uniform_histogram(x, num_bins, lo, hi)
    return ValueHistograms(lo, hi, edges, counts, uniform_histogram(xhat, num_bins, lo, hi)[0])


def metrics(
    x: object,
    xhat: object,
    params: QuantParams | None = None,
    *,
    codes: np.ndarray | None = None,
    num_bins: int = 256,
    histograms: ValueHistograms | None = None,
    clipped: np.ndarray | None = None,
) -> Metrics:
    """All metrics of :class:`Metrics` for ``x`` and its reconstruction ``xhat`` (same shape).

    ``codes`` (optional) makes ``levels_used`` / ``code_entropy_bits`` exact and fast; without
    them the distinct values of ``xhat`` are counted. ``clipped``: a boolean mask of the elements
    that clipped, for a scheme whose grid is not affine ``params`` (a block format, a codebook:
    :func:`quantlib.formats.grids.saturation`, which ``QuantResult.metrics`` passes). Without either nothing counts as
    clipped (clip_ratio 0, all error is rounding) and ``bits_per_element`` is NaN.
    ``histograms``: :func:`value_histograms` of the same x, xhat and ``num_bins``, if at hand.
    """
    x, xhat = _pair(x, xhat)
    num_bins = check_num_bins(num_bins)
    if histograms is not None and histograms.x.size != num_bins:
        raise ValueError(f"histograms have {histograms.x.size} bins, num_bins is {num_bins}")
    n = x.size
    total, sig, sig_h, cross, abs_sum, max_err = _sums(x, xhat)
    n_clipped, clip_sum = _clipped(x, xhat, params, clipped)
    clip_ratio = n_clipped / n
    clipping_mse = clip_sum / n
    rounding_mse = (total - clip_sum) / n
    mse = clipping_mse + rounding_mse
    nx, nh = np.sqrt(sig), np.sqrt(sig_h)
    if nx == 0 and nh == 0:
        cosine = 1.0
    elif nx == 0 or nh == 0:
        cosine = 0.0
    else:
        cosine = float(cross / (nx * nh))
    xmin, xmax = x.min(), x.max()
    peak = float(max(abs(float(xmax)), abs(float(xmin)))) ** 2

    lo = float(min(xmin, xhat.min()))
    hi = float(max(xmax, xhat.max()))
    if hi > lo:
        h = histograms if histograms is not None else _value_histograms(x, xhat, num_bins, lo, hi)
        p = h.x / n + 1e-10
        q = h.xhat / n + 1e-10
        p /= p.sum()
        q /= q.sum()
        kl = float(np.sum(p * np.log(p / q)))
    else:
        kl = 0.0

    if codes is not None:
        counts = code_counts(codes)[1]
        counts = counts[counts > 0]
    else:
        _, counts = np.unique(xhat, return_counts=True)
    prob = counts / counts.sum()
    code_entropy = float(-(prob * np.log2(prob)).sum()) + 0.0

    return Metrics(
        mse=mse,
        rmse=float(np.sqrt(mse)),
        mae=abs_sum / n,
        max_abs_error=max_err,
        sqnr_db=_db(sig, total),
        psnr_db=_db(peak, mse),
        cosine_similarity=cosine,
        kl_divergence=kl,
        clip_ratio=clip_ratio,
        clipping_mse=clipping_mse,
        rounding_mse=rounding_mse,
        levels_used=int(counts.size),
        code_entropy_bits=code_entropy,
        bits_per_element=bits_per_element(params, n) if params is not None else float("nan"),
    )


def pareto_front(cost: object, quality: object) -> np.ndarray:
    """Which points are Pareto-optimal when lower ``cost`` and higher ``quality`` are better
    (e.g. bits per element and SQNR): True where no other point has cost <= and quality >=
    with one of them strict. Equal points are all on the front; a point with a NaN cost or
    quality is never on it and dominates none. Compares every pair (meant for tables of tens
    of configurations, not millions of points)."""
    c, q = np.asarray(cost, dtype=np.float64).ravel(), np.asarray(quality, dtype=np.float64).ravel()
    if c.shape != q.shape:
        raise ValueError(f"cost and quality must have the same length, got {c.size} and {q.size}")
    ok = ~(np.isnan(c) | np.isnan(q))
    cj, qj, okj = c[None, :], q[None, :], ok[None, :]
    ci, qi = c[:, None], q[:, None]
    dominated = (okj & (cj <= ci) & (qj >= qi) & ((cj < ci) | (qj > qi))).any(axis=1)
    return ok & ~dominated


def rank_at_cost(cost: object, quality: object, decimals: int = 2) -> np.ndarray:
    """Rank by ``quality`` (1 = highest) among the points whose ``cost`` agrees to ``decimals``
    decimals (bits per element 4.0005 and 4.001 are one cost; 4.25 another): 1 + how many
    points of the same cost have a strictly higher quality, so ties share a rank. NaN
    quality ranks last in its group; a NaN cost forms a group of its own."""
    c = np.round(np.asarray(cost, dtype=np.float64).ravel(), decimals)
    q = np.asarray(quality, dtype=np.float64).ravel()
    if c.shape != q.shape:
        raise ValueError(f"cost and quality must have the same length, got {c.size} and {q.size}")
    q = np.where(np.isnan(q), -np.inf, q)
    same = (c[:, None] == c[None, :]) | (np.isnan(c)[:, None] & np.isnan(c)[None, :])
    return 1 + (same & (q[None, :] > q[:, None])).sum(axis=1)
