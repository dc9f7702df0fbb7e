"""Non-uniform (codebook) quantization: quantile, Lloyd-Max and log2 levels.

Each scheme picks a sorted codebook of float32 levels from the tensor, then every value goes
to its **nearest level**; a value exactly halfway between two levels goes to the lower one.
So inside [levels[0], levels[-1]] the error is at most half the local level spacing, values
outside clip to the end levels, and re-quantizing ``x_hat`` with the same codebook gives
``x_hat`` back. ``codes`` are indices into ``levels``.

* ``quantile`` — equal-mass levels (histogram equalisation): level i is the order statistic
  at the centre of the i-th of K = 2**bits equal-mass bins, ``sorted(x)[floor((i + 1/2) n / K)]``
  (an actual data value; repeated values collapse, so fewer than K levels can remain).
* ``lloyd_max`` — 1-D k-means (Lloyd's algorithm) on the exact data: alternate nearest-level
  assignment and centroid update until the partition stops changing (converged) or
  ``max_iter`` rounds. Vectorised: the data is sorted once; each round cuts the sorted data at
  the midpoints (``searchsorted``) and takes cluster means from prefix sums, O(K log n) per
  round. Prefix sums run outward from 0 so a huge outlier does not swamp the sums of small
  clusters. Start (``init``): ``"best"`` (default, deterministic) runs from the quantile levels and
  from two Panter–Dite companders and keeps the least MSE (:func:`lloyd_best`, the same function
  the rate–distortion limit uses); ``"quantile"`` from the quantile levels alone; ``"random"``: K
  distinct data values drawn with ``numpy.random.default_rng(seed)``. A cluster that empties keeps
  its level.
* ``log2`` — levels 0 and ±2**k for the 2**(bits-1) - 1 largest k up to k_max, where 2**k_max
  is the power of two nearest max|x| (values up to 1.5 * 2**k_max round to it). Rounding is to
  the nearest level in value (midpoint 1.5 * 2**k), not in log2 (midpoint sqrt(2) * 2**k, what
  shift-only hardware does), so the half-spacing error bound holds.

Bits per element count the codebook: ``bits + 32 K / n`` (K float32 levels) for quantile and
Lloyd-Max, ``bits + 8 / n`` (one int8 exponent k_max) for log2.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from . import _kernels
from ._checks import as_float_array, check_choice, check_int
from .params import code_dtype
from .schemes import QuantResult, SchemeSpec, Setting, register

__all__ = ["bucketize", "nearest_level", "quantile_levels", "lloyd_max_levels", "log2_levels", "codebook_quantize",
           "bin_centres", "lloyd_sorted", "lloyd_best", "sorted_sse"]

_F32 = np.float32
TIES = ("down", "up")
LLOYD_INITS = ("best", "quantile", "random")
BEST_QUANTILE_MAX_LEVELS = 32  # "best" starts from the quantile levels up to 5 bits …
BEST_COMPANDER_MIN_LEVELS = 8  # … and from two Panter–Dite companders from 3 bits on


def bucketize(values: np.ndarray, bounds: np.ndarray, *, right: bool = False) -> np.ndarray:
    """Interval index of each value among sorted ``bounds`` (same dtype as ``values``).

    ``right=False``: the number of bounds strictly below the value, so a value equal to a bound
    stays in the lower interval (``torch.bucketize`` with right=False,
    ``np.searchsorted(..., side="left")``); ``right=True``: bounds at or below it.
    Up to 16 bounds use one vectorised comparison per bound (several times faster than a binary
    search over 16 M values); more use ``np.searchsorted``.
    """
    bounds = np.asarray(bounds)
    if bounds.size <= 16:
        out = np.zeros(values.shape, np.uint8)
        for b in bounds:  # at most 16 whole-array passes
            out += (values >= b) if right else (values > b)
        return out
    if bounds.dtype == np.float32 and _kernels.usable(values):  # the same search, on every core
        return _kernels.bucketize(values, bounds, right)
    return np.searchsorted(bounds, values, side="right" if right else "left")


def _f32_bounds(mids: np.ndarray, ties: str) -> np.ndarray:
    """float32 thresholds equivalent to float64 ``mids`` for float32 inputs.

    For a float32 v: ``m < v`` iff ``down32(m) < v`` and ``m <= v`` iff ``up32(m) <= v``, so the
    comparisons stay exact without widening 16 M values to float64.
    """
    b = mids.astype(_F32)
    if ties == "down":
        return np.where(b > mids, np.nextafter(b, _F32(-np.inf)), b)
    return np.where(b < mids, np.nextafter(b, _F32(np.inf)), b)


def nearest_level(x: np.ndarray, levels: np.ndarray, *, ties: str = "down") -> np.ndarray:
    """Index of the nearest of the sorted, distinct float32 ``levels`` for each float32 value.

    ``ties="down"``: a value exactly halfway goes to the lower level; ``"up"``: to the upper one.
    Values beyond the ends go to the end levels.
    """
    check_choice(ties, "ties", TIES)
    lv = np.asarray(levels, dtype=np.float64)
    bounds = _f32_bounds((lv[:-1] + lv[1:]) / 2, ties)
    return bucketize(x, bounds, right=ties == "up").astype(code_dtype(0, max(lv.size - 1, 1)), copy=False)


def codebook_quantize(x: object, levels: np.ndarray, *, ties: str = "down") -> tuple[np.ndarray, np.ndarray]:
    """``(codes, x_hat)``: nearest-level codes of ``x`` and the float32 levels they stand for."""
    x = as_float_array(x)
    levels = np.asarray(levels, dtype=_F32)
    if levels.ndim != 1 or levels.size == 0 or not np.all(np.isfinite(levels)) or np.any(np.diff(levels) <= 0):
        raise ValueError(f"levels must be a non-empty, finite, strictly increasing 1-D array, got {levels!r}")
    codes = nearest_level(x, levels, ties=ties)
    return codes, levels[codes]


def quantile_levels(x: object, bits: int) -> np.ndarray:
    """Equal-mass levels: the order statistics at the centres of 2**bits equal-mass bins (unique, float32)."""
    return bin_centres(np.sort(as_float_array(x), axis=None), 2 ** check_int(bits, "bits", 1, 16))


def bin_centres(xs: np.ndarray, k: int) -> np.ndarray:
    """The quantile levels of sorted ``xs``: order statistics at the centres of ``k`` equal-mass bins (unique, float32)."""
    idx = np.minimum(((np.arange(k) + 0.5) * (xs.size / k)).astype(np.int64), xs.size - 1)
    return np.unique(xs[idx].astype(_F32))


def lloyd_max_levels(x: object, bits: int, *, init: str = "best", seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """The MSE-optimal (Lloyd-Max) levels for ``x``: converged 1-D k-means, sorted unique float32.
    ``init="best"``: :func:`lloyd_best` (the least-MSE of several starts, as the rate–distortion
    limit computes it); ``"quantile"``: from the quantile levels alone; ``"random"``: from 2**bits
    distinct values drawn with ``seed``."""
    bits = check_int(bits, "bits", 1, 16)
    check_choice(init, "init", LLOYD_INITS)
    max_iter = check_int(max_iter, "max_iter", 1, 10**6)
    xs = np.sort(as_float_array(x), axis=None)
    n, k = xs.size, 2**bits
    if init == "best":
        return lloyd_best(xs, k, max_iter)
    if init == "quantile":
        c = bin_centres(xs, k).astype(np.float64)
    else:
        distinct = xs[np.concatenate(([True], xs[1:] != xs[:-1]))]
        rng = np.random.default_rng(check_int(seed, "seed", 0, 2**63 - 1))
        c = np.sort(rng.choice(distinct, size=min(k, distinct.size), replace=False)).astype(np.float64)
    return np.unique(lloyd_sorted(xs.astype(np.float64), c, max_iter).astype(_F32))


def lloyd_best(xs: np.ndarray, k: int, max_iter: int = 1000) -> np.ndarray:
    """The least-MSE fixed point of Lloyd's algorithm with ``k`` levels on sorted float32 ``xs``
    (sorted unique float32 levels), over its starts — the quantile levels (up to 32 levels), two
    Panter–Dite companders (from 8 levels; :func:`_compander_cdfs`) and scaled float grids (from 8
    levels; :meth:`_Prepared.float_starts`), each run to a fixed point or
    ``max_iter`` rounds. Lloyd's fixed point depends on its start: from the quantile levels alone,
    1000 rounds on 65 536 Gaussian values end at 2.9× this MSE at 8 bits; the companders start near
    it. The starts are compared by their SSE from prefix sums (O(k log n) each). The ``lloyd_max``
    scheme and the rate–distortion limit both use this function.

    The result depends only on the values, ``k`` and ``max_iter``, so it is remembered for the last
    :data:`LLOYD_MEMO_SIZE` calls, keyed by a BLAKE2 digest of ``xs`` (1 ms a megabyte): the
    rate–distortion chart asks for the same levels twice, as the scheme's points and as the limit.
    The tensor's prefix sums and compander densities, which do not depend on ``k``, are kept for
    the last two tensors of up to :data:`LLOYD_PREP_MAX` values."""
    xs = np.ascontiguousarray(xs, _F32)
    digest = hashlib.blake2b(xs.view(np.uint8), digest_size=16).digest()
    key = (digest, xs.size, int(k), int(max_iter))
    with _MEMO_LOCK:
        hit = _LLOYD_MEMO.get(key)
    if hit is not None:
        return hit.copy()
    prep = _prepared(xs, digest)
    starts = [bin_centres(xs, k).astype(np.float64)] if k <= BEST_QUANTILE_MAX_LEVELS else []
    starts += prep.compander_starts(k) if k >= BEST_COMPANDER_MIN_LEVELS else []
    starts += prep.float_starts(k)
    best, best_sse = np.zeros(0, _F32), np.inf
    for start in starts:
        levels = np.unique(lloyd_sorted(prep.xd, start, max_iter, prefix=prep.p1).astype(_F32))
        lv = levels.astype(np.float64)
        ends = _sorted_ends(xs, lv)
        s1, s2 = prep.p1[ends[1:]] - prep.p1[ends[:-1]], prep.p2[ends[1:]] - prep.p2[ends[:-1]]
        sse = float(np.sum(s2 - 2 * lv * s1 + np.diff(ends) * lv * lv))
        if sse < best_sse:
            best, best_sse = levels, sse
    with _MEMO_LOCK:
        _LLOYD_MEMO[key] = frozen_copy(best)
        while len(_LLOYD_MEMO) > LLOYD_MEMO_SIZE:
            _LLOYD_MEMO.popitem(last=False)
    return best


LLOYD_MEMO_SIZE = 64  # (tensor, k) results: a few hundred bytes each
LLOYD_PREP_MAX = 2**22  # values: the prepared sums of a larger tensor (24 bytes a value) are not kept
_LLOYD_MEMO: OrderedDict = OrderedDict()
_PREP_MEMO: OrderedDict = OrderedDict()
_MEMO_LOCK = threading.Lock()


def frozen_copy(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.flags.writeable = False
    return out


class _Prepared:
    """What :func:`lloyd_best` reads of a sorted tensor whatever ``k``: float64 values, outward
    prefix sums of x and prefix sums of x², and the two compander densities' cumulative shares."""

    def __init__(self, xs: np.ndarray) -> None:
        self.xd = xs.astype(np.float64)
        self.p1 = _outward_prefix(self.xd)
        self.p2 = np.concatenate(([0.0], np.cumsum(self.xd * self.xd)))
        self._cdfs: list[tuple[np.ndarray, np.ndarray]] | None = None

    def float_starts(self, k: int) -> list[np.ndarray]:
        """Starts shaped like a per-tensor scaled float format: for each split of log2(k) − 1 bits into
        e >= 1 exponent and m >= 0 mantissa bits, ±(1 + j/2^m)·2^(i − bias) and the subnormals, scaled so
        the largest magnitude is max|x| (what an FP8/FP6/FP4 cast with an absmax scale uses). A tensor
        with a dense bulk and far outliers is served best by such log-spaced levels, and Lloyd's rounds
        only lower a start's MSE: the best fixed point is then never worse than such a float grid."""
        bits = int(round(np.log2(k)))
        amax = float(max(abs(self.xd[0]), abs(self.xd[-1])))
        if 2**bits != k or bits < 3 or amax == 0:
            return []
        out = []
        for e in range(1, bits - 1):
            m = bits - 1 - e
            mant = 1 + np.arange(2**m) / 2**m
            normal = (mant[None, :] * np.exp2(np.arange(1, 2**e)[:, None])).ravel()
            mags = np.unique(np.concatenate(([0.0], np.arange(1, 2**m) / 2**m * 2.0, normal)))
            mags = mags / mags[-1] * amax
            out.append(np.unique(np.concatenate((-mags[::-1], mags))))
        return out

    def compander_starts(self, k: int) -> list[np.ndarray]:
        if self._cdfs is None:
            self._cdfs = _compander_cdfs(self.xd)
        u = (np.arange(k) + 0.5) / k
        return [np.unique(x0 + span * np.interp(u, share, at)) for share, at, x0, span in self._cdfs]


def _prepared(xs: np.ndarray, digest: bytes) -> _Prepared:
    key = (digest, xs.size)
    with _MEMO_LOCK:
        prep = _PREP_MEMO.get(key)
    if prep is None:
        prep = _Prepared(xs)
        if xs.size <= LLOYD_PREP_MAX:
            with _MEMO_LOCK:
                _PREP_MEMO[key] = prep
                while len(_PREP_MEMO) > 2:
                    _PREP_MEMO.popitem(last=False)
    return prep


def _sorted_ends(xs: np.ndarray, lv: np.ndarray) -> np.ndarray:
    """Where each level's run of sorted float32 ``xs`` starts and ends (k + 1 indices): the cuts of
    :func:`nearest_level`'s float32 bounds (ties down), one binary search per level."""
    cuts = np.searchsorted(xs, _f32_bounds((lv[:-1] + lv[1:]) / 2, "down"), side="right")
    return np.concatenate(([0], cuts, [xs.size]))


def sorted_sse(xs: np.ndarray, levels: np.ndarray) -> float:
    """Σ (x − nearest level)² over sorted float32 ``xs``, exactly as :func:`codebook_quantize` would
    place them (ties down), summed in float64 element by element."""
    lv = np.asarray(levels, np.float64)
    e = xs.astype(np.float64) - np.repeat(lv, np.diff(_sorted_ends(xs, lv)))
    return float(e @ e)


def _outward_prefix(xd: np.ndarray) -> np.ndarray:
    """Prefix sums of sorted ``xd`` with S[i] - S[j] = sum(xd[j:i]); S is 0 at the first non-negative
    value and grows outward from there, so a huge outlier does not swamp the sums of small clusters."""
    n = xd.size
    z = int(np.searchsorted(xd, 0.0))
    prefix = np.empty(n + 1)
    prefix[z] = 0.0
    np.cumsum(xd[z:], out=prefix[z + 1 :])
    prefix[:z] = -np.cumsum(xd[:z][::-1])[::-1]
    return prefix


COMPANDER_POINTS = 2**18  # order statistics the start's density estimate reads (all of a smaller tensor)


def _compander_cdfs(xd: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """(cumulative share of ∫ f^(1/3), where, x0, span) for f estimated two ways: from m-spacings of the sorted
    data (m = √n; smooth in the tails) and from a histogram; both on at most COMPANDER_POINTS evenly
    spaced order statistics (min and max included): a start only needs the density's shape, and
    Lloyd's rounds then run on every value. The start of ``k`` levels is ``x0 + span * interp((j + ½) / k,
    share, where)``. One distinct value: a single start at it."""
    if xd.size > COMPANDER_POINTS:
        xd = xd[np.linspace(0, xd.size - 1, COMPANDER_POINTS).round().astype(np.int64)]
    n = xd.size
    if not xd[-1] > xd[0]:  # one distinct value: no density to follow
        return [(np.array([0.0, 1.0]), np.array([xd[0], xd[0]]), 0.0, 1.0)]
    m = max(4, int(np.sqrt(n)))
    i = np.arange(n)
    lo, hi = np.maximum(i - m, 0), np.minimum(i + m, n - 1)
    inv_f = np.maximum(xd[hi] - xd[lo], np.finfo(np.float64).tiny) / (hi - lo)  # ∝ 1 / f(x_i)
    g = np.cumsum(np.cbrt(inv_f * inv_f))  # Σ f^(-2/3) over the samples: ∫ f^(1/3) dx
    span = xd[-1] - xd[0]  # the histogram in units of the span: np.histogram refuses bins finer than an ulp of x
    counts, edges = np.histogram((xd - xd[0]) / span, bins=int(min(4096, max(64, n // 32))), range=(0.0, 1.0))
    c = np.concatenate(([0.0], np.cumsum(np.cbrt(counts.astype(np.float64)))))
    return [(g / g[-1], xd, 0.0, 1.0), (c / c[-1], edges, float(xd[0]), float(span))]


def lloyd_sorted(xd: np.ndarray, c: np.ndarray, max_iter: int = 1000, *, prefix: np.ndarray | None = None) -> np.ndarray:
    """Lloyd's algorithm on sorted float64 data ``xd`` from sorted start levels ``c``: the
    levels (float64, sorted) when the partition stops changing or after ``max_iter`` rounds.
    ``prefix``: :func:`_outward_prefix` of ``xd`` if the caller has it. From 2**15 values on, the
    rounds run in one numba kernel (:func:`quantlib._kernels.lloyd`: the same operations, the same levels)."""
    n = xd.size
    if prefix is None:
        prefix = _outward_prefix(xd)
    if c.size > 1 and n >= _kernels.MIN_SIZE and _kernels.ready():
        return _kernels.lloyd(xd, prefix, c, max_iter)
    cuts = None
    for _ in range(max_iter):  # rounds of Lloyd's algorithm, each O(K log n)
        new = np.searchsorted(xd, (c[:-1] + c[1:]) / 2, side="right")  # x == midpoint joins the lower level
        if cuts is not None and np.array_equal(new, cuts):
            break
        cuts = new
        lo, hi = np.concatenate(([0], cuts)), np.concatenate((cuts, [n]))
        count = hi - lo
        mean = (prefix[hi] - prefix[lo]) / np.maximum(count, 1)
        mean = np.clip(mean, xd[np.minimum(lo, n - 1)], xd[np.maximum(hi - 1, 0)])  # a mean lies in its cluster
        c = np.sort(np.where(count > 0, mean, c))
    return c


def log2_levels(x: object, bits: int) -> np.ndarray:
    """0 and ±2**k for the 2**(bits-1) - 1 largest k <= k_max; 2**k_max is the power of two nearest max|x|."""
    bits = check_int(bits, "bits", 2, 8)
    amax = float(np.abs(as_float_array(x)).max())
    if amax == 0:
        return np.zeros(1, _F32)
    m, e = np.frexp(amax)  # amax = m * 2**e, m in [0.5, 1); 0.75 * 2**e = 1.5 * 2**(e-1) is the midpoint
    kmax = min(int(e) if m >= 0.75 else int(e) - 1, 127)
    kmin = max(kmax - (2 ** (bits - 1) - 2), -149)
    mags = np.ldexp(1.0, np.arange(kmin, kmax + 1))
    return np.concatenate((-mags[::-1], [0.0], mags)).astype(_F32)


# ---------------------------------------------------------------------------- registry
def _codebook_result(name: str, x: np.ndarray, s: dict[str, Any], levels: np.ndarray, overhead_bits: float) -> QuantResult:
    codes, xhat = codebook_quantize(x, levels)
    clip = (float(levels[0]), float(levels[-1]))
    return QuantResult(name, s, codes, xhat, None, levels, clip, s["bits"] + overhead_bits / x.size)


def _run_quantile(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    levels = quantile_levels(x, s["bits"])
    return _codebook_result("quantile", x, s, levels, 32 * levels.size)


def _run_lloyd_max(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    levels = lloyd_max_levels(x, s["bits"], init=s["init"], seed=s["seed"], max_iter=s["max_iter"])
    return _codebook_result("lloyd_max", x, s, levels, 32 * levels.size)


def _run_log2(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    return _codebook_result("log2", x, s, log2_levels(x, s["bits"]), 8)


def _bits(default: int, lo: int, hi: int, why: str) -> Setting:
    return Setting("bits", int, default, f"Code bits: up to 2**bits levels ({lo}..{hi}).", min=lo, max=hi,
                   in_label=True, range_reason=why)


for _spec in (
    SchemeSpec(
        "quantile", "non-uniform",
        "Equal-mass levels (histogram equalisation): each of the 2^b codes covers the same share of the values.",
        r"\ell_i = x_{(\lfloor (i + \frac12)\, n / K \rfloor)},\quad K = 2^b,\quad \hat x = \ell_{k},\ k = \arg\min_i |x - \ell_i|",
        (_bits(4, 1, 16, "1 bit: two levels, the medians of the lower and upper halves of the values"),),
        _run_quantile, lambda bits, s: {"bits": bits},
    ),
    SchemeSpec(
        "lloyd_max", "non-uniform",
        "MSE-optimal levels: 1-D k-means (Lloyd's algorithm) run to convergence on the tensor itself.",
        r"\ell_i = \operatorname{mean}\{x : t_{i} < x \le t_{i+1}\},\quad t_i = \tfrac{\ell_{i-1} + \ell_i}{2}\ \text{(iterated to a fixed point)},\quad \hat x = \ell_k",
        (
            _bits(4, 1, 12, "1 bit: two levels, the 2-means of the values; above 12 bits (4096 levels) Lloyd's "
                  "rounds cost more than the levels gain"),
            Setting("init", str, "best", "best: the least-MSE of Lloyd runs from the quantile levels and two "
                    "f^(1/3) companders (deterministic; the rate–distortion limit's own); quantile: from the quantile "
                    "levels alone; random: from random distinct values.", choices=LLOYD_INITS),
            Setting("seed", int, 0, "Seed of the random start (init='random').", min=0, max=2**32 - 1,
                    when=lambda s, nd: s.get("init") == "random"),
            Setting("max_iter", int, 1000, "Stop after this many rounds if the partition still changes.", min=1, max=10**6),
        ),
        _run_lloyd_max, lambda bits, s: {"bits": min(bits, 12)},
    ),
    SchemeSpec(
        "log2", "non-uniform",
        "Power-of-two levels with the sign kept: fine near 0, coarse for large values (multiplies become shifts).",
        r"\hat x = \operatorname{sign}(x)\, 2^{k},\ k \in [k_{max} - 2^{b-1} + 2,\ k_{max}]\ \text{or}\ 0,\quad 2^{k_{max}} \approx \max|x|\ \text{(nearest level in value)}",
        (_bits(4, 2, 8, "one code is 0 and the others ±2^k: with 1 bit only 0 would be left, so 2 bits is the least "
                  "(0, ±2^k_max); beyond 8 bits the exponents leave float32's range"),),
        _run_log2, lambda bits, s: {"bits": min(max(bits, 2), 8)},
    ),
):
    register(_spec)
