"""llama.cpp's K-quants and the search-based ggml block types, bit-exact with ggml's C quantizer.

Registry names (true bits per weight from the block layout):

* ``q4_k`` (4.5), ``q5_k`` (5.5): super-blocks of 256 = 8 sub-blocks of 32. Each sub-block j has a
  scale s_j >= 0 and a minimum m_j >= 0 found by a weighted least-squares search over candidate
  scales (ggml's ``make_qkx2_quants``); both are stored as 6-bit codes sc_j, mc_j against the
  super-block's fp16 ``d`` and ``dmin``: ``x_hat = (d * sc_j) * q - dmin * mc_j`` with q in 0..15 / 0..31.
* ``q6_k`` (6.5625): 16 sub-blocks of 16, signed int8 sub-block scales against an fp16 ``d``:
  ``x_hat = (d * sc_j) * (q - 32)``, q in 0..63 (``make_qx_quants``: 19 candidate scales).
* ``q5_1`` (6.0): blocks of 32, ``x_hat = d * q + m`` with fp16 d = (max - min) / 31, m = min.

Without importance weights the result is ggml's reference quantizer (``quantize_row_*_ref``, what
``llama-quantize`` writes without ``--imatrix``). ``imatrix`` — one non-negative weight per column
(the last axis; a 1-D tensor is one row), as llama.cpp's ``quant_weights`` — switches to ggml's
``quantize_row_*_impl``: the search weights become ``imatrix[c] * sqrt(sigma2 + x**2)`` (sigma2:
2 * mean x**2 of the super-block, or mean x**2 of the row for q5_1), the candidates run finer
(``make_qkx3_quants``: -0.9 + 0.05 k, 37 steps) and the 6-bit sub-block codes come from a weighted
search of their own (``make_qp_quants``). With imatrix the last axis must be a multiple of the block.

All arithmetic is ggml's float32 sequence (see :mod:`._ggml_numba`): the dequantized values equal
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
from ..schemes import QuantResult, SchemeSpec, Setting, fixed_bits, register
from .common import F32, PARTIAL, GGMLBlocks, fixed_width, partial_setting, split_blocks, unblock
from .grids import FormatGrid


@dataclass(frozen=True)
class KQuantFormat:
    name: str
    block: int  # elements per (super-)block
    nbytes: int  # bytes per block
    bits: int  # bits of one element code
    sub: int  # elements per sub-block (== block for a one-level type)
    signed: bool  # codes centred on 2**(bits-1) (q6_k) or affine with a minimum
    text: str
    formula: str

    @property
    def bpw(self) -> float:
        return 8 * self.nbytes / self.block

    @property
    def nsub(self) -> int:
        return self.block // self.sub


KQUANT_FORMATS: dict[str, KQuantFormat] = {f.name: f for f in (
    KQuantFormat("q5_1", 32, 24, 5, 32, False,
                 "5-bit with a per-block minimum: 32 levels over [min, max] of the block; fp16 d and m.",
                 r"d = \tfrac{\max_b x - \min_b x}{31},\quad q_i = \left\lfloor \tfrac{x_i - \min_b x}{d} + 0.5 \right\rfloor,"
                 r"\quad \hat x_i = \mathrm{fp16}(d)\, q_i + \mathrm{fp16}(\min_b x)"),
    KQuantFormat("q4_k", 256, 144, 4, 32, False,
                 "super-blocks of 256 = 8 sub-blocks of 32, each with its own scale and minimum found by a "
                 "weighted least-squares search, stored as 6-bit codes against the super-block's fp16 d and dmin.",
                 r"\hat x_i = (d\cdot sc_j)\, q_i - d_{min}\cdot m_j,\quad q_i\in[0,15],\ sc_j, m_j\in[0,63],"
                 r"\ d, d_{min}\ \text{fp16 per 256}"),
    KQuantFormat("q5_k", 256, 176, 5, 32, False,
                 "as Q4_K with 5-bit codes: 8 sub-blocks of 32 with 6-bit scales and minimums, fp16 d and dmin.",
                 r"\hat x_i = (d\cdot sc_j)\, q_i - d_{min}\cdot m_j,\quad q_i\in[0,31],\ sc_j, m_j\in[0,63],"
                 r"\ d, d_{min}\ \text{fp16 per 256}"),
    KQuantFormat("q6_k", 256, 210, 6, 16, True,
                 "super-blocks of 256 = 16 sub-blocks of 16 with signed 8-bit scales against one fp16 d; "
                 "each sub-block scale is the best of 19 candidates (weights x²).",
                 r"\hat x_i = (d\cdot sc_j)\,(q_i - 32),\quad q_i\in[0,63],\ sc_j\in[-128,127],\ d\ \text{fp16 per 256}"),
)}


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
    nb_ = xb.shape[0]
    k = _kernels()
    qw = np.ones((1, f.block), F32) if w is None else w.reshape(-1, f.block)
    d = np.zeros(nb_, F32)
    if f.name == "q5_1":
        if w is None:
            return _q5_1_ref(xb, x.size)
        m = np.zeros(nb_, F32)
        q = np.zeros((nb_, 32), np.int64)
        sigma2 = k.row_sigma2(x.reshape(-1, n_row), F32(n_row))
        k.qx1_weighted(xb, qw, sigma2, n_row // 32, 31, d, m, q)
        _check_fp16(f.name, d, m)
        return _pack(f, d, m, None, None, q, x.size)
    if f.name == "q6_k":
        sc = np.zeros((nb_, 16), np.int64)
        q = np.zeros((nb_, 256), np.int64)
        k.q6k(xb, qw, w is not None, d, sc, q)
        _check_fp16(f.name, d)
        return _pack(f, d, None, sc, None, q, x.size)
    dmin = np.zeros(nb_, F32)
    sc = np.zeros((nb_, 8), np.int64)
    mc = np.zeros((nb_, 8), np.int64)
    q = np.zeros((nb_, 256), np.int64)
    k.q45k(xb, qw, w is not None, 2**f.bits - 1, d, dmin, sc, mc, q)
    _check_fp16(f.name, d, dmin)
    return _pack(f, d, dmin, sc, mc, q, x.size)


def _q5_1_ref(xb: np.ndarray, size: int) -> GGMLBlocks:
    """quantize_row_q5_1_ref: d = (max - min) / 31, id = 1/d, q = (uint8)((x - min) * id + 0.5)."""
    lo = xb.min(axis=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        d = (xb.max(axis=1) - lo) / F32(31)
        inv = np.where(d == 0, F32(0), F32(1) / d)
        y = (xb - lo[:, None]) * inv[:, None]
        y = np.nan_to_num(y, nan=0.0, posinf=31.0, neginf=0.0)
    q = np.clip(np.trunc(y + F32(0.5)), 0, 31).astype(np.int64)
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


def _pack(f: KQuantFormat, d: np.ndarray, dmin: np.ndarray | None, sc: np.ndarray | None, mc: np.ndarray | None,
          q: np.ndarray, size: int) -> GGMLBlocks:
    nb_ = q.shape[0]
    if f.name == "q5_1":
        bits = ((q >> 4) & 1).astype(np.uint32) << np.arange(32, dtype=np.uint32)
        qh = np.bitwise_or.reduce(bits, axis=1).astype("<u4").view(np.uint8).reshape(nb_, 4)
        parts = [_h(d), _h(dmin), qh, (q[:, :16] & 15) | ((q[:, 16:] & 15) << 4)]
    elif f.name == "q6_k":
        h = q.reshape(nb_, 2, 4, 32)  # halves of 128, quarters of 32
        ql = np.concatenate([(h[:, :, 0] & 15) | ((h[:, :, 2] & 15) << 4),
                             (h[:, :, 1] & 15) | ((h[:, :, 3] & 15) << 4)], axis=2).reshape(nb_, 128)
        qh = ((h[:, :, 0] >> 4) | ((h[:, :, 1] >> 4) << 2) | ((h[:, :, 2] >> 4) << 4)
              | ((h[:, :, 3] >> 4) << 6)).reshape(nb_, 64)
        parts = [ql, qh, sc.astype(np.int8).view(np.uint8), _h(d)]
    else:
        c = q.reshape(nb_, 4, 2, 32)  # chunks of 64: low nibbles from the first 32, high from the second
        qs = ((c[:, :, 0] & 15) | ((c[:, :, 1] & 15) << 4)).reshape(nb_, 128)
        parts = [_h(d), _h(dmin), _k_scales(sc, mc)]
        if f.bits == 5:
            hb = (c >> 4) & 1  # bit 2k of qh[l]: element 64k + l; bit 2k + 1: element 64k + 32 + l
            parts.append(np.bitwise_or.reduce(hb.transpose(0, 3, 1, 2).reshape(nb_, 32, 8)
                                              << np.arange(8), axis=2))
        parts.append(qs)
    raw = np.concatenate([np.asarray(p).astype(np.uint8).reshape(nb_, -1) for p in parts], axis=1)
    assert raw.shape[1] == f.nbytes
    return GGMLBlocks(f.name, d, dmin, sc, mc, q, raw, size)


# -------------------------------------------------------------------------------- dequantize
def kquant_dequantize(b: GGMLBlocks) -> np.ndarray:
    """ggml's dequantize_row_* of the fields, float32 in ggml's order (flattened, padding dropped)."""
    f = KQUANT_FORMATS[b.type]
    q = b.q.astype(F32)
    if f.name == "q5_1":
        y = q * b.d[:, None] + b.dmin[:, None]
    elif f.name == "q6_k":
        ds = b.d[:, None] * b.sc.astype(F32)  # (d * sc) * (q - 32)
        y = (ds[:, :, None] * (q.reshape(-1, 16, 16) - F32(32))).reshape(q.shape)
    else:
        ds = b.d[:, None] * b.sc.astype(F32)
        dm = b.dmin[:, None] * b.mc.astype(F32)
        y = (ds[:, :, None] * q.reshape(-1, 8, 32) - dm[:, :, None]).reshape(q.shape)
    return y.reshape(-1)[: b.size]


def sub_block_params(b: GGMLBlocks) -> tuple[np.ndarray, np.ndarray]:
    """(effective scale, effective offset) per sub-block as float32 (nb, nsub): x_hat = scale * q + offset."""
    f = KQUANT_FORMATS[b.type]
    if f.name == "q5_1":
        return b.d[:, None], b.dmin[:, None]
    ds = b.d[:, None] * b.sc.astype(F32)
    if f.signed:
        return ds, F32(-32) * ds
    return ds, -(b.dmin[:, None] * b.mc.astype(F32))


def to_ggml_bytes(result: QuantResult) -> bytes:
    """ggml's packed blocks of a ggml-family result (q8_0, q4_0, q4_1, q5_0, q5_1, the K-quants, ...),
    byte-identical to what ``ggml_quantize_chunk`` writes for the same tensor and importance weights:
    the rows one after the other, blocks of each row in order. The tensor's size must be a multiple
    of the block size (a padded last block is no ggml tensor)."""
    b = getattr(result, "blocks", None)
    if not isinstance(b, GGMLBlocks):
        scheme = getattr(result, "scheme", type(result).__name__)
        raise TypeError(f"to_ggml_bytes needs the QuantResult of a ggml scheme (q8_0, q4_k, ...); got {scheme!r}")
    block = b.q.shape[1]
    if b.size % block:
        raise ValueError(f"{b.type} packs whole blocks of {block}: this tensor has {b.size} elements, so its last "
                         "block was padded; ggml (and GGUF) need a size that is a multiple of the block")
    return b.raw.tobytes()


# -------------------------------------------------------------------------------- specs
def imatrix_setting() -> Setting:
    return Setting("imatrix", np.ndarray, None,
                   "Importance weights, one per column (llama.cpp's imatrix / quant_weights); None: ggml's "
                   "reference quantizer.", optional=True)


def _run(f: KQuantFormat):
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        b = kquant_quantize(x, f.name, imatrix=s["imatrix"], partial_block=s["partial_block"])
        deq = kquant_dequantize(b).reshape(x.shape)
        codes = unblock(b.q, x)
        return QuantResult(f.name, s, codes, deq, None, None, None, 8 * b.raw.size / x.size, b)

    return run


def _live(r: QuantResult) -> str:
    """The first super-block's two-level structure with its numbers."""
    b: GGMLBlocks = r.blocks
    f = KQUANT_FORMATS[b.type]
    d = latex_g(float(b.d[0]))
    if f.name == "q5_1":
        return (rf"\text{{block 0: }}\hat x_i = {d}\cdot q_i + ({latex_g(float(b.dmin[0]))}),\quad "
                rf"q_0 = {int(b.q[0, 0])} \Rightarrow \hat x_0 = {latex_g(float(r.dequantized.reshape(-1)[0]))}")
    sc = int(b.sc[0, 0])
    if f.signed:
        return (rf"\text{{super-block 0: }} d = {d};\ \text{{sub-block 0: }} sc_0 = {sc},\ "
                rf"\hat x_i = ({d}\cdot {sc})\,(q_i - 32),\quad q_0 = {int(b.q[0, 0])} \Rightarrow \hat x_0 = "
                rf"{latex_g(float(r.dequantized.reshape(-1)[0]))}")
    m = int(b.mc[0, 0])
    return (rf"\text{{super-block 0: }} d = {d},\ d_{{min}} = {latex_g(float(b.dmin[0]))};\ \text{{sub-block 0: }}"
            rf" sc_0 = {sc},\ m_0 = {m},\ \hat x_i = ({d}\cdot {sc})\, q_i - {latex_g(float(b.dmin[0]))}\cdot {m},"
            rf"\quad q_0 = {int(b.q[0, 0])} \Rightarrow \hat x_0 = {latex_g(float(r.dequantized.reshape(-1)[0]))}")


def kquant_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = KQUANT_FORMATS[name]
    half = 2 ** (f.bits - 1)
    vals = np.arange(-half, half) if f.signed else np.arange(2**f.bits)
    if f.block == f.sub:
        note = f"× d + m per block of {f.block} (fp16 d and m)"
    elif f.signed:
        note = (f"× (d·sc_j) per sub-block of {f.sub}: sc_j an 8-bit signed code, d fp16 per super-block of "
                f"{f.block} — two levels of scale")
    else:
        note = (f"× (d·sc_j) − dmin·m_j per sub-block of {f.sub}: sc_j, m_j 6-bit codes, d and dmin fp16 per "
                f"super-block of {f.block} — two levels of scale")
    return FormatGrid(name, "element grid", vals, f"{f.bits}-bit code", note)


def kquant_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    """x in units of its sub-block's effective scale (after its offset), and the grid value of its code."""
    f = KQUANT_FORMATS[name]
    b: GGMLBlocks = r.blocks
    scale, off = sub_block_params(b)
    xb = split_blocks(x, f.block, s["partial_block"], name).reshape(-1, f.nsub, f.sub)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(scale[:, :, None] == 0, F32(0), (xb - off[:, :, None]) / scale[:, :, None])
    vals = b.q.astype(F32) - (F32(2 ** (f.bits - 1)) if f.signed else F32(0))
    if f.signed:
        y = y - F32(32)
    return unblock(y.reshape(b.q.shape), x), unblock(vals, x)


def _spec(f: KQuantFormat) -> SchemeSpec:
    label = f.name.upper().replace("_K", "_K")
    return SchemeSpec(f.name, "ggml", f"llama.cpp {label} ({f.bpw:g} bits per weight): {f.text}", f.formula,
                      (partial_setting(), imatrix_setting()), _run(f), fixed_width, live_formula=_live,
                      grid=kquant_grid, view=kquant_view, code_bits=fixed_bits(f.bits))


for _f in KQUANT_FORMATS.values():
    register(_spec(_f))
