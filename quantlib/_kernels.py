"""Fused, multi-threaded kernels for the hot paths (numba), with exact numpy fallbacks.

Each kernel does in one pass over the data what the numpy path does in several, with the
same float32 operations in the same order, so results are bit-identical (the reference
tests run through these kernels). ``AVAILABLE`` is False when numba cannot be imported (or
``QUANTLIB_NO_NUMBA`` is set); callers then use their numpy code.

* ``quantize_*``: q = clamp(rint(x op m) [+ z], qmin, qmax) for per-tensor params, counting
  the non-finite values of x in the same pass (the input check costs no pass of its own).
  ``fma`` evaluates ``x * m + z`` with one rounding (LLVM contraction, as the FBGEMM kernel
  torch's quantize_per_tensor runs) — the only kernel compiled with ``contract``.
* ``fake_*``: the same, then dequantized in the same pass.
* ``histc``: torch.histc's bin rule; ``histogram_edges``: np.histogram's (guess from the
  bin width, then corrected against the real edges, exactly as numpy does).
* ``error_sums``: the sums behind mse / sqnr / cosine / mae / max error / clipping split.
* ``bucketize``: ``np.searchsorted(bounds, x, side)`` for float32 x and bounds, a binary search
  per element on every core (the nearest-level search of codebook schemes with many levels).
* ``lloyd``: the rounds of Lloyd's algorithm on sorted float64 data (:func:`quantlib.nonuniform.lloyd_sorted`),
  the same float64 operations in the same order, without numpy's per-call cost in each round.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

# numba is optional (everything has a numpy path) and costs a few hundred ms to import, so
# quantlib._numba (numba and the kernels) is imported on the first call that uses a kernel,
# never at ``import quantlib``. AVAILABLE says whether numba is there to be imported.
AVAILABLE = not os.environ.get("QUANTLIB_NO_NUMBA") and importlib.util.find_spec("numba") is not None

MIN_SIZE = 2**15  # below this the numpy path is as fast and needs no compilation
#: Below this many values (elements x candidates) a kernel runs on the calling thread alone (its serial twin).
#: Waking the other threads costs little on an idle machine, but on a busy one (other sessions,
#: other processes) a parallel region waits for a core to come free: on 2 busy cores a 65 536-
#: value error sum took 16 ms on 2 threads against 0.16 ms on one, and 1 M values 16 ms against
#: 3.5 ms; from 4 M values on, an idle machine's second core is worth more than that risk.
MIN_PARALLEL = 2**22


@cache
def _jit() -> ModuleType | None:
    """quantlib._numba, imported once; None (and AVAILABLE turns False) if numba fails to import."""
    global AVAILABLE
    try:
        from . import _numba
    except ImportError:  # pragma: no cover - a broken numba install
        AVAILABLE = False
        return None
    return _numba


_LAUNCH_LOCK = threading.Lock()


def threadsafe_layer() -> bool:
    """Whether numba will run parallel kernels on a threading layer that several Python threads may
    launch at once (TBB or OpenMP). Its fallback, ``workqueue``, aborts the whole process when two
    threads launch parallel kernels at the same time: where it is the layer numba would choose (neither
    TBB nor libgomp can be loaded, or ``NUMBA_THREADING_LAYER=workqueue``), :func:`guard_parallel`
    makes the launches take turns."""
    import numba

    layer = numba.config.THREADING_LAYER
    if layer != "default":
        return layer != "workqueue"  # tbb, omp, safe, threadsafe, forksafe: numba insists or raises
    for name in numba.config.THREADING_LAYER_PRIORITY:
        if name == "workqueue":
            return False
        try:
            importlib.import_module(f"numba.np.ufunc.{name}pool")
        except ImportError:
            continue
        return True
    return False


def guard_parallel(namespace: dict[str, Any]) -> None:
    """Route each ``parallel=True`` kernel in ``namespace`` (a kernel module's globals, at its end) through
    :func:`_launcher`. No jitted code calls these kernels (they are entry points), so replacing the
    module's names changes only the Python callers' path (about a microsecond a call)."""
    from numba.core.registry import CPUDispatcher

    serial = not threadsafe_layer()
    for name, obj in list(namespace.items()):
        if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("parallel"):
            namespace[name] = _launcher(obj, serial)


_LOCAL = threading.local()


def _launcher(kernel: Callable[..., Any], serial: bool) -> Callable[..., Any]:
    """``kernel`` as called from Python: on one thread when the calling thread asked for it
    (:func:`one_thread_each`), and one launch at a time when ``serial`` (the threading layer is
    not thread-safe, :func:`threadsafe_layer`)."""
    import numba

    @functools.wraps(kernel)
    def launch(*args: Any) -> Any:
        if getattr(_LOCAL, "one_thread", False) and numba.get_num_threads() != 1:
            numba.set_num_threads(1)
        if serial:
            with _LAUNCH_LOCK:
                return kernel(*args)
        return kernel(*args)

    launch.kernel = kernel  # type: ignore[attr-defined]
    return launch


def one_thread_each() -> None:
    """Make the calling thread's numba kernels run on that thread alone (numba's thread count is per
    calling thread): for the workers of a pool whose tasks already share the cores. Only a flag here,
    read at each launch, so a pool starts without importing numba (its first kernel does that)."""
    _LOCAL.one_thread = True


def _kernel(name: str, n: int) -> tuple[Callable[..., Any], int]:
    """The kernel ``name`` for ``n`` values (elements x candidates) and the chunks its sums are split in.
    From :data:`MIN_PARALLEL` on, the parallel kernel, 4 chunks per thread; below, its serial twin
    (``quantlib._numba.SERIAL``: the same code without ``parallel``, on the calling thread, about half
    the compile on a fresh install) with 4 chunks, as the parallel kernel had on one thread. Inside
    :func:`parallel_kernels`, the parallel one at every size."""
    k = _jit()
    if n >= MIN_PARALLEL or getattr(_LOCAL, "parallel", False):
        return getattr(k, name), max(1, k.nb.get_num_threads() * 4)
    return k.SERIAL[name], 4


@contextmanager
def parallel_kernels() -> Iterator[None]:
    """Run the calling thread's kernels in their parallel form at every size, on that thread alone (numba's
    thread count is per calling thread; restored after): for :func:`quantlib.warm_up`, which compiles or
    loads both forms on a small tensor and should not wait for a free core on a busy machine."""
    nb = _jit().nb
    before, one = nb.get_num_threads(), getattr(_LOCAL, "one_thread", False)
    _LOCAL.parallel = _LOCAL.one_thread = True
    try:
        yield
    finally:
        _LOCAL.parallel, _LOCAL.one_thread = False, one
        nb.set_num_threads(before)


def _fresh(n: int, dtype: np.dtype) -> np.ndarray:
    """A new output array whose pages are touched once by this thread: first-touch page faults
    taken by several worker threads at once are many times slower on some kernels (measured
    70 ms instead of 7 ms for 64 MB here)."""
    out = np.empty(n, dtype=dtype)
    out.fill(0)
    return out


def _ro(*arrays: np.ndarray) -> list[np.ndarray]:
    """Read-only views of a kernel's input arrays. numba types a read-only array apart from a writable
    one, so each kernel would be compiled twice, once for the app's tensors (read-only, shared between
    sessions) and once for the arrays computed from them; passed read-only always, one compilation
    serves both, and :func:`quantlib.warm_up` warms the one the app calls."""
    views = []
    for a in arrays:
        v = a.view()
        v.flags.writeable = False
        views.append(v)
    return views


def ready() -> bool:
    """True when numba is there (imported, and the kernels loaded, on the first call)."""
    return AVAILABLE and _jit() is not None


def usable(x: object) -> bool:
    """True when the fused kernels apply: numba present, a large contiguous float32 array."""
    return (AVAILABLE and isinstance(x, np.ndarray) and x.size >= MIN_SIZE and x.dtype == np.float32
            and x.flags.c_contiguous and _jit() is not None)


def quantize_per_tensor(x: np.ndarray, m: float, zp: int, qmin: int, qmax: int, mode: str,
                        dtype: np.dtype) -> tuple[np.ndarray, int]:
    """Codes for per-tensor params and the number of non-finite values of ``x`` (the codes
    are meaningless unless it is 0); ``mode`` is divide | multiply | fma (see module doc)."""
    [flat] = _ro(x.reshape(-1))
    out = np.empty(flat.size, dtype=dtype)  # 1-2 byte codes: few pages, no first-touch penalty measured
    f32 = np.float32
    kernel, _ = _kernel(f"quantize_{mode}", flat.size)
    if mode == "fma":
        bad = kernel(flat, f32(m), f32(zp), f32(qmin), f32(qmax), out)
    else:
        bad = kernel(flat, f32(m), np.int32(zp), f32(qmin - zp), f32(qmax - zp), out)
    return out.reshape(x.shape), int(bad)


def fake_quantize_per_tensor(x: np.ndarray, m: float, zp: int, qmin: int, qmax: int, mode: str,
                             s: float) -> tuple[np.ndarray, int]:
    """Dequantized values in one pass, (clamp(rint(x op m))) * s or / m for amax mode, and the
    number of non-finite values of ``x`` (the values are meaningless unless it is 0)."""
    [flat] = _ro(x.reshape(-1))
    out = _fresh(flat.size, np.float32)
    f32 = np.float32
    lo, hi = f32(qmin - zp), f32(qmax - zp)
    kernel, _ = _kernel(f"fake_{mode}", flat.size)
    bad = kernel(flat, f32(m), lo, hi, f32(s), out)
    return out.reshape(x.shape), int(bad)


def histc(x: np.ndarray, bins: int, lo: np.float32, hi: np.float32) -> np.ndarray:
    kernel, chunks = _kernel("histc", x.size)
    return kernel(*_ro(x.reshape(-1)), bins, np.float32(lo), np.float32(hi), chunks)


def histogram_edges(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    kernel, chunks = _kernel("histogram_edges", x.size)
    return kernel(*_ro(x.reshape(-1), edges.astype(np.float64)), float(edges[0]), float(edges[-1]), chunks)


def error_sums(x: np.ndarray, xh: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """(sum e², sum x², sum x̂², sum x·x̂, sum |e|, max |e|) in float64."""
    kernel, chunks = _kernel("error_sums", x.size)
    acc = kernel(*_ro(x.reshape(-1), xh.reshape(-1)), chunks)
    s = acc.sum(axis=0)
    return float(s[0]), float(s[1]), float(s[2]), float(s[3]), float(s[4]), float(acc[:, 5].max())


def candidate_sse(x: np.ndarray, m: np.ndarray, zp: np.ndarray, lo: np.ndarray, hi: np.ndarray, s: np.ndarray,
                  mode: str) -> np.ndarray:
    """Sum of squared errors (float64) of one per-tensor quantize-dequantize of the 1-D float32
    ``x`` per candidate j (all arguments but ``x`` have one float32 entry per candidate):
    ``divide``/``multiply``: r = clamp(rint(x / m or x * m), lo, hi), x̂ = r * s;
    ``amax``: the same with x * m, x̂ = r / s; ``fma``: r = clamp(rint(fma(x, m, zp)), lo, hi),
    x̂ = (r - zp) * s — the same float32 operations as the quantize kernels, then dequantize."""
    flat, *f32 = _ro(x.reshape(-1), *(np.ascontiguousarray(a, dtype=np.float32) for a in (m, zp, lo, hi, s)))
    if mode == "fma":
        kernel, chunks = _kernel("candidate_sse_fma", x.size * f32[0].size)
        return kernel(flat, *f32, chunks)
    kernel, chunks = _kernel("candidate_sse", x.size * f32[0].size)
    return kernel(flat, *f32, {"divide": 0, "multiply": 1, "amax": 2}[mode], chunks)


def histogram_sse(centres: np.ndarray, counts: np.ndarray, scale: np.ndarray, zp: np.ndarray, qlo: float,
                  qhi: float) -> np.ndarray:
    """Cost of each candidate (scale, zero-point) on a histogram, float64: sum over bins of
    count * ((clip(rint(c / s) + z, qlo, qhi) - z) * s - c)^2 (numpy's elementwise operations,
    summed in another order)."""
    full = np.asarray(counts) != 0  # empty bins add nothing
    f64 = _ro(*(np.ascontiguousarray(a, dtype=np.float64) for a in (centres[full], counts[full], scale, zp)))
    kernel, chunks = _kernel("histogram_sse", f64[0].size * f64[2].size)
    return kernel(*f64, float(qlo), float(qhi), chunks)


def bucketize(x: np.ndarray, bounds: np.ndarray, right: bool) -> np.ndarray:
    """``np.searchsorted(bounds, x, side="right" if right else "left")`` (int64, x's shape) for a
    float32 ``x`` and sorted float32 ``bounds``: the same comparisons, so the same indices. Each value
    starts from a guess read in a table of 4 cells per bound over [bounds[0], bounds[-1]] and then
    steps to its exact place by comparing with the neighbouring bounds (one or two steps for a smooth
    distribution), instead of a binary search's log2(bounds) unpredictable branches."""
    bounds = np.ascontiguousarray(bounds)
    b0, b1 = float(bounds[0]), float(bounds[-1])
    cells = 4 * bounds.size
    inv_w = cells / (b1 - b0) if b1 > b0 and np.isfinite(cells / (b1 - b0)) else 0.0
    edges = b0 + np.arange(cells) / inv_w if inv_w else np.full(cells, b0)
    lut = np.searchsorted(bounds.astype(np.float64), edges, side="right" if right else "left")
    out = _fresh(x.size, np.int64)
    kernel, _ = _kernel("bucketize", x.size)
    kernel(*_ro(x.reshape(-1), bounds), bool(right), *_ro(lut), b0, inv_w, out)
    return out.reshape(x.shape)


def lloyd(xd: np.ndarray, prefix: np.ndarray, c: np.ndarray, max_iter: int) -> np.ndarray:
    """Lloyd's rounds from start levels ``c`` on sorted float64 ``xd`` with outward prefix sums
    ``prefix``: the levels when the partition stops changing or after ``max_iter`` rounds."""
    # the start levels are a writable copy: the kernel replaces them each round
    return _jit().lloyd(*_ro(xd, prefix), np.array(c, dtype=np.float64), int(max_iter))
