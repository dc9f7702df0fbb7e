"""numba kernels for ggml's K-quants, IQ4 and the min-search block types (see :mod:`.kquants`).

They reproduce ggml's ``ggml-quants.c`` (as built into ggml-base: plain float32 arithmetic, no
fused multiply-add) operation by operation: every intermediate is float32 (``F(...)`` on every
integer and constant that enters a float expression, so that numba never widens to float64),
sums run in ggml's order, ``nearest`` is ggml's ``nearest_int`` (add 1.5 * 2**23 and keep the
integer), ``fp16`` rounds to nearest-even like GGML_FP32_TO_FP16. The search over candidate
scales is sequential per block by nature (each candidate is kept only if it beats the best so
far, with float32 ties), so it is a compiled loop; blocks run in parallel.

Each kernel writes integers and fp16-exact float32 values; :mod:`.kquants` packs them into
ggml's bytes and dequantizes with numpy.

This module is imported on the first call of a ggml kernel (numba is heavy to import).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

F = np.float32
_opts = dict(cache=True, nogil=True)
MAGIC = F(12582912.0)  # 1.5 * 2**23


@nb.njit(**_opts)
def nearest(v):  # pragma: no cover - compiled
    """ggml's nearest_int: round half to even through the float32 sum v + 1.5 * 2**23 (|v| < 2**22)."""
    return np.int64(F(v + MAGIC)) - 12582912


@nb.njit(**_opts)
def fp16(v):  # pragma: no cover - compiled
    """float32 -> nearest float16 (ties to even) -> float32, +-inf past 65504 (65520 rounds up)."""
    a = abs(np.float64(v))
    if a >= 65520.0:
        return F(np.inf) if v > 0 else F(-np.inf)
    if a < 2.0**-14:
        q = 2.0**-24
    else:
        m, e = math.frexp(a)
        q = math.ldexp(1.0, e - 11)
    r = np.rint(a / q) * q
    return F(r) if v >= 0 else F(-r)


@nb.njit(**_opts)
def make_qkx(n, nmax, x, w, L, Laux, rmin, rdelta, nstep, use_mad):  # pragma: no cover - compiled
    """make_qkx2_quants / make_qkx3_quants with weights: (scale, the_min >= 0); L gets the codes."""
    mn = x[0]
    mx = x[0]
    sum_w = w[0]
    sum_x = sum_w * x[0]
    for i in range(1, n):
        if x[i] < mn:
            mn = x[i]
        if x[i] > mx:
            mx = x[i]
        sum_w += w[i]
        sum_x += w[i] * x[i]
    if mn > 0:
        mn = F(0)
    if mx <= mn:
        for i in range(n):
            L[i] = 0
        return F(0), -mn
    iscale = F(nmax) / (mx - mn)
    scale = F(1) / iscale
    best = F(0)
    for i in range(n):
        l = nearest(iscale * (x[i] - mn))
        l = max(0, min(nmax, l))
        L[i] = l
        diff = scale * F(l) + mn - x[i]
        diff = abs(diff) if use_mad else diff * diff
        best += w[i] * diff
    if nstep < 1:
        return scale, -mn
    for step in range(nstep + 1):
        iscale = (rmin + rdelta * F(step) + F(nmax)) / (mx - mn)
        sum_l = F(0)
        sum_l2 = F(0)
        sum_xl = F(0)
        for i in range(n):
            l = nearest(iscale * (x[i] - mn))
            l = max(0, min(nmax, l))
            Laux[i] = l
            fl = F(l)
            sum_l += w[i] * fl
            sum_l2 += w[i] * fl * fl
            sum_xl += w[i] * fl * x[i]
        D = sum_w * sum_l2 - sum_l * sum_l
        if D > 0:
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            if this_min > 0:
                this_min = F(0)
                this_scale = sum_xl / sum_l2
            cur = F(0)
            for i in range(n):
                diff = this_scale * F(Laux[i]) + this_min - x[i]
                diff = abs(diff) if use_mad else diff * diff
                cur += w[i] * diff
            if cur < best:
                for i in range(n):
                    L[i] = Laux[i]
                best = cur
                scale = this_scale
                mn = this_min
    return scale, -mn


@nb.njit(**_opts)
def make_qp(n, nmax, x, L, qw):  # pragma: no cover - compiled
    """make_qp_quants: a non-negative scale for the values x (sub-block scales or mins), codes in L."""
    mx = F(0)
    for i in range(n):
        mx = max(mx, x[i])
    if mx < F(1e-15):
        for i in range(n):
            L[i] = 0
        return F(0)
    iscale = F(nmax) / mx
    for i in range(n):
        L[i] = nearest(iscale * x[i]) & 0xFF
    scale = F(1) / iscale
    best = F(0)
    for i in range(n):
        diff = x[i] - scale * F(L[i])
        best += qw[i] * diff * diff
    for step in range(-4, 5):
        if step == 0:
            continue
        iscale_is = (F(0.1) * F(step) + F(nmax)) / mx
        scale_is = F(1) / iscale_is
        mse = F(0)
        for i in range(n):
            l = min(nmax, nearest(iscale_is * x[i]))
            diff = x[i] - scale_is * F(l)
            mse += qw[i] * diff * diff
        if mse < best:
            best = mse
            iscale = iscale_is
    sumlx = F(0)
    suml2 = F(0)
    for i in range(n):
        l = min(nmax, nearest(iscale * x[i]))
        L[i] = l & 0xFF
        fl = F(L[i])
        sumlx += qw[i] * x[i] * fl
        suml2 += qw[i] * fl * fl
    for _ in range(5):
        changed = 0
        for i in range(n):
            w = qw[i]
            fl = F(L[i])
            slx = sumlx - w * x[i] * fl
            sl2 = suml2 - w * fl * fl
            if slx > 0 and sl2 > 0:
                new_l = min(nmax, nearest(x[i] * sl2 / slx))
                if new_l != L[i]:
                    fn = F(new_l)
                    slx += w * x[i] * fn
                    sl2 += w * fn * fn
                    if slx * slx * suml2 > sumlx * sumlx * sl2:
                        L[i] = new_l & 0xFF
                        sumlx = slx
                        suml2 = sl2
                        changed += 1
        if not changed:
            break
    return sumlx / suml2 if suml2 > 0 else F(0)


@nb.njit(**_opts)
def make_qx(n, nmax, x, L, qw, use_qw):  # pragma: no cover - compiled
    """make_qx_quants with rmse_type 1 (weights x**2, or the importance qw): signed scale, L = l + nmax."""
    mx = F(0)
    amax = F(0)
    for i in range(n):
        ax = abs(x[i])
        if ax > amax:
            amax = ax
            mx = x[i]
    if amax < F(1e-15):
        for i in range(n):
            L[i] = 0
        return F(0)
    iscale = F(-nmax) / mx
    sumlx = F(0)
    suml2 = F(0)
    for i in range(n):
        l = max(-nmax, min(nmax - 1, nearest(iscale * x[i])))
        L[i] = l + nmax
        w = qw[i] if use_qw else x[i] * x[i]
        fl = F(l)
        sumlx += w * x[i] * fl
        suml2 += w * fl * fl
    scale = sumlx / suml2 if suml2 != 0 else F(0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        iscale = -(F(nmax) + F(0.1) * F(step)) / mx
        sumlx = F(0)
        suml2 = F(0)
        for i in range(n):
            l = max(-nmax, min(nmax - 1, nearest(iscale * x[i])))
            w = qw[i] if use_qw else x[i] * x[i]
            fl = F(l)
            sumlx += w * x[i] * fl
            suml2 += w * fl * fl
        if suml2 > 0 and sumlx * sumlx > best * suml2:
            for i in range(n):
                L[i] = nmax + max(-nmax, min(nmax - 1, nearest(iscale * x[i])))
            scale = sumlx / suml2
            best = scale * sumlx
    return scale


# ------------------------------------------------------------------------------------ Q4_K / Q5_K
@nb.njit(parallel=True, **_opts)
def q45k(x, qw, use_qw, nmax, d, dmin, ls, lm, L):  # pragma: no cover - compiled
    """Q4_K (nmax 15) / Q5_K (31) on super-blocks x (nb, 256): fp16 d, dmin; 6-bit ls, lm (nb, 8); codes L.

    Without importance (quantize_row_q{4,5}_K_ref): weights av_x + |x| per sub-block of 32,
    make_qkx2_quants (rmin -1 / -0.5, step 0.1, 20 / 15 steps), 6-bit scales from max / 63.
    With importance qw (one row of weights per block of a row, qw[i % len(qw)]): weights
    qw * sqrt(sigma2 + x**2), make_qkx3_quants (-0.9, 0.05, 36 steps), make_qp_quants for the
    scales and mins weighted by the sub-blocks' weight sums."""
    nb_ = x.shape[0]
    nqw = qw.shape[0]
    for i in nb.prange(nb_):
        xb = x[i]
        Lb = L[i]
        w = np.empty(32, np.float32)
        Laux = np.empty(32, np.int64)
        Ls = np.empty(32, np.int64)
        scales = np.empty(8, np.float32)
        mins = np.empty(8, np.float32)
        if use_qw:
            q = qw[i % nqw]
            sum_x2 = F(0)
            for l in range(256):
                sum_x2 += xb[l] * xb[l]
            sigma2 = F(2) * sum_x2 / F(256)
            sw = np.empty(8, np.float32)
            for j in range(8):
                s = F(0)
                for l in range(32):
                    v = xb[32 * j + l]
                    w[l] = q[32 * j + l] * F(math.sqrt(sigma2 + v * v))
                for l in range(32):
                    s += w[l]
                sw[j] = s
                sc, mn = make_qkx(32, nmax, xb[32 * j:32 * j + 32], w, Ls, Laux, F(-0.9), F(0.05), 36, False)
                scales[j] = sc
                mins[j] = mn
                for l in range(32):
                    Lb[32 * j + l] = Ls[l]
            t = np.empty(8, np.int64)
            db = make_qp(8, 63, scales, t, sw)
            for j in range(8):
                ls[i, j] = min(63, t[j])
            mb = make_qp(8, 63, mins, t, sw)
            for j in range(8):
                lm[i, j] = min(63, t[j])
            d[i] = fp16(db)
            dmin[i] = fp16(mb)
        else:
            rmin = F(-1.0) if nmax == 15 else F(-0.5)
            nstep = 20 if nmax == 15 else 15
            max_scale = F(0)
            max_min = F(0)
            for j in range(8):
                sum_x2 = F(0)
                for l in range(32):
                    sum_x2 += xb[32 * j + l] * xb[32 * j + l]
                av_x = F(math.sqrt(sum_x2 / F(32)))
                for l in range(32):
                    w[l] = av_x + abs(xb[32 * j + l])
                sc, mn = make_qkx(32, nmax, xb[32 * j:32 * j + 32], w, Ls, Laux, rmin, F(0.1), nstep, False)
                scales[j] = sc
                mins[j] = mn
                for l in range(32):
                    Lb[32 * j + l] = Ls[l]
                if sc > max_scale:
                    max_scale = sc
                if mn > max_min:
                    max_min = mn
            inv_scale = F(63) / max_scale if max_scale > 0 else F(0)
            inv_min = F(63) / max_min if max_min > 0 else F(0)
            for j in range(8):
                ls[i, j] = min(63, nearest(inv_scale * scales[j]) & 0xFF)
                lm[i, j] = min(63, nearest(inv_min * mins[j]) & 0xFF)
            d[i] = fp16(max_scale / F(63))
            dmin[i] = fp16(max_min / F(63))
        for j in range(8):
            dd = d[i] * F(ls[i, j])
            if dd == 0:
                continue
            dm = dmin[i] * F(lm[i, j])
            for l in range(32):
                Lb[32 * j + l] = max(0, min(nmax, nearest((xb[32 * j + l] + dm) / dd)))


# ------------------------------------------------------------------------------------------ Q6_K
@nb.njit(parallel=True, **_opts)
def q6k(x, qw, use_qw, d, sc, L):  # pragma: no cover - compiled
    """Q6_K on super-blocks (nb, 256): make_qx_quants(16, 32) per sub-block of 16, then int8 scales
    nearest(-128 / max_scale * scale) (max_scale: the scale of largest magnitude), fp16 d = max_scale / -128."""
    nb_ = x.shape[0]
    nqw = qw.shape[0]
    for i in nb.prange(nb_):
        xb = x[i]
        Lb = L[i]
        scales = np.empty(16, np.float32)
        Ls = np.empty(16, np.int64)
        max_scale = F(0)
        max_abs = F(0)
        for ib in range(16):
            s = make_qx(16, 32, xb[16 * ib:16 * ib + 16], Ls, qw[i % nqw][16 * ib:16 * ib + 16], use_qw)
            scales[ib] = s
            for l in range(16):
                Lb[16 * ib + l] = Ls[l]
            if abs(s) > max_abs:
                max_abs = abs(s)
                max_scale = s
        if max_abs < F(1e-15):
            d[i] = F(0)
            for ib in range(16):
                sc[i, ib] = 0
            for l in range(256):
                Lb[l] = 0
            continue
        iscale = F(-128) / max_scale
        d[i] = fp16(F(1) / iscale)
        for ib in range(16):
            sc[i, ib] = min(127, nearest(iscale * scales[ib]))
        for j in range(16):
            dd = d[i] * F(sc[i, j])
            if dd == 0:
                continue
            for l in range(16):
                Lb[16 * j + l] = max(-32, min(31, nearest(xb[16 * j + l] / dd))) + 32


# ----------------------------------------------------------------------- Q5_1 / Q4_1 importance
@nb.njit(parallel=True, **_opts)
def qx1_weighted(x, qw, sigma2, rows_blocks, nmax, d, m, L):  # pragma: no cover - compiled
    """quantize_row_q{4,5}_1_impl: blocks of 32, weights qw * sqrt(sigma2_row + x**2), make_qkx3_quants
    (-0.9, 0.05, 36 steps); fp16 d and m = -min. ``rows_blocks``: blocks per row (for qw and sigma2)."""
    for i in nb.prange(x.shape[0]):
        xb = x[i]
        r = i // rows_blocks
        q = qw[i % rows_blocks]
        w = np.empty(32, np.float32)
        Laux = np.empty(32, np.int64)
        Ls = np.empty(32, np.int64)
        for l in range(32):
            w[l] = q[l] * F(math.sqrt(sigma2[r] + xb[l] * xb[l]))
        s, mn = make_qkx(32, nmax, xb, w, Ls, Laux, F(-0.9), F(0.05), 36, False)
        d[i] = fp16(s)
        m[i] = fp16(-mn)
        for l in range(32):
            L[i, l] = Ls[l]


@nb.njit(**_opts)
def row_sigma2(x, scale):  # pragma: no cover - compiled
    """sum of x**2 over each row, in order, times ``scale`` (as ggml's sigma2 = sum_x2 / n_per_row, or 2 * ... / n)."""
    out = np.empty(x.shape[0], np.float32)
    for r in range(x.shape[0]):
        s = F(0)
        for v in x[r]:
            s += v * v
        out[r] = s / scale
    return out
