"""Histograms with the bin-edge rules of the toolkits we mirror.

* :func:`histc` — ``torch.histc``: bin = int(fl32((x - lo) * bins) / fl32(hi - lo)), the last
  edge inclusive; values outside [lo, hi] are ignored.
* :func:`uniform_histogram` — ``np.histogram`` with ``bins`` equal bins over a range: edges
  from ``np.linspace`` in float64 cast to the data's dtype, each value placed by comparing it
  to those edges (the rule onnxruntime's calibrators inherit).
* :func:`torch_linspace` — ``torch.linspace(lo, hi, n)`` for float32 output (x86 AVX2 kernel).
* :func:`fma_f32` — a float32 fused multiply-add (one rounding), for kernels that use one.
"""

from __future__ import annotations

import numpy as np

from . import _kernels

_F32 = np.float32


def histc(x: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Counts (int64) exactly as ``torch.histc(x, bins, min=lo, max=hi)`` on float32 data.

    Degenerate range (lo == hi): torch widens it to [lo - 1, hi + 1]; so do we.
    """
    lo32, hi32 = _F32(lo), _F32(hi)
    if lo32 == hi32:
        lo32, hi32 = lo32 - _F32(1), hi32 + _F32(1)
    x = np.asarray(x, dtype=_F32)
    if _kernels.usable(x):
        return _kernels.histc(x, bins, lo32, hi32)
    x = x.ravel()
    inside = (x >= lo32) & (x <= hi32)
    if not inside.all():
        x = x[inside]
    pos = (x - lo32) * _F32(bins)
    pos /= hi32 - lo32
    idx = pos.astype(np.int64)
    np.minimum(idx, bins - 1, out=idx)
    return np.bincount(idx, minlength=bins)


def fma_f32(a: np.ndarray | float, b: np.ndarray | float, c: np.ndarray | float) -> np.ndarray:
    """``fl32(a * b + c)`` with a single rounding, as a fused multiply-add instruction gives,
    for float32 ``a``, ``b``, ``c`` (any broadcastable shapes).

    The product of two float32 values is exact in float64; the float64 sum is then rounded
    to odd (TwoSum error term; an inexact result with an even last bit moves one ulp towards
    the error), and a round-to-odd value with >= 2 spare bits rounds to float32 exactly as
    the exact sum would.
    """
    p = np.multiply(np.asarray(a, dtype=_F32), np.asarray(b, dtype=_F32), dtype=np.float64)
    c = np.asarray(c, dtype=_F32).astype(np.float64)
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    nudge = (err != 0) & ((np.ascontiguousarray(s).view(np.int64) & 1) == 0)
    s = np.where(nudge, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)
    with np.errstate(over="ignore"):
        return s.astype(_F32)


def torch_linspace(lo: float, hi: float, n: int) -> np.ndarray:
    """float32 values equal to ``torch.linspace(lo, hi, n)`` on x86-64 CPUs with AVX2/AVX-512.

    ATen's CPU kernel: float32 ``step = (hi - lo) / (n - 1)``; the first ``n // 2`` values
    are ``lo + step * i``, the rest ``hi - step * (n - 1 - i)``. ATen's AVX2/AVX-512 builds
    contract each of those into one fused multiply-add (one rounding), which is what we
    compute. (torch's non-vectorised "DEFAULT" build rounds the product first and can
    differ by one ulp.)
    """
    lo32, hi32 = _F32(lo), _F32(hi)
    if n == 1:
        return np.array([lo32], dtype=_F32)
    step = (hi32 - lo32) / _F32(n - 1)
    i = np.arange(n)
    first = fma_f32(step, i.astype(_F32), lo32)
    second = fma_f32(-step, (n - 1 - i).astype(_F32), hi32)
    return np.where(i < n // 2, first, second)


def uniform_histogram(x: np.ndarray, bins: int, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(x, bins, range=(lo, hi))`` — counts and edges, same edges and same bin of every value.

    With ``lo``/``hi`` None the data's own min and max are used, as ``np.histogram`` does.
    """
    x = np.asarray(x)
    rng = None if lo is None else (lo, hi)
    if x.dtype == _F32 and (rng is not None and float(hi) - float(lo) > float(np.finfo(_F32).max)):
        x = x.astype(np.float64)  # a span past float32's largest (data near +-3.4e38): x - lo overflows in float32
    try:
        if _kernels.usable(x):
            edges = np.histogram_bin_edges(x, bins=bins, range=rng)
            return _kernels.histogram_edges(x, edges), edges
        return np.histogram(x.ravel(), bins=bins, range=rng)
    except (ValueError, IndexError):
        # "Too many bins for data range": float32 cannot split a range a few ulps wide into
        # `bins` distinct edges; float64 edges can (numpy itself would refuse here). IndexError:
        # numpy's float32 arithmetic overflowed on a data span past float32's largest.
        return np.histogram(x.astype(np.float64).ravel(), bins=bins, range=rng)
