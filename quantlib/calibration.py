"""Calibration: choose the clipping range [lo, hi] that quantization will cover.

``calibrate(x, method, convention=...)`` dispatches on the method name through
:data:`METHODS`; a convention changes only the histogram rule, the defaults and small
algorithmic choices, never the pipeline. Methods and their defaults:

==============  =====================================================================
method          what it picks
==============  =====================================================================
minmax          [min(x), max(x)]
percentile      the p-th percentile (symmetric: of |x|; asymmetric: (100-p)/2 % cut from
                each tail). quantlib/pytorch: exact order statistics (linear
                interpolation). onnxruntime: left edge of the histogram bin where the CDF
                reaches p (2048 bins, p = 99.999), clipped to [min, max]. tensorrt:
                same on a ``torch.histc`` of |x| over [0, amax] (2048 bins, p = 99.99).
entropy         the threshold whose clipped-and-requantized histogram has the least KL
                divergence from the original. quantlib/pytorch/onnxruntime: symmetric
                histogram over [-T, T], T = max|x|, candidates from ``nq/2`` bins either
                side of 0 to the full range, outliers folded into the edge bins
                (onnxruntime: 128 bins, ``nq = 128`` and its integer-truncated expansion;
                quantlib: 2048 bins, ``nq = 2**bits`` and an exact expansion).
                tensorrt: |x| histogram, candidates from bin 128, ``2**(bits-1)`` levels,
                the last minimum wins.
mse             the threshold that minimises the histogram-estimated quantization MSE
                (bin centres weighted by counts). tensorrt: ModelOpt's search over bin
                centres from bin 128.
l2_histogram    PyTorch HistogramObserver's greedy search (2048 bins, ``2**bits``
                destination bins): move the start or end bin by quantile steps of 1e-5
                while the L2 error (uniform density inside bins) does not increase.
==============  =====================================================================

Per-channel / per-group calibration supports ``minmax``, ``percentile`` and ``mse``
(vectorised over channels); the histogram searches are per-tensor, as in the toolkits.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _kernels
from ._checks import as_float_array, check_bits, check_choice, check_int, check_num_bins, check_percentile
from .conventions import CONVENTIONS, Convention, get_convention
from .histograms import histc, torch_linspace, uniform_histogram
from .params import reduce_axes

_F32 = np.float32
Range = tuple[Any, Any]

#: Each convention's calibration defaults (read from :class:`~quantlib.conventions.Convention`).
DEFAULT_BINS = {c.name: c.default_bins for c in CONVENTIONS.values()}
DEFAULT_PERCENTILE = {c.name: c.default_percentile for c in CONVENTIONS.values()}


# --------------------------------------------------------------------------- minmax
def _minmax(x: np.ndarray, *, axis=None, group_size=None, **_: Any) -> Range:
    view, axes = reduce_axes(x, axis, group_size)
    if axes is None:
        return _F32(x.min()), _F32(x.max())
    return view.min(axis=axes), view.max(axis=axes)


# ----------------------------------------------------------------------- percentile
def _percentile(x, *, symmetric, percentile, num_bins, convention: Convention, axis=None, group_size=None, **_) -> Range:
    per_tensor = axis is None and group_size is None
    if convention.percentile_rule == "histogram" and per_tensor:
        return _ort_percentile(x, symmetric, percentile, num_bins)
    if convention.percentile_rule == "abs_histc" and per_tensor:
        amax = _trt_amax_percentile(x, percentile, num_bins)
        return -amax, amax
    view, axes = reduce_axes(x, axis, group_size)
    q = percentile / 100.0
    if symmetric:
        a = np.quantile(np.abs(view), q, axis=axes).astype(_F32)
        return -a, a
    cut = (1.0 - q) / 2.0
    lo, hi = np.quantile(view, [cut, 1.0 - cut], axis=axes).astype(_F32)
    return lo, hi


def _ort_percentile(x: np.ndarray, symmetric: bool, percentile: float, num_bins: int) -> Range:
    """onnxruntime HistogramCollector 'percentile': left bin edge where the CDF reaches p."""
    mn, mx = _F32(x.min()), _F32(x.max())
    if symmetric:
        hist, edges = uniform_histogram(np.abs(x), num_bins)
        edges = edges.astype(x.dtype)
        cdf = np.cumsum(hist / hist.sum())
        e = edges[np.searchsorted(cdf, percentile / 100.0)]
        lo, hi = -e, e
    else:
        t = max(abs(mn), abs(mx))
        hist, edges = uniform_histogram(x, num_bins, -t, t)
        cdf = np.cumsum(hist / hist.sum())
        cut = (100.0 - percentile) / 200.0
        lo, hi = edges[np.searchsorted(cdf, cut)], edges[np.searchsorted(cdf, 1.0 - cut)]
    return _F32(max(lo, mn)), _F32(min(hi, mx))


def _abs_histc(x: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """ModelOpt HistogramCalibrator.collect: ``torch.histc`` of |x| over [0, max|x|] + linspace edges."""
    ax = np.abs(x) if x.min() < 0 else x
    amax = _F32(ax.max())
    return histc(ax, num_bins, 0.0, amax), torch_linspace(0.0, amax, num_bins + 1)


def _trt_amax_percentile(x: np.ndarray, percentile: float, num_bins: int) -> np.float32:
    hist, edges = _abs_histc(x, num_bins)
    hist = hist.astype(np.int32)
    cdf = np.cumsum(hist / hist.sum())
    return _F32(edges[np.searchsorted(cdf, percentile / 100)])


# -------------------------------------------------------------------------- entropy
def _entropy(x, *, bits, symmetric, num_bins, convention: Convention, num_quantized_bins=None, **_) -> Range:
    if convention.entropy_rule == "abs_kl":
        amax = _trt_entropy(x, bits, not symmetric and x.min() >= 0, num_bins)
        return -amax, amax
    mn, mx = _F32(x.min()), _F32(x.max())
    t = max(abs(mn), abs(mx))
    hist, edges = uniform_histogram(x, num_bins, -t, t)
    if num_quantized_bins is None:
        num_quantized_bins = convention.entropy_quantized_bins or min(2**bits, num_bins)
    nq = check_int(num_quantized_bins, "num_quantized_bins", 2, num_bins)
    lo, hi = kl_threshold_search(hist, edges, nq, integer_expansion=convention.entropy_rule == "kl_integer")
    return _F32(max(lo, mn)), _F32(min(hi, mx))


def kl_threshold_search(hist: np.ndarray, edges: np.ndarray, num_quantized_bins: int, *,
                        integer_expansion: bool = False) -> tuple[float, float]:
    """Symmetric KL-divergence threshold search (onnxruntime's ``get_entropy_threshold``).

    For half-widths i = nq//2 .. nbins//2 bins around the zero bin: p = the slice, with the
    mass outside folded into its edge bins; q = the slice merged into ``nq`` bins of
    ``len // nq`` (remainder into the last), spread back evenly over the non-zero bins of p
    (``integer_expansion``: truncated to integers and spread over every bin of the group, as
    onnxruntime does); both smoothed (zeros become eps = 1e-4, the non-zeros pay for it);
    KL(p || q) after normalising. The first minimum wins; returns its edges.

    Cost: every candidate's KL comes from prefix sums over the histogram
    (:func:`_kl_prefix`), O(candidates x nq) instead of O(candidates x nbins); the p log p
    part, whose smoothing shift depends on the candidate, is a Taylor series in that shift
    with a bound on its remainder. That float64 value is a filter: every candidate whose
    KL could, within its error bound, tie or beat the best one is re-evaluated exactly -
    with onnxruntime's own float32 operations (:func:`_ort_candidate_kl`) for
    ``integer_expansion``, otherwise with the float64 row formula (:func:`_kl_rows`) - and
    the first minimum of the exact values wins. Float32 rounding in onnxruntime's KL can
    reorder candidates whose KL differ by ~1e-7; the re-evaluation reproduces it.

    Every half-width is a candidate. If no candidate has a finite KL (all mass
    in unexpanded remainder bins), onnxruntime would return the first candidate's edges;
    we return the full range instead.
    """
    hist = np.asarray(hist, dtype=np.int64)
    nbins = hist.size
    zbi = nbins // 2
    nq = num_quantized_bins
    cand = np.arange(nq // 2, zbi + 1)
    pre = _Prefix(hist)
    rows = max(1, 2**22 // max(nq, 1))
    parts = [_kl_prefix(pre, cand[c : c + rows], nq, integer_expansion) for c in range(0, cand.size, rows)]
    kl = np.concatenate([k for k, _ in parts])
    bound = np.concatenate([b for _, b in parts])
    if not np.isfinite(kl).any() and not np.isinf(bound).any():
        return float(edges[0]), float(edges[-1])
    near = np.flatnonzero(kl - bound <= np.min(kl + bound))
    exact = np.array([_exact_kl(hist, pre.count, zbi - int(cand[k]), min(zbi + int(cand[k]) + 1, nbins), nq, integer_expansion)
                      for k in near], dtype=np.float64)
    if not np.isfinite(exact).any():
        return float(edges[0]), float(edges[-1])
    k = int(near[int(np.argmin(exact))])
    s, e = zbi - int(cand[k]), min(zbi + int(cand[k]) + 1, nbins)
    return float(edges[s]), float(edges[e])


_EPS = 1e-4


class _Prefix:
    """Prefix sums of a count histogram ``h`` over its non-zero bins: counts, non-zero
    bins, h log h, log h, 1/h and 1/h^2 (index k = the sum over bins < k)."""

    def __init__(self, hist: np.ndarray) -> None:
        h = hist.astype(np.float64)
        nz = hist != 0
        hz = np.where(nz, h, 1.0)
        log_h = np.where(nz, np.log(hz), 0.0)

        def acc(v: np.ndarray) -> np.ndarray:
            return np.concatenate([[0.0], np.cumsum(v)])

        self.h = h
        self.count = np.concatenate([[0], np.cumsum(hist)])
        self.c = acc(h)
        self.nz = np.concatenate([[0], np.cumsum(nz)])
        self.hlogh = acc(h * log_h)
        self.logh = acc(log_h)
        self.inv = acc(np.where(nz, 1.0 / hz, 0.0))
        self.inv2 = acc(np.where(nz, 1.0 / hz**2, 0.0))
        self.total = float(self.c[-1])


def _xlogx(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)


def _kl_prefix(pre: _Prefix, cand: np.ndarray, nq: int, integer_expansion: bool) -> tuple[np.ndarray, np.ndarray]:
    """Float64 KL(p || q) of each candidate half-width in ``cand`` and a bound on its
    distance from the exact value (float32 rounding of the smoothed distributions, the
    Taylor remainder, float64 cancellation); a candidate whose smoothing makes a bin
    non-positive, or whose series would not converge, gets kl = 0 and bound = inf, so it is
    always re-evaluated exactly.

    With Sp = sum p, Sq = sum q (smoothing keeps both), ps/qs the smoothed bins:
    KL = (sum ps log ps - sum ps log qs) / Sp - log Sp + log Sq. For p's non-zero bins
    ps = p - e, e = eps * zeros / nonzeros, and (p - e) log(p - e) = p log p
    - e (log p + 1) + e^2 / 2p - e^3 / 6p^2 + R, |R| <= e^4 / (12 (p - e)^3). q is constant
    over each merged group, so sum ps log qs is a sum over groups of log(qs_g) times the
    group's smoothed p mass, all from prefix sums.
    """
    total = pre.total
    start, end, length, p0, pl = _slices(pre, cand)
    sum_pslogps, taylor, bad, e = _sum_p_log_p(pre, start, end, length, p0, pl)
    raw, nzg, pg, merged = _group_masses(pre, start, end, length, p0, pl, nq)
    sum_pslogqs, sq, bad_q = _sum_p_log_q(raw, nzg, pg, merged, e, length, total, integer_expansion)
    bad |= bad_q
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = (sum_pslogps - sum_pslogqs) / total - np.log(total) + np.log(np.where(sq > 0, sq, 1.0))
    # Float32 rounding in the exact KL is a few ulps of each term plus the normalising sums'
    # (<= log2(n) ulps): 64 ulps of (sum |terms| + 1). The negative terms (pk < qk) add up
    # to at most sum (qk - pk) <= 1 (log y <= y - 1), so sum |terms| <= KL + 2.
    f64 = 1e-12 * (np.abs(sum_pslogps) + np.abs(sum_pslogqs)) / total + 1e-12
    bound = 64 * float(np.finfo(_F32).eps) * (np.abs(kl) + 3.0) + taylor / total + f64
    kl = np.where(bad, 0.0, kl)
    bound = np.where(bad | ~np.isfinite(kl), np.inf, bound)
    return kl, bound


def _slices(pre: _Prefix, cand: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each candidate's slice [start, end) around the zero bin, its length, and p's edge bins
    p0 / pl, which carry the folded tails (the interior is the histogram itself)."""
    n = pre.h.size
    zbi = n // 2
    start = zbi - cand
    end = np.minimum(zbi + cand + 1, n)
    p0 = pre.c[start + 1]
    pl = pre.h[end - 1] + pre.total - pre.c[end]
    return start, end, end - start, p0, pl


def _sum_p_log_p(pre: _Prefix, start: np.ndarray, end: np.ndarray, length: np.ndarray, p0: np.ndarray,
                 pl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sum ps log ps, the Taylor remainder bound, bad rows, smoothing shift e) of p per candidate."""
    a, b = start + 1, end - 1
    nz_int = pre.nz[b] - pre.nz[a]
    nnz_p = nz_int + (p0 > 0) + (pl > 0)
    z_p = length - nnz_p
    e = _EPS * z_p / np.maximum(nnz_p, 1)
    ss = (pre.hlogh[b] - pre.hlogh[a]) - e * ((pre.logh[b] - pre.logh[a]) + nz_int) \
        + e**2 / 2 * (pre.inv[b] - pre.inv[a]) - e**3 / 6 * (pre.inv2[b] - pre.inv2[a])
    taylor = e**4 / 12 * nz_int / np.maximum(1.0 - e, 1e-300) ** 3
    sum_pslogps = ss + _xlogx(np.where(p0 > 0, p0 - e, 0.0)) + _xlogx(np.where(pl > 0, pl - e, 0.0)) \
        + z_p * _EPS * np.log(_EPS)
    bad = (nnz_p == 0) | (e >= 0.5)  # non-zero bins are counts >= 1, so ps = p - e stays > 0.5
    return sum_pslogps, taylor, bad, e


def _group_masses(pre: _Prefix, start: np.ndarray, end: np.ndarray, length: np.ndarray, p0: np.ndarray,
                  pl: np.ndarray, nq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate (rows) and merged group (columns): the slice's own counts (q merges the
    unfolded slice), p's non-zero bins, p's mass with the folded tails; and the group width."""
    total = pre.total
    merged = np.maximum(length // nq, 1)
    m = nq * merged
    g0 = start[:, None] + merged[:, None] * np.arange(nq)[None, :]
    g1 = g0 + merged[:, None]
    raw = pre.c[g1] - pre.c[g0]
    raw[:, -1] += pre.c[end] - pre.c[start + m]
    nzg = pre.nz[g1] - pre.nz[g0]  # first/last bins fixed below
    nzg[:, 0] += (p0 > 0).astype(np.int64) - (pre.h[start] > 0)
    tail_in_group = m == length
    last_fix = (pl > 0).astype(np.int64) - (pre.h[end - 1] > 0)
    nzg[:, -1] += np.where(tail_in_group, last_fix, 0)
    pg = raw.copy()
    pg[:, -1] -= pre.c[end] - pre.c[start + m]
    pg[:, 0] += pre.c[start]
    pg[:, -1] += np.where(tail_in_group, total - pre.c[end], 0.0)
    return raw, nzg, pg, merged


def _sum_p_log_q(raw: np.ndarray, nzg: np.ndarray, pg: np.ndarray, merged: np.ndarray, e: np.ndarray,
                 length: np.ndarray, total: float, integer_expansion: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sum ps log qs, sum q before smoothing, bad rows): q is constant over each merged group,
    so the sum is over groups of log(qs_g) times the group's smoothed p mass."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(nzg > 0, raw / np.maximum(nzg, 1), 0.0)
    if integer_expansion:
        v = np.trunc(share)
        on = v > 0
        nnz_q = (on * merged[:, None]).sum(axis=1)
        mass = np.where(on, pg + _EPS * (merged[:, None] - nzg) - e[:, None] * nzg, 0.0)  # sum of ps over the group
        sq = (v * merged[:, None]).sum(axis=1)
    else:
        v = share
        on = v > 0
        nnz_q = np.where(on, nzg, 0).sum(axis=1)
        mass = np.where(on, pg - e[:, None] * nzg, 0.0)
        sq = np.where(on, raw, 0.0).sum(axis=1)
    z_q = length - nnz_q
    eq = _EPS * z_q / np.maximum(nnz_q, 1)
    qs = v - eq[:, None]
    bad = (nnz_q == 0) | (np.where(on, qs, 1.0) <= 0).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_qs = np.where(on, np.log(np.where(on & (qs > 0), qs, 1.0)), 0.0)
        sum_pslogqs = (log_qs * mass).sum(axis=1) + np.log(_EPS) * (total - mass.sum(axis=1))
    return sum_pslogqs, sq, bad


def _exact_kl(hist: np.ndarray, csum: np.ndarray, start: int, end: int, nq: int, integer_expansion: bool) -> float:
    """One candidate's KL by its definition: onnxruntime's float32 operations for
    ``integer_expansion``, else the float64 row formula; inf when undefined."""
    if integer_expansion:
        return float(_ort_candidate_kl(hist, csum, start, end, nq))
    sliced = hist[start:end].astype(np.float64)
    p = sliced.copy()
    p[0] += csum[start]
    p[-1] += csum[-1] - csum[end]
    merged = max(sliced.size // nq, 1)
    group = np.minimum(np.arange(sliced.size) // merged, nq - 1)
    in_groups = np.arange(sliced.size) < nq * merged
    nonzero = p != 0
    qsum = np.bincount(group, weights=sliced, minlength=nq)  # the remainder goes to the last group
    qcnt = np.bincount(group, weights=(nonzero & in_groups).astype(np.float64), minlength=nq)
    share = np.divide(qsum, qcnt, out=np.zeros_like(qsum), where=qcnt > 0)
    q = np.where(nonzero & in_groups, share[group], 0.0)
    inside = np.ones((1, sliced.size), dtype=bool)
    kl, _ = _kl_rows(p[None, :], q[None, :], inside)
    return float(kl[0]) if np.isfinite(kl[0]) else float("inf")


def _kl_rows(p: np.ndarray, q: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """KL(p||q) per row over the ``inside`` columns, after smoothing both (float32 like ORT),
    and the row's ``sum(|terms|) + 1`` (the scale of its rounding error)."""
    p = np.where(inside, p, 0.0)
    q = np.where(inside, q, 0.0)
    n = inside.sum(axis=1, keepdims=True)
    out = np.full(p.shape[0], np.inf)
    ps, pv = _smooth_masked(p, inside, n)
    qs, qv = _smooth_masked(q, inside, n)
    ok = pv & qv
    ps = ps.astype(_F32).astype(np.float64)
    qs = qs.astype(_F32).astype(np.float64)
    ps /= ps.sum(axis=1, keepdims=True)
    qs /= qs.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(inside, ps * np.log(ps / qs), 0.0)
    out[ok] = terms.sum(axis=1)[ok]
    size = np.where(ok, np.abs(terms).sum(axis=1) + 1.0, 0.0)
    return out, size


def _smooth_masked(p: np.ndarray, inside: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    eps = 1e-4
    zero = (p == 0) & inside
    nz = zero.sum(axis=1, keepdims=True).astype(np.float64)
    nnz = n - nz
    eps1 = eps * nz / np.maximum(nnz, 1)
    out = np.where(zero, eps, np.where(inside, p - eps1, 0.0))
    out = np.where(inside, out, 1.0)  # neutral padding, masked out later
    return out * inside, nnz[:, 0] > 0


def _ort_candidate_kl(hist: np.ndarray, csum: np.ndarray, start: int, end: int, nq: int) -> np.float32:
    """onnxruntime ``get_entropy_threshold``'s KL for the candidate slice ``[start, end)``,
    with onnxruntime's own operations on arrays of the same lengths (``smooth_distribution``,
    its float32 ``entropy``/``rel_entr``), so every float32 rounding, including numpy's
    pairwise summation order, is the same. The loops over quantized bins are vectorised
    with integer arithmetic, which is exact."""
    sliced = hist[start:end]
    p = sliced.copy()
    p[0] += csum[start]
    p[-1] += csum[-1] - csum[end]
    nonzeros = (p != 0).astype(np.int64)
    merged = sliced.size // nq
    m = nq * merged
    qbins = sliced[:m].reshape(nq, merged).sum(axis=1)
    qbins[-1] += sliced[m:].sum()
    norm = nonzeros[:m].reshape(nq, merged).sum(axis=1)
    q = np.zeros(p.size, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        q[:m] = np.repeat(np.where(norm != 0, qbins / np.maximum(norm, 1), 0.0).astype(np.int64), merged)
    ps, qs = _ort_smooth(p), _ort_smooth(q)
    if ps is None or qs is None:
        return _F32(np.inf)
    pk = 1.0 * ps / np.sum(ps, axis=0, keepdims=True)
    qk = 1.0 * qs / np.sum(qs, axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        res = pk * np.log(pk / qk)
    res[(pk == 0) & (qk >= 0)] = 0
    res[~((pk > 0) & (qk > 0))] = np.inf
    return _F32(np.sum(res, axis=0))


def _ort_smooth(p: np.ndarray, eps: float = 0.0001) -> np.ndarray | None:
    """onnxruntime ``quant_utils.smooth_distribution``: zeros become eps, the non-zeros pay
    for it (float32, numpy's weak-scalar promotion), None when everything is zero."""
    is_zeros = (p == 0).astype(_F32)
    is_nonzeros = (p != 0).astype(_F32)
    n_zeros = is_zeros.sum()
    n_nonzeros = p.size - n_zeros
    if not n_nonzeros:
        return None
    eps1 = eps * float(n_zeros) / float(n_nonzeros)
    out = p.astype(_F32)
    out += eps * is_zeros + (-eps1) * is_nonzeros
    return out


def _trt_entropy(x: np.ndarray, bits: int, unsigned: bool, num_bins: int, start_bin: int = 128) -> np.float32:
    """ModelOpt ``_compute_amax_entropy`` on a |x| histogram, all candidates at once.

    bins[0] is replaced by bins[1] (as ModelOpt does); candidate i (start_bin..nbins) keeps
    the first i bins, folds the rest into bin i-1 (p) and quantizes the first i bins into
    ``2**(bits-1+unsigned)`` groups given by ``np.digitize(range(i), linspace(0, i, n+1))``,
    each group's mass spread evenly over its non-zero bins (q). KL(p||q) is computed from
    prefix sums per group, so the cost is O(candidates x levels). The last minimum wins;
    candidates with an empty q are NaN and win over any number, as with ModelOpt's np.argmin.
    """
    hist, edges = _abs_histc(x, num_bins)
    b = hist.astype(np.float64)
    b[0] = b[1]
    n = b.size
    nlev = 1 << (bits - 1 + int(unsigned))
    start_bin = min(start_bin, n)
    cand = np.arange(start_bin, n + 1)
    cand = cand[cand > 0]
    csum = np.concatenate([[0.0], np.cumsum(b)])
    nzc = np.concatenate([[0], np.cumsum(b != 0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        blogb = np.where(b > 0, b * np.log(np.where(b > 0, b, 1)), 0.0)
    cblogb = np.concatenate([[0.0], np.cumsum(blogb)])
    total = csum[-1]
    # group boundaries: first index j with j >= space[k], space = linspace(0, i, nlev+1)
    space = np.linspace(0, cand.astype(np.float64), nlev + 1, axis=1)
    bounds = np.ceil(space).astype(np.int64)
    bounds[:, -1] = cand
    gsum = csum[bounds[:, 1:]] - csum[bounds[:, :-1]]
    gnz = nzc[bounds[:, 1:]] - nzc[bounds[:, :-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        avg = np.where(gnz > 0, gsum / np.maximum(gnz, 1), 0.0)
        log_avg = np.where(avg > 0, np.log(np.where(avg > 0, avg, 1)), 0.0)
    s_new = csum[cand]  # sum of q before normalisation
    last = cand - 1
    outl = total - csum[cand]
    b_last = b[last]
    r_last = b_last + outl
    # sum_j ref_j log ref_j: interior bins from the prefix, last bin replaced by r_last
    with np.errstate(divide="ignore", invalid="ignore"):
        rlogr = np.where(r_last > 0, r_last * np.log(np.where(r_last > 0, r_last, 1)), 0.0)
    sum_rlogr = cblogb[last] + rlogr
    # sum_j ref_j log q_j = sum_k log(avg_k) * gsum_k + outl * log(q_last)
    last_group = (bounds[:, 1:] <= last[:, None]).sum(axis=1)
    log_q_last = log_avg[np.arange(cand.size), np.minimum(last_group, nlev - 1)]
    sum_rlogq = (log_avg * gsum).sum(axis=1) + outl * log_q_last
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = (sum_rlogr - sum_rlogq) / total - np.log(total) + np.log(s_new)
    kl = np.where((b_last == 0) & (outl > 0), np.inf, kl)
    # An empty q (the first i bins all empty) is 0/0 = NaN in scipy's entropy, and
    # np.argmin returns the first NaN: ModelOpt's answer is then the last such candidate,
    # i.e. the lower edge of the first occupied bin (when that bin is >= start_bin).
    kl = np.where(s_new > 0, kl, np.nan)
    k = kl.size - 1 - int(np.argmin(kl[::-1]))
    return _F32(edges[cand[k]])


# ------------------------------------------------------------------------------ mse
def _mse(x, *, bits, symmetric, num_bins, convention: Convention, axis=None, group_size=None, **_) -> Range:
    if convention.mse_rule == "abs_histc":
        amax = _trt_mse(x, bits, not symmetric and x.min() >= 0, num_bins)
        return -amax, amax
    if axis is not None or group_size is not None:
        return _mse_grid_per_channel(x, bits, symmetric, axis, group_size)
    if symmetric:
        hist, edges = uniform_histogram(np.abs(x), num_bins, 0.0, float(np.abs(x).max()))
        centres = (edges[:-1] + edges[1:]) / 2
        cands = _candidate_grid(edges[1:])
        qmax = 2 ** (bits - 1) - 1
        if _kernels.ready():
            scale = np.maximum(cands / qmax, np.finfo(np.float64).tiny)
            costs = _kernels.histogram_sse(centres, hist, scale, np.zeros(scale.size), -qmax, qmax)
        else:
            costs = _chunked(cands, lambda c: (_sym_err(centres[None, :], c[:, None], bits) * hist[None, :]).sum(axis=1),
                             hist.size)
        k = int(np.argmin(costs))
        return _F32(-cands[k]), _F32(cands[k])
    mn, mx = float(x.min()), float(x.max())
    hist, edges = uniform_histogram(x, num_bins, mn, mx)
    centres = (edges[:-1] + edges[1:]) / 2
    t = _candidate_grid(np.arange(1, num_bins + 1) / num_bins)
    lo, hi = min(mn, 0.0) * t, max(mx, 0.0) * t
    qmax = 2**bits - 1

    def cost(rows: np.ndarray) -> np.ndarray:
        scale = np.maximum((hi[rows] - lo[rows]) / qmax, np.finfo(np.float64).tiny)[:, None]
        zp = np.clip(np.rint(-lo[rows, None] / scale), 0, qmax)
        deq = (np.clip(np.rint(centres[None, :] / scale) + zp, 0, qmax) - zp) * scale
        return (((deq - centres[None, :]) ** 2) * hist[None, :]).sum(axis=1)

    if _kernels.ready():
        scale = np.maximum((hi - lo) / qmax, np.finfo(np.float64).tiny)
        costs = _kernels.histogram_sse(centres, hist, scale, np.clip(np.rint(-lo / scale), 0, qmax), 0, qmax)
    else:
        costs = _chunked(np.arange(t.size), cost, hist.size)
    k = int(np.argmin(costs))
    return _F32(lo[k]), _F32(hi[k])


MAX_SWEEP_CANDIDATES = 512


def _candidate_grid(values: np.ndarray) -> np.ndarray:
    """At most MAX_SWEEP_CANDIDATES evenly spread entries of ``values`` (always keeping the last)."""
    if values.size <= MAX_SWEEP_CANDIDATES:
        return values
    idx = np.unique(np.linspace(0, values.size - 1, MAX_SWEEP_CANDIDATES).round().astype(np.int64))
    return values[idx]


def _chunked(cands: np.ndarray, cost: Callable[[np.ndarray], np.ndarray], row_len: int, budget: int = 2**22) -> np.ndarray:
    """Evaluate ``cost`` on blocks of candidates so each block's (candidates x row_len) matrix
    stays near ``budget`` cells: bounded memory whatever the bin count."""
    rows = max(1, budget // max(1, row_len))
    return np.concatenate([cost(cands[i : i + rows]) for i in range(0, cands.size, rows)])


def _sym_err(v: np.ndarray, amax: np.ndarray, bits: int) -> np.ndarray:
    qmax = 2 ** (bits - 1) - 1
    scale = np.maximum(amax / qmax, np.finfo(np.float64).tiny)
    return (np.clip(np.rint(v / scale), -qmax, qmax) * scale - v) ** 2


def _mse_grid_per_channel(x, bits, symmetric, axis, group_size, steps: int = 100) -> Range:
    """Per channel/group: shrink [min, max] by t in (0, 1] (``steps`` values), keep the t of least MSE."""
    view, axes = reduce_axes(x, axis, group_size)
    mn = np.minimum(view.min(axis=axes, keepdims=True), 0).astype(np.float64)
    mx = np.maximum(view.max(axis=axes, keepdims=True), 0).astype(np.float64)
    best_err = np.full(mn.shape, np.inf)
    best_t = np.ones(mn.shape)
    v = view.astype(np.float64)
    for t in np.linspace(1.0, 1.0 / steps, steps):  # a fixed grid of candidates, each one vectorised over all channels
        if symmetric:
            a = np.maximum(-mn, mx) * t
            err = _sym_err(v, a, bits).sum(axis=axes, keepdims=True)
        else:
            lo, hi = mn * t, mx * t
            qmax = 2**bits - 1
            s = np.maximum((hi - lo) / qmax, np.finfo(np.float64).tiny)
            zp = np.clip(np.rint(-lo / s), 0, qmax)
            err = (((np.clip(np.rint(v / s) + zp, 0, qmax) - zp) * s - v) ** 2).sum(axis=axes, keepdims=True)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best_t = np.where(better, t, best_t)
    squeeze = tuple(range(mn.ndim)) if axes is None else axes
    if symmetric:
        a = np.squeeze(np.maximum(-mn, mx) * best_t, axis=squeeze).astype(_F32)
        return -a, a
    return np.squeeze(mn * best_t, axis=squeeze).astype(_F32), np.squeeze(mx * best_t, axis=squeeze).astype(_F32)


def _trt_mse(x: np.ndarray, bits: int, unsigned: bool, num_bins: int, start_bin: int = 128) -> np.float32:
    """ModelOpt ``_compute_amax_mse``: amax over bin centres from ``start_bin``, float32 fake-quant.

    Each candidate's mean is torch's float32 ``mean`` (:func:`torch_sum_f32`, then / bins).
    The first minimum wins, and a NaN mean (float32 overflow of the squared error, inf * 0
    counts, for |x| near 1e20 and beyond) wins over any number, as ``np.argmin`` does on
    ModelOpt's list of means.
    """
    hist, edges = _abs_histc(x, num_bins)
    counts = hist.astype(np.int32).astype(_F32)
    centres = (edges[1:] + edges[:-1]) / _F32(2)
    max_bound = _F32(2.0 ** (bits - 1 + int(unsigned)) - 1.0)
    min_bound = _F32(0) if unsigned else -max_bound
    cand = np.arange(min(start_bin, centres.size), centres.size)
    if not cand.size:
        return _F32(edges[-1])
    mses = []
    for c0 in range(0, cand.size, 256):
        amax = centres[cand[c0 : c0 + 256]][:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scale = np.where(amax <= _F32(1.0 / (1 << 24)), _F32(0), max_bound / amax).astype(_F32)
            q = np.clip(np.rint(centres[None, :] * scale), min_bound, max_bound)
            deq = q / np.where(scale == 0, _F32(1), scale)
            mses.append(torch_sum_f32((deq - centres[None, :]) ** 2 * counts[None, :]) / _F32(centres.size))
    return _F32(centres[cand[int(np.argmin(np.concatenate(mses)))]])


def torch_sum_f32(rows: np.ndarray, simd: int = 8) -> np.ndarray:
    """Per-row float32 sums rounded exactly as ``torch.sum`` of a contiguous float32 tensor on
    x86 CPUs (ATen ``SumKernel.cpp``; the sum kernel uses 8-float vectors in every CPU build).

    ATen's cascade sum: the row's whole 8-wide vectors are summed in 4 interleaved vector
    accumulators (``row_sum``, ilp 4) with a 4-level cascade that folds every 16 steps
    (``multi_row_sum``); leftover vectors go into accumulator 0, the 4 accumulators are
    added, then the scalar tail and finally the 8 lanes are added one by one. The order
    decides near-ties when ModelOpt's mse search compares float32 means.
    """
    a = np.asarray(rows, dtype=_F32)
    c, n = a.shape
    nvec = n // simd
    vecs = a[:, : nvec * simd].reshape(c, nvec, simd)
    nilp = nvec // 4
    grouped = vecs[:, : nilp * 4].reshape(c, nilp, 4, simd)
    levels = 4
    power = max(4, (1 if nilp <= 2 else int(nilp - 1).bit_length()) // levels)
    step, mask = 1 << power, (1 << power) - 1
    acc = np.zeros((levels, c, 4, simd), dtype=_F32)
    i = 0
    while i + step <= nilp:
        for _ in range(step):
            acc[0] += grouped[:, i]
            i += 1
        for j in range(1, levels):
            acc[j] += acc[j - 1]
            acc[j - 1] = 0
            if i & (mask << (j * power)):
                break
    while i < nilp:
        acc[0] += grouped[:, i]
        i += 1
    part = acc[0]
    for j in range(1, levels):
        part = part + acc[j]
    for k in range(nilp * 4, nvec):
        part[:, 0] += vecs[:, k]
    lanes = part[:, 0]
    for k in range(1, 4):
        lanes = lanes + part[:, k]
    out = np.zeros(c, dtype=_F32)
    for k in range(nvec * simd, n):
        out = out + a[:, k]
    for k in range(simd):
        out = out + lanes[:, k]
    return out


# --------------------------------------------------------------------- l2_histogram
def _l2_histogram(x, *, bits, num_bins, **_) -> Range:
    mn, mx = _F32(x.min()), _F32(x.max())
    if mn == mx:
        return mn, mx
    hist = histc(x, num_bins, mn, mx).astype(_F32)
    s, e = l2_histogram_search(hist, mn, mx, 2**bits)
    width = (mx - mn) / _F32(num_bins)
    return _F32(mn + width * _F32(s)), _F32(mn + width * _F32(e + 1))


def l2_histogram_search(hist: np.ndarray, mn: np.float32, mx: np.float32, dst_nbins: int, stepsize: float = 1e-5) -> tuple[int, int]:
    """PyTorch ``HistogramObserver._non_linear_param_search``, batched.

    The greedy path (which bin moves next) depends only on the cumulative histogram, not on
    the errors, so it is computed first: quantile thresholds for every alpha/beta step come
    from one ``searchsorted``; a short loop visits only the steps where a bin actually moves
    (at most 2 x bins), skipping runs of no-op steps. The L2 errors of all candidates on the
    path are then computed in batched float32 (as torch does), and the search stops at the
    first increase, as the original does.
    """
    bins = hist.size
    csum = np.cumsum(hist, dtype=_F32)
    total = float(hist.sum(dtype=_F32))
    alphas, betas = _quantile_steps(stepsize)
    nsteps = alphas.size
    at = (alphas * total).astype(_F32)
    neg_bt = -(betas * total).astype(_F32)  # non-decreasing

    def path():
        i = j = 0
        start, end = 0, bins - 1
        while i < nsteps and j < nsteps:
            alpha = alphas[i - 1] if i else 0.0
            beta = betas[j - 1] if j else 1.0
            if not alpha < beta:
                return
            l = min(max(int(np.searchsorted(csum, at[i], side="left")), start), end)
            r = max(min(int(np.searchsorted(csum, -neg_bt[j], side="right")) - 1, end), start)
            if l - start > end - r:
                start, i = l, i + 1
            elif r != end:
                end, j = r, j + 1
            else:
                # no bin moves: beta keeps stepping until r drops below end; jump there at once.
                # (If alpha < beta fails on the way, it also fails at the landing step: betas fall.)
                # r < end  <=>  beta * total < csum[end]
                j = max(int(np.searchsorted(neg_bt, -csum[end], side="right")), j + 1)
                continue
            yield start, end

    prev = np.inf
    best = (0, bins - 1)
    steps = path()
    batch = 16
    while True:
        cands = np.array(list(itertools.islice(steps, batch)), dtype=np.int64).reshape(-1, 2)
        if not len(cands):
            return best
        for k, nrm in enumerate(_l2_norms(hist, mn, mx, cands, dst_nbins)):
            if nrm > prev:
                return best
            prev = nrm
            best = (int(cands[k, 0]), int(cands[k, 1]))
        batch = min(batch * 2, 256)


@functools.cache
def _quantile_steps(stepsize: float) -> tuple[np.ndarray, np.ndarray]:
    """alpha_k = 0 + step + ... + step and beta_k = 1 - step - ... - step, added one at a
    time (np.cumsum is sequential), so they equal the loop's running values bit for bit."""
    n = int(1.0 / stepsize) + 2
    alphas = np.cumsum(np.full(n, stepsize))
    betas = np.cumsum(np.concatenate([[1.0], np.full(n, -stepsize)]))[1:]
    for a in (alphas, betas):
        a.setflags(write=False)
    return alphas, betas


def _l2_norms(hist: np.ndarray, mn: np.float32, mx: np.float32, cands: np.ndarray, dst_nbins: int) -> np.ndarray:
    """HistogramObserver._compute_quantization_error for many (start, end) pairs, float32."""
    bins = hist.size
    bw64 = (float(mx) - float(mn)) / bins
    s = cands[:, :1]
    e = cands[:, 1:]
    dst64 = bw64 * (e - s + 1) / dst_nbins
    dst = dst64.astype(_F32)
    bw = _F32(bw64)
    src_begin = (np.arange(bins)[None, :] - s).astype(_F32) * bw
    src_end = src_begin + bw
    with np.errstate(divide="ignore", invalid="ignore"):
        dob = np.clip(np.floor_divide(src_begin, dst), 0, dst_nbins - 1)
        dob_c = (dob + _F32(0.5)) * dst
        doe = np.clip(np.floor_divide(src_end, dst), 0, dst_nbins - 1)
    density = (hist / bw)[None, :].astype(_F32)
    half = (dst64 / 2).astype(_F32)
    nhalf = (-dst64 / 2).astype(_F32)

    def norm(db, de):
        return density * ((de * de * de - db * db * db) / _F32(3))

    out = np.zeros((len(cands), bins), dtype=_F32)
    # |x| ~ 1e30 overflows the cubes to inf (and inf - inf to NaN), exactly as torch's
    # float32 arithmetic does; those values are meant, so no warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        out += norm(src_begin - dob_c, np.broadcast_to(half, out.shape))
        mid = (half * half * half - nhalf * nhalf * nhalf) / _F32(3)
        out += (doe - dob - _F32(1)) * (density * mid)
        doe_c = doe * dst + half
        out += norm(np.broadcast_to(nhalf, out.shape), src_end - doe_c)
        res = out.sum(axis=1, dtype=_F32)
    return np.where(dst64[:, 0] == 0.0, _F32(0), res)


# ------------------------------------------------------------------------- dispatch
METHODS: dict[str, Callable[..., Range]] = {
    "minmax": _minmax,
    "percentile": _percentile,
    "entropy": _entropy,
    "mse": _mse,
    "l2_histogram": _l2_histogram,
}
PER_CHANNEL_METHODS = ("minmax", "percentile", "mse")


def calibrate(
    x: object,
    method: str = "minmax",
    *,
    bits: int = 8,
    symmetric: bool = True,
    num_bins: int | None = None,
    percentile: float | None = None,
    convention: str = "quantlib",
    axis: int | None = None,
    group_size: int | None = None,
    **options: Any,
) -> Range:
    """Clipping range ``(lo, hi)`` for ``x`` — floats, or arrays for per-channel / per-group.

    ``num_bins`` (None: the convention's default, see :data:`DEFAULT_BINS`; onnxruntime's
    entropy uses 128) drives every histogram-based method. ``percentile`` (None: 99.99;
    onnxruntime 99.999) is used by ``"percentile"`` only. Extra ``options``:
    ``num_quantized_bins`` for ``"entropy"``.
    """
    from .params import param_shape

    x = as_float_array(x)
    method = check_choice(method, "calibration method", METHODS)
    conv = get_convention(convention)
    bits = check_bits(bits, symmetric=symmetric)
    num_bins = check_num_bins(conv.bins_for(method) if num_bins is None else num_bins)
    percentile = check_percentile(conv.default_percentile if percentile is None else percentile)
    unknown = set(options) - {"num_quantized_bins"}
    if unknown:
        raise TypeError(f"unknown calibration option(s) {sorted(unknown)}; allowed: ['num_quantized_bins']")
    if axis is not None or group_size is not None:
        param_shape(x.shape, axis, group_size)
        if method not in PER_CHANNEL_METHODS:
            raise ValueError(
                f"calibration {method!r} is per-tensor only; per-channel/per-group supports {list(PER_CHANNEL_METHODS)}"
            )
    return METHODS[method](
        x, bits=bits, symmetric=bool(symmetric), num_bins=num_bins, percentile=percentile,
        convention=conv, axis=axis, group_size=group_size, **options,
    )
