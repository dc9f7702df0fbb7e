"""OCP Microscaling (MX v1.0): blocks of 32 share an E8M0 power-of-two scale; elements saturate.

Formats ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e3m2``, ``mxfp6_e2m3``, ``mxfp4``, ``mxint8`` (see
:mod:`quantlib.formats` for the exponent and tie rules). The table holds element type names
and maxima (checked against ml_dtypes in tests), resolved on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from ..nonuniform import nearest_level
from ..schemes import QuantResult, SchemeSpec, Setting, fixed_bits, in_blocks, register
from .common import (F32, PARTIAL, Blocked, blocked_result, cast, dtype_of, finite_values, fixed_width, partial_setting,
                     per_block, positive_values, smallest_normal, split_blocks, unblock, value_table)
from .grids import FormatGrid

MX_EXPONENTS = ("floor", "ceil")
MX_TIES = ("even", "toward_zero")


@dataclass(frozen=True)
class MXFormat:
    name: str
    element_name: str  # ml_dtypes float type name, or "int8" for MXINT8 (k / 64)
    bits: int
    emax: int  # exponent of the element type's largest power of two
    ties: str  # default element tie rule
    label: str
    element_max: float  # the element type's largest value (MXINT8: 127/64)

    @property
    def element(self) -> Any:
        """The element type: an ml_dtypes float type (imported on first use), or np.int8."""
        return dtype_of(self.element_name)

    @property
    def is_int(self) -> bool:
        return self.element_name == "int8"


MX_FORMATS: dict[str, MXFormat] = {
    f.name: f
    for f in (
        MXFormat("mxfp8_e4m3", "float8_e4m3fn", 8, 8, "even", "FP8 E4M3", 448.0),
        MXFormat("mxfp8_e5m2", "float8_e5m2", 8, 15, "even", "FP8 E5M2", 57344.0),
        MXFormat("mxfp6_e3m2", "float6_e3m2fn", 6, 4, "even", "FP6 E3M2", 28.0),
        MXFormat("mxfp6_e2m3", "float6_e2m3fn", 6, 2, "even", "FP6 E2M3", 7.5),
        MXFormat("mxfp4", "float4_e2m1fn", 4, 2, "toward_zero", "FP4 E2M1", 6.0),
        MXFormat("mxint8", "int8", 8, 0, "even", "INT8 (k/64)", 127 / 64),
    )
}
MX_BLOCK = 32


def _mx_exponent(amax: np.ndarray, f: MXFormat, rule: str) -> np.ndarray:
    """Shared block exponent E (int32 in [-127, 127]) for float32 block maxima ``amax``."""
    with np.errstate(divide="ignore"):
        if rule == "floor":
            e = np.floor(np.log2(amax)) - f.emax  # float32 log2, as gguf and microxcaling
        else:
            e = (np.frexp(amax)[1] - 1 - f.emax).astype(np.float64)  # exact floor(log2 amax) - emax
            e += amax.astype(np.float64) > f.element_max * np.exp2(e)
    return np.where(amax > 0, np.clip(e, -127, 127), -127).astype(np.int32)


def _mx_elements(y: np.ndarray, f: MXFormat, ties: str) -> tuple[np.ndarray, np.ndarray]:
    """(codes, float32 values) of the scaled elements ``y``, saturating at the element max."""
    if f.is_int:
        t = y * F32(64)
        k = np.rint(t) if ties == "even" else np.copysign(np.ceil(np.abs(t) - F32(0.5)), t)
        k = np.clip(k, -127, 127)
        return k.astype(np.int8), k / F32(64)
    if ties == "even":
        emax = F32(f.element_max)
        return cast(np.clip(y, -emax, emax), f.element_name)
    mags, patterns = positive_values(f.element_name)
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
    xb = split_blocks(x, MX_BLOCK, check_choice(partial_block, "partial_block", PARTIAL), f.name)
    amax = np.abs(xb).max(axis=1, keepdims=True)
    scale = np.ldexp(F32(1), _mx_exponent(amax, f, exponent)).astype(F32)
    codes, vals = _mx_elements(xb / scale, f, ties)
    # A block maximum just under 2**128 can round up to an element whose value times the
    # block scale is 2**128, past float32's largest: such values saturate at float32's max.
    big = F32(np.finfo(F32).max)
    with np.errstate(over="ignore"):
        deq = np.clip(vals * scale, -big, big)
    return Blocked(unblock(codes, x), unblock(deq, x), scale.reshape(-1))


def _mx_spec(f: MXFormat) -> SchemeSpec:
    elem = f.element_max

    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        r = mx_quantize(x, f.name, exponent=s["exponent"], ties=s["ties"], partial_block=s["partial_block"])
        return blocked_result(f.name, s, r, f.bits + 8 * r.scales.size / x.size, MX_BLOCK)

    fl = r"\mathrm{round}" if f.is_int else rf"\mathrm{{fl}}_{{\mathrm{{{f.label.split()[-1]}}}}}"
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
            partial_setting(),
        ),
        run, fixed_width, grid=mx_grid, view=mx_view, code_bits=fixed_bits(f.bits),
        pack=mxfp4_pack if f.name == "mxfp4" else None, chunking=in_blocks(MX_BLOCK),
    )


def mxfp4_pack(r: QuantResult) -> tuple[np.ndarray, str]:
    """MXFP4 in gguf's ``block_mxfp4`` layout (17 bytes per block of 32): the E8M0 byte E + 127,
    then 16 bytes, byte j = code[j] | code[j + 16] << 4 (a short last block padded with code 0).
    OCP MX v1.0 leaves the memory layout open; this is llama.cpp's."""
    nb = r.blocks.scales.size
    codes = np.zeros(nb * MX_BLOCK, np.uint8)
    codes[: r.codes.size] = r.codes.reshape(-1)
    q = codes.reshape(nb, MX_BLOCK)
    e = (np.frexp(r.blocks.scales)[1] - 1 + 127).astype(np.uint8)  # scales are exact powers of two
    packed = np.concatenate((e[:, None], q[:, :16] | (q[:, 16:] << np.uint8(4))), axis=1)
    return packed.reshape(-1), "gguf block_mxfp4: per block of 32, byte E + 127, then code[j] | code[j + 16] << 4"


_MX_EXPONENT_TEXT = {"floor": "E = floor(log2 amax) − {emax} (the largest values may saturate)",
                     "ceil": "E = the smallest with amax / 2^E ≤ {max:g} (nothing saturates)"}


def mx_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = MX_FORMATS[name]
    is_int = f.is_int
    values = np.arange(-127, 128) / 64 if is_int else finite_values(f.element_name)
    rule = _MX_EXPONENT_TEXT[s["exponent"]].format(emax=f.emax, max=f.element_max)
    return FormatGrid(name, "element grid", values, f"{f.label} value",
                      f"× 2^E per block of {MX_BLOCK}: one E8M0 byte, E ∈ [−127, 127], {rule}; any power of two "
                      "from 2^−127 to 2^127 can stretch the grid", None if is_int else smallest_normal(f.element_name))


def mx_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = MX_FORMATS[name]
    b = mx_quantize(x, name, exponent=s["exponent"], ties=s["ties"], partial_block=s["partial_block"])
    values = b.codes / F32(64) if f.is_int else value_table(f.element_name)[b.codes]
    return per_block(x, MX_BLOCK, s["partial_block"], name, b.scales), values


for _f in MX_FORMATS.values():
    register(_mx_spec(_f))
