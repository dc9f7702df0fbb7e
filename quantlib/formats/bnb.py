"""bitsandbytes 4-bit formats ``nf4`` and ``fp4_bnb``: absmax blocks and bitsandbytes' exact
float32 codebooks (``quantize_4bit`` / ``dequantize_4bit``; see :mod:`quantlib.formats`)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from ..nonuniform import bucketize
from ..schemes import QuantResult, SchemeSpec, Setting, fixed_bits, in_blocks, register
from .common import F32, Blocked, blocked_result, fixed_width, frozen, label, per_block, split_blocks, unblock
from .grids import FormatGrid

_NF4 = np.array(  # bitsandbytes.functional.get_4bit_type("nf4"): quantiles of N(0, 1), as float32
    [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
     -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
     0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
     0.7229568362236023, 1.0], F32)
# get_4bit_type("fp4"): sign + 2 exponent bits + 1 mantissa bit (bias 2), in bit-pattern order, divided by 12
_FP4_BNB = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3], F32) / F32(12)
BNB_FORMATS: dict[str, np.ndarray] = {"nf4": frozen(_NF4), "fp4_bnb": frozen(_FP4_BNB)}
BNB_BLOCK_SIZES = (32, 64, 128, 256, 512, 1024, 2048, 4096)


@functools.cache
def _bnb_bounds(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(float32 midpoints of the sorted codebook, sorted position -> code index), as bitsandbytes builds them."""
    code = BNB_FORMATS[fmt]
    order = np.argsort(code, kind="stable").astype(np.uint8)
    s = code[order]
    return frozen((s[:-1] + s[1:]) / F32(2)), frozen(order)


def bnb_quantize(x: object, fmt: str, *, block_size: int = 64) -> Blocked:
    """bitsandbytes ``quantize_4bit`` + ``dequantize_4bit`` (CPU); ``scales`` are the float32 absmax values."""
    fmt = check_choice(fmt, "bitsandbytes format", BNB_FORMATS)
    if block_size not in BNB_BLOCK_SIZES:
        raise ValueError(f"block_size {block_size!r} is not allowed; choose one of {list(BNB_BLOCK_SIZES)}")
    x = as_float_array(x)
    xb = split_blocks(x, block_size, "pad", fmt)
    absmax = np.abs(xb).max(axis=1)
    scaled = xb * (F32(1) / np.maximum(absmax, F32(1e-38)))[:, None]
    if x.size % block_size:  # bitsandbytes divides the short last block by its clamped absmax
        absmax[-1] = max(absmax[-1], F32(1e-38))
        scaled[-1] = xb[-1] / absmax[-1]
    bounds, order = _bnb_bounds(fmt)
    codes = order[bucketize(np.clip(scaled, F32(-1), F32(1)), bounds)]
    return Blocked(unblock(codes, x), unblock(BNB_FORMATS[fmt][codes] * absmax[:, None], x), absmax)


def _bnb_spec(name: str, label: str) -> SchemeSpec:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = bnb_quantize(x, name, block_size=s["block_size"])
        return blocked_result(name, s, r, 4 + 32 * r.scales.size / x.size, s["block_size"])

    return SchemeSpec(
        name, "bitsandbytes",
        f"bitsandbytes {label}: absmax blocks (fp32 absmax), each value replaced by the nearest of 16 code values.",
        r"\hat x_i = a_b\, c_{k_i},\quad k_i = \arg\min_k \left|\tfrac{x_i}{a_b} - c_k\right|,\quad a_b = \max_{\text{block}} |x|",
        (Setting("block_size", int, 64, "Elements per absmax block (bitsandbytes' allowed sizes).",
                 choices=BNB_BLOCK_SIZES),),
        run, fixed_width, grid=bnb_grid, view=bnb_view, code_bits=fixed_bits(4), pack=bnb_pack,
        chunking=in_blocks("block_size"),
        compare_with=lambda s: (("int_group", {"group_size": s["block_size"], "symmetric": True}),),
    )


def bnb_pack(r: QuantResult) -> tuple[np.ndarray, str]:
    """bitsandbytes' packed 4-bit tensor: two codes a byte, the first in the high nibble (an odd
    count leaves the last low nibble 0); the absmax values are kept beside it, as bitsandbytes does."""
    c = r.codes.reshape(-1).astype(np.uint8)
    if c.size % 2:
        c = np.concatenate((c, np.zeros(1, np.uint8)))
    return (c[0::2] << np.uint8(4)) | c[1::2], "bitsandbytes quantize_4bit: byte i = code[2i] << 4 | code[2i+1]"


def bnb_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    return FormatGrid(name, "element grid", np.unique(BNB_FORMATS[name]), f"{label(name)} code value",
                      f"× absmax of each block of {s['block_size']} (one float32): the codebook spans [−absmax, absmax]")


def bnb_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    b = bnb_quantize(x, name, block_size=s["block_size"])
    return per_block(x, s["block_size"], "pad", name, b.scales), BNB_FORMATS[name][b.codes]


register(_bnb_spec("nf4", "NF4 (NormalFloat: quantiles of a normal distribution, exact 0)"))
register(_bnb_spec("fp4_bnb", "FP4 (1 sign, 2 exponent, 1 mantissa bit, scaled to [-1, 1])"))
