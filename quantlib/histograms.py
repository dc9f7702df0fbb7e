"""Histograms with the bin-edge rules of the toolkits we mirror.

* :func:`histc` — ``torch.histc``: bin = int(fl32((x - lo) * bins) / fl32(hi - lo)), the last
  edge inclusive; values outside [lo, hi] are ignored.
* :func:`uniform_histogram` — ``np.histogram`` with ``bins`` equal bins over a range: edges
  from ``np.linspace`` in float64 cast to the data's dtype, each value placed by comparing it
  to those edges (the rule onnxruntime's calibrators inherit).
* :func:`torch_linspace` — ``torch.linspace(lo, hi, n)`` for float32 output.
"""

from __future__ import annotations

import numpy as np

_F32 = np.float32


def histc(x: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Counts (int64) exactly as ``torch.histc(x, bins, min=lo, max=hi)`` on float32 data.

    Degenerate range (lo == hi): torch widens it to [lo - 1, hi + 1]; so do we.
    """
    lo32, hi32 = _F32(lo), _F32(hi)
    if lo32 == hi32:
        lo32, hi32 = lo32 - _F32(1), hi32 + _F32(1)
    x = np.asarray(x, dtype=_F32).ravel()
    inside = (x >= lo32) & (x <= hi32)
    if not inside.all():
        x = x[inside]
    pos = (x - lo32) * _F32(bins)
    pos /= hi32 - lo32
    idx = pos.astype(np.int64)
    np.minimum(idx, bins - 1, out=idx)
    return np.bincount(idx, minlength=bins)


def torch_linspace(lo: float, hi: float, n: int) -> np.ndarray:
    """float32 edges equal to ``torch.linspace(lo, hi, n)`` (float64 step, filled from both ends)."""
    lo64, hi64 = float(_F32(lo)), float(_F32(hi))
    if n == 1:
        return np.array([lo64], dtype=_F32)
    step = (hi64 - lo64) / (n - 1)
    i = np.arange(n)
    return np.where(i < n // 2, lo64 + step * i, hi64 - step * (n - 1 - i)).astype(_F32)


def uniform_histogram(x: np.ndarray, bins: int, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(x, bins, range=(lo, hi))`` — counts and edges, same edges and same bin of every value.

    With ``lo``/``hi`` None the data's own min and max are used, as ``np.histogram`` does.
    """
    x = np.asarray(x).ravel()
    rng = None if lo is None else (lo, hi)
    return np.histogram(x, bins=bins, range=rng)
