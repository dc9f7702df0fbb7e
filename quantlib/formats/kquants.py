"""llama.cpp's K-quants and the search-based ggml block types, bit-exact with ggml's C quantizer.

Registry names (true bits per weight from the block layout):

* ``q4_k`` (4.5), ``q5_k`` (5.5): super-blocks of 256 = 8 sub-blocks of 32. Each sub-block j has a
  scale s_j >= 0 and a minimum m_j >= 0 found by a weighted least-squares search over candidate
  scales (ggml's ``make_qkx2_quants``); both are stored as 6-bit codes sc_j, mc_j against the
  super-block's fp16 ``d`` and ``dmin``: ``x_hat = (d * sc_j) * q - dmin * mc_j`` with q in 0..15 / 0..31.
* ``q6_k`` (6.5625): 16 sub-blocks of 16, signed int8 sub-block scales against an fp16 ``d``:
  ``x_hat = (d * sc_j) * (q - 32)``, q in 0..63 (``make_qx_quants``: 19 candidate scales).
* ``q2_k`` (2.625): 16 sub-blocks of 16, codes 0..3, 4-bit scale and minimum codes against fp16 d, dmin
  (mean-absolute-error search, weights |x|). ``q3_k`` (3.4375): 16 sub-blocks of 16, codes 0..7 around 4,
  signed 6-bit sub-block scales against an fp16 d (``make_q3_quants``: weighted rounds that move one
  code at a time).
* ``iq4_nl`` (4.5, blocks of 32) and ``iq4_xs`` (4.25, super-blocks of 256 with 6-bit block scales):
  each element is the nearest of 16 non-uniform values (-127 ... 113) times the block scale, the scale
  the best of 15 candidates by weighted least squares (weights x**2).
* ``tq1_0`` (1.6875) and ``tq2_0`` (2.0625): ternary for BitNet b1.58 models, d = fp16(max |x|) per 256,
  ``x_hat = d * round_half_away(x / max |x|)`` in {-d, 0, d}; tq1_0 packs 5 trits per byte (3**5 = 243),
  tq2_0 2 bits per trit.
* ``q5_1`` (6.0): blocks of 32, ``x_hat = d * q + m`` with fp16 d = (max - min) / 31, m = min.

Without importance weights the result is ggml's reference quantizer (``quantize_row_*_ref``, what
``llama-quantize`` writes without ``--imatrix``). ``imatrix`` — one non-negative weight per column
(the last axis; a 1-D tensor is one row), as llama.cpp's ``quant_weights`` — switches to ggml's
``quantize_row_*_impl``: the search weights become ``imatrix[c] * sqrt(sigma2 + x**2)`` (sigma2:
2 * mean x**2 of the super-block, or mean x**2 of the row for q5_1), the candidates run finer
(``make_qkx3_quants``: -0.9 + 0.05 k, 37 steps) and the 6-bit sub-block codes come from a weighted
search of their own (``make_qp_quants``). With imatrix the last axis must be a multiple of the block. ggml ignores importance weights for
tq1_0 / tq2_0, and so does quantlib. iq4_nl / iq4_xs always use ggml's search (``ggml_quantize_chunk``
runs it with or without weights; weights x**2 without).

All arithmetic is ggml's float32 sequence in numba kernels (see :mod:`._ggml_numba`; numba is a
dependency, and ``QUANTLIB_NO_NUMBA`` does not apply: these searches have no numpy path): the dequantized values equal
gguf's dequantization of the bytes ``ggml_quantize_chunk`` writes, and :func:`to_ggml_bytes` gives
those bytes. A sub-block whose stored scale code is 0 keeps the codes of its own search (as ggml)
and dequantizes to ``-dmin * mc_j``. A super-block scale beyond float16 (|x| above ~1e6) would be
inf in ggml; it is refused with a ValueError, as for the other ggml types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from .._shared import latex_g
from ..schemes import QuantResult, SchemeSpec, fixed_bits, in_blocks, register
from .common import (F32, PARTIAL, GGMLBlocks, check_imatrix, first_min_max, fixed_width, imatrix_setting,
                     partial_setting, split_blocks, unblock)
from .grids import FormatGrid


IQ4_VALUES = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.int8)
KINDS = ("min", "signed", "iq4", "ternary")  # x_hat = (d sc) q - dmin mc | (d sc)(q - 2**(b-1)) | (d sc) v[q] | d (q - 1)


@dataclass(frozen=True)
class KQuantFormat:
    name: str
    block: int  # elements per (super-)block
    nbytes: int  # bytes per block
    bits: int  # bits of one element code (a trit counts 2)
    sub: int  # elements per sub-block (== block for a one-level type)
    kind: str  # one of KINDS
    text: str
    formula: str

    @property
    def bpw(self) -> float:
        return 8 * self.nbytes / self.block

    @property
    def nsub(self) -> int:
        return self.block // self.sub

    @property
    def grid_values(self) -> np.ndarray:
        """The value of each element code, before the (sub-)block scale."""
        if self.kind == "iq4":
            return IQ4_VALUES.astype(np.float32)
        if self.kind == "ternary":
            return np.array([-1, 0, 1], np.float32)
        n = 2**self.bits
        return np.arange(n, dtype=np.float32) - (np.float32(n // 2) if self.kind == "signed" else np.float32(0))


_TWO_LEVEL_MIN = r"\hat x_i = (d\cdot sc_j)\, q_i - d_{min}\cdot m_j,\quad q_i\in[0,%d],\ sc_j, m_j\in[0,%d],\ d, d_{min}\ \text{fp16 per 256}"
KQUANT_FORMATS: dict[str, KQuantFormat] = {f.name: f for f in (
    KQuantFormat("q5_1", 32, 24, 5, 32, "min",
                 "5-bit with a per-block minimum: 32 levels over [min, max] of the block; fp16 d and m.",
                 r"d = \tfrac{\max_b x - \min_b x}{31},\quad q_i = \left\lfloor \tfrac{x_i - \min_b x}{d} + 0.5 \right\rfloor,"
                 r"\quad \hat x_i = \mathrm{fp16}(d)\, q_i + \mathrm{fp16}(\min_b x)"),
    KQuantFormat("q2_k", 256, 84, 2, 16, "min",
                 "super-blocks of 256 = 16 sub-blocks of 16 with 4-bit scale and minimum codes against the "
                 "super-block's fp16 d and dmin; codes 0..3 from a mean-absolute-error search.",
                 _TWO_LEVEL_MIN % (3, 15)),
    KQuantFormat("q3_k", 256, 110, 3, 16, "signed",
                 "super-blocks of 256 = 16 sub-blocks of 16 with signed 6-bit scales against one fp16 d; codes "
                 "-4..3, refined one code at a time (weights x²).",
                 r"\hat x_i = (d\cdot sc_j)\,(q_i - 4),\quad q_i\in[0,7],\ sc_j\in[-32,31],\ d\ \text{fp16 per 256}"),
    KQuantFormat("q4_k", 256, 144, 4, 32, "min",
                 "super-blocks of 256 = 8 sub-blocks of 32, each with its own scale and minimum found by a "
                 "weighted least-squares search, stored as 6-bit codes against the super-block's fp16 d and dmin.",
                 _TWO_LEVEL_MIN % (15, 63)),
    KQuantFormat("q5_k", 256, 176, 5, 32, "min",
                 "as Q4_K with 5-bit codes: 8 sub-blocks of 32 with 6-bit scales and minimums, fp16 d and dmin.",
                 _TWO_LEVEL_MIN % (31, 63)),
    KQuantFormat("q6_k", 256, 210, 6, 16, "signed",
                 "super-blocks of 256 = 16 sub-blocks of 16 with signed 8-bit scales against one fp16 d; "
                 "each sub-block scale is the best of 19 candidates (weights x²).",
                 r"\hat x_i = (d\cdot sc_j)\,(q_i - 32),\quad q_i\in[0,63],\ sc_j\in[-128,127],\ d\ \text{fp16 per 256}"),
    KQuantFormat("iq4_nl", 32, 18, 4, 32, "iq4",
                 "blocks of 32 on a non-uniform 16-value grid (-127 … 113) times an fp16 scale chosen by "
                 "weighted least squares among 15 candidates.",
                 r"\hat x_i = d\cdot v[q_i],\quad v = (-127, -104, \dots, 89, 113),\ d\ \text{fp16 per 32}"),
    KQuantFormat("iq4_xs", 256, 136, 4, 32, "iq4",
                 "the IQ4_NL grid with super-blocks of 256: 8 block scales of 32 stored as signed 6-bit codes "
                 "against one fp16 d.",
                 r"\hat x_i = (d\cdot sc_j)\, v[q_i],\quad v = (-127, \dots, 113),\ sc_j\in[-32,31],\ d\ \text{fp16 per 256}"),
    KQuantFormat("tq1_0", 256, 54, 2, 256, "ternary",
                 "ternary (BitNet b1.58): {-d, 0, d} with d = fp16(max|x|) per 256, five trits per byte "
                 "(3^5 = 243 ≤ 256).",
                 r"d = \max_b |x|,\quad t_i = \mathrm{round}\!\left(\tfrac{x_i}{d}\right)\in\{-1,0,1\},\quad \hat x_i = \mathrm{fp16}(d)\, t_i"),
    KQuantFormat("tq2_0", 256, 66, 2, 256, "ternary",
                 "ternary (BitNet b1.58) as TQ1_0, two bits per trit (faster to unpack).",
                 r"d = \max_b |x|,\quad t_i = \mathrm{round}\!\left(\tfrac{x_i}{d}\right)\in\{-1,0,1\},\quad \hat x_i = \mathrm{fp16}(d)\, t_i"),
)}


# -------------------------------------------------------------------------------- quantize
def _kernels() -> Any:
    from . import _ggml_numba

    return _ggml_numba


def kquant_quantize(x: object, fmt: str, *, imatrix: object = None, partial_block: str = "pad") -> GGMLBlocks:
    """ggml's quantizer for ``fmt`` (a name in :data:`KQUANT_FORMATS`) as stored fields and bytes."""
    f = KQUANT_FORMATS[check_choice(fmt, "ggml K-quant format", KQUANT_FORMATS)]
    x = as_float_array(x)
    part = check_choice(partial_block, "partial_block", PARTIAL)
    w, n_row = (None, 0) if imatrix is None else check_imatrix(imatrix, x, f.block, f.name)
    xb = np.ascontiguousarray(split_blocks(x, f.block, part, f.name))
    if f.kind == "ternary":
        return _ternary(f, xb, x.size)
    if f.name == "q5_1" and w is None:
        return _q5_1_ref(xb, x.size)
    nb_ = xb.shape[0]
    k = _kernels()
    qw = np.ones((1, f.block), F32) if w is None else w.reshape(-1, f.block)
    use = w is not None
    d = np.zeros(nb_, F32)
    q = np.zeros((nb_, f.block), np.uint8)  # codes are at most 6 bits: a quarter of the memory traffic of int64
    dmin = sc = mc = None
    if f.nsub > 1:
        sc = np.zeros((nb_, f.nsub), np.int64)
    if f.kind == "min":
        dmin = np.zeros(nb_, F32)
        mc = None if sc is None else np.zeros((nb_, f.nsub), np.int64)
    if f.name == "q5_1":
        sigma2 = k.row_sigma2(x.reshape(-1, n_row), F32(n_row))
        k.qx1_weighted(xb, qw, sigma2, n_row // 32, 31, d, dmin, q)
    elif f.name == "q2_k":
        k.q2k(xb, qw, use, d, dmin, sc, mc, q)
    elif f.name == "q3_k":
        k.q3k(xb, qw, use, d, sc, q)
    elif f.name == "q6_k":
        k.q6k(xb, qw, use, d, sc, q)
    elif f.kind == "iq4":
        k.iq4(xb, qw, use, IQ4_VALUES, f.nsub, d, np.zeros((nb_, 1), np.int64) if sc is None else sc, q)
    else:
        k.q45k(xb, qw, use, 2**f.bits - 1, d, dmin, sc, mc, q)
    _check_fp16(f.name, d, *(() if dmin is None else (dmin,)))
    return _pack(f, d, dmin, sc, mc, q, x.size)


def _ternary(f: KQuantFormat, xb: np.ndarray, size: int) -> GGMLBlocks:
    """quantize_row_tq{1,2}_0_ref: d = max |x| (stored fp16), trit = lroundf(x * fl32(1/d)) + 1."""
    amax = np.abs(xb).max(axis=1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = np.where(amax == 0, F32(0), F32(1) / amax)
        y = xb * inv[:, None]
        y = np.where(np.isfinite(y), y, F32(0))  # lroundf(inf) + 1 is 1 in ggml's int: a 0 trit
    t = np.trunc(y)
    r = t + np.copysign((np.abs(y - t) >= F32(0.5)).astype(F32), y)  # lroundf: half away from zero
    d16 = _fp16(amax)
    _check_fp16(f.name, d16)
    return _pack(f, d16, None, None, None, (np.clip(r, -1, 1) + 1).astype(np.uint8), size)


def _q5_1_ref(xb: np.ndarray, size: int) -> GGMLBlocks:
    """quantize_row_q5_1_ref: d = (max - min) / 31, id = 1/d, q = (uint8)((x - min) * id + 0.5)."""
    lo, hi = (v[:, 0] for v in first_min_max(xb))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d = (hi - lo) / F32(31)
        inv = np.where(d == 0, F32(0), F32(1) / d)
        y = (xb - lo[:, None]) * inv[:, None]
        y = np.where(np.isfinite(y), y, F32(0))  # ggml's (uint8_t) of inf / NaN is 0 on x86 (fp16(d) is 0 then)
    q = np.clip(np.trunc(y + F32(0.5)), 0, 31).astype(np.uint8)
    d16, m16 = _fp16(d), _fp16(lo)
    _check_fp16("q5_1", d16, m16)
    return _pack(KQUANT_FORMATS["q5_1"], d16, m16, None, None, q, size)


def _fp16(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return v.astype(np.float16).astype(F32)


def _check_fp16(name: str, *fields: np.ndarray) -> None:
    for v in fields:
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} stores its block scales as float16 (max 65504), and this tensor needs more "
                             "(ggml would store inf). Scale the tensor down (|x| of at most ~1e5) or use another format")


# -------------------------------------------------------------------------------- bytes
def _h(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).view(np.uint8).reshape(-1, 2)


def _k_scales(sc: np.ndarray, mc: np.ndarray) -> np.ndarray:
    """The 12 bytes of Q4_K / Q5_K's eight 6-bit scales and mins (ggml's get_scale_min_k4 layout)."""
    out = np.empty((sc.shape[0], 12), np.uint8)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = mc[:, 0:4] | ((mc[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((mc[:, 4:8] & 15) << 4)
    return out


def _crumbs(q: np.ndarray) -> np.ndarray:
    """2-bit codes of 256 elements in 64 bytes: byte 32h + l holds elements 128h + l + 32k at bits 2k."""
    c = q.reshape(q.shape[0], 2, 4, 32) & 3
    return (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(q.shape[0], 64)


def _nibbles32(q: np.ndarray) -> np.ndarray:
    """4-bit codes per 32 elements in 16 bytes: element j low nibble of byte j, j + 16 the high one."""
    c = q.reshape(q.shape[0], -1, 2, 16) & 15
    return (c[:, :, 0] | (c[:, :, 1] << 4)).reshape(q.shape[0], -1)


def _trits(t: np.ndarray) -> np.ndarray:
    """TQ1_0's 52 bytes of trits: 5 per byte (first trit most significant), stored as ceil(v * 256 / 243)."""
    nb_ = t.shape[0]
    pw = 3 ** np.arange(4, -1, -1)
    a = (t[:, :160].reshape(nb_, 5, 32) * pw[None, :, None]).sum(axis=1)
    b = (t[:, 160:240].reshape(nb_, 5, 16) * pw[None, :, None]).sum(axis=1)
    c = (t[:, 240:].reshape(nb_, 4, 4) * pw[1:, None] * 3).sum(axis=1)  # 4 trits, then one more * 3
    v = np.concatenate([a, b, c], axis=1)
    return (v * 256 + 242) // 243


def _pack(f: KQuantFormat, d: np.ndarray, dmin: np.ndarray | None, sc: np.ndarray | None, mc: np.ndarray | None,
          q: np.ndarray, size: int) -> GGMLBlocks:
    nb_ = q.shape[0]
    if f.name == "q5_1":
        bits = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
        qh = np.bitwise_or.reduce(bits, axis=1).astype("<u4").view(np.uint8).reshape(nb_, 4)
        parts = [_h(d), _h(dmin), qh, _nibbles32(q)]
    elif f.name == "q6_k":
        h = q.reshape(nb_, 2, 4, 32)  # halves of 128, quarters of 32
        ql = np.concatenate([(h[:, :, 0] & 15) | ((h[:, :, 2] & 15) << 4),
                             (h[:, :, 1] & 15) | ((h[:, :, 3] & 15) << 4)], axis=2).reshape(nb_, 128)
        qh = ((h[:, :, 0] >> 4) | ((h[:, :, 1] >> 4) << 2) | ((h[:, :, 2] >> 4) << 4)
              | ((h[:, :, 3] >> 4) << 6)).reshape(nb_, 64)
        parts = [ql, qh, sc.astype(np.int8).view(np.uint8), _h(d)]
    elif f.name == "q2_k":
        parts = [sc | (mc << 4), _crumbs(q), _h(d), _h(dmin)]
    elif f.name == "q3_k":
        hmask = np.bitwise_or.reduce(((q.reshape(nb_, 8, 32) >> 2) & 1) << np.arange(8)[None, :, None], axis=1)
        u = sc + 32
        low = (u[:, :8] & 15) | ((u[:, 8:] & 15) << 4)
        high = np.bitwise_or.reduce(((u.reshape(nb_, 4, 4) >> 4) & 3) << (2 * np.arange(4))[None, :, None], axis=1)
        parts = [hmask, _crumbs(q), low, high, _h(d)]
    elif f.name == "iq4_nl":
        parts = [_h(d), _nibbles32(q)]
    elif f.name == "iq4_xs":
        u = sc + 32
        sh = np.bitwise_or.reduce((u >> 4) << (2 * np.arange(8)), axis=1).astype("<u2").view(np.uint8).reshape(nb_, 2)
        parts = [_h(d), sh, (u[:, 0::2] & 15) | ((u[:, 1::2] & 15) << 4), _nibbles32(q)]
    elif f.name == "tq2_0":
        c = q.reshape(nb_, 2, 4, 32)
        parts = [(c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(nb_, 64), _h(d)]
    elif f.name == "tq1_0":
        parts = [_trits(q), _h(d)]
    else:  # q4_k, q5_k
        c = q.reshape(nb_, 4, 2, 32)  # chunks of 64: low nibbles from the first 32, high from the second
        qs = ((c[:, :, 0] & 15) | ((c[:, :, 1] & 15) << 4)).reshape(nb_, 128)
        parts = [_h(d), _h(dmin), _k_scales(sc, mc)]
        if f.bits == 5:
            hb = (c >> 4) & 1  # bit 2k of qh[l]: element 64k + l; bit 2k + 1: element 64k + 32 + l
            parts.append(np.bitwise_or.reduce(hb.transpose(0, 3, 1, 2).reshape(nb_, 32, 8)
                                              << np.arange(8), axis=2))
        parts.append(qs)
    raw = np.concatenate([np.asarray(p).astype(np.uint8).reshape(nb_, -1) for p in parts], axis=1)
    assert raw.shape[1] == f.nbytes, (f.name, raw.shape)
    return GGMLBlocks(f.name, d, dmin, sc, mc, q, raw, size)


# -------------------------------------------------------------------------------- dequantize
def kquant_dequantize(b: GGMLBlocks) -> np.ndarray:
    """ggml's dequantize_row_* of the fields, float32 in ggml's order (flattened, padding dropped):
    ``(d * sc_j) * v[q] - dmin * mc_j`` (q5_1: ``q * d + m``; tq: ``(t - 1) * d``)."""
    f = KQUANT_FORMATS[b.type]
    v = f.grid_values[b.q].reshape(-1, f.nsub, f.sub)
    scale, off = sub_block_params(b, effective=False)
    y = scale[:, :, None] * v
    if off is not None:
        y = y + off[:, :, None]
    return y.reshape(-1)[: b.size]


def sub_block_params(b: GGMLBlocks, effective: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(scale, offset) per sub-block as float32 (nb, nsub): ``x_hat = scale * v[q] + offset``, ``v`` the
    grid values of the codes (:attr:`KQuantFormat.grid_values`). ``offset`` is None for types without
    a minimum (0 when ``effective``)."""
    f = KQUANT_FORMATS[b.type]
    if b.sc is None:
        scale = b.d[:, None]
        off = None if b.dmin is None else b.dmin[:, None]
    else:
        scale = b.d[:, None] * b.sc.astype(F32)
        off = None if b.mc is None else -(b.dmin[:, None] * b.mc.astype(F32))
    if off is None and effective:
        off = np.zeros_like(scale)
    return scale, off


def to_ggml_bytes(result: QuantResult) -> bytes:
    """ggml's packed blocks of a ggml-family result (q8_0, q4_0, q4_1, q5_0, q5_1, the K-quants, ...),
    byte-identical to what ``ggml_quantize_chunk`` writes for the same tensor and importance weights:
    the rows one after the other, blocks of each row in order. The tensor's size must be a multiple
    of the block size (a padded last block is no ggml tensor)."""
    b = getattr(result, "ggml_blocks", None)
    if not isinstance(b, GGMLBlocks):
        scheme = getattr(result, "scheme", type(result).__name__)
        raise TypeError(f"to_ggml_bytes needs the QuantResult of a ggml scheme (q8_0, q4_k, ...); got {scheme!r}")
    block = b.q.shape[1]
    if b.size % block:
        raise ValueError(f"{b.type} packs whole blocks of {block}: this tensor has {b.size} elements, so its last "
                         "block was padded; ggml (and GGUF) need a size that is a multiple of the block")
    return b.raw.tobytes()


# -------------------------------------------------------------------------------- specs
def _run(f: KQuantFormat):
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        b = kquant_quantize(x, f.name, imatrix=s.get("imatrix"), partial_block=s["partial_block"])
        deq = kquant_dequantize(b).reshape(x.shape)
        codes = unblock(b.q, x)
        return QuantResult(f.name, s, codes, deq, None, None, None, 8 * b.raw.size / x.size, ggml_blocks=b)

    return run


def _live(r: QuantResult) -> str:
    """The first (super-)block's scale structure with its numbers, and its first element."""
    b: GGMLBlocks = r.ggml_blocks
    f = KQUANT_FORMATS[b.type]
    d, q0, x0 = latex_g(float(b.d[0])), int(b.q[0, 0]), latex_g(float(r.dequantized.reshape(-1)[0]))
    v0 = latex_g(float(f.grid_values[q0]))
    tail = rf",\quad q_0 = {q0} \Rightarrow \hat x_0 = {x0}"
    if f.kind == "ternary":
        return rf"\text{{block 0: }} d = {d},\ \hat x_i = {d}\,(q_i - 1),\ q_i\in\{{0,1,2\}}" + tail
    if b.sc is None and f.kind == "min":
        return rf"\text{{block 0: }}\hat x_i = {d}\cdot q_i + ({latex_g(float(b.dmin[0]))})" + tail
    if b.sc is None:
        return rf"\text{{block 0: }}\hat x_i = {d}\cdot v[q_i]" + tail + rf"\ (v = {v0})"
    sc = int(b.sc[0, 0])
    head = rf"\text{{super-block 0: }} d = {d}"
    if f.kind == "min":
        dm, m = latex_g(float(b.dmin[0])), int(b.mc[0, 0])
        return (head + rf",\ d_{{min}} = {dm};\ \text{{sub-block 0: }} sc_0 = {sc},\ m_0 = {m},\ "
                rf"\hat x_i = ({d}\cdot {sc})\, q_i - {dm}\cdot {m}" + tail)
    val = r"(q_i - %d)" % (2 ** (f.bits - 1)) if f.kind == "signed" else r"v[q_i]"
    return head + rf";\ \text{{sub-block 0: }} sc_0 = {sc},\ \hat x_i = ({d}\cdot {sc})\,{val}" + tail


def kquant_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = KQUANT_FORMATS[name]
    if f.kind == "ternary":
        note = f"× d per block of {f.block} (d = fp16 max |x|)"
    elif f.nsub == 1:
        note = f"× d{' + m' if f.kind == 'min' else ''} per block of {f.block} (fp16)"
    elif f.kind == "min":
        note = (f"× (d·sc_j) − dmin·m_j per sub-block of {f.sub}: sc_j, m_j {6 if f.sub == 32 else 4}-bit codes, "
                f"d and dmin fp16 per super-block of {f.block} — two levels of scale")
    else:
        bits = {"q6_k": 8, "q3_k": 6, "iq4_xs": 6}[name]
        note = (f"× (d·sc_j) per sub-block of {f.sub}: sc_j a signed {bits}-bit code, d fp16 per super-block of "
                f"{f.block} — two levels of scale")
    element = {"iq4": "IQ4 grid value", "ternary": "trit"}.get(f.kind, f"{f.bits}-bit code")
    return FormatGrid(name, "element grid", f.grid_values, element, note)


def kquant_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    """x in units of its sub-block's scale (after its offset), and the grid value of its code."""
    f = KQUANT_FORMATS[name]
    b: GGMLBlocks = r.ggml_blocks
    scale, off = sub_block_params(b)
    xb = split_blocks(x, f.block, s["partial_block"], name).reshape(-1, f.nsub, f.sub)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        y = np.where(scale[:, :, None] == 0, F32(0), (xb - off[:, :, None]) / scale[:, :, None])
    return unblock(y.reshape(b.q.shape), x), unblock(f.grid_values[b.q], x)


def _spec(f: KQuantFormat) -> SchemeSpec:
    settings = (partial_setting(),) if f.kind == "ternary" else (partial_setting(), imatrix_setting())
    return SchemeSpec(f.name, "ggml", f"llama.cpp {f.name.upper()} ({f.bpw:g} bits per weight): {f.text}", f.formula,
                      settings, _run(f), fixed_width, live_formula=_live,
                      grid=kquant_grid, view=kquant_view, code_bits=fixed_bits(f.bits),
                      chunking=in_blocks(f.block, "imatrix"))


for _f in KQUANT_FORMATS.values():
    register(_spec(_f))


# -------------------------------------------------------------------------------- inspection
GGML_TABLE_COLUMNS = ("type", "bits/weight", "size bytes", "MSE", "SQNR dB", "weighted MSE", "note")


def proxy_importance(x: object) -> np.ndarray:
    """A stand-in importance matrix from the weights alone: the mean of x**2 over each column of the
    last axis (llama.cpp's imatrix is the mean squared *activation* of each column, which a lone
    weight tensor does not have)."""
    x = as_float_array(x)
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return (rows * rows).mean(axis=0).astype(F32)


def ggml_table(x: object, imatrix: object = None, names: tuple[str, ...] | None = None) -> Any:
    """Every ggml type on ``x`` at default settings, like the table llama.cpp's quantize prints: bits per
    weight, size of the tensor in bytes, MSE, SQNR and the importance-weighted MSE
    ``sum_c w_c mean_r e_rc**2 / sum_c w_c`` (None: with the proxy weights, for comparison). With
    ``imatrix`` the types that take importance weights use them. A type that refuses the tensor
    (for example rows that are not whole super-blocks with an imatrix) gets its message in ``note``."""
    import pandas as pd

    from ..schemes import SCHEMES, Quantizer

    x = as_float_array(x)
    w = proxy_importance(x) if imatrix is None else as_float_array(imatrix, "imatrix")
    names = names or tuple(n for n, s in SCHEMES.items() if s.family == "ggml")
    rows = []
    for name in names:
        spec = SCHEMES[name]
        kw = {"imatrix": imatrix} if imatrix is not None and any(s.name == "imatrix" for s in spec.settings) else {}
        kw = {} if name == "q8_0" else kw
        row = dict.fromkeys(GGML_TABLE_COLUMNS, np.nan) | {"type": name.upper(), "note": ""}
        try:
            r = Quantizer(name, **kw)(x)
        except ValueError as exc:
            rows.append(row | {"note": str(exc)})
            continue
        e2 = (x.astype(np.float64) - r.dequantized) ** 2
        m = r.metrics(x)
        wm = float((e2.reshape(-1, x.shape[-1]).mean(axis=0) * w).sum() / max(float(w.sum()), 1e-300))
        rows.append(row | {"bits/weight": r.bits_per_element, "size bytes": int(round(r.bits_per_element * x.size / 8)),
                           "MSE": m.mse, "SQNR dB": m.sqnr_db, "weighted MSE": wm,
                           "note": "ggml ignores importance" if imatrix is not None and name in ("q8_0", "tq1_0", "tq2_0")
                           else ""})
    return pd.DataFrame(rows, columns=list(GGML_TABLE_COLUMNS))


def superblock_view(x: object, result: QuantResult, index: int = 0) -> dict[str, Any]:
    """One (super-)block of a ggml-family result, field by field: ``d`` (and ``dmin``), a DataFrame of its
    sub-blocks (scale code, min code, effective scale d·sc, effective min dmin·m, max |error|), and
    (sub-blocks × elements) arrays of the element codes, the values x and the errors x̂ − x."""
    import pandas as pd

    b = getattr(result, "ggml_blocks", None)
    if not isinstance(b, GGMLBlocks):
        raise TypeError(f"superblock_view needs a ggml-family result; got {getattr(result, 'scheme', result)!r}")
    nb_ = b.q.shape[0]
    if not 0 <= index < nb_:
        raise ValueError(f"block index {index} is out of range; this tensor has {nb_} blocks (0..{nb_ - 1})")
    block = b.q.shape[1]
    f = KQUANT_FORMATS.get(b.type)
    sub = f.sub if f is not None else block
    flat = np.concatenate([as_float_array(x).reshape(-1), np.full(nb_ * block - b.size, np.nan, F32)])
    xs = flat[index * block:(index + 1) * block].reshape(-1, sub)
    xh = np.concatenate([result.dequantized.reshape(-1), np.full(nb_ * block - b.size, np.nan, F32)])
    err = (xh[index * block:(index + 1) * block].reshape(-1, sub) - xs)
    if f is not None:
        scale, off = sub_block_params(b)
        scale, off = scale[index], off[index]
    else:  # q8_0 / q4_0 / q4_1 / q5_0: one scale (and min) per block of 32
        scale = b.d[index:index + 1]
        off = np.zeros(1, F32) if b.dmin is None else b.dmin[index:index + 1]
    with np.errstate(invalid="ignore"):
        table = pd.DataFrame({
            "sub-block": np.arange(xs.shape[0]),
            "scale code": b.sc[index] if b.sc is not None else np.full(xs.shape[0], -1),
            "min code": b.mc[index] if b.mc is not None else np.full(xs.shape[0], -1),
            "scale d·sc": scale.astype(np.float64), "offset": off.astype(np.float64),
            "max |error|": np.nanmax(np.abs(err), axis=1),
        })
    if b.sc is None:
        table = table.drop(columns=["scale code"])
    if b.mc is None:
        table = table.drop(columns=["min code"])
    return {"type": b.type, "index": index, "blocks": nb_, "d": float(b.d[index]),
            "dmin": None if b.dmin is None else float(b.dmin[index]), "sub_blocks": table,
            "codes": b.q[index].reshape(-1, sub), "x": xs, "error": err,
            "bytes": b.raw[index].tobytes()}
