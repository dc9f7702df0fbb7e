"""llama.cpp / GGUF block formats ``q8_0``, ``q4_0``, ``q4_1``, ``q5_0``: blocks of 32 with a
float16 scale, in gguf.quants' float32 arithmetic (see :mod:`quantlib.formats`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from ..schemes import QuantResult, SchemeSpec, fixed_bits, in_blocks, register
from .common import (F32, PARTIAL, Blocked, GGMLBlocks, blocked_result, check_imatrix, first_min_max, fixed_width,
                     imatrix_setting, partial_setting, split_blocks, unblock)
from .grids import FormatGrid

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
        h = v.astype(np.float16).astype(F32)
    if not np.all(np.isfinite(h)):
        big = float(np.abs(v).max())
        raise ValueError(
            f"{name} stores the block {what} as float16 (max 65504), but this tensor needs |{what}| up to {big:g}; "
            "ggml would store inf. Scale the tensor down (|x| of at most a few 1e5) or use another format"
        )
    return h


def _times_inverse(xb: np.ndarray, d: np.ndarray, bad: float = -1e9) -> np.ndarray:
    """``x * fl32(1/d)`` (0 where d is 0). A subnormal d makes 1/d inf, and x * inf is inf or NaN: ggml's
    cast of such a value to its 8-bit code gives 0 (x86's integer conversion of a non-finite float is
    0x80000000, whose low byte is 0), so it becomes ``bad``, a value whose code is 0 (fp16(d) = 0 anyway)."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = np.where(d == 0, F32(0), F32(1) / d)
        y = xb * inv
    return y if np.all(np.isfinite(inv)) else np.where(np.isfinite(y), y, F32(bad))


def ggml_quantize(x: object, fmt: str, *, partial_block: str = "pad", imatrix: object = None) -> Blocked:
    """llama.cpp block quantization with gguf.quants' float32 arithmetic; ``scales`` = stored fp16 d.

    ``imatrix`` (one weight >= 0 per column of the last axis, a multiple of 32): ggml's
    ``quantize_row_q4_0_impl`` etc. — weights ``imatrix[c] * sqrt(mean_row x**2 + x**2)``; Q4_0 / Q5_0
    take the best of 19 candidate scales (make_qx_quants), Q4_1 a weighted scale-and-minimum search
    (make_qkx3_quants). Q8_0 ignores it, as ggml does."""
    f = GGML_FORMATS[check_choice(fmt, "ggml format", GGML_FORMATS)]
    x = as_float_array(x)
    if imatrix is not None and f.name != "q8_0":
        return _ggml_weighted(x, f, imatrix)
    xb = split_blocks(x, GGML_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), f.name)
    with np.errstate(over="ignore", invalid="ignore"):  # |x| near float32's max: refused by _fp16 below
        d, vals, q, lo = _ggml_rule(xb, f)
    offsets = None if lo is None else _fp16(lo, "minimum", f.name)
    d16 = _fp16(d, "scale d", f.name)
    deq = d16 * vals if offsets is None else d16 * vals + offsets
    return Blocked(unblock(q, x), unblock(deq, x), d16.reshape(-1), None if offsets is None else offsets.reshape(-1))


def _ggml_weighted(x: np.ndarray, f: GGMLFormat, imatrix: object) -> Blocked:
    from . import _ggml_numba as k

    w, n = check_imatrix(imatrix, x, GGML_BLOCK, f.name)
    xb = np.ascontiguousarray(x.reshape(-1, GGML_BLOCK))
    sigma2 = k.row_sigma2(np.ascontiguousarray(x.reshape(-1, n)), F32(n))
    d = np.zeros(xb.shape[0], F32)
    q = np.zeros(xb.shape, np.uint8)
    if f.rule == "min_max":
        m = np.zeros(xb.shape[0], F32)
        k.qx1_weighted(xb, w.reshape(-1, GGML_BLOCK), sigma2, n // GGML_BLOCK, 2**f.bits - 1, d, m, q)
        d16, m16 = _fp16(d, "scale d", f.name), _fp16(m, "minimum", f.name)
        return Blocked(unblock(q, x), unblock(d16[:, None] * q.astype(F32) + m16[:, None], x), d16, m16)
    half = 2 ** (f.bits - 1)
    k.qx0_weighted(xb, w.reshape(-1, GGML_BLOCK), sigma2, n // GGML_BLOCK, half, d, q)
    d16 = _fp16(d, "scale d", f.name)
    return Blocked(unblock(q, x), unblock(d16[:, None] * (q.astype(F32) - F32(half)), x), d16)


def _ggml_rule(xb: np.ndarray, f: GGMLFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(float32 d, code values, stored codes, block min) of one ggml rule on blocks ``xb``."""
    lo = None
    if f.rule == "absmax":
        d = np.abs(xb).max(axis=1, keepdims=True) / F32(127)
        y = _times_inverse(xb, d, 0.0)
        t = np.trunc(y)
        q = np.clip(t + np.copysign((np.abs(y - t) >= 0.5).astype(F32), y), -127, 127).astype(np.int8)  # half away
        vals = q.astype(F32)
    elif f.rule == "signed_max":
        half = 2 ** (f.bits - 1)
        m = np.take_along_axis(xb, np.abs(xb).argmax(axis=1)[:, None], axis=1)
        m = np.where(m == 0, F32(0), m)  # ggml starts from max = +0: an all-zero block of -0 keeps it (d = -0)
        d = m / F32(-half)
        q = np.clip(np.trunc(_times_inverse(xb, d) + F32(half + 0.5)), 0, 2 * half - 1).astype(np.uint8)
        vals = q.astype(F32) - F32(half)
    else:
        lo, hi = first_min_max(xb)
        d = (hi - lo) / F32(15)
        q = np.clip(np.trunc(_times_inverse(xb - lo, d) + F32(0.5)), 0, 15).astype(np.uint8)
        vals = q.astype(F32)
    return d, vals, q, lo


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


GGML_NBYTES = {"q8_0": 34, "q4_0": 18, "q4_1": 20, "q5_0": 22}


def ggml_blocks(name: str, r: Blocked, size: int) -> GGMLBlocks:
    """ggml's block bytes of a Q8_0 / Q4_0 / Q4_1 / Q5_0 result: fp16 d (and m), then the codes
    (Q8_0: int8; 4-bit: element j in the low nibble of byte j, j + 16 in the high one; Q5_0: the
    fifth bits of the 32 codes as one little-endian uint32 before the nibbles)."""
    q = r.codes.reshape(-1)
    q = np.concatenate((q, np.full((-q.size) % GGML_BLOCK, q[-1], q.dtype))).reshape(-1, GGML_BLOCK).astype(np.int64)
    d = r.scales.astype(np.float16).view(np.uint8).reshape(-1, 2)
    parts = [d]
    if r.offsets is not None:
        parts.append(r.offsets.astype(np.float16).view(np.uint8).reshape(-1, 2))
    if name == "q8_0":
        parts.append(q.astype(np.int8).view(np.uint8))
    else:
        if name == "q5_0":
            bits = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
            parts.append(np.bitwise_or.reduce(bits, axis=1).astype("<u4").view(np.uint8).reshape(-1, 4))
        parts.append(((q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)).astype(np.uint8))
    raw = np.concatenate(parts, axis=1)
    return GGMLBlocks(name, r.scales, r.offsets, None, None, q, raw, size)


def _ggml_spec(f: GGMLFormat) -> SchemeSpec:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = ggml_quantize(x, f.name, partial_block=s["partial_block"], imatrix=s["imatrix"])
        res = blocked_result(f.name, s, r, f.bits + f.scale_bits * r.scales.size / x.size)
        return replace(res, ggml_blocks=ggml_blocks(f.name, r, x.size))

    text, formula = _GGML_TEXT[f.name]
    return SchemeSpec(f.name, "ggml", f"llama.cpp {f.name.upper()}, blocks of 32 with a float16 scale; {text}",
                      formula, (partial_setting(), imatrix_setting()), run, fixed_width, grid=ggml_grid, view=ggml_view,
                      code_bits=fixed_bits(f.bits), chunking=in_blocks(GGML_BLOCK, "imatrix"))


_GGML_GRIDS = {  # rule -> (code value range in units of d, how d is chosen)
    "absmax": (lambda b: (-(2 ** (b - 1) - 1), 2 ** (b - 1) - 1), "d = amax / {hi}"),
    "signed_max": (lambda b: (-(2 ** (b - 1)), 2 ** (b - 1) - 1),
                   "d = m / {lo} with m the value of largest magnitude, so m lands on {lo} (d may be negative)"),
    "min_max": (lambda b: (0, 2**b - 1), "x̂ = d·q + min, d = (max − min) / {hi}"),
}


def ggml_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = GGML_FORMATS[name]
    span, text = _GGML_GRIDS[f.rule]
    lo, hi = span(f.bits)
    stored = "float16 d and min" if f.rule == "min_max" else "float16 d"
    return FormatGrid(name, "element grid", np.arange(lo, hi + 1), f"{f.bits}-bit integer",
                      f"× d per block of {GGML_BLOCK} ({stored}): " + text.format(lo=lo, hi=hi))


def ggml_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = GGML_FORMATS[name]
    if s.get("imatrix") is not None and name != "q8_0":  # the weighted search: its stored d (and min)
        b = r.ggml_blocks
        xb = x.reshape(-1, GGML_BLOCK)
        off = 0 if b.dmin is None else b.dmin[:, None]
        half = 0 if f.rule == "min_max" else 2 ** (f.bits - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(b.d[:, None] == 0, F32(0), (xb - off) / b.d[:, None])
        return unblock(y, x), unblock(b.q.astype(F32) - F32(half), x)
    xb = split_blocks(x, GGML_BLOCK, s["partial_block"], name)
    with np.errstate(over="ignore", invalid="ignore"):
        d, vals, _, lo = _ggml_rule(xb, f)
        y = _times_inverse(xb if lo is None else xb - lo, d)  # in units of the float32 d the codes came from
    return unblock(y, x), unblock(vals, x)


for _f in GGML_FORMATS.values():
    register(_ggml_spec(_f))
