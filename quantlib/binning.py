"""Histogram quantization, as the source blog means it — done right.

Each value is replaced by the index of the uniform bin it falls in over the data's range
[min, max] (``num_bins`` bins of width w = (max - min) / num_bins)::

    k = clamp(floor((x - min) / w), 0, num_bins - 1)

and reconstructed at the bin centre ``min + (k + 1/2) w`` or, with ``reconstruction="mean"``,
at the mean of the values that fell in the bin (empty bins keep their centre). The clamp
is the fix for the blog's bug: x = max gives floor(num_bins) = num_bins, one past the last
bin. A constant tensor has w = 0; every value then lands in bin 0 and is reconstructed
exactly.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._checks import as_float_array, check_choice, check_num_bins
from .params import code_dtype

RECONSTRUCTIONS = ("center", "mean")


def histogram_quantize(
    x: object, num_bins: int = 256, reconstruction: Literal["center", "mean"] = "center"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(codes, dequantized, levels, edges)``: bin indices, float32 reconstruction,
    the ``num_bins`` reconstruction values and the ``num_bins + 1`` edges (float64)."""
    x = as_float_array(x)
    num_bins = check_num_bins(num_bins)
    check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    lo, hi = float(x.min()), float(x.max())
    width = (hi - lo) / num_bins
    edges = lo + width * np.arange(num_bins + 1)
    edges[-1] = hi
    if width == 0:
        idx = np.zeros(x.shape, dtype=np.int64)
        levels = np.full(num_bins, lo)
    else:
        idx = np.floor((x.astype(np.float64) - lo) / width).astype(np.int64)
        np.clip(idx, 0, num_bins - 1, out=idx)
        levels = (edges[:-1] + edges[1:]) / 2
        if reconstruction == "mean":
            flat = idx.ravel()
            counts = np.bincount(flat, minlength=num_bins)
            sums = np.bincount(flat, weights=x.ravel().astype(np.float64), minlength=num_bins)
            levels = np.where(counts > 0, sums / np.maximum(counts, 1), levels)
    levels = levels.astype(np.float32)
    return idx.astype(code_dtype(0, num_bins - 1)), levels[idx], levels, edges
