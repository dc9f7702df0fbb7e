"""What the format families share: element-type tables and casts, blocks, registry helpers.

Internal API of :mod:`quantlib.formats` (also used by :mod:`quantlib.teaching`):

* :func:`ml_dtypes` — the ml_dtypes module, imported on first use (``import quantlib`` stays fast);
* :func:`value_table`, :func:`finite_values`, :func:`positive_values` — every value of a
  <= 16-bit float type, its finite values, its non-negative ones with their bit patterns;
* :func:`cast` — ml_dtypes' round-to-nearest-even cast as (bit patterns, float32 values);
* :data:`BIT_FIELDS` — the FP8 / FP6 / FP4 types and bfloat16 by name, with their bit fields:
  given a name instead of a type, the functions above compute the same values and the same cast
  from the fields with numpy, without importing ml_dtypes (whose C extension takes about a second
  to start: more than the whole rate–distortion chart's work); tests check both ways agree.
* :class:`Blocked`, :func:`split_blocks`, :func:`unblock`, :func:`per_block` — block formats
  over the flattened tensor (a short last block padded with copies of its last value);
* :func:`partial_setting`, :func:`fixed_width`, :func:`blocked_result` — the pieces of a block
  format's :class:`~quantlib.schemes.SchemeSpec`.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .._checks import as_float_array
from ..schemes import BlockScales, QuantResult, Setting

F32 = np.float32
TINY = F32(2.0**-126)  # smallest normal float32: floor of a float format's scale
PARTIAL = ("pad", "error")


@functools.cache
def ml_dtypes() -> ModuleType:
    """The ml_dtypes module, imported on first use."""
    import ml_dtypes as module

    return module


def dtype_of(name: str) -> Any:
    """A numpy / ml_dtypes scalar type by name: ``"float16"``, ``"int8"`` or an ml_dtypes type."""
    return getattr(np, name) if name in ("float16", "int8") else getattr(ml_dtypes(), name)


def frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class BitFields(NamedTuple):
    """A small float type's encoding: sign, ``nexp`` exponent bits (bias ``bias``), ``nmant``
    mantissa bits; ``special``: ``"ieee"`` (exponent all ones: inf / NaN), ``"fn"`` (only the
    all-ones magnitude is NaN, no inf), ``"fnuz"`` (only the pattern of -0 is NaN), ``"finite"``
    (every pattern a number; overflow saturates)."""

    nexp: int
    nmant: int
    bias: int
    special: str

    @property
    def bits(self) -> int:
        return 1 + self.nexp + self.nmant


#: ml_dtypes' names of the types quantlib computes itself (their fields as in ml_dtypes.finfo).
BIT_FIELDS: dict[str, BitFields] = {
    "float8_e4m3fn": BitFields(4, 3, 7, "fn"),
    "float8_e5m2": BitFields(5, 2, 15, "ieee"),
    "float8_e4m3fnuz": BitFields(4, 3, 8, "fnuz"),
    "float8_e5m2fnuz": BitFields(5, 2, 16, "fnuz"),
    "float6_e3m2fn": BitFields(3, 2, 3, "finite"),
    "float6_e2m3fn": BitFields(2, 3, 1, "finite"),
    "float4_e2m1fn": BitFields(2, 1, 1, "finite"),
    "bfloat16": BitFields(8, 7, 127, "ieee"),
}


def _fields_table(f: BitFields) -> np.ndarray:
    """float32 value of every bit pattern of the type with fields ``f``."""
    c = np.arange(2**f.bits, dtype=np.int64)
    mag = c & ((1 << (f.nexp + f.nmant)) - 1)
    e, m = mag >> f.nmant, (mag & ((1 << f.nmant) - 1)).astype(np.float64)
    v = np.where(e == 0, np.ldexp(m, 1 - f.bias - f.nmant), np.ldexp(m + 2**f.nmant, e - f.bias - f.nmant))
    top = (1 << f.nexp) - 1
    if f.special == "ieee":
        v = np.where(e == top, np.where(m == 0, np.inf, np.nan), v)
    elif f.special == "fn":
        v = np.where(mag == (1 << (f.nexp + f.nmant)) - 1, np.nan, v)
    elif f.special == "fnuz":
        v = np.where(c == 1 << (f.nexp + f.nmant), np.nan, v)
    return np.where(c >> (f.nexp + f.nmant) == 1, -v, v).astype(F32)


def _fields_cast(y: np.ndarray, f: BitFields) -> tuple[np.ndarray, np.ndarray]:
    """Round-to-nearest-even of float32 ``y`` to the type with fields ``f``: (bit patterns, float32 values).

    Integer arithmetic on the float32 bit pattern, no search: with ``s = 23 - nmant``,
    * from the type's smallest normal 2^(1-bias) up: ``(u + 2^(s-1) - 1 + bit_s(u)) >> s`` rounds the
      mantissa to nearest, ties to even (a carry moves into the exponent), then the exponent is
      re-biased from 127 to ``bias``;
    * below it (the type's subnormals): ``rint(|y| * 2^(bias-1+nmant))``, exact in float32, is the code
      (2^nmant when it rounds up to the smallest normal: that code's bit pattern);
    * a code past the largest finite one is an overflow: inf (IEEE types), NaN (fn / fnuz types), or
      the largest finite value (types without inf or NaN) - ties at that edge went to even as above;
    * the sign bit is copied, except that fnuz types have no negative zero (and their NaN is 0x80).
    NaN input takes the overflow code.
    """
    table = value_table_of(f)
    if f.bits == 16:  # bfloat16: round the float32 bit pattern's low half to nearest, ties to even
        u = np.ascontiguousarray(y, F32).view(np.uint32)
        codes = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
        return codes, (codes.astype(np.uint32) << np.uint32(16)).view(F32)
    half = 1 << (f.nexp + f.nmant)  # the sign bit
    top = int(np.count_nonzero(np.isfinite(table[:half]))) - 1  # positive codes ascend: 0 .. top finite
    y = np.ascontiguousarray(y, F32)
    u = y.view(np.uint32) & np.uint32(0x7FFFFFFF)
    s = 23 - f.nmant
    r = (u + np.uint32((1 << (s - 1)) - 1) + ((u >> np.uint32(s)) & np.uint32(1))) >> np.uint32(s)
    code = r.astype(np.int32) - np.int32((127 - f.bias) << f.nmant)
    a = u.view(F32)
    small = a < F32(2.0 ** (1 - f.bias))
    code[small] = np.rint(a[small] * F32(2.0 ** (f.bias - 1 + f.nmant))).astype(np.int32)
    over = code > top
    if f.special == "ieee":
        overflow = half - (1 << f.nmant)  # inf
    elif f.special == "fn":
        overflow = half - 1  # NaN
    elif f.special == "fnuz":
        overflow = half  # NaN
    else:
        overflow = top  # no inf or NaN: saturate
    code[over] = overflow
    codes = code.astype(np.uint8)
    neg = np.signbit(y)
    if f.special == "fnuz":
        neg &= (codes != 0) & ~over  # no negative zero, one NaN
    codes |= neg.view(np.uint8) << np.uint8(f.nexp + f.nmant)
    return codes, table[codes]


@functools.cache
def value_table_of(f: BitFields) -> np.ndarray:
    return frozen(_fields_table(f))


@functools.cache
def value_table(dtype: Any) -> np.ndarray:
    """float32 value of every bit pattern of a <= 16-bit float type (NaN/inf included); read-only.
    ``dtype``: a numpy / ml_dtypes type, or a name of :data:`BIT_FIELDS` (then without ml_dtypes)."""
    if isinstance(dtype, str):
        return value_table_of(BIT_FIELDS[dtype]) if dtype in BIT_FIELDS else value_table(dtype_of(dtype))
    bits = np.dtype(dtype).itemsize * 8
    width = min(bits, np.finfo(dtype).bits if dtype is np.float16 else ml_dtypes().finfo(dtype).bits)
    return frozen(np.arange(2**width, dtype=np.uint8 if bits == 8 else np.uint16).view(dtype).astype(F32))


@functools.cache
def finite_values(dtype: Any) -> np.ndarray:
    """All finite values of a float type, sorted, with -0 merged into 0."""
    t = value_table(dtype)
    return frozen(np.unique(t[np.isfinite(t)] + F32(0)))


@functools.cache
def positive_values(dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(magnitudes, bit patterns) of the non-negative finite values, ascending."""
    t = value_table(dtype)
    keep = np.isfinite(t) & (np.signbit(t) == 0)
    return frozen(t[keep]), frozen(np.flatnonzero(keep).astype(np.uint8))


def smallest_normal(dtype: Any) -> float:
    if isinstance(dtype, str) and dtype in BIT_FIELDS:
        return float(2.0 ** (1 - BIT_FIELDS[dtype].bias))
    if isinstance(dtype, str):
        dtype = dtype_of(dtype)
    return float(np.finfo(dtype).smallest_normal) if dtype is np.float16 else float(ml_dtypes().finfo(dtype).smallest_normal)


def cast(y: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """(bit patterns, float32 values) of ml_dtypes' round-to-nearest-even cast of float32 ``y``
    (``dtype`` a name of :data:`BIT_FIELDS`: the same cast computed from the type's bit fields)."""
    if isinstance(dtype, str):
        if dtype in BIT_FIELDS:
            return _fields_cast(np.asarray(y, F32), BIT_FIELDS[dtype])
        dtype = dtype_of(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        c = y.astype(dtype)
    if c.itemsize == 1:
        codes = c.view(np.uint8)
        return codes, value_table(dtype)[codes]
    return c.view(np.uint16), c.astype(F32)


class Blocked(NamedTuple):
    """A block format's output: ``codes`` and ``dequantized`` have the tensor's shape; ``scales``
    (float32, one per block, the value as stored), ``offsets`` (Q4_1's stored min), ``global_scale`` (NVFP4)."""

    codes: np.ndarray
    dequantized: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray | None = None
    global_scale: float | None = None


class GGMLBlocks(NamedTuple):
    """The stored fields of a ggml-type tensor, one row per block.

    ``d``: fp16 super-block (or block) scale as float32 (nb,); ``dmin``: fp16 scale of the minimums
    (K-quants with a minimum; for q5_1 the fp16 minimum m itself), or None; ``sc`` / ``mc``: the
    sub-block scale / minimum codes (nb, nsub) (None for a one-level type); ``q``: the element
    codes (nb, block), as ggml stores them (unsigned); ``raw``: ggml's bytes (nb, nbytes);
    ``size``: the tensor's element count (the last block may be padded)."""

    type: str
    d: np.ndarray
    dmin: np.ndarray | None
    sc: np.ndarray | None
    mc: np.ndarray | None
    q: np.ndarray
    raw: np.ndarray
    size: int


def split_blocks(x: np.ndarray, size: int, partial: str, name: str) -> np.ndarray:
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


def first_min_max(xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's minimum and maximum as C's ``if (v < min) min = v`` loop finds them: the first of the
    equal extremes, so a block of +0 and -0 keeps the sign of its first zero (np.min may pick either)."""
    lo, hi = xb.min(axis=1, keepdims=True), xb.max(axis=1, keepdims=True)
    first = lambda m: np.take_along_axis(xb, np.argmax(xb == m, axis=1)[:, None], axis=1)  # noqa: E731
    return first(lo), first(hi)


def unblock(yb: np.ndarray, x: np.ndarray) -> np.ndarray:
    return yb.reshape(-1)[: x.size].reshape(x.shape)


def per_block(x: np.ndarray, size: int, partial: str, name: str, scale: np.ndarray) -> np.ndarray:
    """x divided by one scale per block (0 where the scale is 0)."""
    xb = split_blocks(x, size, partial, name)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(scale[:, None] == 0, F32(0), xb / scale[:, None])
    return unblock(y, x)


def partial_setting() -> Setting:
    return Setting("partial_block", str, "pad",
                   "Size not a multiple of the block: 'pad' quantizes the short last block with its own scale; "
                   "'error' refuses it (as llama.cpp / gguf do).", choices=PARTIAL)


def fixed_width(bits: int, settings: Any) -> dict[str, Any]:
    return {}  # a fixed-width format: a bit sweep repeats it


def blocked_result(name: str, s: dict[str, Any], r: Blocked, bpe: float, block_size: int | None = None) -> QuantResult:
    """A block format's QuantResult, its stored scales kept (:class:`~quantlib.schemes.BlockScales`).
    ``block_size`` None: the power of two that splits the tensor into ``r.scales.size`` blocks
    (a short last block counted), or the whole tensor for one block."""
    n, nb = r.codes.size, max(int(np.size(r.scales)), 1)
    size = block_size if block_size is not None else _block_size(n, nb)
    return QuantResult(name, s, r.codes, r.dequantized, None, None, None, bpe,
                       BlockScales(size, np.asarray(r.scales, F32).reshape(-1), r.offsets, r.global_scale))


def _block_size(n: int, nb: int) -> int:
    if nb == 1:
        return n
    lo, hi = -(-n // nb), -(-n // (nb - 1)) - 1  # every size B with ceil(n / B) == nb
    p = 1 << max(lo - 1, 0).bit_length()  # the smallest power of two >= lo
    return p if p <= hi else lo


def label(name: str) -> str:
    """A registry name as a format label: ``fp8_e4m3fn`` -> ``FP8 E4M3FN``."""
    return name.upper().replace("_", " ")


# -------------------------------------------------------------------------------- importance
def check_imatrix(imatrix: Any, x: np.ndarray, block: int, name: str) -> tuple[np.ndarray, int]:
    """(float32 weights, row length) for ``imatrix`` on tensor ``x``: one finite weight >= 0 per column."""
    n = x.shape[-1]
    if np.ndim(imatrix) != 1 or np.size(imatrix) != n:
        raise ValueError(f"{name}: imatrix needs one weight per column of the last axis ({n} for shape {x.shape}); "
                         f"got shape {np.shape(imatrix)}")
    w = as_float_array(imatrix, "imatrix")
    if np.any(w < 0):
        raise ValueError(f"{name}: imatrix weights must be >= 0 (llama.cpp's are mean squared activations); "
                         f"got {int(np.count_nonzero(w < 0))} negative")
    if n % block:
        raise ValueError(f"{name} with an imatrix quantizes rows: the last axis ({n}, shape {x.shape}) must be a "
                         f"multiple of its block size {block}")
    return np.ascontiguousarray(w, dtype=F32), n


def imatrix_setting() -> Setting:
    return Setting("imatrix", np.ndarray, None,
                   "Importance weights, one per column (llama.cpp's imatrix / quant_weights); None: ggml's "
                   "reference quantizer.", optional=True)
