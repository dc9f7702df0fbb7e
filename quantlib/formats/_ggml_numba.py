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
# error_model='numpy': a float division by zero gives inf / NaN, as in ggml's C, instead of raising
# ZeroDivisionError (a sub-block whose only non-zero value has importance 0 divides by a zero sum).
_opts = dict(cache=True, nogil=True, error_model="numpy")
MAGIC = F(12582912.0)  # 1.5 * 2**23


@nb.njit(**_opts)
def nearest(v):  # pragma: no cover - compiled
    """ggml's nearest_int: the low 23 bits of the float32 v + 1.5 * 2**23, minus 2**22. For |v| < 2**22
    that is v rounded half to even; beyond, and for NaN (0) or inf, the same bits ggml gets."""
    val = F(v + MAGIC)
    if val >= F(8388608.0) and val < F(16777216.0):
        return np.int64(val) - 12582912
    if val != val:
        return 0  # x86's default NaN: mantissa 0x400000
    a = abs(np.float64(val))
    if a == np.inf or a == 0.0:
        return -4194304
    m, e = math.frexp(a)
    return np.int64((2.0 * m - 1.0) * 8388608.0) - 4194304


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
    return F(math.copysign(r, v))  # -0 stays -0 (fp16 0x8000), as ggml stores it


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
        L[i] = l & 0xFF  # ggml's uint8_t L: a negative l (from a negative x) wraps to 256 + l ...
        fl = F(l)  # ... but these two sums take the int l itself; the refinement below reads back L[i]
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
@nb.njit(**_opts)
def k4_scales_as_stored(ls, lm):  # pragma: no cover - compiled
    """quantize_row_q4_K_impl packs make_qp_quants' uint8 codes (0..255) without clamping them to 63:
    scales[j] = ls_j, scales[j + 4] = lm_j (whole bytes, j < 4), then for j >= 4 scales[j + 4] = low
    nibbles of ls_j, lm_j and scales[j - 4], scales[j] |= (ls_j >> 4) << 6, (lm_j >> 4) << 6. A code
    above 63 only arises from a negative sub-block scale (its wrapped uint8): it keeps its low 6 bits,
    and for j < 4 its top two bits also leak into sub-block j + 4's scale. Rewrites ls, lm (8 codes
    each) in place as the 6-bit values get_scale_min_k4 reads back from those bytes, which repack to
    the same bytes."""
    for j in range(4):
        hi_s = ((ls[j] & 0xFF) >> 6) | ((ls[j + 4] >> 4) & 3)  # bits 6-7 of byte j
        hi_m = ((lm[j] & 0xFF) >> 6) | ((lm[j + 4] >> 4) & 3)  # bits 6-7 of byte j + 4
        ls[j + 4] = (ls[j + 4] & 15) | (hi_s << 4)
        lm[j + 4] = (lm[j + 4] & 15) | (hi_m << 4)
        ls[j] = ls[j] & 63
        lm[j] = lm[j] & 63


@nb.njit(parallel=True, **_opts)
def q45k(x, qw, use_qw, nmax, d, dmin, ls, lm, L):  # pragma: no cover - compiled
    """Q4_K (nmax 15) / Q5_K (31) on super-blocks x (nb, 256): fp16 d, dmin; 6-bit ls, lm (nb, 8); codes L.

    Without importance (quantize_row_q{4,5}_K_ref): weights av_x + |x| per sub-block of 32,
    make_qkx2_quants (rmin -1 / -0.5, step 0.1, 20 / 15 steps), 6-bit scales from max / 63.
    With importance qw (one row of weights per block of a row, qw[i % len(qw)]): weights
    qw * sqrt(sigma2 + x**2), make_qkx3_quants (-0.9, 0.05, 36 steps), make_qp_quants for the
    scales and mins weighted by the sub-blocks' weight sums; Q5_K clamps their codes to 63, Q4_K packs
    them as they are (see :func:`k4_scales_as_stored`)."""
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
                ls[i, j] = t[j]
            mb = make_qp(8, 63, mins, t, sw)
            for j in range(8):
                lm[i, j] = t[j]
            if nmax == 31:  # quantize_row_q5_K_impl clamps the uint8 codes to 63 before packing
                for j in range(8):
                    ls[i, j] = min(63, ls[i, j])
                    lm[i, j] = min(63, lm[i, j])
            else:
                k4_scales_as_stored(ls[i], lm[i])
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


# ------------------------------------------------------------------------------------------ Q2_K
@nb.njit(parallel=True, **_opts)
def q2k(x, qw, use_qw, d, dmin, sc, mc, L):  # pragma: no cover - compiled
    """Q2_K on super-blocks (nb, 256): 16 sub-blocks of 16, codes 0..3, 4-bit scale and min codes.

    Reference (no importance): weights |x|, make_qkx2_quants(16, 3, rmin -0.5, step 0.1, 15 steps,
    mean absolute error), codes nearest(15 / max * s_j) against fp16 max / 15. With importance:
    weights qw * sqrt(mean x**2 + x**2), make_qkx3_quants (-0.9, 0.05, 36), make_qp_quants(nmax 15)."""
    nqw = qw.shape[0]
    for i in nb.prange(x.shape[0]):
        xb = x[i]
        Lb = L[i]
        w = np.empty(16, np.float32)
        Laux = np.empty(16, np.int64)
        Ls = np.empty(16, np.int64)
        scales = np.empty(16, np.float32)
        mins = np.empty(16, np.float32)
        if use_qw:
            q = qw[i % nqw]
            sumx2 = F(0)
            for l in range(256):
                sumx2 += xb[l] * xb[l]
            sigma2 = sumx2 / F(256)
            sw = np.empty(16, np.float32)
            for j in range(16):
                for l in range(16):
                    v = xb[16 * j + l]
                    w[l] = q[16 * j + l] * F(math.sqrt(sigma2 + v * v))
                s = F(0)
                for l in range(16):
                    s += w[l]
                sw[j] = s
                a, b = make_qkx(16, 3, xb[16 * j:16 * j + 16], w, Ls, Laux, F(-0.9), F(0.05), 36, False)
                scales[j] = a
                mins[j] = b
                for l in range(16):
                    Lb[16 * j + l] = Ls[l]
            t = np.empty(16, np.int64)
            dm = make_qp(16, 15, scales, t, sw)
            for j in range(16):
                sc[i, j] = t[j]
            mm = make_qp(16, 15, mins, t, sw)
            for j in range(16):
                mc[i, j] = t[j]
            for j in range(16):  # the stored byte Ls | Lm << 4
                byte = (sc[i, j] | (mc[i, j] << 4)) & 0xFF
                sc[i, j] = byte & 15
                mc[i, j] = byte >> 4
            d[i] = fp16(dm)
            dmin[i] = fp16(mm)
        else:
            max_scale = F(0)
            max_min = F(0)
            for j in range(16):
                for l in range(16):
                    w[l] = abs(xb[16 * j + l])
                a, b = make_qkx(16, 3, xb[16 * j:16 * j + 16], w, Ls, Laux, F(-0.5), F(0.1), 15, True)
                scales[j] = a
                mins[j] = b
                for l in range(16):
                    Lb[16 * j + l] = Ls[l]
                if a > max_scale:
                    max_scale = a
                if b > max_min:
                    max_min = b
            bytes_ = np.zeros(16, np.int64)
            if max_scale > 0:
                iscale = F(15) / max_scale
                for j in range(16):
                    bytes_[j] = nearest(iscale * scales[j]) & 0xFF
                d[i] = fp16(max_scale / F(15))
            else:
                d[i] = F(0)
            if max_min > 0:
                iscale = F(15) / max_min
                for j in range(16):
                    bytes_[j] = (bytes_[j] | (nearest(iscale * mins[j]) << 4)) & 0xFF
                dmin[i] = fp16(max_min / F(15))
            else:
                dmin[i] = F(0)
            for j in range(16):
                sc[i, j] = bytes_[j] & 15
                mc[i, j] = bytes_[j] >> 4
        for j in range(16):
            dd = d[i] * F(sc[i, j])
            if dd == 0:
                continue
            dm_ = dmin[i] * F(mc[i, j])
            for l in range(16):
                Lb[16 * j + l] = max(0, min(3, nearest((xb[16 * j + l] + dm_) / dd)))


# ------------------------------------------------------------------------------------------ Q3_K
@nb.njit(**_opts)
def make_q3(n, nmax, x, L):  # pragma: no cover - compiled
    """make_q3_quants with do_rmse: weights x**2, then up to 5 rounds of moving one code at a time."""
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
        L[i] = l
        w = x[i] * x[i]
        fl = F(l)
        sumlx += w * x[i] * fl
        suml2 += w * fl * fl
    for _ in range(5):
        changed = 0
        for i in range(n):
            w = x[i] * x[i]
            fl = F(L[i])
            slx = sumlx - w * x[i] * fl
            if slx > 0:
                sl2 = suml2 - w * fl * fl
                new_l = max(-nmax, min(nmax - 1, nearest(x[i] * sl2 / slx)))
                if new_l != L[i]:
                    fn = F(new_l)
                    slx += w * x[i] * fn
                    sl2 += w * fn * fn
                    if sl2 > 0 and slx * slx * suml2 > sumlx * sumlx * sl2:
                        L[i] = new_l
                        sumlx = slx
                        suml2 = sl2
                        changed += 1
        if not changed:
            break
    for i in range(n):
        L[i] += nmax
    return sumlx / suml2 if suml2 > 0 else F(0)


@nb.njit(parallel=True, **_opts)
def q3k(x, qw, use_qw, d, sc, L):  # pragma: no cover - compiled
    """Q3_K on super-blocks (nb, 256): 16 sub-blocks of 16, codes 0..7 (value code - 4), 6-bit signed
    sub-block scale codes sc (stored sc + 32) against fp16 d.

    Reference: make_q3_quants(16, 4) per sub-block, codes nearest(-32 / max * s_j) with d = max / -32.
    With importance (any given qw; ggml's impl also runs with weights x**2 when qw is absent, but
    ggml_quantize_chunk calls the reference then): make_qx_quants(16, 4) with weights
    qw * sqrt(2 mean x**2 + x**2), and make_qx_quants(16, 32) on the scales weighted by their sums."""
    nqw = qw.shape[0]
    for i in nb.prange(x.shape[0]):
        xb = x[i]
        Lb = L[i]
        Ls = np.empty(16, np.int64)
        scales = np.empty(16, np.float32)
        if use_qw:
            q = qw[i % nqw]
            w = np.empty(16, np.float32)
            sw = np.empty(16, np.float32)
            sumx2 = F(0)
            for l in range(256):
                sumx2 += xb[l] * xb[l]
            sigma2 = F(2) * sumx2 / F(256)
            for j in range(16):
                for l in range(16):
                    v = xb[16 * j + l]
                    w[l] = q[16 * j + l] * F(math.sqrt(sigma2 + v * v))
                s = F(0)
                for l in range(16):
                    s += w[l]
                sw[j] = s
                scales[j] = make_qx(16, 4, xb[16 * j:16 * j + 16], Ls, w, True)
                for l in range(16):
                    Lb[16 * j + l] = Ls[l]
            t = np.empty(16, np.int64)
            db = make_qx(16, 32, scales, t, sw, True)
            for j in range(16):
                sc[i, j] = t[j] - 32
            d[i] = fp16(db)
        else:
            max_scale = F(0)
            amax = F(0)
            for j in range(16):
                s = make_q3(16, 4, xb[16 * j:16 * j + 16], Ls)
                scales[j] = s
                for l in range(16):
                    Lb[16 * j + l] = Ls[l]
                if abs(s) > amax:
                    amax = abs(s)
                    max_scale = s
            if max_scale != 0:
                iscale = F(-32) / max_scale
                for j in range(16):
                    v = nearest(iscale * scales[j])
                    v = ((v + 128) & 0xFF) - 128  # int8_t
                    sc[i, j] = max(-32, min(31, v))
                d[i] = fp16(F(1) / iscale)
            else:  # the scale bytes stay 0, which decodes to -32 (d is 0)
                for j in range(16):
                    sc[i, j] = -32
                d[i] = F(0)
        for j in range(16):
            dd = d[i] * F(sc[i, j])
            if dd == 0:
                continue
            for l in range(16):
                Lb[16 * j + l] = max(-4, min(3, nearest(xb[16 * j + l] / dd))) + 4


# ------------------------------------------------------------------------------------ IQ4_NL / XS
@nb.njit(**_opts)
def best_index(values, v):  # pragma: no cover - compiled
    """ggml's best_index_int8 over the 16 sorted IQ4 values: the nearest, a tie going up."""
    if v <= F(values[0]):
        return 0
    if v >= F(values[15]):
        return 15
    lo = 0
    hi = 15
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if v < F(values[mid]):
            hi = mid
        else:
            lo = mid
    return hi - 1 if v - F(values[hi - 1]) < F(values[hi]) - v else hi


@nb.njit(parallel=True, **_opts)
def iq4(x, qw, use_qw, values, nsub, d, sc, L):  # pragma: no cover - compiled
    """quantize_row_iq4_nl_impl with ntry 7 on super-blocks x (nb, 32 * nsub): IQ4_NL (nsub 1) and
    IQ4_XS (nsub 8). Per block of 32: weights x**2 (or qw * sqrt(2 mean x**2 + x**2)), start at
    d = max / -127, then the best of 15 candidate scales (max / (k - 127), |k| <= 7) by weighted
    least squares over the non-uniform grid; IQ4_XS stores 6-bit codes of the block scales against
    fp16 d = -max_scale / 32 and re-picks the elements with the float32 (d * code)."""
    nqw = qw.shape[0]
    n = 32 * nsub
    v0 = F(values[0])
    for i in nb.prange(x.shape[0]):
        xb = x[i]
        Lb = L[i]
        w = np.empty(32, np.float32)
        scales = np.zeros(8, np.float32)
        sigma2 = F(0)
        for j in range(n):
            sigma2 += xb[j] * xb[j]
        sigma2 *= F(2) / F(n)
        max_scale = F(0)
        amax_scale = F(0)
        for ib in range(nsub):
            for j in range(32):
                v = xb[32 * ib + j]
                w[j] = qw[i % nqw][32 * ib + j] * F(math.sqrt(sigma2 + v * v)) if use_qw else v * v
            amax = F(0)
            mx = F(0)
            for j in range(32):
                ax = abs(xb[32 * ib + j])
                if ax > amax:
                    amax = ax
                    mx = xb[32 * ib + j]
            if amax < F(1e-15):
                scales[ib] = F(0)
                continue
            dd = -mx / v0
            idd = F(1) / dd
            sumqx = F(0)
            sumq2 = F(0)
            for j in range(32):
                l = best_index(values, idd * xb[32 * ib + j])
                Lb[32 * ib + j] = l
                qv = F(values[l])
                sumqx += w[j] * qv * xb[32 * ib + j]
                sumq2 += w[j] * qv * qv
            dd = sumqx / sumq2 if sumq2 > 0 else F(0)
            best = dd * sumqx
            for itry in range(-7, 8):
                idd = F(itry + values[0]) / mx
                sumqx = F(0)
                sumq2 = F(0)
                for j in range(32):
                    l = best_index(values, idd * xb[32 * ib + j])
                    qv = F(values[l])
                    sumqx += w[j] * qv * xb[32 * ib + j]
                    sumq2 += w[j] * qv * qv
                if sumq2 > 0 and sumqx * sumqx > best * sumq2:
                    dd = sumqx / sumq2
                    best = dd * sumqx
            scales[ib] = dd
            if abs(dd) > amax_scale:
                amax_scale = abs(dd)
                max_scale = dd
        if nsub > 1:
            dd = -max_scale / F(32)
            d[i] = fp16(dd)
            idd = F(1) / dd if dd != 0 else F(0)
            for ib in range(nsub):
                l = max(-32, min(31, nearest(idd * scales[ib])))
                dl = dd * F(l)
                idl = F(1) / dl if dl != 0 else F(0)
                for j in range(32):
                    Lb[32 * ib + j] = best_index(values, idl * xb[32 * ib + j])
                sc[i, ib] = l
        else:
            d[i] = fp16(scales[0])
            idd = F(1) / scales[0] if scales[0] != 0 else F(0)
            for j in range(32):
                Lb[j] = best_index(values, idd * xb[j])


@nb.njit(parallel=True, **_opts)
def qx0_weighted(x, qw, sigma2, rows_blocks, nmax, d, L):  # pragma: no cover - compiled
    """quantize_row_q{4,5}_0_impl: blocks of 32, weights qw * sqrt(sigma2_row + x**2), make_qx_quants(32, nmax)
    (19 candidate scales); fp16 d, codes L = l + nmax."""
    for i in nb.prange(x.shape[0]):
        xb = x[i]
        r = i // rows_blocks
        q = qw[i % rows_blocks]
        w = np.empty(32, np.float32)
        Ls = np.empty(32, np.int64)
        for l in range(32):
            w[l] = q[l] * F(math.sqrt(sigma2[r] + xb[l] * xb[l]))
        d[i] = fp16(make_qx(32, nmax, xb, Ls, w, True))
        for l in range(32):
            L[i, l] = Ls[l]


from .._kernels import guard_parallel  # noqa: E402  (after the kernels it wraps)

guard_parallel(globals())  # launches take turns where numba's threading layer is not thread-safe
