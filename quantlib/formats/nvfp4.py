"""NVIDIA NVFP4: blocks of 16 E2M1 values, an FP8 E4M3 block scale and an FP32 global scale,
with NVIDIA ModelOpt's arithmetic (``NVFP4QTensor``; see :mod:`quantlib.formats`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from ..schemes import QuantResult, SchemeSpec, fixed_bits, register
from .common import (F32, PARTIAL, TINY, Blocked, blocked_result, cast, finite_values, fixed_width,
                     partial_setting, per_block, smallest_normal, split_blocks, unblock, value_table)
from .grids import FormatGrid


def _e2m1() -> str:
    return "float4_e2m1fn"  # by name: computed from its bit fields, without ml_dtypes


NV_BLOCK = 16
E2M1_MAX, E4M3_MAX = 6.0, 448.0


def nvfp4_quantize(x: object, *, partial_block: str = "pad") -> Blocked:
    """NVFP4 with ModelOpt's arithmetic; ``scales`` are the E4M3 block scales (float32 values)."""
    x = as_float_array(x)
    xb = split_blocks(x, NV_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), "nvfp4")
    amax = np.abs(xb).max(axis=1)
    g = max(np.max(amax) / F32(E2M1_MAX * E4M3_MAX), TINY)
    sb = amax / (F32(E2M1_MAX) * g)
    sb = np.clip(np.where(sb == 0, F32(1), sb), F32(2.0**-9), F32(E4M3_MAX))
    _, s8 = cast(sb, "float8_e4m3fn")
    scale = (s8 * g)[:, None]
    codes, vals = cast(np.clip(xb / scale, -F32(E2M1_MAX), F32(E2M1_MAX)), _e2m1())
    return Blocked(unblock(codes, x), unblock(vals * scale, x), s8, global_scale=float(g))


def _run_nvfp4(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    r = nvfp4_quantize(x, partial_block=s["partial_block"])
    return blocked_result("nvfp4", s, r, 4 + (8 * r.scales.size + 32) / x.size, NV_BLOCK)


def nvfp4_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    return FormatGrid(name, "element grid", finite_values(_e2m1()), "FP4 E2M1 value",
                      f"× s_b·g per block of {NV_BLOCK}: s_b one FP8 E4M3 value in [2^−9, 448] per block, g = amax / "
                      f"({E2M1_MAX:g}·{E4M3_MAX:g}) one FP32 value per tensor",
                      smallest_normal(_e2m1()))


def nvfp4_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    b = nvfp4_quantize(x, partial_block=s["partial_block"])
    scale = b.scales * F32(b.global_scale)
    return per_block(x, NV_BLOCK, s["partial_block"], name, scale), value_table(_e2m1())[b.codes]


register(
    SchemeSpec(
        "nvfp4", "nvfp4",
        "NVIDIA NVFP4: blocks of 16 E2M1 values with an FP8 E4M3 block scale and an FP32 tensor scale.",
        r"\hat x_i = g\, s_b\, \mathrm{fl}_{\mathrm{E2M1}}\!\left(\tfrac{x_i}{g\, s_b}\right),\quad "
        r"s_b = \mathrm{fl}_{\mathrm{E4M3}}\!\left(\tfrac{\max_b |x|}{6 g}\right),\quad g = \tfrac{\max |x|}{6 \cdot 448}",
        (partial_setting(),), _run_nvfp4, fixed_width, grid=nvfp4_grid, view=nvfp4_view, code_bits=fixed_bits(4),
    )
)
