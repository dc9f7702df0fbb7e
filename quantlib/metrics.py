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


def metrics(
    x: object,
    xhat: object,
    params: QuantParams | None = None,
    *,
    codes: np.ndarray | None = None,
    num_bins: int = 256,
) -> Metrics:
    """All metrics of :class:`Metrics` for ``x`` and its reconstruction ``xhat`` (same shape).

    ``codes`` (optional) makes ``levels_used`` / ``code_entropy_bits`` exact and fast; without
    them the distinct values of ``xhat`` are counted. Without ``params`` nothing counts as
    clipped (clip_ratio 0, all error is rounding) and ``bits_per_element`` is NaN.
    """
    x = as_float_array(x, "x")
    xhat = as_float_array(xhat, "xhat")
    if x.shape != xhat.shape:
        raise ValueError(f"x and xhat must have the same shape, got {x.shape} and {xhat.shape}")
    num_bins = check_num_bins(num_bins)
    n = x.size
    if _kernels.usable(x) and _kernels.usable(xhat):
        total, sig, sig_h, cross, abs_sum, max_err = _kernels.error_sums(x, xhat)
    else:
        xd, hd = x.astype(np.float64).ravel(), xhat.astype(np.float64).ravel()
        e = xd - hd
        total, sig, sig_h, cross = float(e @ e), float(xd @ xd), float(hd @ hd), float(xd @ hd)
        abs_sum, max_err = float(np.abs(e).sum()), float(np.abs(e).max())
    if params is not None:
        mask = clip_mask(x, params)
        clipped = np.count_nonzero(mask)
        ec = x[mask].astype(np.float64) - xhat[mask] if clipped else np.zeros(0)
        clip_sum = float(ec @ ec)
        clip_ratio = clipped / n
    else:
        clip_sum, clip_ratio = 0.0, 0.0
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
    peak = float(max(abs(float(x.max())), abs(float(x.min())))) ** 2

    lo = float(min(x.min(), xhat.min()))
    hi = float(max(x.max(), xhat.max()))
    if hi > lo:
        px, ph = uniform_histogram(x, num_bins, lo, hi)[0], uniform_histogram(xhat, num_bins, lo, hi)[0]
        p = px / n + 1e-10
        q = ph / n + 1e-10
        p /= p.sum()
        q /= q.sum()
        kl = float(np.sum(p * np.log(p / q)))
    else:
        kl = 0.0

    if codes is not None:
        c = np.asarray(codes).ravel().astype(np.int64)
        counts = np.bincount(c - c.min())
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
