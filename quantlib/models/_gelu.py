"""GELU with the exact erf (what BERT's ``hidden_act="gelu"`` is), as a numba kernel.

numpy has no erf; this module is imported (and the kernel compiled, or loaded from numba's
on-disk cache) only when a transformer forward pass first needs it.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True, nogil=True)
def _gelu(x, out):  # pragma: no cover - compiled
    for i in nb.prange(x.size):
        v = np.float64(x[i])
        out[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))


def gelu(x: np.ndarray) -> np.ndarray:
    """``x * (1 + erf(x / sqrt(2))) / 2`` element-wise, evaluated in float64 and rounded once to
    float32 (within 1 ulp of torch's float32 ``F.gelu``)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty_like(x)
    _gelu(x.reshape(-1), out.reshape(-1))
    return out


from .._kernels import guard_parallel  # noqa: E402  (after the kernels it wraps)

guard_parallel(globals())  # launches take turns where numba's threading layer is not thread-safe
