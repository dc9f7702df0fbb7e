"""Whole checkpoints: a streamed per-tensor report of a safetensors or GGUF checkpoint, on Dask.

:func:`checkpoint_report` reads every tensor of a checkpoint — one ``.safetensors`` file, a folder
of shards with ``model.safetensors.index.json``, or a ``.gguf`` file — memory-mapped, a slice of
rows at a time, quantizes it with each scheme and returns a tidy table (one row per tensor and
scheme). The work runs on Dask distributed: a ``LocalCluster`` of worker processes by default, or
an existing cluster (``scheduler="tcp://host:port"``; its workers must see the same path). Neither
the client nor a worker ever holds the whole checkpoint: the client holds the tensors' names,
offsets and a few sums; a worker holds one slice of one tensor (or, for the schemes that need it,
one whole tensor).

How a tensor is split. A tensor of more than ``chunk_bytes`` (as float32) is read in slices of
whole rows (first axis), one task per slice; a 1-D tensor is never split. Each scheme says on its
spec how it can be sliced (:class:`quantlib.schemes.Chunking`): element-wise casts and block
formats slice at any multiple of their block (slice sizes are rounded to a common multiple of
every scheme's block and the row length); one scale per row (per-channel or per-group along axis
0) slices by rows; a per-tensor min-max calibration is *pinned* first — pass 1 reads the tensor's
min and max, pass 2 quantizes every slice with the scale (and zero-point) the whole tensor gives.
Within a task a slice is quantized :data:`PIECES` pieces of rows at a time (the same rules), so a
worker holds one slice plus one piece's temporaries. Schemes whose result depends on the whole
tensor in another way (histogram, MSE or percentile calibration, per-tensor float scaling, nvfp4's
global scale, codebooks fitted to the data, stochastic rounding, an importance matrix) run on the
whole tensor in one task, which then holds that tensor.

What is combined, exactly. Every piece returns sums in float64 — squared error, squared signal,
element and clip counts, stored bits — and every slice its count, mean and central sums
Σ(x − mean)^k, k = 2, 3, 4, with min / max (merged by the exact pairwise update). Pieces and
slices are added in row order, so a tensor's metrics are those of the whole tensor (sums, not
averages of averages) up to float64 rounding, and the report is identical whatever the number
of workers or the scheduler (the slices depend on the shape, ``chunk_bytes`` and the schemes'
blocks only). The share beyond 6σ needs the tensor's σ: pass 2 counts it from pass 1's moments.
Statistics: ``std`` (population), ``max_abs_over_std``, ``excess_kurtosis`` = n·M4 / M2² − 3,
``beyond_6sigma`` = share of |x − mean| > 6σ. A constant tensor has std 0: the ratios are NaN.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._lazy import pandas as pd
from .checkpoint_names import KINDS, layer_index, tensor_kind
from .loaders import (
    bf16_to_float32,
    safetensors_header,
    safetensors_header_length,
    safetensors_numpy_dtype,
)

INDEX = "model.safetensors.index.json"
MAX_INDEX_BYTES = 64 * 2**20
DEFAULT_CHUNK_BYTES = 32 * 2**20  # float32 bytes of one slice of rows
PIECES = 4  # a slice is quantized a quarter at a time: a worker holds the slice and one piece's temporaries
SUM_SLICE = 2**20  # elements per float64 temporary when summing
SIGMAS = 6.0
#: The report's columns, in order.
COLUMNS = ("tensor", "scheme", "sqnr_db", "mse", "clip_ratio", "bits_per_element", "layer", "kind", "shape", "dtype",
           "elements", "stored_bytes", "std", "max_abs_over_std", "excess_kurtosis", "beyond_6sigma", "chunks", "file",
           "note")


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's bytes are: ``file`` (absolute path), ``offset`` (absolute), ``nbytes``;
    ``dtype`` the stored type (safetensors ``"BF16"``, ``"F32"`` …; GGUF ``"F16"``, ``"Q4_K"`` …),
    ``shape`` the numpy shape, ``container`` ``"safetensors"`` or ``"gguf"``."""

    name: str
    file: str
    offset: int
    nbytes: int
    dtype: str
    shape: tuple[int, ...]
    container: str

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def rows(self) -> int:
        """Rows a slice is made of: the first axis (1 for a 1-D tensor, never split)."""
        return self.shape[0] if len(self.shape) >= 2 else 1

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self.shape[1:] if len(self.shape) >= 2 else self.shape


# ---------------------------------------------------------------- opening a checkpoint
def open_checkpoint(path: str | os.PathLike) -> list[TensorRef]:
    """Every tensor of a checkpoint, its headers checked, sorted by name; no tensor data is read.

    ``path``: a ``.safetensors`` file, a ``.gguf`` file, a folder holding ``model.safetensors.index.json``
    or that index file itself. A shard the index names must be a file inside the index's folder
    (a name that leads outside it is refused), present, and hold the tensors the index puts in it;
    every header is checked as :func:`quantlib.load_tensors` checks it (offsets inside the file, so
    a truncated shard is refused here). Errors are ValueError naming the file."""
    p = Path(path)
    if p.is_dir():
        index = p / INDEX
        if not index.is_file():
            raise ValueError(f"{p}: a checkpoint folder needs {INDEX} (the shard index); none is there")
        refs = _sharded(index)
    elif not p.is_file():
        raise ValueError(f"{p}: no such file or folder")
    elif p.name.endswith(".index.json"):
        refs = _sharded(p)
    elif p.suffix.lower() == ".safetensors":
        refs = _safetensors_refs(p)
    elif p.suffix.lower() == ".gguf":
        refs = _gguf_refs(p)
    else:
        raise ValueError(f"{p.name}: not a checkpoint; give a .safetensors file, a .gguf file, or a folder with {INDEX}")
    if not refs:
        raise ValueError(f"{p.name}: the checkpoint holds no tensors")
    for r in refs:
        if r.size == 0:
            raise ValueError(f"{Path(r.file).name}: tensor {r.name!r} is empty (shape {r.shape}); nothing to quantize")
    return sorted(refs, key=lambda r: r.name)


def _safetensors_refs(file: Path) -> list[TensorRef]:
    try:
        size = file.stat().st_size
        with open(file, "rb") as f:
            n = safetensors_header_length(f.read(8), size)
            header = safetensors_header(f.read(n), size - 8 - n)
    except OSError as exc:
        raise ValueError(f"{file.name}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"{file.name}: {exc}") from None
    base = 8 + n
    return [TensorRef(k, str(file.resolve()), base + m["data_offsets"][0], m["data_offsets"][1] - m["data_offsets"][0],
                      m["dtype"], tuple(int(d) for d in m["shape"]) or (1,), "safetensors") for k, m in header.items()]


def _sharded(index: Path) -> list[TensorRef]:
    folder = index.parent.resolve()
    try:
        if index.stat().st_size > MAX_INDEX_BYTES:
            raise ValueError(f"{index.name}: over {MAX_INDEX_BYTES:,} bytes; not a shard index")
        doc = json.loads(index.read_bytes())
    except OSError as exc:
        raise ValueError(f"{index.name}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{index.name}: not JSON ({exc})") from None
    wmap = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(wmap, dict) or not wmap or not all(isinstance(k, str) and isinstance(v, str) for k, v in wmap.items()):
        raise ValueError(f"{index.name}: needs a non-empty \"weight_map\" of tensor name -> shard file name")
    shards: dict[str, list[str]] = {}
    for tensor, shard in wmap.items():
        shards.setdefault(shard, []).append(tensor)
    refs = []
    for shard in sorted(shards):
        names = shards[shard]
        target = (folder / shard).resolve()
        if Path(shard).is_absolute() or ".." in Path(shard).parts or not target.is_relative_to(folder):
            raise ValueError(f"{index.name}: shard {shard!r} (for tensor {names[0]!r}) is outside the checkpoint folder; "
                             "shards must be files inside the folder of the index")
        if not target.is_file():
            more = f" and {len(names) - 1} more" if len(names) > 1 else ""
            raise ValueError(f"{index.name}: shard {shard!r} (holding {names[0]!r}{more}) is missing from {folder}")
        found = {r.name: r for r in _safetensors_refs(target)}
        absent = [t for t in names if t not in found]
        if absent:
            raise ValueError(f"{shard}: the index puts tensor {absent[0]!r} in this shard, but its header does not hold it"
                             + (f" ({len(absent) - 1} more missing)" if len(absent) > 1 else ""))
        refs += [found[t] for t in names]
    return refs


def _gguf_refs(file: Path) -> list[TensorRef]:
    from .gguf_file import GGUFError, tensor_records

    try:
        with open(file, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise ValueError(f"{file.name}: the file is empty")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                infos, start = tensor_records(mm)
    except OSError as exc:
        raise ValueError(f"{file.name}: cannot be read ({exc.strerror or exc})") from None
    except GGUFError as exc:
        raise ValueError(f"{file.name}: {exc}") from None
    where = str(file.resolve())
    return [TensorRef(name, where, start + off, nbytes, tname, tuple(shape), "gguf")
            for name, shape, tname, off, nbytes in infos]


# ---------------------------------------------------------------- reading slices (on a worker)
def read_rows(ref: TensorRef, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of a tensor as an owned float32 array (shape ``(r1 - r0, *row_shape)``; a 1-D
    tensor whole), memory-mapped from its file: only those bytes are mapped, bfloat16 widened and
    GGUF types dequantized per slice. NaN / Inf values are refused (ValueError naming the tensor)."""
    row_bytes = ref.nbytes // ref.rows
    shape = (r1 - r0, *ref.row_shape) if len(ref.shape) >= 2 else ref.shape
    where = f"{Path(ref.file).name}: tensor {ref.name!r}"
    try:
        raw = np.memmap(ref.file, dtype=np.uint8, mode="r", offset=ref.offset + r0 * row_bytes,
                        shape=((r1 - r0) * row_bytes,))
    except (OSError, ValueError) as exc:  # a file shorter than its header says, or not visible on this worker
        raise ValueError(f"{where}: cannot map bytes {ref.offset + r0 * row_bytes:,}.. of {ref.file} "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    try:
        if ref.container == "gguf":
            from .gguf_file import dequantize_rows

            x = np.array(dequantize_rows(np.asarray(raw), ref.dtype, shape), dtype=np.float32)
        elif ref.dtype == "BF16":
            x = bf16_to_float32(np.asarray(raw).view("<u2")).reshape(shape)
        else:
            x = np.asarray(raw).view(safetensors_numpy_dtype(ref.dtype)).astype(np.float32).reshape(shape)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    finally:
        del raw
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"{where}: {bad:,} NaN/Inf values in rows {r0}..{r1}; only finite tensors can be quantized")
    return x


def _slices(x: np.ndarray):
    flat = x.reshape(-1)
    for i in range(0, flat.size, SUM_SLICE):
        yield flat[i:i + SUM_SLICE]


def moments(x: np.ndarray) -> np.ndarray:
    """``[n, min, max, mean, M2, M3, M4]`` of ``x`` in float64, M_k = Σ(x − mean)^k: per slice of
    :data:`SUM_SLICE` values with numpy's pairwise sums (deterministic: no BLAS, no threads), the
    slices merged in order by :func:`add_moments`. Central sums, not raw power sums: a norm weight
    of mean 1 and σ 1e-3 keeps its kurtosis (raw Σx⁴ would cancel to noise)."""
    parts = []
    for part in _slices(x):
        a = part.astype(np.float64)
        mean = float(a.sum()) / a.size
        a -= mean
        d2 = a * a
        parts.append(np.array([a.size, float(part.min()), float(part.max()), mean, float(d2.sum()),
                               float((d2 * a).sum()), float((d2 * d2).sum())]))
    return add_moments(*parts)


def add_moments(*parts: np.ndarray) -> np.ndarray:
    """The moments of the concatenation of the slices ``parts``, merged pairwise in the order given
    (Chan, Golub & LeVeque's update for M2; Pébay 2008, eq. 2.1, for M3 and M4)."""
    n, lo, hi, mean, m2, m3, m4 = (float(v) for v in parts[0])
    for p in parts[1:]:
        nb, mb, m2b, m3b, m4b = float(p[0]), float(p[3]), float(p[4]), float(p[5]), float(p[6])
        na, t = n, n + nb
        d = mb - mean
        m4 = (m4 + m4b + d**4 * na * nb * (na * na - na * nb + nb * nb) / t**3
              + 6 * d * d * (na * na * m2b + nb * nb * m2) / t**2 + 4 * d * (na * m3b - nb * m3) / t)
        m3 = m3 + m3b + d**3 * na * nb * (na - nb) / t**2 + 3 * d * (na * m2b - nb * m2) / t
        m2 = m2 + m2b + d * d * na * nb / t
        mean += d * nb / t
        n, lo, hi = t, min(lo, float(p[1])), max(hi, float(p[2]))
    return np.array([n, lo, hi, mean, m2, m3, m4])


def _mean_std(m: np.ndarray) -> tuple[float, float]:
    return float(m[3]), float(math.sqrt(max(m[4], 0.0) / m[0]))


def tensor_statistics(m: np.ndarray, beyond: int) -> dict[str, float]:
    """``std`` (population), ``max_abs_over_std``, ``excess_kurtosis`` = n·M4 / M2² − 3 and
    ``beyond_6sigma`` from a tensor's moments (:func:`moments`) and its count of |x − mean| > 6σ;
    NaN ratios for a constant tensor (σ = 0)."""
    n = m[0]
    _, std = _mean_std(m)
    amax = max(abs(m[1]), abs(m[2]))
    ok = std > 0 and m[4] > 0
    return {"std": std, "max_abs_over_std": amax / std if ok else float("nan"),
            "excess_kurtosis": n * m[6] / (m[4] * m[4]) - 3.0 if ok else float("nan"),
            "beyond_6sigma": beyond / n}


def _beyond(x: np.ndarray, mean: float, std: float) -> int:
    if std == 0:
        return 0
    return int(sum(np.count_nonzero(np.abs(part.astype(np.float64) - mean) > SIGMAS * std) for part in _slices(x)))


def _error_sums(x: np.ndarray, xhat: np.ndarray) -> tuple[float, float]:
    """(Σ(x − x̂)², Σx²) in float64, slice by slice with numpy's pairwise sum (deterministic)."""
    sse = sig = 0.0
    flat = np.asarray(xhat).reshape(-1)
    for i, part in enumerate(_slices(x)):
        a = part.astype(np.float64)
        e = a - flat[i * SUM_SLICE:i * SUM_SLICE + a.size]
        sse += float(np.square(e, out=e).sum())
        sig += float(np.square(a, out=a).sum())
    return sse, sig


# ---------------------------------------------------------------- one slice, one task
Config = tuple[str, str, dict]  # (label, scheme, validated settings)


def _run_config(x: np.ndarray, scheme: str, settings: dict, piece: int, shared: float) -> list:
    """``[sse, signal, clipped, bits, None, shared, pieces]`` of one scheme on ``x``, run on pieces of
    ``piece`` rows (0: whole) whose sums are added in order (bits: the ``shared`` bits of pinned
    per-tensor parameters counted once), or ``[nan, nan, 0, nan, message, 0, 0]`` when it refuses."""
    from .schemes import Quantizer

    q = Quantizer(scheme, **settings)
    rows = x.shape[0] if x.ndim >= 2 else 1
    step = piece if piece and x.ndim >= 2 else rows
    acc = [0.0, 0.0, 0, 0.0]
    for a in range(0, rows, step):
        xs = x[a:a + step] if x.ndim >= 2 else x
        try:
            r = q(xs)
        except (ValueError, TypeError) as exc:
            return [math.nan, math.nan, 0, math.nan, str(exc), 0.0, 0]
        sse, sig = _error_sums(xs, r.dequantized)
        mask = r.clipped(xs)
        clipped = 0 if mask is None else int(np.count_nonzero(mask))
        bits = float(r.bits_per_element) * xs.size
        del r
        acc = [acc[0] + sse, acc[1] + sig, acc[2] + clipped, acc[3] + bits]
    pieces = -(-rows // step)
    acc[3] -= (pieces - 1) * shared
    return acc + [None, shared, pieces]


def _prepared(configs: Sequence[Config], shape: tuple[int, ...], m: np.ndarray, piece: int
              ) -> list[tuple[str, dict, int, float]]:
    """Each config as (scheme, settings, piece rows, shared bits): a sliceable one in pieces, its per-tensor
    range pinned to the tensor's min / max (moments ``m``); one that needs the whole tensor whole (piece 0)."""
    from .schemes import SCHEMES

    out = []
    for _, scheme, s in configs:
        rule = SCHEMES[scheme].chunking(s, shape)
        if rule is None:
            out.append((scheme, s, 0, 0.0))
        elif rule.pin is not None:
            try:
                pinned, shared = rule.pin(dict(s), float(m[1]), float(m[2]))
            except (ValueError, TypeError):  # settings the scheme refuses: each piece refuses them the same way
                pinned, shared = s, 0.0
            out.append((scheme, pinned, piece, shared))
        else:
            out.append((scheme, s, piece, 0.0))
    return out


def whole_task(ref: TensorRef, configs: Sequence[Config], piece: int) -> dict:
    """Everything about a tensor read in one slice: its moments, its count beyond 6σ, every config's sums."""
    x = read_rows(ref, 0, ref.rows)
    m = moments(x)
    mean, std = _mean_std(m)
    return {"moments": m, "beyond": _beyond(x, mean, std),
            "sums": [_run_config(x, *c[:2], c[2], c[3]) for c in _prepared(configs, ref.shape, m, piece)]}


def moments_task(ref: TensorRef, r0: int, r1: int) -> np.ndarray:
    """Pass 1 of a sliced tensor: the moments of rows r0:r1."""
    return moments(read_rows(ref, r0, r1))


def slice_task(ref: TensorRef, r0: int, r1: int, m: np.ndarray, configs: Sequence[Config], piece: int) -> dict:
    """Pass 2 of a sliced tensor on rows r0:r1, given the tensor's moments ``m``: the count beyond 6σ
    and each sliceable config's sums (per-tensor ranges pinned)."""
    x = read_rows(ref, r0, r1)
    mean, std = _mean_std(m)
    return {"beyond": _beyond(x, mean, std),
            "sums": [_run_config(x, *c[:2], c[2], c[3]) for c in _prepared(configs, ref.shape, m, piece)]}


def unsliced_task(ref: TensorRef, configs: Sequence[Config]) -> list:
    """The configs that need the whole tensor at once, on a sliced tensor read whole."""
    x = read_rows(ref, 0, ref.rows)
    return [_run_config(x, scheme, s, 0, 0.0) for _, scheme, s in configs]


# ---------------------------------------------------------------- planning
def schemes_config(schemes: Sequence[Any], bits: int | None = None) -> list[Config]:
    """``(label, scheme, settings)`` of each entry: a registry name (its defaults, at ``bits`` by the
    scheme's own rule when given; fixed-width formats ignore it) or a :class:`quantlib.Quantizer`."""
    from .schemes import SCHEMES, Quantizer

    if isinstance(schemes, (str, Quantizer)):
        schemes = [schemes]
    if not schemes:
        raise ValueError("schemes is empty; give one or more registry names, e.g. ['symmetric', 'nf4']")
    out: list[Config] = []
    for item in schemes:
        if isinstance(item, str):
            spec = SCHEMES.get(item)
            if spec is None:
                raise ValueError(f"unknown scheme {item!r}; choose from: {', '.join(SCHEMES)}")
            q = Quantizer(item, **(spec.at_bits(bits, spec.defaults()) if bits is not None else {}))
        elif isinstance(item, Quantizer):
            q = item
        else:
            raise TypeError(f"a scheme must be a registry name or a quantlib.Quantizer, got {type(item).__name__}")
        if any(isinstance(v, np.ndarray) for v in q.settings.values()):
            raise ValueError(f"{q.label}: array settings (an importance matrix) are per tensor; a checkpoint report "
                             "cannot apply one to every tensor")
        out.append((q.label, q.name, dict(q.settings)))
    labels = [c[0] for c in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"the same scheme configuration is given twice: {labels}")
    return out


def _rows_per_slice(ref: TensorRef, configs: Sequence[Config], chunk_bytes: int) -> tuple[int, int]:
    """(rows per slice, rows per piece): a slice is about ``chunk_bytes`` of float32 and is quantized in
    :data:`PIECES` pieces; both are multiples of the rows every sliceable config needs (its quantum)."""
    from .schemes import SCHEMES

    row_len = ref.size // ref.rows
    step = 1
    for _, scheme, s in configs:
        rule = SCHEMES[scheme].chunking(s, ref.shape)
        if rule is not None:
            need = rule.quantum // math.gcd(rule.quantum, row_len)
            step = step * need // math.gcd(step, need)
    rows = -(-max(1, chunk_bytes // (4 * row_len)) // step) * step
    return rows, max(step, rows // PIECES // step * step)


@dataclass
class _Plan:
    ref: TensorRef
    bounds: list[tuple[int, int]]
    piece: int  # rows a sliceable config is quantized at a time
    sliced: list[int]  # indices of the configs run slice by slice (when there are several slices)
    whole: list[int]  # the others


def _plan(ref: TensorRef, configs: Sequence[Config], chunk_bytes: int) -> _Plan:
    from .schemes import SCHEMES

    per, piece = _rows_per_slice(ref, configs, chunk_bytes)
    bounds = [(r, min(r + per, ref.rows)) for r in range(0, ref.rows, per)] if ref.rows > per else [(0, ref.rows)]
    rules = [SCHEMES[scheme].chunking(s, ref.shape) for _, scheme, s in configs]
    sliced = [i for i, r in enumerate(rules) if r is not None]
    return _Plan(ref, bounds, piece, sliced, [i for i, r in enumerate(rules) if r is None])


# ---------------------------------------------------------------- running
@dataclass(frozen=True)
class Progress:
    """Where a report stands: tensors and bytes (as stored) done of the total, seconds elapsed."""

    tensors_done: int
    tensors_total: int
    bytes_done: int
    bytes_total: int
    elapsed: float

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before the first tensor is done)."""
        rate = self.bytes_per_second
        return (self.bytes_total - self.bytes_done) / rate if rate > 0 else None

    def line(self) -> str:
        """``12/40 tensors · 1.20 GB of 4.00 GB · 150.0 MB/s · ETA 19 s`` (MB below 1 GB)."""
        eta = "ETA -" if self.eta is None else f"ETA {self.eta:.0f} s"
        unit, div = ("GB", 1e9) if self.bytes_total >= 1e9 else ("MB", 1e6)
        return (f"{self.tensors_done}/{self.tensors_total} tensors · {self.bytes_done / div:.2f} {unit} of "
                f"{self.bytes_total / div:.2f} {unit} · {self.bytes_per_second / 1e6:.1f} MB/s · {eta}")


class _Thunk:
    """A task of the inline runner: computed when first asked for, its arguments first."""

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.fn, self.args, self.done, self.out = fn, args, False, None

    def value(self) -> Any:
        if not self.done:
            self.out = self.fn(*(a.value() if isinstance(a, _Thunk) else a for a in self.args))
            self.done, self.args = True, ()
        return self.out


class _Inline:
    """The task graph run in this process, one task after the other, in order (``workers=0``)."""

    def submit(self, fn: Callable, *args: Any) -> _Thunk:
        return _Thunk(fn, args)

    def results(self, items: list) -> Any:
        for i, t in enumerate(items):
            yield i, t.value()


class _Dask:
    def __init__(self, client: Any) -> None:
        self.client = client

    def submit(self, fn: Callable, *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def results(self, futures: list) -> Any:
        from distributed import as_completed

        where = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield where[fut.key], fut.result()  # a task's exception is raised here, as the worker raised it


def _submit(runner: Any, plan: _Plan, configs: Sequence[Config]) -> list:
    """The tasks whose results finish a tensor, in a fixed order."""
    ref = plan.ref
    if len(plan.bounds) == 1:
        return [runner.submit(whole_task, ref, list(configs), plan.piece)]
    parts = [runner.submit(moments_task, ref, r0, r1) for r0, r1 in plan.bounds]
    total = runner.submit(add_moments, *parts)
    sliced = [configs[i] for i in plan.sliced]
    out = [total] + [runner.submit(slice_task, ref, r0, r1, total, sliced, plan.piece) for r0, r1 in plan.bounds]
    if plan.whole:
        out.append(runner.submit(unsliced_task, ref, [configs[i] for i in plan.whole]))
    return out


def _finish(plan: _Plan, configs: Sequence[Config], results: list) -> list[dict]:
    """Report rows of one tensor from its tasks' results (slices added in slice order)."""
    ref = plan.ref
    if len(plan.bounds) == 1:
        m, beyond, sums = results[0]["moments"], results[0]["beyond"], results[0]["sums"]
    else:
        m, slices = results[0], results[1:1 + len(plan.bounds)]
        beyond = sum(s["beyond"] for s in slices)
        sums: list = [None] * len(configs)
        for j, i in enumerate(plan.sliced):
            per = [s["sums"][j] for s in slices]
            refused = next((p[4] for p in per if p[4] is not None), None)
            acc = [0.0, 0.0, 0, 0.0, 0]
            for p in per:
                acc = [acc[0] + p[0], acc[1] + p[1], acc[2] + p[2], acc[3] + p[3], acc[4] + p[6]]
            acc[3] -= (len(per) - 1) * per[0][5]  # per-tensor params stored once, counted in every slice
            sums[i] = acc[:4] + [refused, per[0][5], acc[4]]
        for j, i in enumerate(plan.whole):
            sums[i] = results[-1][j]
    stats = tensor_statistics(m, beyond)
    n = ref.size
    base = {"layer": layer_index(ref.name), "kind": tensor_kind(ref.name), "shape": "×".join(map(str, ref.shape)),
            "dtype": ref.dtype, "elements": n, "stored_bytes": ref.nbytes, **stats, "file": Path(ref.file).name}
    rows = []
    for (label, _, _), s in zip(configs, sums):
        sse, sig, clipped, bits, note, _, pieces = s
        ok = note is None
        rows.append({"tensor": ref.name, "scheme": label,
                     "sqnr_db": _db(sig, sse) if ok else math.nan, "mse": sse / n if ok else math.nan,
                     "clip_ratio": clipped / n if ok else math.nan, "bits_per_element": bits / n if ok else math.nan,
                     **base, "chunks": pieces if ok else 0, "note": "" if ok else note})
    return rows


def _db(sig: float, sse: float) -> float:
    if sse == 0:
        return math.inf
    if sig == 0:
        return -math.inf
    return float(10 * math.log10(sig / sse))


def checkpoint_report(path: str | os.PathLike, schemes: Sequence[Any], *, bits: int | None = None,
                      workers: int | None = None, scheduler: str | None = None,
                      chunk_bytes: int = DEFAULT_CHUNK_BYTES, progress: Callable[[Progress], None] | None = None,
                      timeout: float = 10.0) -> pd.DataFrame:
    """Quantize every tensor of a checkpoint with each scheme; one row per (tensor, scheme).

    ``path``: a ``.safetensors`` file, a folder of shards with ``model.safetensors.index.json``, or a
    ``.gguf`` file (see :func:`open_checkpoint`). ``schemes``: registry names (their defaults, at
    ``bits`` by each scheme's rule when given) or :class:`quantlib.Quantizer` objects. ``workers``:
    worker processes of the local Dask cluster started for this report (None: the machine's cores;
    0: no cluster, every task in this process); ``scheduler``: ``"tcp://host:port"`` of a running
    Dask cluster to use instead (its workers must see ``path`` and import quantlib); ``timeout``:
    seconds to wait for it and for its first worker. ``chunk_bytes``: float32 bytes of one slice of
    rows. ``progress(Progress)`` is called after each tensor. From a script, call it under
    ``if __name__ == "__main__":`` (Dask's worker processes import the main module).

    Columns (:data:`COLUMNS`): ``sqnr_db``, ``mse``, ``clip_ratio``, ``bits_per_element`` as
    :meth:`quantlib.QuantResult.metrics` gives them for the whole tensor; the tensor's ``layer``
    and ``kind`` (:mod:`quantlib.checkpoint_names`), ``shape``, stored ``dtype``, ``elements``,
    ``stored_bytes``, statistics (see the module docstring), ``chunks`` (pieces of rows the scheme
    was quantized in; 0 when it refused the tensor), ``file``, ``note`` (why a scheme refused this tensor: then its metrics are NaN). Sorted
    by tensor name, then in the order of ``schemes``; identical for any ``workers`` or scheduler.
    A file that cannot be read, or a scheduler that cannot be reached, raises ValueError naming it:
    there is no partial report.
    """
    configs = schemes_config(schemes, bits)
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 4:
        raise ValueError(f"chunk_bytes must be an integer >= 4, got {chunk_bytes!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers must be a non-negative integer or None, got {workers!r}")
    refs = open_checkpoint(path)
    plans = [_plan(r, configs, chunk_bytes) for r in refs]
    with _Runner(workers, scheduler, timeout) as runner:
        return _run(runner, plans, configs, progress)


def _run(runner: Any, plans: list[_Plan], configs: Sequence[Config], progress: Callable | None) -> pd.DataFrame:
    start = time.perf_counter()
    tasks, owner = [], []
    for t, plan in enumerate(plans):
        for fut in _submit(runner, plan, configs):
            tasks.append(fut)
            owner.append(t)
    got: list[list] = [[None] * owner.count(t) for t in range(len(plans))]
    first = {t: owner.index(t) for t in range(len(plans))}
    left = [len(g) for g in got]
    done_t = done_b = 0
    total_b = sum(p.ref.nbytes for p in plans)
    rows: list[list[dict]] = [[] for _ in plans]
    for i, value in runner.results(tasks):
        t = owner[i]
        got[t][i - first[t]] = value
        left[t] -= 1
        if left[t] == 0:
            rows[t] = _finish(plans[t], configs, got[t])
            got[t] = []
            done_t += 1
            done_b += plans[t].ref.nbytes
            if progress is not None:
                progress(Progress(done_t, len(plans), done_b, total_b, time.perf_counter() - start))
    df = pd.DataFrame([r for per in rows for r in per], columns=list(COLUMNS))
    df["layer"] = df["layer"].astype("Int64")
    return df


class _Runner:
    """Context manager: the inline runner, a LocalCluster's client, or a client of ``scheduler``."""

    def __init__(self, workers: int | None, scheduler: str | None, timeout: float) -> None:
        self.workers, self.scheduler, self.timeout = workers, scheduler, timeout
        self.closing: list = []

    def __enter__(self) -> Any:
        if self.scheduler is None and self.workers == 0:
            return _Inline()
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            if not isinstance(self.scheduler, str) or "://" not in self.scheduler:
                raise ValueError(f"scheduler must be an address like 'tcp://127.0.0.1:8786', got {self.scheduler!r}")
            try:
                client = Client(self.scheduler, timeout=self.timeout)
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {self.scheduler} within {self.timeout:g} s "
                                 f"({type(exc).__name__}: {exc})") from None
            self.closing.append(client)
            try:
                client.wait_for_workers(1, timeout=self.timeout)
            except (OSError, TimeoutError):
                self.__exit__()
                raise ValueError(f"the Dask scheduler at {self.scheduler} has no workers (waited "
                                 f"{self.timeout:g} s); start some with `dask worker {self.scheduler}`") from None
            return _Dask(client)
        n = self.workers if self.workers is not None else (os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        self.closing.append(cluster)
        client = Client(cluster)
        self.closing.insert(0, client)
        return _Dask(client)

    def __exit__(self, *exc: Any) -> None:
        for obj in self.closing:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - closing must not hide the report's own error
                pass
        self.closing = []


# ---------------------------------------------------------------- summaries of a report
def size_totals(report: pd.DataFrame) -> pd.DataFrame:
    """The checkpoint's size under each scheme: Σ bits_per_element × elements / 8 over the tensors it
    quantizes, beside the size as stored. 1-D tensors (norm weights, biases) are kept as stored, as every
    toolkit keeps them (llama-quantize keeps them in F32), and so is a tensor the scheme refused; their
    own rows in the report still show what quantizing them would do.
    Columns: ``scheme``, ``bytes``, ``bits_per_element`` (over the checkpoint), ``vs_stored``
    (bytes / stored bytes), ``kept`` (1-D tensors kept as stored), ``refused`` (tensors the scheme
    refused, kept as stored). The first row is ``stored``."""
    tensors = report.drop_duplicates("tensor")
    stored = float(tensors["stored_bytes"].sum())
    n = float(tensors["elements"].sum())
    rows = [{"scheme": "stored", "bytes": stored, "bits_per_element": 8 * stored / n, "vs_stored": 1.0, "kept": 0,
             "refused": 0}]
    for scheme, g in report.groupby("scheme", sort=False):
        one_d = g["shape"].astype(str).str.count("×") == 0
        ok = g["bits_per_element"].notna() & ~one_d
        b = float((g.loc[ok, "bits_per_element"] * g.loc[ok, "elements"]).sum()) / 8 + float(g.loc[~ok, "stored_bytes"].sum())
        rows.append({"scheme": scheme, "bytes": b, "bits_per_element": 8 * b / n, "vs_stored": b / stored,
                     "kept": int(one_d.sum()), "refused": int((g["bits_per_element"].isna() & ~one_d).sum())})
    return pd.DataFrame(rows)


def keep_in_16bit(report: pd.DataFrame, margin_db: float = 6.0, limit: int = 10) -> pd.DataFrame:
    """The tensors that lose most under each scheme, to keep in 16 bits: those whose SQNR is more
    than ``margin_db`` below the scheme's median over the checkpoint's tensors, worst first, at
    most ``limit`` per scheme. ``extra_bytes``: what keeping one in 16 bits costs over the scheme."""
    cols = ["scheme", "tensor", "layer", "kind", "sqnr_db", "below_median_db", "extra_bytes"]
    out = []
    for scheme, g in report.groupby("scheme", sort=False):
        g = g[np.isfinite(g["sqnr_db"])]
        if g.empty:
            continue
        med = float(g["sqnr_db"].median())
        low = g[g["sqnr_db"] < med - margin_db].sort_values(["sqnr_db", "tensor"]).head(limit)
        for _, r in low.iterrows():
            out.append({"scheme": scheme, "tensor": r["tensor"], "layer": r["layer"], "kind": r["kind"],
                        "sqnr_db": r["sqnr_db"], "below_median_db": med - r["sqnr_db"],
                        "extra_bytes": r["elements"] * (16 - r["bits_per_element"]) / 8})
    df = pd.DataFrame(out, columns=cols)
    df["layer"] = df["layer"].astype("Int64")
    return df


def check_report(df: pd.DataFrame, name: str = "report") -> pd.DataFrame:
    """``df`` if it has the report's columns (a file written by :func:`checkpoint_report` and
    ``to_parquet``), else ValueError naming the missing ones."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: not a checkpoint report; missing columns {missing}")
    if df.empty:
        raise ValueError(f"{name}: the report has no rows")
    return df


def read_report(data: bytes, name: str = "report.parquet") -> pd.DataFrame:
    """A report from the bytes of a parquet file (read by pyarrow: no pickle), checked by :func:`check_report`."""
    import io

    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # ArrowInvalid and friends
        raise ValueError(f"{name}: not a parquet file ({type(exc).__name__}: {exc})"[:400]) from None
    return check_report(table.to_pandas(), name)


def report_parquet(df: pd.DataFrame) -> bytes:
    """The report as parquet bytes (pyarrow)."""
    import io

    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()


__all__ = ["COLUMNS", "KINDS", "Progress", "TensorRef", "checkpoint_report", "keep_in_16bit", "open_checkpoint",
           "read_report", "report_parquet", "size_totals"]
