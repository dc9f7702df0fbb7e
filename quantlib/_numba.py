"""The numba kernels behind :mod:`quantlib._kernels`, in a module of their own so that numba
is imported (and the kernels compiled, or loaded from numba's on-disk cache) only when the
first large array reaches one of them. Read :mod:`quantlib._kernels` for what each does.

The quantize / fake-quantize kernels also count the non-finite values they meet and return
that count: the input's finite check rides on the same pass instead of a pass of its own
(a NaN or inf element gives an unspecified code, and the caller raises when the count is
not 0, so no such code is ever returned). They convert the clamped float to int32, not int64:
exact for every code range (at most 16 bits), and the conversion AVX2 has as a vector
instruction (float32 -> int64 needs AVX-512DQ; without it LLVM converts one element at a
time, measured 2.3x torch's time instead of 1.4x on 16 M values with AVX-512 switched off).

Each parallel kernel has a serial twin in ``SERIAL`` (the same function compiled without ``parallel``),
which tensors under ``_kernels.MIN_PARALLEL`` values run: they would run on one thread anyway, and a
serial kernel compiles in about half the time, which a fresh install's first page waits for.
"""

from __future__ import annotations

import types

import numba as nb
import numpy as np
from numba.core.registry import CPUDispatcher

_opts = dict(parallel=True, cache=True, nogil=True)


@nb.njit(cache=True, nogil=True)
def _column_sums(acc):  # pragma: no cover - compiled
    """acc.sum(axis=0) in the order numba's own does it (row after row from 0), written out: numba's
    ``sum(axis=...)`` and ``acc[c] = row`` bring their bounds checks and error messages into every
    kernel that uses them, about half of a kernel's compile time (a fresh install compiles them)."""
    out = np.zeros_like(acc[0])
    for c in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            out[j] += acc[c, j]
    return out


@nb.njit(**_opts)
def quantize_divide(x, m, zp, lo, hi, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v / m)
        r = min(max(r, lo), hi)
        out[i] = np.int32(r) + zp
    return bad


@nb.njit(**_opts)
def quantize_multiply(x, m, zp, lo, hi, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v * m)
        r = min(max(r, lo), hi)
        out[i] = np.int32(r) + zp
    return bad


@nb.njit(fastmath={"contract"}, **_opts)
def quantize_fma(x, m, zpf, lo, hi, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v * m + zpf)
        r = min(max(r, lo), hi)
        out[i] = np.int32(r)
    return bad


@nb.njit(**_opts)
def fake_divide(x, m, lo, hi, s, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v / m)
        out[i] = min(max(r, lo), hi) * s
    return bad


@nb.njit(**_opts)
def fake_multiply(x, m, lo, hi, s, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v * m)
        out[i] = min(max(r, lo), hi) * s
    return bad


@nb.njit(**_opts)
def fake_amax(x, m, lo, hi, d, out):  # pragma: no cover - compiled
    bad = 0
    for i in nb.prange(x.size):
        v = x[i]
        if not np.isfinite(v):
            bad += 1
        r = np.rint(v * m)
        out[i] = min(max(r, lo), hi) / d
    return bad


@nb.njit(**_opts)
def histc(x, bins, lo, hi, nchunks):  # pragma: no cover - compiled
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
    return _column_sums(local)


@nb.njit(**_opts)
def histogram_edges(x, edges, first, last, nchunks):  # pragma: no cover - compiled
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
    return _column_sums(local)


@nb.njit(**_opts)
def error_sums(x, xh, nchunks):  # pragma: no cover - compiled
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



@nb.njit(**_opts)
def candidate_sse(x, m, zp, lo, hi, s, mode, nchunks):  # pragma: no cover - compiled
    """Per candidate j: sum over x of (dequantize(quantize(x)) - x)^2 in float64. mode 0: x / m,
    1: x * m, 2 (tensorrt amax): x * m then q / s. ``zp`` is already taken out of lo / hi. The
    candidate loop is innermost: independent sums, so it vectorises across candidates."""
    k = m.size
    acc = np.zeros((nchunks, k))
    step = (x.size + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        a = np.zeros(k)
        for i in range(c * step, min(x.size, (c + 1) * step)):
            v = x[i]
            v64 = np.float64(v)
            if mode == 0:
                for j in range(k):
                    e = np.float64(min(max(np.rint(v / m[j]), lo[j]), hi[j]) * s[j]) - v64
                    a[j] += e * e
            elif mode == 1:
                for j in range(k):
                    e = np.float64(min(max(np.rint(v * m[j]), lo[j]), hi[j]) * s[j]) - v64
                    a[j] += e * e
            else:
                for j in range(k):
                    e = np.float64(min(max(np.rint(v * m[j]), lo[j]), hi[j]) / s[j]) - v64
                    a[j] += e * e
        for j in range(k):
            acc[c, j] = a[j]
    return _column_sums(acc)


@nb.njit(fastmath={"contract"}, **_opts)
def candidate_sse_fma(x, m, zp, lo, hi, s, nchunks):  # pragma: no cover - compiled
    """The same for PyTorch's rounding of fma(x, m, z) (z added before rounding)."""
    k = m.size
    acc = np.zeros((nchunks, k))
    step = (x.size + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        a = np.zeros(k)
        for i in range(c * step, min(x.size, (c + 1) * step)):
            v = x[i]
            v64 = np.float64(v)
            for j in range(k):
                r = min(max(np.rint(v * m[j] + zp[j]), lo[j]), hi[j])
                e = np.float64((r - zp[j]) * s[j]) - v64
                a[j] += e * e
        for j in range(k):
            acc[c, j] = a[j]
    return _column_sums(acc)



@nb.njit(**_opts)
def histogram_sse(centres, counts, scale, zp, qlo, qhi, nchunks):  # pragma: no cover - compiled
    """Per candidate j: sum_b counts[b] * ((clip(rint(c_b / s_j) + z_j, qlo, qhi) - z_j) * s_j - c_b)^2,
    float64 throughout (the histogram MSE calibrator's cost); candidates innermost, so it
    vectorises across them."""
    k = scale.size
    acc = np.zeros((nchunks, k))
    step = (centres.size + nchunks - 1) // nchunks
    for c in nb.prange(nchunks):
        a = np.zeros(k)
        for b in range(c * step, min(centres.size, (c + 1) * step)):
            v = centres[b]
            w = counts[b]
            for j in range(k):
                q = min(max(np.rint(v / scale[j]) + zp[j], qlo), qhi)
                e = (q - zp[j]) * scale[j] - v
                a[j] += w * (e * e)
        for j in range(k):
            acc[c, j] = a[j]
    return _column_sums(acc)


@nb.njit(**_opts)
def bucketize(x, bounds, right, lut, b0, inv_w, out):  # pragma: no cover - compiled
    n = bounds.size
    cells = lut.size
    for i in nb.prange(x.size):
        v = x[i]
        if v != v:  # NaN: no bound compares true, as in the binary search
            out[i] = 0
            continue
        t = (np.float64(v) - b0) * inv_w
        c = cells - 1 if t >= cells else (int(t) if t >= 0 else 0)  # NaN (inf * 0 for one bound) -> 0
        j = lut[c]  # a guess; the two scans below make the answer exact whatever the guess
        if right:
            while j < n and bounds[j] <= v:
                j += 1
            while j > 0 and bounds[j - 1] > v:
                j -= 1
        else:
            while j < n and bounds[j] < v:
                j += 1
            while j > 0 and bounds[j - 1] >= v:
                j -= 1
        out[i] = j


@nb.njit(cache=True, nogil=True)
def lloyd(xd, prefix, c, max_iter):  # pragma: no cover - compiled
    n, k = xd.size, c.size
    cuts = np.zeros(k - 1, np.int64)
    new = np.empty(k - 1, np.int64)
    for it in range(max_iter):
        changed = it == 0
        for j in range(k - 1):  # searchsorted(xd, midpoint, side="right")
            m = (c[j] + c[j + 1]) / 2
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) >> 1
                if xd[mid] <= m:
                    lo = mid + 1
                else:
                    hi = mid
            new[j] = lo
            if lo != cuts[j]:
                changed = True
        if not changed:
            break
        cuts[:] = new
        nxt = np.empty(k)
        for j in range(k):
            lo = 0 if j == 0 else cuts[j - 1]
            hi = n if j == k - 1 else cuts[j]
            count = hi - lo
            if count > 0:
                mean = (prefix[hi] - prefix[lo]) / count
                nxt[j] = min(max(mean, xd[min(lo, n - 1)]), xd[max(hi - 1, 0)])
            else:
                nxt[j] = c[j]
        c = np.sort(nxt)
    return c


def _serial(kernel):
    """``kernel`` compiled without ``parallel`` (its prange loops run as plain loops), under a name of its
    own so that numba caches it apart from the parallel one: the same operations in the same order on
    the same chunks, for tensors that would run on one thread anyway, in about half the compile time."""
    f = kernel.py_func
    twin = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    twin.__qualname__ = twin.__name__ = f"{f.__qualname__}_serial"
    twin.__module__ = f.__module__
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")}
    return nb.njit(cache=True, **options)(twin)


SERIAL = {name: _serial(obj) for name, obj in list(globals().items())
          if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("parallel")}

from ._kernels import guard_parallel  # noqa: E402  (after the kernels it wraps)

guard_parallel(globals())  # launches take turns where numba's threading layer is not thread-safe
