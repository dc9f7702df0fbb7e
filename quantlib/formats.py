"""Number formats real deployments use, as registry schemes: each is a table entry plus one shared function.

Families (registry names):

* **float** — ``fp16``, ``bf16``, ``fp8_e4m3fn``, ``fp8_e5m2``, ``fp8_e4m3fnuz``, ``fp8_e5m2fnuz``, ``fp6_e3m2``,
  ``fp6_e2m3``, ``fp4_e2m1``. The cast is ml_dtypes' (round to nearest, ties to even).
  ``scaling="none"`` is the plain cast; ``"per_tensor"`` / ``"per_channel"`` first divide by the
  float32 scale ``s = amax / max`` (at least 2**-126; 1 for an all-zero tensor or channel) so amax
  lands on the largest finite value, and multiply back after. ``saturate=True`` clips x/s to
  ±max before the cast. ``saturate=False`` keeps the cast's own overflow: fp6/fp4 saturate anyway,
  but fp16/bf16/e5m2 give ±inf and e4m3fn/e4m3fnuz/e5m2fnuz give NaN — and a NaN or inf is no
  quantized value to measure, so such a tensor is **refused** with a ValueError that counts the
  overflowing values, names what the cast would give and how to avoid it (saturate=True, or a
  scaling). When nothing overflows, saturate=False is exactly the plain cast. Either way the
  result is never non-finite. With ``scaling="none"``: ``dequantized == x.astype(dtype)`` exactly
  (saturate=False), or that cast with its non-finite values replaced by ±max (saturate=True).
* **mx** (OCP Microscaling v1.0) — ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e3m2``, ``mxfp6_e2m3``, ``mxfp4``,
  ``mxint8``: blocks of 32 share an E8M0 scale 2**E; elements saturate at their max.
  Exponent rule ``"floor"`` (default, OCP): ``E = floor(log2(amax)) - emax_elem`` with log2
  evaluated in float32, as the gguf package / llama.cpp and Microsoft's microxcaling compute it
  (for amax within a few float32 ulps below 2**k that log2 rounds up to k, so such a block takes
  the next larger scale). ``"ceil"``: the smallest E with amax / 2**E <= element max (no element
  saturates). E is clamped to E8M0's [-127, 127]; an all-zero block has E = -127 (byte 0, as gguf;
  for amax below 2**-125, a float32 subnormal, gguf's uint8 cast of a negative E wraps instead).
  Element ties: ``"even"`` (IEEE round-half-even, the ml_dtypes cast; MXINT8: ``np.rint``) is the
  default except for ``mxfp4``, whose default ``"toward_zero"`` is gguf's MXFP4 rule (nearest E2M1
  value, a tie goes to the smaller magnitude, and anything that rounds to zero is +0): mxfp4
  equals ``gguf.quants`` MXFP4 bit for bit. MXINT8 elements are k/64, |k| <= 127 (emax_elem 0).
* **nvfp4** — blocks of 16 E2M1 values, an FP8 E4M3 block scale and an FP32 global scale
  ``g = amax / (6 * 448)``, with NVIDIA ModelOpt's arithmetic (``NVFP4QTensor``): block scale
  ``e4m3(clamp(amax_b / fl32(6 g), 2**-9, 448))`` (an all-zero block: 1), elements
  ``e2m1(x / fl32(s_b g))`` (round-half-even, saturating), ``x_hat = e2m1 * fl32(s_b g)``. g is
  at least 2**-126, so a tensor with amax below ~3e-35 or all zeros keeps finite arithmetic
  (ModelOpt divides 0 by 0 for an all-zero tensor).
* **bitsandbytes** — ``nf4``, ``fp4_bnb``: absmax blocks (``block_size``, default 64) over the flattened
  tensor, bitsandbytes' exact float32 codebooks, x * fl32(1 / absmax) (the short last block:
  x / absmax, as bitsandbytes does) clamped to [-1, 1], then the nearest code by float32
  midpoints with a value on a midpoint going to the lower code (``torch.bucketize``). Codes are
  bitsandbytes' 4-bit indices (fp4: its bit-pattern order); dequantized = code * absmax, as
  bitsandbytes' generic ``dequantize_4bit``. (Its CPU kernel, for a 2-D tensor whose rows are not
  a multiple of the block, reads absmax row by row and disagrees with its own quantize there; we
  follow quantize's flattened blocks.) An absmax below 1e-38 is floored at 1e-38 in the reciprocal,
  as bitsandbytes does, so such float32-subnormal blocks quantize to 0.
* **ggml** (llama.cpp) — ``q8_0``, ``q4_0``, ``q4_1``, ``q5_0``, blocks of 32, with gguf's float32 arithmetic:
  Q8_0 ``d = amax / 127``, ``q = round_half_away(x * fl32(1/d))``; Q4_0 / Q5_0 ``d = m / -8`` (``-16``),
  m the block's value of largest magnitude (first one), ``q = min(15 (31), trunc(x * fl32(1/d) + 8.5 (16.5)))``;
  Q4_1 ``d = (max - min) / 15``, ``q = min(15, trunc((x - min) * fl32(1/d) + 0.5))``. d (and Q4_1's
  min) are stored as float16; ``x_hat = fp16(d) * (q - 8 | 16 | 0) (+ fp16(min))``. Codes are the
  stored unsigned values (Q8_0: signed int8). A block scale that overflows float16 (|x| beyond
  about 8e6 for Q8_0, 5e5 for Q4_0) gives inf in ggml; it is refused with a ValueError.
* **integer** — ``int_group``: quantlib's own ``choose_qparams(..., group_size=g)`` / ``quantize`` /
  ``dequantize`` (min-max per group, round half to even; symmetric: signed, zero-point 0,
  s = amax / (2**(b-1) - 1), codes [-2**(b-1), 2**(b-1) - 1]; else unsigned with a zero-point and
  the range widened to hold 0, as GPTQ/AWQ round-to-nearest; GPTQ's own symmetric mode differs:
  unsigned codes around 2**(b-1) with s = 2 amax / (2**b - 1)).

Blocks and groups run over the flattened tensor in C order (for a 2-D weight whose rows are a
multiple of the block size: blocks along each row). When the size is not a multiple of the
block, ``partial_block="pad"`` (default) quantizes the short last block on its own: its scale
comes from its own elements only (it is padded with copies of its last value, which changes no
block statistic, and the padding is dropped); ``"error"`` refuses such a tensor, as llama.cpp
and gguf do. bitsandbytes always handles a short last block (its own rule above). int_group's
``params`` are the :class:`QuantParams` when groups tile the tensor, else None (the padded
groups have no quantlib layout).

``bits_per_element`` = element bits + stored scale bits per element: one scale per block,
counting a short last block, divided by the tensor size: mx 8/32 (mxfp4 4.25), nvfp4
8/16 + 32/n, nf4 32/64 (4.5), q8_0 16/32 (8.5), q4_1 32/32 (5.0), floats with a scale 32 per
scale, int_group 32 per group (+ b for a non-zero zero-point).

Value grids (what the Formats page draws): :func:`format_grid` gives any registry scheme's
:class:`FormatGrid` — the actual levels of per-tensor formats, or the *element grid* of block,
group and channel formats (E2M1 values, the NF4 codebook, Q4_0's integers −8..7, ...) with a note
on the scale that stretches it — and its dynamic range; :func:`grid_landing` counts how a tensor
lands on it (levels used, share clipped); :func:`format_table` ranks every registry scheme on one
tensor. Fixed grids come from the tables above, tensor-dependent ones from the scheme's QuantResult.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import ml_dtypes
import numpy as np
import pandas as pd

from ._checks import as_float_array, check_axis, check_choice
from .integer import choose_qparams, dequantize, quantize
from .metrics import bits_per_element
from .nonuniform import bucketize, nearest_level
from .params import QuantParams, blocks, broadcastable, qrange
from .schemes import SCHEMES, Quantizer, QuantResult, SchemeSpec, Setting, register

__all__ = [
    "FLOATS", "MX_FORMATS", "BNB_FORMATS", "GGML_FORMATS", "Blocked",
    "float_quantize", "mx_quantize", "nvfp4_quantize", "bnb_quantize", "ggml_quantize", "int_group_quantize",
    "FormatGrid", "GridLanding", "format_grid", "grid_landing", "format_table",
]

_F32 = np.float32
SCALINGS = ("none", "per_tensor", "per_channel")
PARTIAL = ("pad", "error")
MX_EXPONENTS = ("floor", "ceil")
MX_TIES = ("even", "toward_zero")
_TINY = _F32(2.0**-126)  # smallest normal float32: floor of a float format's scale


class Blocked(NamedTuple):
    """A block format's output: ``codes`` and ``dequantized`` have the tensor's shape; ``scales``
    (float32, one per block, the value as stored), ``offsets`` (Q4_1's stored min), ``global_scale`` (NVFP4)."""

    codes: np.ndarray
    dequantized: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray | None = None
    global_scale: float | None = None


# ------------------------------------------------------------------------------ floats
@dataclass(frozen=True)
class FloatFormat:
    name: str
    dtype: Any  # numpy / ml_dtypes scalar type
    bits: int
    overflow: str  # what a plain cast gives past the largest finite value: "±inf", "NaN" or "saturates"

    @property
    def max(self) -> float:
        return float(ml_dtypes.finfo(self.dtype).max)


FLOATS: dict[str, FloatFormat] = {
    f.name: f
    for f in (
        FloatFormat("fp16", np.float16, 16, "±inf"),
        FloatFormat("bf16", ml_dtypes.bfloat16, 16, "±inf"),
        FloatFormat("fp8_e4m3fn", ml_dtypes.float8_e4m3fn, 8, "NaN"),
        FloatFormat("fp8_e5m2", ml_dtypes.float8_e5m2, 8, "±inf"),
        FloatFormat("fp8_e4m3fnuz", ml_dtypes.float8_e4m3fnuz, 8, "NaN"),
        FloatFormat("fp8_e5m2fnuz", ml_dtypes.float8_e5m2fnuz, 8, "NaN"),
        FloatFormat("fp6_e3m2", ml_dtypes.float6_e3m2fn, 6, "saturates"),
        FloatFormat("fp6_e2m3", ml_dtypes.float6_e2m3fn, 6, "saturates"),
        FloatFormat("fp4_e2m1", ml_dtypes.float4_e2m1fn, 4, "saturates"),
    )
}


@functools.cache
def _table(dtype: Any) -> np.ndarray:
    """float32 value of every bit pattern of a <= 16-bit float type (NaN/inf included); read-only."""
    bits = np.dtype(dtype).itemsize * 8
    width = min(bits, ml_dtypes.finfo(dtype).bits)
    return _frozen(np.arange(2**width, dtype=np.uint8 if bits == 8 else np.uint16).view(dtype).astype(_F32))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def _finite_values(dtype: Any) -> np.ndarray:
    """All finite values of a float type, sorted, with -0 merged into 0."""
    t = _table(dtype)
    return _frozen(np.unique(t[np.isfinite(t)] + _F32(0)))


@functools.cache
def _positive(dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(magnitudes, bit patterns) of the non-negative finite values, ascending."""
    t = _table(dtype)
    keep = np.isfinite(t) & (np.signbit(t) == 0)
    return _frozen(t[keep]), _frozen(np.flatnonzero(keep).astype(np.uint8))


def _cast(y: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(bit patterns, float32 values) of ml_dtypes' round-to-nearest-even cast of float32 ``y``."""
    with np.errstate(over="ignore", invalid="ignore"):
        c = y.astype(dtype)
    if c.itemsize == 1:
        codes = c.view(np.uint8)
        return codes, _table(dtype)[codes]
    return c.view(np.uint16), c.astype(_F32)


def _amax_scale(x: np.ndarray, fmax: float, axis: int | None) -> np.ndarray:
    """float32 ``amax / fmax`` (per tensor, or per channel along ``axis``), at least 2**-126; 1 where amax is 0."""
    if axis is None:
        amax = np.abs(x).max()
    else:
        amax = np.abs(x).max(axis=tuple(i for i in range(x.ndim) if i != axis), keepdims=True)
    s = np.maximum(np.asarray(amax, _F32) / _F32(fmax), _TINY)
    return np.where(amax == 0, _F32(1), s).astype(_F32)


def float_quantize(
    x: object, fmt: str, *, scaling: str = "none", saturate: bool = True, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(codes, dequantized, scale)`` of ``x`` in float format ``fmt`` (see the module docstring).

    ``codes`` are the raw bit patterns (uint8, uint16 for 16-bit formats); ``scale`` is 1.0,
    a float32 scalar (per_tensor) or one per channel, shaped to broadcast against ``x``.
    """
    f = FLOATS[check_choice(fmt, "float format", FLOATS)]
    x = as_float_array(x)
    check_choice(scaling, "scaling", SCALINGS)
    fmax = _F32(f.max)
    if scaling == "none":
        scale, y = np.asarray(_F32(1)), x
    else:
        if scaling == "per_channel":
            if x.ndim < 2:
                raise ValueError(
                    f"scaling='per_channel' needs a tensor with at least 2 dimensions, got shape {x.shape}; "
                    "use scaling='per_tensor' for 1-D data"
                )
            axis = check_axis(axis, x.ndim)
        scale = _amax_scale(x, fmax, axis if scaling == "per_channel" else None)
        y = x / scale
    if saturate:
        y = np.clip(y, -fmax, fmax)
    codes, deq = _cast(y, f.dtype)
    if not saturate and f.overflow != "saturates":
        bad = ~np.isfinite(deq)
        if bad.any():
            k = int(np.count_nonzero(bad))
            raise ValueError(
                f"{f.name} with saturate=False: {k} of {x.size} value(s) overflow (|x| up to {float(np.abs(x).max()):g}"
                f"{'' if scaling == 'none' else ' before scaling'}; the largest finite {f.name} value is {f.max:g}) and "
                f"the plain cast makes them {f.overflow}; use saturate=True to clip them to ±{f.max:g}, or a scaling"
            )
    if scaling != "none":
        deq = deq * scale
    return codes, deq, scale


def _run_float(f: FloatFormat) -> Callable[[np.ndarray, dict[str, Any]], QuantResult]:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        codes, deq, scale = float_quantize(x, f.name, scaling=s["scaling"], saturate=s["saturate"], axis=s["axis"])
        overhead = 0 if s["scaling"] == "none" else 32 * scale.size / x.size
        if scale.size == 1:
            sv = scale.item()
            levels = _finite_values(f.dtype).copy() if sv == 1 else np.unique(_finite_values(f.dtype) * _F32(sv))
            clip = (-f.max * sv, f.max * sv)
        else:
            levels = clip = None
        return QuantResult(f.name, s, codes, deq, None, levels, clip, f.bits + overhead)

    return run


# ------------------------------------------------------------------------------ blocks
def _blocks(x: np.ndarray, size: int, partial: str, name: str) -> np.ndarray:
    """The flattened tensor as (blocks, size); a short last block is padded with copies of its last value."""
    flat = x.reshape(-1)
    rem = flat.size % size
    if not rem:
        return flat.reshape(-1, size)
    if partial == "error":
        raise ValueError(
            f"{name} needs a tensor size that is a multiple of its block size {size}; got {flat.size} elements "
            f"(shape {x.shape}). Allowed: sizes {size}, {2 * size}, {3 * size}, ...; or partial_block='pad'"
        )
    return np.concatenate((flat, np.full(size - rem, flat[-1], flat.dtype))).reshape(-1, size)


def _unblock(yb: np.ndarray, x: np.ndarray) -> np.ndarray:
    return yb.reshape(-1)[: x.size].reshape(x.shape)


# ------------------------------------------------------------------------ microscaling
@dataclass(frozen=True)
class MXFormat:
    name: str
    element: Any  # ml_dtypes float type, or np.int8 for MXINT8 (k / 64)
    bits: int
    emax: int  # exponent of the element type's largest power of two
    ties: str  # default element tie rule
    label: str


MX_FORMATS: dict[str, MXFormat] = {
    f.name: f
    for f in (
        MXFormat("mxfp8_e4m3", ml_dtypes.float8_e4m3fn, 8, 8, "even", "FP8 E4M3"),
        MXFormat("mxfp8_e5m2", ml_dtypes.float8_e5m2, 8, 15, "even", "FP8 E5M2"),
        MXFormat("mxfp6_e3m2", ml_dtypes.float6_e3m2fn, 6, 4, "even", "FP6 E3M2"),
        MXFormat("mxfp6_e2m3", ml_dtypes.float6_e2m3fn, 6, 2, "even", "FP6 E2M3"),
        MXFormat("mxfp4", ml_dtypes.float4_e2m1fn, 4, 2, "toward_zero", "FP4 E2M1"),
        MXFormat("mxint8", np.int8, 8, 0, "even", "INT8 (k/64)"),
    )
}
MX_BLOCK = 32


def _elem_max(f: MXFormat) -> float:
    return 127 / 64 if f.element is np.int8 else float(ml_dtypes.finfo(f.element).max)


def _mx_exponent(amax: np.ndarray, f: MXFormat, rule: str) -> np.ndarray:
    """Shared block exponent E (int32 in [-127, 127]) for float32 block maxima ``amax``."""
    with np.errstate(divide="ignore"):
        if rule == "floor":
            e = np.floor(np.log2(amax)) - f.emax  # float32 log2, as gguf and microxcaling
        else:
            e = (np.frexp(amax)[1] - 1 - f.emax).astype(np.float64)  # exact floor(log2 amax) - emax
            e += amax.astype(np.float64) > _elem_max(f) * np.exp2(e)
    return np.where(amax > 0, np.clip(e, -127, 127), -127).astype(np.int32)


def _mx_elements(y: np.ndarray, f: MXFormat, ties: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, float32 values) of the scaled elements ``y``, saturating at the element max."""
    if f.element is np.int8:
        t = y * _F32(64)
        k = np.rint(t) if ties == "even" else np.copysign(np.ceil(np.abs(t) - _F32(0.5)), t)
        k = np.clip(k, -127, 127)
        return k.astype(np.int8), k / _F32(64)
    if ties == "even":
        emax = _F32(_elem_max(f))
        return _cast(np.clip(y, -emax, emax), f.element)
    mags, patterns = _positive(f.element)
    i = nearest_level(np.abs(y), mags, ties="down")
    neg = (y < 0) & (i > 0)  # a value that rounds to zero is +0
    codes = patterns[i] | (neg.astype(np.uint8) << np.uint8(f.bits - 1))
    vals = mags[i]
    return codes, np.where(neg, -vals, vals)


def mx_quantize(
    x: object, fmt: str, *, exponent: str = "floor", ties: str | None = None, partial_block: str = "pad"
) -> Blocked:
    """OCP MX block quantization; ``scales`` are the block scales 2**E (float32). See the module docstring."""
    f = MX_FORMATS[check_choice(fmt, "MX format", MX_FORMATS)]
    x = as_float_array(x)
    check_choice(exponent, "exponent", MX_EXPONENTS)
    ties = f.ties if ties is None else check_choice(ties, "ties", MX_TIES)
    xb = _blocks(x, MX_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), f.name)
    amax = np.abs(xb).max(axis=1, keepdims=True)
    scale = np.ldexp(_F32(1), _mx_exponent(amax, f, exponent)).astype(_F32)
    codes, vals = _mx_elements(xb / scale, f, ties)
    # A block maximum just under 2**128 can round up to an element whose value times the
    # block scale is 2**128, past float32's largest: such values saturate at float32's max.
    big = _F32(np.finfo(_F32).max)
    with np.errstate(over="ignore"):
        deq = np.clip(vals * scale, -big, big)
    return Blocked(_unblock(codes, x), _unblock(deq, x), scale.reshape(-1))


# ----------------------------------------------------------------------------- nvfp4
NV_BLOCK = 16
_E2M1_MAX, _E4M3_MAX = 6.0, 448.0


def nvfp4_quantize(x: object, *, partial_block: str = "pad") -> Blocked:
    """NVFP4 with ModelOpt's arithmetic; ``scales`` are the E4M3 block scales (float32 values)."""
    x = as_float_array(x)
    xb = _blocks(x, NV_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), "nvfp4")
    amax = np.abs(xb).max(axis=1)
    g = max(np.max(amax) / _F32(_E2M1_MAX * _E4M3_MAX), _TINY)
    sb = amax / (_F32(_E2M1_MAX) * g)
    sb = np.clip(np.where(sb == 0, _F32(1), sb), _F32(2.0**-9), _F32(_E4M3_MAX))
    _, s8 = _cast(sb, ml_dtypes.float8_e4m3fn)
    scale = (s8 * g)[:, None]
    codes, vals = _cast(np.clip(xb / scale, -_F32(_E2M1_MAX), _F32(_E2M1_MAX)), ml_dtypes.float4_e2m1fn)
    return Blocked(_unblock(codes, x), _unblock(vals * scale, x), s8, global_scale=float(g))


# ----------------------------------------------------------------------- bitsandbytes
_NF4 = np.array(  # bitsandbytes.functional.get_4bit_type("nf4"): quantiles of N(0, 1), as float32
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
     -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
     0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0], _F32)
# get_4bit_type("fp4"): sign + 2 exponent bits + 1 mantissa bit (bias 2), in bit-pattern order, divided by 12
_FP4_BNB = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3], _F32) / _F32(12)
BNB_FORMATS: dict[str, np.ndarray] = {"nf4": _frozen(_NF4), "fp4_bnb": _frozen(_FP4_BNB)}
BNB_BLOCK_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@functools.cache
def _bnb_bounds(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(float32 midpoints of the sorted codebook, sorted position -> code index), as bitsandbytes builds them."""
    code = BNB_FORMATS[fmt]
    order = np.argsort(code, kind="stable").astype(np.uint8)
    s = code[order]
    return _frozen((s[:-1] + s[1:]) / _F32(2)), _frozen(order)


def bnb_quantize(x: object, fmt: str, *, block_size: int = 64) -> Blocked:
    """bitsandbytes ``quantize_4bit`` + ``dequantize_4bit`` (CPU); ``scales`` are the float32 absmax values."""
    fmt = check_choice(fmt, "bitsandbytes format", BNB_FORMATS)
    if block_size not in BNB_BLOCK_SIZES:
        raise ValueError(f"block_size {block_size!r} is not allowed; choose one of {list(BNB_BLOCK_SIZES)}")
    x = as_float_array(x)
    xb = _blocks(x, block_size, "pad", fmt)
    absmax = np.abs(xb).max(axis=1)
    scaled = xb * (_F32(1) / np.maximum(absmax, _F32(1e-38)))[:, None]
    if x.size % block_size:  # bitsandbytes divides the short last block by its clamped absmax
        absmax[-1] = max(absmax[-1], _F32(1e-38))
        scaled[-1] = xb[-1] / absmax[-1]
    bounds, order = _bnb_bounds(fmt)
    codes = order[bucketize(np.clip(scaled, _F32(-1), _F32(1)), bounds)]
    return Blocked(_unblock(codes, x), _unblock(BNB_FORMATS[fmt][codes] * absmax[:, None], x), absmax)


# ------------------------------------------------------------------------------- ggml
@dataclass(frozen=True)
class GGMLFormat:
    name: str
    bits: int
    rule: str  # "absmax" (Q8_0), "signed_max" (Q4_0, Q5_0), "min_max" (Q4_1)
    scale_bits: int  # float16 d, plus float16 min for Q4_1


GGML_FORMATS: dict[str, GGMLFormat] = {
    f.name: f
    for f in (
        GGMLFormat("q8_0", 8, "absmax", 16),
        GGMLFormat("q4_0", 4, "signed_max", 16),
        GGMLFormat("q4_1", 4, "min_max", 32),
        GGMLFormat("q5_0", 5, "signed_max", 16),
    )
}
GGML_BLOCK = 32


def _fp16(v: np.ndarray, what: str, name: str) -> np.ndarray:
    """float16 storage of a block parameter (as float32); an overflow to inf is refused."""
    with np.errstate(over="ignore"):
        h = v.astype(np.float16).astype(_F32)
    if not np.all(np.isfinite(h)):
        big = float(np.abs(v).max())
        raise ValueError(
            f"{name} stores the block {what} as float16 (max 65504), but this tensor needs |{what}| up to {big:g}; "
            "ggml would store inf. Scale the tensor down (|x| of at most a few 1e5) or use another format"
        )
    return h


def _times_inverse(xb: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``x * fl32(1/d)`` (0 where d is 0). A subnormal d makes 1/d inf: then x * inf is clipped to the
    end codes and 0 * inf counts as 0 (gguf casts inf to an integer there; either way fp16(d) = 0)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = np.where(d == 0, _F32(0), _F32(1) / d)
        y = xb * inv
    return y if np.all(np.isfinite(inv)) else np.nan_to_num(y, nan=0.0, posinf=1e9, neginf=-1e9)


def ggml_quantize(x: object, fmt: str, *, partial_block: str = "pad") -> Blocked:
    """llama.cpp block quantization with gguf.quants' float32 arithmetic; ``scales`` = stored fp16 d."""
    f = GGML_FORMATS[check_choice(fmt, "ggml format", GGML_FORMATS)]
    x = as_float_array(x)
    xb = _blocks(x, GGML_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), f.name)
    with np.errstate(over="ignore", invalid="ignore"):  # |x| near float32's max: refused by _fp16 below
        d, vals, q, lo = _ggml_rule(xb, f)
    offsets = None if lo is None else _fp16(lo, "minimum", f.name)
    d16 = _fp16(d, "scale d", f.name)
    deq = d16 * vals if offsets is None else d16 * vals + offsets
    return Blocked(_unblock(q, x), _unblock(deq, x), d16.reshape(-1), None if offsets is None else offsets.reshape(-1))


def _ggml_rule(xb: np.ndarray, f: GGMLFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(float32 d, code values, stored codes, block min) of one ggml rule on blocks ``xb``."""
    lo = None
    if f.rule == "absmax":
        d = np.abs(xb).max(axis=1, keepdims=True) / _F32(127)
        y = _times_inverse(xb, d)
        t = np.trunc(y)
        q = np.clip(t + np.copysign((np.abs(y - t) >= 0.5).astype(_F32), y), -127, 127).astype(np.int8)  # half away
        vals = q.astype(_F32)
    elif f.rule == "signed_max":
        half = 2 ** (f.bits - 1)
        m = np.take_along_axis(xb, np.abs(xb).argmax(axis=1)[:, None], axis=1)
        d = m / _F32(-half)
        q = np.clip(np.trunc(_times_inverse(xb, d) + _F32(half + 0.5)), 0, 2 * half - 1).astype(np.uint8)
        vals = q.astype(_F32) - _F32(half)
    else:
        lo, hi = xb.min(axis=1, keepdims=True), xb.max(axis=1, keepdims=True)
        d = (hi - lo) / _F32(15)
        q = np.clip(np.trunc(_times_inverse(xb - lo, d) + _F32(0.5)), 0, 15).astype(np.uint8)
        vals = q.astype(_F32)
    return d, vals, q, lo


# ------------------------------------------------------------------- group-wise integer
INT_GROUP_SIZES = (32, 64, 128)


def int_group_quantize(x: object, *, bits: int = 4, group_size: int = 128, symmetric: bool = True,
                       partial_block: str = "pad") -> tuple[np.ndarray, np.ndarray, Any, float]:
    """``(codes, dequantized, params, bits_per_element)``: quantlib's per-group integer pipeline over
    groups of ``group_size`` consecutive elements (flattened, C order); ``params`` is None for a padded tensor."""
    x = as_float_array(x)
    if group_size not in INT_GROUP_SIZES:
        raise ValueError(f"group_size {group_size!r} is not allowed; choose one of {list(INT_GROUP_SIZES)}")
    partial_block = check_choice(partial_block, "partial_block", PARTIAL)
    xg = x if x.size % group_size == 0 else _blocks(x, group_size, partial_block, "int_group").reshape(-1)
    params = choose_qparams(xg, bits=bits, symmetric=symmetric, group_size=group_size)
    codes = quantize(xg, params)
    deq = dequantize(codes, params)
    bpe = bits_per_element(params, x.size)
    if xg is x:
        return codes, deq, params, bpe
    return codes[: x.size].reshape(x.shape), deq[: x.size].reshape(x.shape), None, bpe


# --------------------------------------------------------------------------- registry
def _partial_setting() -> Setting:
    return Setting("partial_block", str, "pad",
                   "Size not a multiple of the block: 'pad' quantizes the short last block with its own scale; "
                   "'error' refuses it (as llama.cpp / gguf do).", choices=PARTIAL)


def _fixed(bits: int, settings: Any) -> dict[str, Any]:
    return {}  # a fixed-width format: a bit sweep repeats it


def _blocked_result(name: str, s: dict[str, Any], r: Blocked, bpe: float) -> QuantResult:
    return QuantResult(name, s, r.codes, r.dequantized, None, None, None, bpe)


def _float_spec(f: FloatFormat) -> SchemeSpec:
    fi = ml_dtypes.finfo(f.dtype)
    label = f.name.upper().replace("_", " ")
    behaviour = "saturates" if f.overflow == "saturates" else f"gives {f.overflow} (refused unless saturate=True)"
    return SchemeSpec(
        f.name, "float",
        f"{label}: {fi.nexp} exponent + {fi.nmant} mantissa bits, max {f.max:g}, smallest subnormal "
        f"{float(fi.smallest_subnormal):g}; a cast past the max {behaviour}.",
        rf"\hat x = s\,\mathrm{{fl}}_{{\mathrm{{{label}}}}}\!\left(\mathrm{{clamp}}\!\left(\tfrac{{x}}{{s}},\,-M,\,M\right)\right),"
        rf"\quad s = \tfrac{{\max|x|}}{{M}}\ (s = 1\ \text{{if unscaled}}),\quad M = {f.max:g}",
        (
            Setting("scaling", str, "none", "none: plain cast; per_tensor / per_channel: divide by s = amax / max first, "
                    "so amax lands on the largest finite value.", choices=SCALINGS),
            Setting("saturate", bool, True, "Clip to ±max before the cast. Off: the cast's own overflow "
                    f"({f.overflow} for {f.name}); a tensor that overflows is then refused, not turned into {f.overflow}."),
            Setting("axis", int, 0, "Channel axis for scaling='per_channel' (tensors with 2 or more dimensions).",
                    min=-32, max=31),
        ),
        _run_float(f), _fixed,
    )


def _mx_spec(f: MXFormat) -> SchemeSpec:
    elem = _elem_max(f)

    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = mx_quantize(x, f.name, exponent=s["exponent"], ties=s["ties"], partial_block=s["partial_block"])
        return _blocked_result(f.name, s, r, f.bits + 8 * r.scales.size / x.size)

    fl = r"\mathrm{round}" if f.element is np.int8 else rf"\mathrm{{fl}}_{{\mathrm{{{f.label.split()[-1]}}}}}"
    return SchemeSpec(
        f.name, "microscaling",
        f"OCP MX: blocks of 32 share a power-of-two E8M0 scale; {f.label} elements (max {elem:g}), saturating.",
        rf"\hat x_i = 2^{{E}}\,{fl}\!\left(\mathrm{{clamp}}\!\left(\tfrac{{x_i}}{{2^{{E}}}},\,-{elem:g},\,{elem:g}\right)\right),"
        rf"\quad E = \left\lfloor \log_2 \max_{{\text{{block}}}} |x| \right\rfloor - {f.emax}",
        (
            Setting("exponent", str, "floor", "floor: OCP rule 2^(floor(log2 amax) - emax), the largest values may "
                    "saturate; ceil: the smallest power of two that fits amax (nothing saturates).", choices=MX_EXPONENTS),
            Setting("ties", str, f.ties, "Element ties: even (IEEE round-half-even) or toward_zero (gguf / llama.cpp "
                    "MXFP4: the smaller magnitude).", choices=MX_TIES),
            _partial_setting(),
        ),
        run, _fixed,
    )


def _run_nvfp4(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    r = nvfp4_quantize(x, partial_block=s["partial_block"])
    return _blocked_result("nvfp4", s, r, 4 + (8 * r.scales.size + 32) / x.size)


def _bnb_spec(name: str, label: str) -> SchemeSpec:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = bnb_quantize(x, name, block_size=s["block_size"])
        return _blocked_result(name, s, r, 4 + 32 * r.scales.size / x.size)

    return SchemeSpec(
        name, "bitsandbytes",
        f"bitsandbytes {label}: absmax blocks (fp32 absmax), each value replaced by the nearest of 16 code values.",
        r"\hat x_i = a_b\, c_{k_i},\quad k_i = \arg\min_k \left|\tfrac{x_i}{a_b} - c_k\right|,\quad a_b = \max_{\text{block}} |x|",
        (Setting("block_size", int, 64, "Elements per absmax block (bitsandbytes' allowed sizes).",
                 choices=BNB_BLOCK_SIZES),),
        run, _fixed,
    )


_GGML_TEXT = {
    "q8_0": ("8-bit: d = amax / 127, codes rounded half away from zero.",
             r"d = \tfrac{\max_b |x|}{127},\quad q_i = \mathrm{round}\!\left(\tfrac{x_i}{d}\right),\quad \hat x_i = \mathrm{fp16}(d)\, q_i"),
    "q4_0": ("4-bit: d = (value of largest magnitude) / -8, so that value maps exactly to code 0.",
             r"d = \tfrac{m_b}{-8},\quad q_i = \min\!\left(15,\ \left\lfloor \tfrac{x_i}{d} + 8.5 \right\rfloor\right),\quad \hat x_i = \mathrm{fp16}(d)\,(q_i - 8)"),
    "q4_1": ("4-bit with a per-block minimum: 16 levels spanning [min, max] of the block.",
             r"d = \tfrac{\max_b x - \min_b x}{15},\quad q_i = \min\!\left(15,\ \left\lfloor \tfrac{x_i - \min_b x}{d} + 0.5 \right\rfloor\right),\quad \hat x_i = \mathrm{fp16}(d)\, q_i + \mathrm{fp16}(\min_b x)"),
    "q5_0": ("5-bit: d = (value of largest magnitude) / -16.",
             r"d = \tfrac{m_b}{-16},\quad q_i = \min\!\left(31,\ \left\lfloor \tfrac{x_i}{d} + 16.5 \right\rfloor\right),\quad \hat x_i = \mathrm{fp16}(d)\,(q_i - 16)"),
}


def _ggml_spec(f: GGMLFormat) -> SchemeSpec:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = ggml_quantize(x, f.name, partial_block=s["partial_block"])
        return _blocked_result(f.name, s, r, f.bits + f.scale_bits * r.scales.size / x.size)

    text, formula = _GGML_TEXT[f.name]
    return SchemeSpec(f.name, "ggml", f"llama.cpp {f.name.upper()}, blocks of 32 with a float16 scale; {text}",
                      formula, (_partial_setting(),), run, _fixed)


def _run_int_group(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    codes, deq, params, bpe = int_group_quantize(x, bits=s["bits"], group_size=s["group_size"],
                                                 symmetric=s["symmetric"], partial_block=s["partial_block"])
    return QuantResult("int_group", s, codes, deq, params, None, None, bpe)


for _spec in (
    *(_float_spec(f) for f in FLOATS.values()),
    *(_mx_spec(f) for f in MX_FORMATS.values()),
    SchemeSpec(
        "nvfp4", "nvfp4",
        "NVIDIA NVFP4: blocks of 16 E2M1 values with an FP8 E4M3 block scale and an FP32 tensor scale.",
        r"\hat x_i = g\, s_b\, \mathrm{fl}_{\mathrm{E2M1}}\!\left(\tfrac{x_i}{g\, s_b}\right),\quad "
        r"s_b = \mathrm{fl}_{\mathrm{E4M3}}\!\left(\tfrac{\max_b |x|}{6 g}\right),\quad g = \tfrac{\max |x|}{6 \cdot 448}",
        (_partial_setting(),), _run_nvfp4, _fixed,
    ),
    _bnb_spec("nf4", "NF4 (NormalFloat: quantiles of a normal distribution, exact 0)"),
    _bnb_spec("fp4_bnb", "FP4 (1 sign, 2 exponent, 1 mantissa bit, scaled to [-1, 1])"),
    *(_ggml_spec(f) for f in GGML_FORMATS.values()),
    SchemeSpec(
        "int_group", "integer",
        "Group-wise integer (GPTQ/AWQ round-to-nearest): one min-max scale (and zero-point) per group of consecutive weights.",
        r"q_i = \mathrm{clamp}\!\left(\mathrm{round}\!\left(\tfrac{x_i}{s_g}\right) + z_g,\ q_{min},\ q_{max}\right),\quad \hat x_i = s_g\,(q_i - z_g)",
        (
            Setting("bits", int, 4, "Code bits (2..8).", min=2, max=8),
            Setting("group_size", int, 128, "Consecutive elements sharing a scale.", choices=INT_GROUP_SIZES),
            Setting("symmetric", bool, True, "Symmetric (signed, zero-point 0) or asymmetric with a zero-point."),
            _partial_setting(),
        ),
        _run_int_group, lambda bits, s: {"bits": min(max(bits, 2), 8)},
    ),
):
    register(_spec)


# -------------------------------------------------------------------------- value grids
GRID_KINDS = ("levels", "element grid")


@dataclass(frozen=True)
class FormatGrid:
    """The values a scheme can represent, with its dynamic range.

    ``kind="levels"``: the actual representable values, in the tensor's units (plain and per-tensor
    scaled floats, per-tensor integer / fixed-point / histogram levels, codebooks chosen from the
    tensor). ``kind="element grid"``: the values one element can take *before* its block, group or
    channel scale, which ``scale`` describes (MX, NVFP4, bitsandbytes, ggml, int_group, per-channel
    and per-group schemes); integer grids are the codes q with x ≈ (q − z)·s. ``values`` are
    sorted, distinct, finite float64 (−0 merged into 0). ``min_normal``: the smallest positive
    normal value of a float element type (None for other grids).
    """

    scheme: str
    kind: str
    values: np.ndarray
    element: str  # what one grid value is, e.g. "FP8 E4M3FN value", "NF4 code value", "int4 code"
    scale: str  # how a scale maps the grid onto the tensor ("" when the values are the levels as they are)
    min_normal: float | None = None

    def __post_init__(self) -> None:
        check_choice(self.kind, "grid kind", GRID_KINDS)
        v = np.array(self.values, dtype=np.float64) + 0.0  # a copy; -0 becomes +0
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
            raise ValueError(f"grid values must be a non-empty, finite, strictly increasing 1-D array, got {v!r}")
        object.__setattr__(self, "values", _frozen(v))

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def magnitudes(self) -> np.ndarray:
        """The distinct positive magnitudes |v|, ascending."""
        return np.unique(np.abs(self.values[self.values != 0]))

    @property
    def max_magnitude(self) -> float:
        return float(np.abs(self.values).max())

    @property
    def min_positive(self) -> float | None:
        """Smallest non-zero magnitude (the smallest subnormal of a float type); None for the grid {0}."""
        m = self.magnitudes
        return float(m[0]) if m.size else None

    @property
    def binades(self) -> float:
        """Dynamic range in binades (octaves): log2(max magnitude / smallest non-zero magnitude)."""
        lo = self.min_positive
        return float(np.log2(self.max_magnitude / lo)) if lo else 0.0

    @property
    def dynamic_range_db(self) -> float:
        """20 log10(max magnitude / smallest non-zero magnitude); 6.02 dB per binade."""
        lo = self.min_positive
        return float(20 * np.log10(self.max_magnitude / lo)) if lo else 0.0

    @property
    def normal_binades(self) -> float | None:
        """log2(max / smallest positive normal) for float element types, else None."""
        return None if self.min_normal is None else float(np.log2(self.max_magnitude / self.min_normal))

    def per_binade(self) -> tuple[np.ndarray, np.ndarray]:
        """``(k, counts)``: how many distinct magnitudes lie in each binade [2**k, 2**(k+1)), every k
        from the smallest to the largest magnitude's (empty binades included)."""
        m = self.magnitudes
        if not m.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = np.frexp(m)[1].astype(np.int64) - 1  # exact floor(log2 m)
        return np.arange(k[0], k[-1] + 1), np.bincount(k - k[0])

    def spacing(self) -> tuple[np.ndarray, np.ndarray]:
        """``(magnitude, gap)`` for each pair of neighbouring values: the gap between them, placed at
        the larger of their two magnitudes (the pair around 0 included)."""
        v = self.values
        return np.maximum(np.abs(v[:-1]), np.abs(v[1:])), np.diff(v)


@dataclass(frozen=True)
class GridLanding:
    """How a tensor lands on a grid: ``counts[i]`` elements are quantized to ``grid.values[i]``.

    Values are measured in the grid's units (the tensor itself for levels, x divided by its block
    scale for element grids). ``clip_low`` / ``clip_high`` lie half a step beyond the end values:
    an element beyond them is *clipped* — its error exceeds half the last step (for an integer grid
    this is :func:`quantlib.metrics`' clip rule; for a float, where the cast of an unbounded
    exponent would round up past the max). ``clipped_low`` / ``clipped_high`` count them.
    """

    grid: FormatGrid
    counts: np.ndarray
    clip_low: float
    clip_high: float
    clipped_low: int
    clipped_high: int

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    @property
    def used(self) -> int:
        """Grid values that at least one element was quantized to."""
        return int(np.count_nonzero(self.counts))

    @property
    def unused(self) -> int:
        return self.grid.size - self.used

    @property
    def clipped(self) -> int:
        return self.clipped_low + self.clipped_high

    @property
    def clip_share(self) -> float:
        return self.clipped / self.size


def _label(name: str) -> str:
    return name.upper().replace("_", " ")


def _need(result: QuantResult | None, name: str) -> QuantResult:
    if result is None:
        raise ValueError(f"the grid of {name!r} with these settings depends on the tensor; pass "
                         f"result=Quantizer({name!r}, ...)(x)")
    return result


def _finfo_normal(dtype: Any) -> float:
    return float(ml_dtypes.finfo(dtype).smallest_normal)


# Each builder: (name, validated settings, QuantResult or None) -> FormatGrid.
def _float_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = FLOATS[name]
    label, normal = f"{_label(name)} value", _finfo_normal(f.dtype)
    if s["scaling"] == "none":
        beyond = (f"saturate to ±{f.max:g}" if s["saturate"] or f.overflow == "saturates"
                  else f"are refused (the cast would give {f.overflow})")
        return FormatGrid(name, "levels", _finite_values(f.dtype), label,
                          f"plain cast, no scale; values beyond ±{f.max:g} {beyond}", normal)
    if s["scaling"] == "per_channel":
        return FormatGrid(name, "element grid", _finite_values(f.dtype), label,
                          f"× one float32 scale per channel (axis {s['axis']}): s_c = amax_c / {f.max:g}, so each "
                          f"channel's amax lands on ±{f.max:g}", normal)
    lv = _need(result, name).levels
    sv = float(lv[-1]) / f.max
    return FormatGrid(name, "levels", lv, f"{label} × s",
                      f"× one float32 scale per tensor s = amax / {f.max:g} = {sv:.6g}", normal * sv)


_MX_EXPONENT_TEXT = {"floor": "E = floor(log2 amax) − {emax} (the largest values may saturate)",
                     "ceil": "E = the smallest with amax / 2^E ≤ {max:g} (nothing saturates)"}


def _mx_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = MX_FORMATS[name]
    is_int = f.element is np.int8
    values = np.arange(-127, 128) / 64 if is_int else _finite_values(f.element)
    rule = _MX_EXPONENT_TEXT[s["exponent"]].format(emax=f.emax, max=_elem_max(f))
    return FormatGrid(name, "element grid", values, f"{f.label} value",
                      f"× 2^E per block of {MX_BLOCK}: one E8M0 byte, E ∈ [−127, 127], {rule}; any power of two "
                      "from 2^−127 to 2^127 can stretch the grid", None if is_int else _finfo_normal(f.element))


def _nvfp4_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    return FormatGrid(name, "element grid", _finite_values(ml_dtypes.float4_e2m1fn), "FP4 E2M1 value",
                      f"× s_b·g per block of {NV_BLOCK}: s_b one FP8 E4M3 value in [2^−9, 448] per block, g = amax / "
                      f"({_E2M1_MAX:g}·{_E4M3_MAX:g}) one FP32 value per tensor",
                      _finfo_normal(ml_dtypes.float4_e2m1fn))


def _bnb_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    return FormatGrid(name, "element grid", np.unique(BNB_FORMATS[name]), f"{_label(name)} code value",
                      f"× absmax of each block of {s['block_size']} (one float32): the codebook spans [−absmax, absmax]")


_GGML_GRIDS = {  # rule -> (code value range in units of d, how d is chosen)
    "absmax": (lambda b: (-(2 ** (b - 1) - 1), 2 ** (b - 1) - 1), "d = amax / {hi}"),
    "signed_max": (lambda b: (-(2 ** (b - 1)), 2 ** (b - 1) - 1),
                   "d = m / {lo} with m the value of largest magnitude, so m lands on {lo} (d may be negative)"),
    "min_max": (lambda b: (0, 2**b - 1), "x̂ = d·q + min, d = (max − min) / {hi}"),
}


def _ggml_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = GGML_FORMATS[name]
    span, text = _GGML_GRIDS[f.rule]
    lo, hi = span(f.bits)
    stored = "float16 d and min" if f.rule == "min_max" else "float16 d"
    return FormatGrid(name, "element grid", np.arange(lo, hi + 1), f"{f.bits}-bit integer",
                      f"× d per block of {GGML_BLOCK} ({stored}): " + text.format(lo=lo, hi=hi))


def _int_group_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    b, g = s["bits"], s["group_size"]
    lo, hi = qrange(b, signed=s["symmetric"])
    rule = (f"x̂ = s_g·q, s_g = amax_g / {hi}" if s["symmetric"]
            else f"x̂ = s_g·(q − z_g) with a {b}-bit zero-point z_g per group")
    return FormatGrid(name, "element grid", np.arange(lo, hi + 1), f"int{b} code",
                      f"per group of {g} consecutive values, one float32 scale s_g: {rule}")


def _result_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    """Integer, fixed-point, histogram and codebook schemes: the levels of their own result."""
    r = _need(result, name)
    p = r.params
    if r.levels is not None:
        if p is not None and p.per_tensor:
            text = (f"affine levels (q − z)·s, s = {float(p.scale):.6g}, z = {int(p.zero_point)}, "
                    f"q ∈ [{p.qmin}, {p.qmax}]")
        else:
            text = f"{r.levels.size} levels chosen from this tensor (a codebook stored with it)"
        return FormatGrid(name, "levels", r.levels, "level", text)
    if p is None:
        raise ValueError(f"{name!r} with these settings has no grid to show")
    per = f"group of {p.group_size}" if p.group_size is not None else f"channel (axis {p.axis})"
    return FormatGrid(name, "element grid", np.arange(p.qmin, p.qmax + 1), f"int{p.bits} code",
                      f"x̂ = s·(q − z) with one scale s (and zero-point z) per {per}")


_GRIDS: dict[str, Callable[[str, dict[str, Any], QuantResult | None], FormatGrid]] = {
    **dict.fromkeys(FLOATS, _float_grid),
    **dict.fromkeys(MX_FORMATS, _mx_grid),
    "nvfp4": _nvfp4_grid,
    **dict.fromkeys(BNB_FORMATS, _bnb_grid),
    **dict.fromkeys(GGML_FORMATS, _ggml_grid),
    "int_group": _int_group_grid,
}


def format_grid(name: str, settings: Mapping[str, Any] | None = None, result: QuantResult | None = None) -> FormatGrid:
    """The value grid of registry scheme ``name`` with ``settings`` (defaults for the rest).

    Grids fixed by the format come from the format tables (ml_dtypes types, codebooks, code
    ranges). Grids that depend on the tensor (per-tensor scaled floats, integer / fixed-point /
    histogram / codebook schemes) are read from ``result``, that scheme's QuantResult on the
    tensor; without it they raise ValueError.
    """
    spec = SCHEMES[check_choice(name, "scheme", SCHEMES)]
    s = spec.validate(settings or {})
    if result is not None and result.scheme != name:
        raise ValueError(f"result is of scheme {result.scheme!r}, not {name!r}")
    return _GRIDS.get(name, _result_grid)(name, s, result)


# Element views: (name, x, settings, result) -> (x in grid units, grid value of each element).
def _affine_view(x: np.ndarray, p: QuantParams, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xb, restore = blocks(x, p.axis, p.group_size)
    s = broadcastable(np.asarray(p.scale, np.float64), x.ndim, p.axis, p.group_size)
    z = broadcastable(np.asarray(p.zero_point, np.float64), x.ndim, p.axis, p.group_size)
    return restore(xb / s + z), codes


def _per_block(x: np.ndarray, size: int, partial: str, name: str, scale: np.ndarray) -> np.ndarray:
    """x divided by one scale per block (0 where the scale is 0)."""
    xb = _blocks(x, size, partial, name)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(scale[:, None] == 0, _F32(0), xb / scale[:, None])
    return _unblock(y, x)


def _float_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = FLOATS[name]
    codes, _, scale = float_quantize(x, name, scaling=s["scaling"], saturate=s["saturate"], axis=s["axis"])
    return x / scale, _table(f.dtype)[codes]


def _mx_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = MX_FORMATS[name]
    b = mx_quantize(x, name, exponent=s["exponent"], ties=s["ties"], partial_block=s["partial_block"])
    values = b.codes / _F32(64) if f.element is np.int8 else _table(f.element)[b.codes]
    return _per_block(x, MX_BLOCK, s["partial_block"], name, b.scales), values


def _nvfp4_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    b = nvfp4_quantize(x, partial_block=s["partial_block"])
    scale = b.scales * _F32(b.global_scale)
    return _per_block(x, NV_BLOCK, s["partial_block"], name, scale), _table(ml_dtypes.float4_e2m1fn)[b.codes]


def _bnb_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    b = bnb_quantize(x, name, block_size=s["block_size"])
    return _per_block(x, s["block_size"], "pad", name, b.scales), BNB_FORMATS[name][b.codes]


def _ggml_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = GGML_FORMATS[name]
    xb = _blocks(x, GGML_BLOCK, s["partial_block"], name)
    with np.errstate(over="ignore", invalid="ignore"):
        d, vals, _, lo = _ggml_rule(xb, f)
        y = _times_inverse(xb if lo is None else xb - lo, d)  # in units of the float32 d the codes came from
    return _unblock(y, x), _unblock(vals, x)


def _int_group_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    g = s["group_size"]
    xg = x.reshape(-1) if x.size % g == 0 else _blocks(x, g, s["partial_block"], name).reshape(-1)
    p = choose_qparams(xg, bits=s["bits"], symmetric=s["symmetric"], group_size=g)
    y, codes = _affine_view(xg, p, quantize(xg, p))
    return y[: x.size], codes[: x.size]


def _result_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    return _affine_view(x, r.params, r.codes)


_VIEWS = {
    **dict.fromkeys(FLOATS, _float_view),
    **dict.fromkeys(MX_FORMATS, _mx_view),
    "nvfp4": _nvfp4_view,
    **dict.fromkeys(BNB_FORMATS, _bnb_view),
    **dict.fromkeys(GGML_FORMATS, _ggml_view),
    "int_group": _int_group_view,
}


def grid_landing(x: object, result: QuantResult) -> GridLanding:
    """How ``x`` lands on the grid of ``result``'s scheme (``result`` = that scheme run on ``x``).

    Levels: each dequantized value is matched to its level. Element grids: the block / group /
    channel quantizer runs again to recover each element's value on the grid and x divided by its
    scale (ggml: by the float32 d its codes were computed with, before the float16 rounding).
    """
    x = as_float_array(x)
    if result.dequantized.shape != x.shape:
        raise ValueError(f"result has shape {result.dequantized.shape}, x has {x.shape}; pass the result of x")
    grid = format_grid(result.scheme, result.settings, result)
    if grid.kind == "levels":
        y, elements = x, result.dequantized
    else:
        y, elements = _VIEWS.get(result.scheme, _result_view)(result.scheme, x, dict(result.settings), result)
    idx = nearest_level(np.asarray(elements, _F32).reshape(-1), grid.values.astype(_F32))
    v = grid.values
    lo = v[0] - (v[1] - v[0]) / 2 if v.size > 1 else v[0]
    hi = v[-1] + (v[-1] - v[-2]) / 2 if v.size > 1 else v[-1]
    y = np.asarray(y, np.float64)
    return GridLanding(grid, np.bincount(idx, minlength=grid.size), float(lo), float(hi),
                       int(np.count_nonzero(y < lo)), int(np.count_nonzero(y > hi)))


TABLE_COLUMNS = ("scheme", "family", "grid", "levels", "levels used", "dynamic range dB", "binades",
                 "bits/element", "SQNR dB", "SQNR dB per bit", "clipped %", "note")


def format_table(x: object, names: Iterable[str] | None = None, *, max_samples: int | None = None) -> pd.DataFrame:
    """One row per registry scheme (default settings) on ``x``: its grid (kind, number of levels,
    dynamic range), how ``x`` lands on it (levels used, share clipped), bits per element including
    the scale overhead, and SQNR. ``max_samples``: use only the first that many elements (C order,
    so blocks stay whole). A scheme that refuses the tensor gets a row with its message in ``note``.
    """
    x = as_float_array(x)
    if max_samples is not None and x.size > max_samples:
        x = x.reshape(-1)[:max_samples]
    rows = []
    for name in names if names is not None else SCHEMES:
        row = dict.fromkeys(TABLE_COLUMNS, np.nan) | {"scheme": name, "family": SCHEMES[name].family, "note": ""}
        try:
            r = Quantizer(name)(x)
            land = grid_landing(x, r)
            sqnr = r.metrics(x).sqnr_db
        except ValueError as exc:
            rows.append(row | {"grid": "", "note": str(exc)})
            continue
        g = land.grid
        rows.append(row | {
            "grid": g.kind, "levels": g.size, "levels used": land.used, "dynamic range dB": g.dynamic_range_db,
            "binades": g.binades, "bits/element": r.bits_per_element, "SQNR dB": sqnr,
            "SQNR dB per bit": sqnr / r.bits_per_element, "clipped %": 100 * land.clip_share,
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
