"""Fused, multi-threaded kernels for the hot paths (numba), with exact numpy fallbacks.

Each kernel does in one pass over the data what the numpy path does in several, with the
same float32 operations in the same order, so results are bit-identical (the reference
tests run through these kernels). ``AVAILABLE`` is False when numba cannot be imported;
callers then use their numpy code.

* ``quantize_*``: q = clamp(rint(x op m) [+ z], qmin, qmax) for per-tensor params.
  ``fma`` evaluates ``x * m + z`` with one rounding (LLVM contraction, as the FBGEMM kernel
  torch's quantize_per_tensor runs) — the only kernel compiled with ``contract``.
* ``fake_*``: the same, then dequantized in the same pass.
* ``histc``: torch.histc's bin rule; ``histogram_edges``: np.histogram's (guess from the
  bin width, then corrected against the real edges, exactly as numpy does).
* ``error_sums``: the sums behind mse / sqnr / cosine / mae / max error / clipping split.
"""

from __future__ import annotations

import os

import numpy as np

try:  # numba is optional: everything has a numpy path
    if os.environ.get("QUANTLIB_NO_NUMBA"):
        raise ImportError("disabled by QUANTLIB_NO_NUMBA")
    import numba as nb

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised with QUANTLIB_NO_NUMBA=1
    nb = None
    AVAILABLE = False

MIN_SIZE = 2**15  # below this the numpy path is as fast and needs no compilation


if AVAILABLE:
    _opts = dict(parallel=True, cache=True, nogil=True)

    @nb.njit(**_opts)
    def _quantize_divide(x, m, zp, lo, hi, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] / m)
            r = min(max(r, lo), hi)
            out[i] = np.int64(r) + zp

    @nb.njit(**_opts)
    def _quantize_multiply(x, m, zp, lo, hi, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] * m)
            r = min(max(r, lo), hi)
            out[i] = np.int64(r) + zp

    @nb.njit(fastmath={"contract"}, **_opts)
    def _quantize_fma(x, m, zpf, lo, hi, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] * m + zpf)
            r = min(max(r, lo), hi)
            out[i] = np.int64(r)

    @nb.njit(**_opts)
    def _fake_divide(x, m, lo, hi, s, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] / m)
            out[i] = min(max(r, lo), hi) * s

    @nb.njit(**_opts)
    def _fake_multiply(x, m, lo, hi, s, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] * m)
            out[i] = min(max(r, lo), hi) * s

    @nb.njit(**_opts)
    def _fake_amax(x, m, lo, hi, d, out):  # pragma: no cover - compiled
        for i in nb.prange(x.size):
            r = np.rint(x[i] * m)
            out[i] = min(max(r, lo), hi) / d

    @nb.njit(**_opts)
    def _histc(x, bins, lo, hi, nchunks):  # pragma: no cover - compiled
        width = hi - lo
        fb = np.float32(bins)
        local = np.zeros((nchunks, bins), dtype=np.int64)
        step = (x.size + nchunks - 1) // nchunks
        for c in nb.prange(nchunks):
            for i in range(c * step, min(x.size, (c + 1) * step)):
                v = x[i]
                if v >= lo and v <= hi:
                    pos = (v - lo) * fb
                    pos = pos / width
                    k = np.int64(pos)
                    if k > bins - 1:
                        k = bins - 1
                    local[c, k] += 1
        return local.sum(axis=0)

    @nb.njit(**_opts)
    def _histogram_edges(x, edges, first, last, nchunks):  # pragma: no cover - compiled
        n = edges.size - 1
        norm = n / (last - first)
        local = np.zeros((nchunks, n), dtype=np.int64)
        step = (x.size + nchunks - 1) // nchunks
        for c in nb.prange(nchunks):
            for i in range(c * step, min(x.size, (c + 1) * step)):
                v = np.float64(x[i])
                if v < first or v > last:
                    continue
                k = np.int64((v - first) * norm)
                if k >= n:
                    k = n - 1
                if v < edges[k]:
                    k -= 1
                elif k != n - 1 and v >= edges[k + 1]:
                    k += 1
                local[c, k] += 1
        return local.sum(axis=0)

    @nb.njit(**_opts)
    def _error_sums(x, xh, nchunks):  # pragma: no cover - compiled
        acc = np.zeros((nchunks, 6))
        step = (x.size + nchunks - 1) // nchunks
        for c in nb.prange(nchunks):
            se = 0.0
            sx = 0.0
            sh = 0.0
            sxh = 0.0
            sa = 0.0
            mx = 0.0
            for i in range(c * step, min(x.size, (c + 1) * step)):
                a = np.float64(x[i])
                b = np.float64(xh[i])
                e = a - b
                se += e * e
                sx += a * a
                sh += b * b
                sxh += a * b
                sa += abs(e)
                if abs(e) > mx:
                    mx = abs(e)
            acc[c, 0] = se
            acc[c, 1] = sx
            acc[c, 2] = sh
            acc[c, 3] = sxh
            acc[c, 4] = sa
            acc[c, 5] = mx
        return acc


def _chunks() -> int:
    return max(1, (nb.get_num_threads() if AVAILABLE else 1) * 4)


def _fresh(n: int, dtype: np.dtype) -> np.ndarray:
    """A new output array whose pages are touched once by this thread: first-touch page faults
    taken by several worker threads at once are many times slower on some kernels (measured
    70 ms instead of 7 ms for 64 MB here)."""
    out = np.empty(n, dtype=dtype)
    out.fill(0)
    return out


def usable(x: np.ndarray) -> bool:
    """True when the fused kernels apply: numba present, a large contiguous float32 array."""
    return AVAILABLE and x.size >= MIN_SIZE and x.dtype == np.float32 and x.flags.c_contiguous


def quantize_per_tensor(x: np.ndarray, m: float, zp: int, qmin: int, qmax: int, mode: str, dtype: np.dtype) -> np.ndarray:
    """Codes for per-tensor params; ``mode`` is divide | multiply | fma (see module doc)."""
    flat = x.reshape(-1)
    out = np.empty(flat.size, dtype=dtype)  # 1-2 byte codes: few pages, no first-touch penalty measured
    f32 = np.float32
    if mode == "fma":
        _quantize_fma(flat, f32(m), f32(zp), f32(qmin), f32(qmax), out)
    else:
        kernel = _quantize_divide if mode == "divide" else _quantize_multiply
        kernel(flat, f32(m), np.int64(zp), f32(qmin - zp), f32(qmax - zp), out)
    return out.reshape(x.shape)


def fake_quantize_per_tensor(x: np.ndarray, m: float, zp: int, qmin: int, qmax: int, mode: str, s: float) -> np.ndarray:
    """Dequantized values in one pass: (clamp(rint(x op m)) ) * s, or / m for amax mode."""
    flat = x.reshape(-1)
    out = _fresh(flat.size, np.float32)
    f32 = np.float32
    lo, hi = f32(qmin - zp), f32(qmax - zp)
    if mode == "amax":
        _fake_amax(flat, f32(m), lo, hi, f32(s), out)
    else:
        (_fake_divide if mode == "divide" else _fake_multiply)(flat, f32(m), lo, hi, f32(s), out)
    return out.reshape(x.shape)


def histc(x: np.ndarray, bins: int, lo: np.float32, hi: np.float32) -> np.ndarray:
    return _histc(x.reshape(-1), bins, np.float32(lo), np.float32(hi), _chunks())


def histogram_edges(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _histogram_edges(x.reshape(-1), edges.astype(np.float64), float(edges[0]), float(edges[-1]), _chunks())


def error_sums(x: np.ndarray, xh: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(sum e², sum x², sum x̂², sum x·x̂, sum |e|, max |e|) in float64."""
    acc = _error_sums(x.reshape(-1), xh.reshape(-1), _chunks())
    s = acc.sum(axis=0)
    return float(s[0]), float(s[1]), float(s[2]), float(s[3]), float(s[4]), float(acc[:, 5].max())
