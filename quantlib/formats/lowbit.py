"""Ternary and binary weights outside ggml: ``ternary`` (BitNet b1.58) and ``binary`` (sign × mean |x|).

* ``ternary`` — BitNet b1.58's absmean rule, as transformers' ``BitNet`` ``WeightQuant`` computes it:
  ``gamma = mean |x|`` (per tensor, per channel or per group), ``s = 1 / max(gamma, 1e-5)`` (float32),
  ``t = clamp(round_half_even(x * s), -1, 1)``, ``x_hat = t / s``. A trit carries log2 3 ≈ 1.585 bits of
  information; storing it costs 2 bits (``packing="2bit"``, as TQ2_0 / BitNet's I2_S kernels) or 1.6
  bits (``"base3"``: five trits per byte, 3**5 = 243 ≤ 256, as TQ1_0), plus a float32 gamma per group.
* ``binary`` — XNOR-Net / BinaryConnect with a scale: ``x_hat = sign(x) * mean |x|`` with sign(0) = +1
  (two levels, no zero), 1 bit per weight plus a float32 scale per group. For a fixed sign pattern,
  mean |x| is the scale with the least squared error (XNOR-Net's alpha).

``gamma`` is the float32 rounding of the mean computed in float64 (the sum's order then does not
matter). Granularity ``per_channel`` takes one group per index of ``axis``; ``per_group`` takes
``group_size`` consecutive values of the flattened tensor (C order; a short last group has its own mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_float_array, check_choice
from .._shared import latex_g
from ..schemes import QuantResult, SchemeSpec, Setting, fixed_bits, register
from .common import F32
from .grids import FormatGrid

GRANULARITIES = ("per_tensor", "per_channel", "per_group")
PACKINGS = {"2bit": 2.0, "base3": 1.6}
TERNARY_EPS = F32(1e-5)


def _groups(x: np.ndarray, granularity: str, axis: int, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(gamma per element as float32, number of groups): mean |x| over each group, computed in float64."""
    a = np.abs(x.astype(np.float64))
    if granularity == "per_tensor":
        return np.full(x.shape, F32(a.mean()), F32), np.ones(1)
    if granularity == "per_channel":
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"axis {axis} is out of range for a tensor of shape {x.shape}")
        others = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        m = a.mean(axis=others, keepdims=True).astype(F32)
        return np.broadcast_to(m, x.shape).copy(), np.ones(m.size)
    flat = a.reshape(-1)
    starts = np.arange(0, flat.size, group_size)
    sums = np.add.reduceat(flat, starts)
    counts = np.diff(np.append(starts, flat.size))
    m = (sums / counts).astype(F32)
    return np.repeat(m, counts).reshape(x.shape), np.ones(m.size)


def ternary_quantize(x: object, *, granularity: str = "per_tensor", axis: int = 0,
                     group_size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trits in {-1, 0, 1} as int8, dequantized, gamma per element) of BitNet b1.58's absmean rule."""
    x = as_float_array(x)
    gamma, _ = _groups(x, check_choice(granularity, "granularity", GRANULARITIES), axis, group_size)
    s = F32(1) / np.maximum(gamma, TERNARY_EPS)
    t = np.clip(np.rint(x * s), -1, 1)
    return t.astype(np.int8), t / s, gamma


def binary_quantize(x: object, *, granularity: str = "per_tensor", axis: int = 0,
                    group_size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits in {0, 1} (1: x >= 0), dequantized sign(x) * gamma, gamma per element)."""
    x = as_float_array(x)
    gamma, _ = _groups(x, check_choice(granularity, "granularity", GRANULARITIES), axis, group_size)
    pos = x >= 0
    return pos.astype(np.uint8), np.where(pos, gamma, -gamma), gamma


def _settings(extra: tuple[Setting, ...] = ()) -> tuple[Setting, ...]:
    return (
        Setting("granularity", str, "per_tensor", "One mean |x| for the tensor, one per channel, or one per group.",
                choices=GRANULARITIES),
        Setting("axis", int, 0, "Channel axis for per-channel.", min=-32, max=31),
        Setting("group_size", int, 128, "Consecutive elements sharing a scale for per-group.", min=1, max=2**24),
        *extra,
    )


def _scales(x: np.ndarray, s: dict[str, Any]) -> int:
    if s["granularity"] == "per_tensor":
        return 1
    if s["granularity"] == "per_channel":
        return x.shape[s["axis"] % x.ndim]
    return -(-x.size // s["group_size"])


def _run_ternary(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    t, deq, gamma = ternary_quantize(x, granularity=s["granularity"], axis=s["axis"], group_size=s["group_size"])
    bpe = PACKINGS[s["packing"]] + 32 * _scales(x, s) / x.size
    levels = np.unique(deq) if s["granularity"] == "per_tensor" else None
    return QuantResult("ternary", s, t, deq, None, levels, None, bpe)


def _run_binary(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    b, deq, gamma = binary_quantize(x, granularity=s["granularity"], axis=s["axis"], group_size=s["group_size"])
    levels = np.unique(deq) if s["granularity"] == "per_tensor" else None
    return QuantResult("binary", s, b, deq, None, levels, None, 1 + 32 * _scales(x, s) / x.size)


def _ternary_live(r: QuantResult) -> str:
    g = float(np.abs(r.dequantized[r.codes != 0]).reshape(-1)[0]) if np.any(r.codes != 0) else 0.0
    return (rf"\gamma_0 = {latex_g(g)},\quad t = \mathrm{{clamp}}\!\left(\mathrm{{round}}\!\left(\tfrac{{x}}{{{latex_g(g)}}}"
            rf"\right), -1, 1\right),\quad \hat x = {latex_g(g)}\, t")


def _binary_live(r: QuantResult) -> str:
    g = float(np.abs(r.dequantized.reshape(-1)[0]))
    return rf"\alpha_0 = {latex_g(g)},\quad \hat x = {latex_g(g)}\cdot \mathrm{{sign}}(x)"


def _grid(values: list[float], element: str, note: str):
    def grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
        return FormatGrid(name, "element grid", np.array(values), element,
                          f"× mean |x| {s['granularity'].replace('_', ' ')}: {note}")

    return grid


def _view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    g = _groups(x, s["granularity"], s["axis"], s["group_size"])[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(g == 0, F32(0), x / g)
    vals = r.codes.astype(F32) if name == "ternary" else np.where(r.codes == 1, F32(1), F32(-1))
    return y, vals


register(SchemeSpec(
    "ternary", "ternary",
    "BitNet b1.58: weights in {−γ, 0, γ} with γ = mean |x| (absmean), rounded and clipped; log2 3 ≈ 1.58 bits of "
    "information per weight, 2 or 1.6 bits as stored.",
    r"\gamma = \tfrac{1}{n}\sum |x_i|,\quad t_i = \mathrm{clamp}\!\left(\mathrm{round}\!\left(\tfrac{x_i}{\max(\gamma, 10^{-5})}\right), -1, 1\right),\quad \hat x_i = \gamma\, t_i",
    _settings((Setting("packing", str, "2bit", "How trits are stored: 2 bits each (TQ2_0, I2_S) or five per byte "
                       "(1.6 bits, TQ1_0); information content is log2 3 = 1.585 bits.", choices=tuple(PACKINGS)),)),
    _run_ternary, lambda bits, s: {}, _ternary_live, grid=_grid([-1, 0, 1], "trit", "BitNet b1.58 absmean"),
    view=_view, code_bits=fixed_bits(2),
    per_channel=lambda axis: {"granularity": "per_channel", "axis": axis},
))
register(SchemeSpec(
    "binary", "binary",
    "1-bit weights: sign(x) × mean |x| (XNOR-Net's scale, the least-squares one for the signs); sign(0) = +1.",
    r"\alpha = \tfrac{1}{n}\sum |x_i|,\quad \hat x_i = \alpha\cdot\mathrm{sign}(x_i),\quad \mathrm{sign}(0) = +1",
    _settings(), _run_binary, lambda bits, s: {}, _binary_live, grid=_grid([-1, 1], "sign", "XNOR-Net's α"),
    view=_view, code_bits=fixed_bits(1),
    per_channel=lambda axis: {"granularity": "per_channel", "axis": axis},
))
