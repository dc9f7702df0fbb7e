"""Rate–distortion: every registry scheme on one bits-per-element axis, against the limits of this tensor.

* :func:`rate_distortion` — one row per configuration (scheme × bit width): ``bits_per_element``
  as the scheme counts it (codes plus every stored scale, zero-point, codebook), ``mse``,
  ``sqnr_db``, the code entropy, the gap to the Shannon bound and the Pareto front.
* :func:`rd_limits` — the limits for this tensor on the same axes (see :data:`LIMITS`):
  the Shannon lower bound, Lloyd-Max and the best uniform quantizer at 1–8 bits, and the
  entropy-coded uniform quantizer.
* :func:`differential_entropy` — the m-spacing estimate of h(X) the Shannon bound uses.

Rates are bits per element; SQNR is ``10 log10(mean x² / MSE)`` as in :mod:`quantlib.metrics`.
The limits and the points are computed on :func:`quantlib.sweeps.structured_sample` of about
``max_samples`` values (2**18 by default: whole rows of a matrix, strided, with the rows of its
extremes; the MSE of a limit is then within ~0.3 % of its value on the whole of a large tensor;
pass ``max_samples=None`` for every value).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import numpy as np

from . import _kernels
from ._checks import as_float_array, check_int
from ._lazy import pandas as pd
from .metrics import code_counts, mse_sqnr, value_histograms
from .nonuniform import lloyd_best, sorted_sse
from .schemes import SCHEMES, Quantizer
from .sweeps import structured_sample, subsample, sweep_threshold

DEFAULT_BITS = tuple(range(1, 9))  # a scheme whose bits setting starts at 2 (symmetric) skips 1
LIMIT_BITS = tuple(range(1, 9))
MAX_LIMIT_SAMPLES = 2**18
#: The chart's points are evaluated on a strided subsample of at most this many values (as the limits
#: and :func:`quantlib.sweep_threshold` are): 4x less work than 1 M values, SQNR within ~0.05 dB of the
#: whole tensor's for a smooth distribution, and the same subsample on every call.
MAX_POINT_SAMPLES = 2**18
ECUQ_SAMPLES = 2**18
#: Threads the chart's tasks (one per configuration, one per limit and width) share by default: the
#: cores this process may run on, at most 4. The kernels below 4 M values run on their calling thread alone
#: (:data:`quantlib._kernels.MIN_PARALLEL`), so tasks, not kernels, are what fill the cores here.
DEFAULT_WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
LOG2E = 1 / np.log(2)
T = TypeVar("T")
EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class Limit:
    """One limit curve: its name, a sentence saying what it is, its formula (LaTeX), and ``bounds``:
    which configurations it bounds, and which can lie beyond it and why."""

    name: str
    title: str
    sentence: str
    formula: str
    bounds: str


LIMITS: dict[str, Limit] = {
    lim.name: lim
    for lim in (
        Limit("shannon", "Shannon lower bound",
              "No code of R bits per element, however long its blocks, can reach a lower MSE on a source with "
              "this differential entropy h; for a Gaussian it is σ²·4^(−R), 6.02 dB per bit.",
              r"D(R) \ge \frac{1}{2\pi e}\, 2^{2(h - R)}",
              "Every configuration, counted in the bits it stores: nothing lies above it (up to the entropy "
              "estimate's own error)."),
        Limit("lloyd_max", "Lloyd-Max (best per-tensor scalar quantizer)",
              "The 2^R levels with the least MSE on this tensor (the best fixed point of Lloyd's algorithm over "
              "several starts); the codebook itself is not counted here.",
              r"\min_{\ell_1<\dots<\ell_{2^R}} \tfrac1n \textstyle\sum_i \min_k (x_i - \ell_k)^2",
              "Every scheme that maps the whole tensor through one set of 2^R levels at R bits per element "
              "(per-tensor integer, fixed point, histogram, quantile and codebooks). A scheme that picks its grid "
              "per block or channel (ggml types, microscaling, NF4, per-channel and per-group scales) adapts to "
              "each block's range and pays for it in scale bits: it can lie above this curve."),
        Limit("uniform", "Best per-tensor uniform quantizer",
              "2^R evenly spaced levels, their step and centre chosen for the least MSE on this tensor.",
              r"\min_{\Delta, c} \tfrac1n \textstyle\sum_i \left(x_i - c - \Delta\, \mathrm{clamp}\!\left("
              r"\mathrm{round}\!\left(\tfrac{x_i - c}{\Delta} - \tfrac{2^R-1}{2}\right) + \tfrac{2^R-1}{2},\ 0,\ 2^R-1\right)"
              r" + \tfrac{(2^R-1)\Delta}{2}\right)^2",
              "Every per-tensor scheme with evenly spaced levels (integer and fixed point) at R bits per element; "
              "non-uniform levels and block-wise scales can lie above it."),
        Limit("entropy_coded_uniform", "Entropy-coded uniform quantizer",
              "A uniform grid k·Δ without ends, its codes entropy-coded: the rate is the code entropy H, the bits of "
              "information; at high rate it is 1.53 dB (0.25 bit) from the Shannon bound.",
              r"R = H(\mathrm{round}(x / \Delta)),\quad D = \tfrac1n \textstyle\sum_i (x_i - \Delta\,\mathrm{round}(x_i/\Delta))^2 \approx \tfrac{\Delta^2}{12}",
              "Not a bound: what a uniform grid reaches when its codes are entropy-coded, drawn against the code "
              "entropy, the rate such a coder needs."),
    )
}
def beyond_limit(points: pd.DataFrame, limits: pd.DataFrame, name: str, margin_db: float = 0.05) -> pd.DataFrame:
    """The points whose SQNR lies more than ``margin_db`` above limit ``name`` at their bits per element (the
    limit's SQNR interpolated linearly between its rates; points outside its rates are not judged)."""
    lim = limits[limits["limit"] == name].sort_values("rate_bits")
    if lim.empty or points.empty:
        return points.iloc[:0]
    r, q = lim["rate_bits"].to_numpy(np.float64), lim["sqnr_db"].to_numpy(np.float64)
    b = points["bits_per_element"].to_numpy(np.float64)
    inside = (b >= r[0]) & (b <= r[-1])
    return points[inside & (points["sqnr_db"].to_numpy(np.float64) > np.interp(b, r, q) + margin_db)]


COLUMNS = ("scheme", "family", "label", "settings", "bits", "bits_per_element", "mse", "sqnr_db",
           "code_entropy_bits", "shannon_gap_db", "pareto")


# --------------------------------------------------------------- entropy and the bound
def _digamma_int(k: int) -> float:
    """ψ(k) for an integer k >= 1: −γ + Σ_{j<k} 1/j (the asymptotic series beyond 1000)."""
    if k <= 1000:
        return -EULER_GAMMA + float(np.sum(1.0 / np.arange(1, k)))
    return float(np.log(k) - 1 / (2 * k) - 1 / (12 * k**2) + 1 / (120 * k**4))


#: An atom: one value holding at least this share of the values …
ATOM_SHARE = 0.01
#: … and more than this many times the count of either neighbouring value (a grid's counts change smoothly).
ATOM_RATIO = 8


def spread_ties(xs: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Float64 values on a discrete grid (float16 or bfloat16 weights, dequantized codes), sorted, with
    each value that repeats spread over its grid cell, sorted again, and the number of distinct values;
    None when a value is an atom.

    A value v whose neighbouring distinct values lie g₋ below and g₊ above owns the cell
    [v − g₋/2, v + g₊/2] (the same gap on both sides at the ends); each of its c > 1 copies is moved to
    v − g₋/2 + u (g₋ + g₊)/2 with u uniform on [0, 1) from a generator of fixed seed (the result is
    deterministic). Random, not evenly spaced, positions: the m-spacing estimator's ψ(m) term assumes
    the spacings of random points (evenly spaced ones would read 1/(2m) nats high). The estimate of the
    spread values is that of the density uniform within each cell, h ≈ H(values) + E[log₂ cell width]:
    the source's differential entropy, to the grid's own resolution.

    An atom is a point mass, not a grid: a value holding at least :data:`ATOM_SHARE` of the values and more
    than :data:`ATOM_RATIO` times the count of either neighbour (the exact zeros of a ReLU, pruned weights).
    A grid's counts change smoothly from one value to the next (by 2x at most where a float format's step
    doubles), so its most common value never looks like that.
    """
    vals, first, counts = np.unique(xs, return_index=True, return_counts=True)
    if counts.max() == 1:
        return xs, int(vals.size)
    below = np.concatenate(([0], counts[:-1]))
    above = np.concatenate((counts[1:], [0]))
    if np.any((counts >= ATOM_SHARE * xs.size) & (counts > ATOM_RATIO * np.maximum(below, above))):
        return None
    gaps = np.diff(vals)
    if gaps.size == 0:
        return None
    g_lo = np.concatenate((gaps[:1], gaps))
    g_hi = np.concatenate((gaps, gaps[-1:]))
    u = np.random.default_rng(0).random(xs.size)
    spread = np.repeat(vals - g_lo / 2, counts) + u * np.repeat((g_lo + g_hi) / 2, counts)
    return np.sort(np.where(np.repeat(counts, counts) > 1, spread, xs)), int(vals.size)


def differential_entropy(x: object, *, max_samples: int | None = MAX_LIMIT_SAMPLES) -> float:
    """Estimated differential entropy h(X) in bits, from the m-spacing estimator.

    With the n values sorted, x_(1) <= ... <= x_(n), and m = max(4, round(n^(1/4))):
    ``h = mean_i log(x_(i+m) − x_(i)) + ψ(n+1) − ψ(m)`` (nats; i = 1 … n−m), which is unbiased
    for a uniform source whatever m, since the spacings of uniform order statistics are Beta(m, n+1−m);
    for a smooth density the bias shrinks as m/n does (a Gaussian: within 0.015 bit from 4096 values,
    0.002 bit from 65 536). On a strided subsample of at most ``max_samples``.
    Values on a discrete grid (a float16 tensor) repeat, and a zero spacing would make the estimate
    −∞: each run of equal values is first spread over its grid cell (:func:`spread_ties`), so the estimate
    is that of the density uniform within each cell.
    Degenerate cases: fewer than 16 values -> ValueError; an atom (one value repeated far more often than
    its neighbours, e.g. exact zeros of a ReLU: :func:`spread_ties`) has no density: h = −inf (the bound is 0).
    """
    xs = np.sort(subsample(as_float_array(x), max_samples)).astype(np.float64)
    n = xs.size
    if n < 16:
        raise ValueError(f"the entropy estimate needs at least 16 values, got {n}")
    m = max(4, int(round(n**0.25)))
    spread = spread_ties(xs)
    if spread is None:
        return float("-inf")
    xs = spread[0]
    d = xs[m:] - xs[:-m]
    if np.any(d <= 0):
        return float("-inf")
    return float((np.mean(np.log(d)) + _digamma_int(n + 1) - _digamma_int(m)) * LOG2E)


def gaussian_entropy(variance: float) -> float:
    """h of a Gaussian of this variance, in bits: ½ log2(2πe σ²) (−inf for σ² = 0)."""
    return float(0.5 * np.log2(2 * np.pi * np.e * variance)) if variance > 0 else float("-inf")


def shannon_bound(rate: object, entropy_bits: float) -> np.ndarray:
    """The Shannon lower bound on the MSE at ``rate`` bits per element: (1/2πe) 2^(2(h − R))."""
    r = np.asarray(rate, np.float64)
    return np.exp2(2 * (entropy_bits - r)) / (2 * np.pi * np.e)


def _db(power: float, mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10 * np.log10(power / np.asarray(mse, np.float64))


# ------------------------------------------------------------------ limit curves
def _uniform_mse(xd: np.ndarray, p1: np.ndarray, p2: np.ndarray, k: int, delta: np.ndarray,
                 centre: np.ndarray) -> np.ndarray:
    """MSE of each uniform quantizer (k levels, step delta[j], centre centre[j]) on sorted float64 ``xd``,
    from prefix sums p1 = Σx, p2 = Σx² (of the centred data): O(k log n) per candidate."""
    j = np.arange(k)
    levels = centre[:, None] + (j - (k - 1) / 2) * delta[:, None]  # (C, k)
    cuts = np.searchsorted(xd, (levels[:, :-1] + levels[:, 1:]) / 2, side="right")  # (C, k-1)
    n = xd.size
    lo = np.concatenate((np.zeros((len(delta), 1), np.int64), cuts), axis=1)
    hi = np.concatenate((cuts, np.full((len(delta), 1), n)), axis=1)
    cnt, s1, s2 = hi - lo, p1[hi] - p1[lo], p2[hi] - p2[lo]
    return np.maximum((s2 - 2 * levels * s1 + levels**2 * cnt).sum(axis=1), 0) / n


def _neighbour_gap(grid: np.ndarray, value: float) -> float:
    """The larger distance from ``value`` (a point of the sorted grid, or near one) to its grid neighbours."""
    j = int(np.argmin(np.abs(grid - value)))
    return float(max(grid[min(j + 1, grid.size - 1)] - grid[j], grid[j] - grid[max(j - 1, 0)]))


class _Centred(NamedTuple):
    """Sorted values centred on their mean (float64) with prefix sums of x and x², and the search's scale."""

    xd: np.ndarray
    p1: np.ndarray
    p2: np.ndarray
    sd: float
    anchors: np.ndarray  # where a level is worth placing exactly: the original 0 and the median, centred


def _centred(xs: np.ndarray) -> _Centred:
    mu = float(np.mean(xs, dtype=np.float64))
    xd = xs.astype(np.float64) - mu  # centred: the prefix sums of x² stay well conditioned
    p1 = np.concatenate(([0.0], np.cumsum(xd)))
    p2 = np.concatenate(([0.0], np.cumsum(xd * xd)))
    sd = max(float(np.std(xd)), float(np.max(np.abs(xd))) * 1e-6, np.finfo(np.float64).tiny)
    return _Centred(xd, p1, p2, sd, np.array([-mu, xd[xd.size // 2]]))


def _uniform_best(c: _Centred, b: int) -> float:
    """Least MSE of a uniform quantizer with 2**b levels: its end levels (lo, hi) searched on a 40 × 40
    grid of distances below and above the mean (geometric, from 0.02 σ to the data's min and max), then
    on five finer 11 × 11 grids around the best pair, each pair also shifted so that a level lies exactly
    on 0 and on the median (as an integer grid's zero-point puts one on 0); a pair is evaluated in
    O(2**b log n)."""
    xd, p1, p2, sd, anchors = c
    below, above = max(-xd[0], sd * 0.03), max(xd[-1], sd * 0.03)
    k = 2**b
    lows = -np.geomspace(sd * 0.02, below, 40)
    highs = np.geomspace(sd * 0.02, above, 40)
    best = (np.inf, 0.0, 0.0)
    for _ in range(6):
        lo, hi = (a.ravel() for a in np.meshgrid(lows, highs, indexing="ij"))
        ok = hi > lo
        lo, hi = lo[ok], hi[ok]
        delta = (hi - lo) / max(k - 1, 1)
        centre = (lo + hi) / 2
        # each pair also shifted (by at most half a step) so that a level falls exactly on an anchor: a
        # dense bulk at 0 between two levels costs more than the whole search gains elsewhere
        step = np.where(delta > 0, delta, 1.0)
        shifts = []
        for anchor in anchors:
            t = (anchor - centre) / step + (k - 1) / 2  # the anchor's place in level units
            shifts.append((t - np.round(t)) * step)
        lo = np.concatenate([lo, *(lo + d for d in shifts)])
        hi = np.concatenate([hi, *(hi + d for d in shifts)])
        delta, centre = np.tile(delta, 1 + len(shifts)), np.concatenate([centre, *(centre + d for d in shifts)])
        mse = _uniform_mse(xd, p1, p2, k, delta, centre)
        i = int(np.argmin(mse))
        if mse[i] < best[0]:
            best = (float(mse[i]), float(lo[i]), float(hi[i]))
        dl, dh = _neighbour_gap(lows, best[1]), _neighbour_gap(highs, best[2])
        lows, highs = best[1] + np.linspace(-dl, dl, 11), best[2] + np.linspace(-dh, dh, 11)
    return best[0]


def _ecuq_curve(xs: np.ndarray, max_rate: float) -> list[tuple[float, float]]:
    """(code entropy, MSE) of the uniform grid k·Δ without ends for a range of steps Δ, on sorted ``xs``.
    The sorted values fall into runs, one per code: each run's ends come from one binary search per
    code boundary ((k + ½)·Δ) and its sums from prefix sums, so a step costs O(codes · log n), not O(n)."""
    xd = xs.astype(np.float64)
    sd = float(np.std(xd))
    if sd == 0:
        return []
    n = xd.size
    p1 = np.concatenate(([0.0], np.cumsum(xd)))
    p2 = np.concatenate(([0.0], np.cumsum(xd * xd)))
    out = []
    for delta in sd * np.exp2(np.linspace(2.5, -(max_rate + 1), int(4 * (max_rate + 3.5)))):
        k = np.arange(np.floor(xd[0] / delta + 0.5), np.floor(xd[-1] / delta + 0.5) + 1)
        ends = np.concatenate(([0], np.searchsorted(xd, (k[:-1] + 0.5) * delta, side="left"), [n]))
        counts = np.diff(ends)
        level = k * delta
        sse = p2[ends[1:]] - p2[ends[:-1]] - 2 * level * (p1[ends[1:]] - p1[ends[:-1]]) + counts * level * level
        p = counts[counts > 0] / n
        rate = float(-(p * np.log2(p)).sum()) + 0.0
        out.append((rate, max(float(sse.sum()), 0.0) / n))
        if rate > max_rate + 0.5:
            break
    return out


def rd_limits(x: object, bits: Iterable[int] = LIMIT_BITS, *, max_samples: int | None = MAX_LIMIT_SAMPLES,
              rates: Iterable[float] | None = None, workers: int | None = None) -> pd.DataFrame:
    """The limits of :data:`LIMITS` for this tensor: columns ``limit``, ``rate_bits``, ``mse``, ``sqnr_db``.

    Shannon bound at ``rates`` (default 0 … max(bits) + 8 in steps of 1/8; absent when h = −inf),
    Lloyd-Max and the best uniform quantizer at each of ``bits`` (1 … 12), the entropy-coded uniform
    quantizer over a range of steps (rate = its code entropy). ``attrs``: ``entropy_bits`` (h),
    ``power`` (mean x²), ``variance``, ``samples`` (values used). All on a strided subsample of at
    most ``max_samples`` values. A constant tensor has no limits beyond MSE 0: ValueError.
    ``workers``: threads for its tasks (one per curve and width; default :data:`DEFAULT_WORKERS`);
    the result does not depend on it.
    """
    plan = _LimitPlan(x, bits, max_samples, rates)
    return plan.frame(run_tasks(plan.tasks, workers))


class _LimitPlan:
    """:func:`rd_limits` as independent tasks (so that the chart can run them beside its points):
    ``tasks`` return (limit name, rows); :meth:`frame` assembles their results in task order."""

    def __init__(self, x: object, bits: Iterable[int], max_samples: int | None, rates: Iterable[float] | None) -> None:
        x = as_float_array(x)
        self.bits = [check_int(b, "bits", 1, 12) for b in bits]
        xs = np.sort(subsample(x, max_samples))
        if xs.size < 16 or xs[0] == xs[-1]:
            raise ValueError(f"rate–distortion limits need at least 16 values that are not all equal; got {xs.size} "
                             f"value(s) in [{xs[0]:g}, {xs[-1]:g}]")
        xd = xs.astype(np.float64)
        self.power, self.variance = float(np.mean(xd * xd)), float(np.var(xd))
        self.h = differential_entropy(xs, max_samples=None)
        self.xs, self.rates = xs, rates
        self.top = max(self.bits, default=8)
        sums = _centred(xs)  # the uniform tasks' shared prefix sums
        self.tasks: list[Callable[[], tuple[str, list[tuple[float, float]]]]] = [
            *(lambda b=b: ("uniform", [(float(b), _uniform_best(sums, b))]) for b in sorted(self.bits, reverse=True)),
            *(lambda b=b: ("lloyd_max", [(float(b), sorted_sse(xs, lloyd_best(xs, 2**b)) / xs.size)]) for b in self.bits),
            # 2**18 values: the entropy within 0.01 bit
            lambda: ("entropy_coded_uniform", _ecuq_curve(np.sort(subsample(xs, ECUQ_SAMPLES)), self.top)),
        ]

    def frame(self, results: Sequence[tuple[str, list[tuple[float, float]]]]) -> pd.DataFrame:
        parts: dict[str, list[tuple[float, float]]] = {name: [] for name in LIMITS}
        if np.isfinite(self.h):
            r = (np.arange(0, 8 * (self.top + 8) + 1) / 8 if self.rates is None
                 else np.asarray(list(self.rates), np.float64))
            parts["shannon"] = list(zip(r.tolist(), shannon_bound(r, self.h).tolist()))
        for name, rows in results:
            parts[name] += rows
        parts["uniform"].sort()
        rows = [{"limit": name, "rate_bits": float(a), "mse": float(m)} for name in LIMITS for a, m in parts[name]]
        df = pd.DataFrame(rows, columns=["limit", "rate_bits", "mse"])
        df["sqnr_db"] = _db(self.power, df["mse"].to_numpy())
        df.attrs.update(entropy_bits=self.h, power=self.power, variance=self.variance, samples=int(self.xs.size),
                        distinct=int(np.count_nonzero(np.diff(self.xs)) + 1))
        return df


def run_tasks(tasks: Sequence[Callable[[], T]], workers: int | None = None,
              done: Callable[[int], None] | None = None, meanwhile: Callable[[], object] | None = None) -> list[T]:
    """Results of ``tasks`` in their order, run on ``workers`` threads (default :data:`DEFAULT_WORKERS`;
    1 or a single task: on this thread). ``done(i)`` is called on this thread as task i finishes
    (in the order they finish). An exception in a task cancels those not started and is raised here.
    ``meanwhile()`` runs on this thread once the tasks are submitted (first, when they run here).
    The numpy and numba work inside releases the GIL. Each worker runs its numba kernels on itself
    alone (:func:`quantlib._kernels.one_thread_each`): the tasks are what share the cores, and kernels
    that each woke every core as well would wait on each other."""
    workers = DEFAULT_WORKERS if workers is None else check_int(workers, "workers", 1, 64)
    if workers == 1 or len(tasks) <= 1:
        if meanwhile is not None:
            meanwhile()
        out = []
        for i, task in enumerate(tasks):
            out.append(task())
            if done is not None:
                done(i)
        return out
    results: list[Any] = [None] * len(tasks)
    with ThreadPoolExecutor(min(workers, len(tasks)), thread_name_prefix="quantlib-rd",
                            initializer=_kernels.one_thread_each) as pool:
        pending = {pool.submit(task): i for i, task in enumerate(tasks)}
        try:
            if meanwhile is not None:
                meanwhile()
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    i = pending.pop(f)
                    results[i] = f.result()
                    if done is not None:
                        done(i)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return results


# ------------------------------------------------------------------ configurations
def configurations(schemes: Iterable[str] | None = None, bit_widths: Iterable[int] | None = None) -> list[tuple[str, dict]]:
    """(scheme, validated settings) for every registry scheme (or the named schemes / families)
    at every bit width in ``bit_widths`` its ``at_bits`` rule accepts, without repeats (a fixed-width
    format appears once, a scheme that clamps the bits appears once per distinct width)."""
    names = _scheme_names(schemes)
    widths = list(DEFAULT_BITS if bit_widths is None else bit_widths)
    for b in widths:
        check_int(b, "bit width", 1, 16)
    out, seen = [], set()
    for name in names:
        spec = SCHEMES[name]
        for b in widths:
            try:
                s = spec.validate(spec.at_bits(b, spec.defaults()))
            except (ValueError, TypeError):
                continue  # this scheme has no configuration at b bits (e.g. fixed point at 1 bit)
            key = (name, tuple(sorted(s.items())))
            if key not in seen:
                seen.add(key)
                out.append((name, s))
    return out


def _scheme_names(schemes: Iterable[str] | None) -> list[str]:
    if schemes is None:
        return list(SCHEMES)
    if isinstance(schemes, str):
        schemes = [schemes]
    families = {s.family for s in SCHEMES.values()}
    names: list[str] = []
    for item in schemes:
        if item in SCHEMES:
            names.append(item)
        elif item in families:
            names += [n for n, s in SCHEMES.items() if s.family == item]
        else:
            raise ValueError(f"{item!r} is neither a scheme nor a family; schemes: {', '.join(SCHEMES)}; "
                             f"families: {', '.join(sorted(families))}")
    return list(dict.fromkeys(names))


def changed_settings(scheme: str, settings: dict[str, Any]) -> dict[str, Any]:
    spec = SCHEMES[scheme]
    return {k: v for k, v in settings.items() if v != spec.setting(k).default}


def pareto_front(bits: object, sqnr: object) -> np.ndarray:
    """True for the points no other point beats: none has fewer or equal bits and a higher or equal
    SQNR with one of them strict (of equal points, the first). O(n log n)."""
    b, q = np.asarray(bits, np.float64), np.asarray(sqnr, np.float64)
    order = np.lexsort((-q, b))  # by bits, then best SQNR first
    qs = q[order]
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(qs)[:-1]))
    out = np.zeros(b.size, bool)
    out[order] = qs > best_before
    return out


def scheme_points(x: np.ndarray, configs: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(rows, skipped) of :func:`rate_distortion` for the configurations ``configs`` on ``x``
    (the Pareto and Shannon-gap columns are added by :func:`finish_points`)."""
    x = as_float_array(x)  # checked once here: each run below is what Quantizer(...)(x) runs
    rows, skipped = [], []
    for name, s in configs:
        q = Quantizer(name, **s)
        try:
            r = q.spec.run(x, dict(q.settings))
            mse, sqnr = mse_sqnr(x, r.dequantized)
            p = _code_probabilities(np.asarray(r.codes))
        except (ValueError, TypeError) as exc:
            skipped.append((q.label, str(exc)))
            continue
        rows.append({"scheme": name, "family": q.spec.family, "label": q.label,
                     "settings": json.dumps(changed_settings(name, s), sort_keys=True),
                     "bits": q.spec.code_bits(s), "bits_per_element": float(r.bits_per_element),
                     "mse": mse, "sqnr_db": sqnr, "code_entropy_bits": float(-(p * np.log2(p)).sum()) + 0.0})
    return rows, skipped


def _code_probabilities(codes: np.ndarray) -> np.ndarray:
    """The non-zero shares of each distinct code. Codes of 8 or 16 bits are counted by their bit
    patterns in one bincount (the same counts, relabelled); wider ones by :func:`code_counts`."""
    if codes.dtype.kind in "iu" and codes.dtype.itemsize <= 2:
        counts = np.bincount(codes.reshape(-1).view(f"u{codes.dtype.itemsize}"), minlength=1)
    else:
        counts = code_counts(codes)[1]
    return counts[counts > 0] / codes.size


def tensor_stats(x: np.ndarray, entropy_bits: float | None = None) -> tuple[float, float]:
    """(h in bits, or −inf; mean x²) of a tensor, as the Shannon-gap column uses them (``entropy_bits``:
    h already estimated on these values, e.g. by the limits, instead of sorting them again)."""
    if entropy_bits is None:
        entropy_bits = differential_entropy(x) if x.size >= 16 and x.min() != x.max() else float("-inf")
    return entropy_bits, float(np.mean(np.square(x, dtype=np.float64)))


def finish_points(rows: list[dict[str, Any]], entropy_bits: float, power: float) -> pd.DataFrame:
    """The points as :func:`rate_distortion`'s DataFrame: ``shannon_gap_db`` and ``pareto`` added."""
    df = pd.DataFrame(rows, columns=list(COLUMNS[:-2]))
    df["bits"] = df["bits"].astype("Int64")
    if np.isfinite(entropy_bits) and power > 0:
        df["shannon_gap_db"] = _db(power, shannon_bound(df["bits_per_element"].to_numpy(np.float64), entropy_bits)) \
            - df["sqnr_db"].to_numpy(np.float64)
    else:
        df["shannon_gap_db"] = np.nan
    df["pareto"] = pareto_front(df["bits_per_element"], df["sqnr_db"]) if len(df) else np.zeros(0, bool)
    return df


def select(points: pd.DataFrame, schemes: Iterable[str]) -> pd.DataFrame:
    """The rows of :func:`rate_distortion`'s ``points`` whose scheme is in ``schemes`` (names), with the
    Pareto front recomputed among them and ``attrs["skipped"]`` cut to those schemes too: how the chart
    shows a choice of families from points computed for every scheme once."""
    keep = set(schemes)
    out = points[points["scheme"].isin(keep)].reset_index(drop=True)
    out["pareto"] = pareto_front(out["bits_per_element"], out["sqnr_db"]) if len(out) else np.zeros(0, bool)
    out.attrs = {**points.attrs,
                 "skipped": [(label, msg) for label, msg in points.attrs.get("skipped", [])
                             if label.split(" · ")[0] in keep]}
    return out


def rate_distortion(
    x: object,
    schemes: Iterable[str] | None = None,
    bit_widths: Iterable[int] | None = None,
    *,
    max_samples: int | None = MAX_POINT_SAMPLES,
    progress: Callable[[int, int, str], None] | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Every configuration of :func:`configurations` on ``x``: a tidy DataFrame, one row per point.

    Columns (:data:`COLUMNS`): ``scheme``, ``family``, ``label`` (the configuration, e.g.
    ``symmetric · bits=4 · minmax``), ``settings`` (JSON of the settings that differ from the defaults),
    ``bits`` (bits of one code), ``bits_per_element`` (the scheme's own count: codes + every stored
    scale, zero-point and codebook, divided by the tensor size), ``mse``, ``sqnr_db``,
    ``code_entropy_bits`` (entropy of the code histogram: the bits of information the codes carry),
    ``shannon_gap_db`` (the Shannon bound's SQNR at this point's bits per element minus its SQNR;
    NaN when h = −inf) and ``pareto`` (on the front of bits_per_element vs sqnr_db).
    ``schemes``: registry names and/or family names (None: every scheme); ``bit_widths`` (default 1…8; each scheme at the widths its own settings allow).
    ``max_samples`` (default :data:`MAX_POINT_SAMPLES`, 2**18): a larger tensor is evaluated on the
    deterministic sample :func:`quantlib.sweeps.structured_sample` gives (whole rows of a matrix, strided,
    the rows of its minimum and maximum in: per-channel and block schemes see their own channels and
    blocks; its size is the one the bits are counted over; ``attrs["size"]`` says how many values were
    used); None: every value.
    ``progress(i, total, label)`` is called on the calling thread as each configuration finishes (i counts
    them). ``workers``: threads the configurations share (default :data:`DEFAULT_WORKERS`); the rows come
    in :func:`configurations` order whatever it is. A configuration
    the scheme refuses on this tensor (e.g. a float16 block scale that overflows) is left out and
    listed in ``attrs["skipped"]`` as (label, message); ``attrs["entropy_bits"]`` is h.
    """
    return rd_chart(x, schemes, bit_widths, max_samples=max_samples, progress=progress, workers=workers,
                    limits=False).points


def warm_up(size: int = 2**16, *, pause: Callable[[], None] | None = None) -> None:
    """Do on ``size`` Gaussian values what a first chart otherwise waits for (on this thread, under a
    second warm): numba imported and its registries loaded (~0.8 s), every kernel that the registry's
    schemes, the value histograms and Explore's clipping-threshold sweep call read from numba's on-disk
    cache, in its two forms (serial, which tensors under 4 M values run, and parallel), pandas imported;
    :func:`rd_chart` once. Where the cache lacks them the kernels are compiled and cached: 1-2 minutes
    that hold the GIL most of the time. ``size`` at least :data:`quantlib._kernels.MIN_SIZE` (2**15),
    below which the numpy paths run instead.

    ``pause``: called before each step (each scheme's configurations, the histograms and sweep, the
    whole chart: the limits, the rest loaded by then; the same again for the parallel forms) and returns
    when the step may run. The app starts this in a background thread when the server's first session
    opens, with a ``pause`` that returns once no page is running: the page being opened compiles the
    kernels it needs itself, first, and never shares the GIL or numba's compiler lock with the warm-up
    for longer than a step."""
    from .data import synthetic

    x = synthetic("normal", check_int(size, "size", _kernels.MIN_SIZE, 2**20), 0)
    step = pause or (lambda: None)
    for parallel in (False, True):  # the parallel forms on this thread alone (their regions wait for no core)
        with _kernels.parallel_kernels() if parallel else contextlib.nullcontext():
            for name in SCHEMES if pause is not None else ():
                step()
                scheme_points(x, configurations([name]))
            step()
            value_histograms(x, x)  # the distribution plots' histograms, Explore's and Compare's
            sweep_threshold(x, num_points=48, max_samples=2**16)  # Explore's clipping-threshold curve
            step()
            rd_chart(x, workers=1)


class RDChart(NamedTuple):
    """What the Rate–distortion chart draws: ``points`` (:func:`rate_distortion`'s frame) and ``limits``
    (:func:`rd_limits`' frame; None when not asked for or when the tensor has none, then ``limits_error``
    says why)."""

    points: pd.DataFrame
    limits: pd.DataFrame | None
    limits_error: str | None = None


def rd_chart(
    x: object,
    schemes: Iterable[str] | None = None,
    bit_widths: Iterable[int] | None = None,
    *,
    max_samples: int | None = MAX_POINT_SAMPLES,
    progress: Callable[[int, int, str], None] | None = None,
    workers: int | None = None,
    limits: bool = True,
) -> RDChart:
    """:func:`rate_distortion` and (``limits=True``) :func:`rd_limits` of ``x`` in one pool of tasks,
    so the limits' curves run beside the configurations: the whole chart in one call, the same frames
    as the two functions return (both on the one subsample ``max_samples`` gives; with the defaults,
    2**18 values for each, as the two functions use). ``progress(i, total, label)`` counts the configurations and the limit
    tasks together (label ``limits``). A tensor without limits (constant, or under 16 values) gives
    ``limits=None`` and the ValueError's message in ``limits_error``."""
    x = as_float_array(x)
    x = structured_sample(x, max_samples)  # whole rows: per-channel settings see a matrix
    configs = configurations(schemes, bit_widths)
    plan, error = None, None
    if limits:
        try:
            plan = _LimitPlan(x, LIMIT_BITS, None, None)  # x is already the subsample
        except ValueError as exc:
            error = str(exc)
    limit_tasks = plan.tasks if plan is not None else []
    labels = ["limits"] * len(limit_tasks) + [Quantizer(name, **s).label for name, s in configs]
    tasks = [*limit_tasks, *(lambda c=c: scheme_points(x, [c]) for c in configs)]
    finished = [0]

    def done(i: int) -> None:
        finished[0] += 1
        if progress is not None:
            progress(finished[0], len(tasks), labels[i])

    # pandas (for the frames at the end) is imported while the tasks run, if it is not yet
    results = run_tasks(tasks, workers, done, meanwhile=lambda: pd.DataFrame)
    n = len(limit_tasks)
    rows = [r for part in results[n:] for r in part[0]]
    skipped = [s for part in results[n:] for s in part[1]]
    h, power = tensor_stats(x, plan.h if plan is not None else None)  # the limits' h: the same values, sorted once
    df = finish_points(rows, h, power)
    df.attrs.update(skipped=skipped, entropy_bits=h, power=power, size=int(x.size))
    return RDChart(df, plan.frame(results[:n]) if plan is not None else None, error)
