"""Group-wise integer ``int_group`` (GPTQ / AWQ round-to-nearest): quantlib's own per-group
``choose_qparams`` / ``quantize`` / ``dequantize`` over groups of consecutive weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import MIN_BITS, SYMMETRIC_MIN_BITS, as_float_array, check_choice
from ..integer import choose_qparams, dequantize, quantize
from ..metrics import bits_per_element
from ..params import qrange
from ..schemes import AFFINE_EXAMPLE, QuantResult, SchemeSpec, Setting, in_blocks, register
from .common import PARTIAL, partial_setting, split_blocks
from .grids import FormatGrid, affine_view

INT_GROUP_SIZES = (32, 64, 128)


def int_group_quantize(x: object, *, bits: int = 4, group_size: int = 128, symmetric: bool = True,
                       partial_block: str = "pad") -> tuple[np.ndarray, np.ndarray, Any, float]:
    """``(codes, dequantized, params, bits_per_element)``: quantlib's per-group integer pipeline over
    groups of ``group_size`` consecutive elements (flattened, C order); ``params`` is None for a padded tensor."""
    x = as_float_array(x)
    if group_size not in INT_GROUP_SIZES:
        raise ValueError(f"group_size {group_size!r} is not allowed; choose one of {list(INT_GROUP_SIZES)}")
    partial_block = check_choice(partial_block, "partial_block", PARTIAL)
    xg = x if x.size % group_size == 0 else split_blocks(x, group_size, partial_block, "int_group").reshape(-1)
    params = choose_qparams(xg, bits=bits, symmetric=symmetric, group_size=group_size)
    codes = quantize(xg, params)
    deq = dequantize(codes, params)
    bpe = bits_per_element(params, x.size)
    if xg is x:
        return codes, deq, params, bpe
    return codes[: x.size].reshape(x.shape), deq[: x.size].reshape(x.shape), None, bpe


def _run_int_group(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    codes, deq, params, bpe = int_group_quantize(x, bits=s["bits"], group_size=s["group_size"],
                                                 symmetric=s["symmetric"], partial_block=s["partial_block"])
    return QuantResult("int_group", s, codes, deq, params, None, None, bpe)


def int_group_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    b, g = s["bits"], s["group_size"]
    lo, hi = qrange(b, signed=s["symmetric"])
    rule = (f"x̂ = s_g·q, s_g = amax_g / {hi}" if s["symmetric"]
            else f"x̂ = s_g·(q − z_g) with a {b}-bit zero-point z_g per group")
    return FormatGrid(name, "element grid", np.arange(lo, hi + 1), f"int{b} code",
                      f"per group of {g} consecutive values, one float32 scale s_g: {rule}")


def int_group_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    g = s["group_size"]
    xg = x.reshape(-1) if x.size % g == 0 else split_blocks(x, g, s["partial_block"], name).reshape(-1)
    p = choose_qparams(xg, bits=s["bits"], symmetric=s["symmetric"], group_size=g)
    y, codes = affine_view(xg, p, quantize(xg, p))
    return y[: x.size], codes[: x.size]


register(
    SchemeSpec(
        "int_group", "integer",
        "Group-wise integer (GPTQ/AWQ round-to-nearest): one min-max scale (and zero-point) per group of consecutive weights.",
        r"q_i = \mathrm{clamp}\!\left(\mathrm{round}\!\left(\tfrac{x_i}{s_g}\right) + z_g,\ q_{min},\ q_{max}\right),\quad \hat x_i = s_g\,(q_i - z_g)",
        (
            Setting("bits", int, 4, "Code bits (1..8; 1 bit only with symmetric off).", min=MIN_BITS, max=8,
                    in_label=True, range_reason="1 bit only with symmetric=False: a 1-bit signed grid is {-1, 0}, not "
                    "symmetric; 8 bits is the widest group-wise type of GPTQ/AWQ kernels"),
            Setting("group_size", int, 128, "Consecutive elements sharing a scale.", choices=INT_GROUP_SIZES, in_label=True),
            Setting("symmetric", bool, True, "Symmetric (signed, zero-point 0) or asymmetric with a zero-point."),
            partial_setting(),
        ),
        _run_int_group, lambda bits, s: {"bits": min(max(bits, 1 if s.get("symmetric") is False else SYMMETRIC_MIN_BITS), 8)},
        grid=int_group_grid, view=int_group_view, worked_example=AFFINE_EXAMPLE, chunking=in_blocks("group_size"),
    )
)
