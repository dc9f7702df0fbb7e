"""Plain and scaled float formats: ``fp16``, ``bf16``, the FP8 / FP6 / FP4 types (ml_dtypes' casts).

The table holds dtype names and each type's constants (checked against ``ml_dtypes.finfo`` in
tests/test_formats.py), so registering the schemes needs no ml_dtypes; the types are resolved
on first use. Shared: :func:`amax_scale` (the float32 ``amax / max`` scale).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import as_float_array, check_axis, check_choice
from .._shared import deferred
from ..schemes import Chunking, QuantResult, SchemeSpec, Setting, fixed_bits, needs_matrix, register, row_quantum
from .common import F32, TINY, cast, dtype_of, finite_values, fixed_width, label, smallest_normal, value_table
from .grids import FormatGrid, need_result

SCALINGS = ("none", "per_tensor", "per_channel")


@dataclass(frozen=True)
class FloatFormat:
    """A float format: its numpy / ml_dtypes type by name and that type's constants."""

    name: str
    dtype_name: str  # numpy / ml_dtypes scalar type name
    bits: int
    overflow: str  # what a plain cast gives past the largest finite value: "±inf", "NaN" or "saturates"
    max: float  # largest finite value
    nexp: int  # exponent bits
    nmant: int  # mantissa bits
    smallest_subnormal: float

    @property
    def dtype(self) -> Any:
        """The numpy / ml_dtypes scalar type (ml_dtypes is imported here, on first use)."""
        return dtype_of(self.dtype_name)


FLOATS: dict[str, FloatFormat] = {
    f.name: f
    for f in (
        FloatFormat("fp16", "float16", 16, "±inf", 65504.0, 5, 10, 2.0**-24),
        FloatFormat("bf16", "bfloat16", 16, "±inf", float.fromhex("0x1.fep127"), 8, 7, 2.0**-133),  # 3.3895314e38
        FloatFormat("fp8_e4m3fn", "float8_e4m3fn", 8, "NaN", 448.0, 4, 3, 2.0**-9),
        FloatFormat("fp8_e5m2", "float8_e5m2", 8, "±inf", 57344.0, 5, 2, 2.0**-16),
        FloatFormat("fp8_e4m3fnuz", "float8_e4m3fnuz", 8, "NaN", 240.0, 4, 3, 2.0**-10),
        FloatFormat("fp8_e5m2fnuz", "float8_e5m2fnuz", 8, "NaN", 57344.0, 5, 2, 2.0**-17),
        FloatFormat("fp6_e3m2", "float6_e3m2fn", 6, "saturates", 28.0, 3, 2, 2.0**-4),
        FloatFormat("fp6_e2m3", "float6_e2m3fn", 6, "saturates", 7.5, 2, 3, 2.0**-3),
        FloatFormat("fp4_e2m1", "float4_e2m1fn", 4, "saturates", 6.0, 2, 1, 2.0**-1),
    )
}


def amax_scale(x: np.ndarray, fmax: float, axis: int | None) -> np.ndarray:
    """float32 ``amax / fmax`` (per tensor, or per channel along ``axis``), at least 2**-126; 1 where amax is 0."""
    if axis is None:
        amax = np.abs(x).max()
    else:
        amax = np.abs(x).max(axis=tuple(i for i in range(x.ndim) if i != axis), keepdims=True)
    s = np.maximum(np.asarray(amax, F32) / F32(fmax), TINY)
    return np.where(amax == 0, F32(1), s).astype(F32)


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
    fmax = F32(f.max)
    if scaling == "none":
        scale, y = np.asarray(F32(1)), x
    else:
        if scaling == "per_channel":
            if x.ndim < 2:
                raise ValueError(
                    f"scaling='per_channel' needs a tensor with at least 2 dimensions, got shape {x.shape}; "
                    "use scaling='per_tensor' for 1-D data"
                )
            axis = check_axis(axis, x.ndim)
        scale = amax_scale(x, fmax, axis if scaling == "per_channel" else None)
        y = x / scale
    if saturate:
        y = np.clip(y, -fmax, fmax)
    codes, deq = cast(y, f.dtype_name)
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
            levels = finite_values(f.dtype_name).copy() if sv == 1 else np.unique(finite_values(f.dtype_name) * F32(sv))
            clip = (-f.max * sv, f.max * sv)
        else:
            levels = clip = None
        return QuantResult(f.name, s, codes, deq, None, levels, clip, f.bits + overhead)

    return run


FLOAT_EXAMPLE = deferred("quantlib.teaching", "float_example")  # the worked example of every float format


def _float_chunking(s: Mapping[str, Any], shape: tuple[int, ...]) -> Chunking | None:
    """A plain cast is element-wise; one scale per row, row by row; a per-tensor scale (amax / max) needs the tensor."""
    if s["scaling"] == "none":
        return Chunking(1)
    q = row_quantum(shape, s["axis"]) if s["scaling"] == "per_channel" else None
    return None if q is None else Chunking(q)


def float_spec(f: FloatFormat) -> SchemeSpec:
    name = label(f.name)
    behaviour = "saturates" if f.overflow == "saturates" else f"gives {f.overflow} (refused unless saturate=True)"
    return SchemeSpec(
        f.name, "float",
        f"{name}: {f.nexp} exponent + {f.nmant} mantissa bits, max {f.max:g}, smallest subnormal "
        f"{f.smallest_subnormal:g}; a cast past the max {behaviour}.",
        rf"\hat x = s\,\mathrm{{fl}}_{{\mathrm{{{name}}}}}\!\left(\mathrm{{clamp}}\!\left(\tfrac{{x}}{{s}},\,-M,\,M\right)\right),"
        rf"\quad s = \tfrac{{\max|x|}}{{M}}\ (s = 1\ \text{{if unscaled}}),\quad M = {f.max:g}",
        (
            Setting("scaling", str, "none", "none: plain cast; per_tensor / per_channel: divide by s = amax / max first, "
                    "so amax lands on the largest finite value.", choices=SCALINGS,
                    needs=needs_matrix("scaling=per_channel")),
            Setting("saturate", bool, True, "Clip to ±max before the cast. Off: the cast's own overflow "
                    f"({f.overflow} for {f.name}); a tensor that overflows is then refused, not turned into {f.overflow}."),
            Setting("axis", int, 0, "Channel axis for scaling='per_channel' (tensors with 2 or more dimensions).",
                    min=-32, max=31, tensor_axis=True, when=lambda s, nd: nd >= 2 and s.get("scaling") == "per_channel"),
        ),
        _run_float(f), fixed_width,
        grid=float_grid, view=float_view, code_bits=fixed_bits(f.bits), worked_example=FLOAT_EXAMPLE,
        chunking=_float_chunking,
    )


def float_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    f = FLOATS[name]
    elem, normal = f"{label(name)} value", smallest_normal(f.dtype_name)
    if s["scaling"] == "none":
        beyond = (f"saturate to ±{f.max:g}" if s["saturate"] or f.overflow == "saturates"
                  else f"are refused (the cast would give {f.overflow})")
        return FormatGrid(name, "levels", finite_values(f.dtype_name), elem,
                          f"plain cast, no scale; values beyond ±{f.max:g} {beyond}", normal)
    if s["scaling"] == "per_channel":
        return FormatGrid(name, "element grid", finite_values(f.dtype_name), elem,
                          f"× one float32 scale per channel (axis {s['axis']}): s_c = amax_c / {f.max:g}, so each "
                          f"channel's amax lands on ±{f.max:g}", normal)
    lv = need_result(result, name).levels
    sv = float(lv[-1]) / f.max
    return FormatGrid(name, "levels", lv, f"{elem} × s",
                      f"× one float32 scale per tensor s = amax / {f.max:g} = {sv:.6g}", normal * sv)


def float_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    f = FLOATS[name]
    codes, _, scale = float_quantize(x, name, scaling=s["scaling"], saturate=s["saturate"], axis=s["axis"])
    return x / scale, value_table(f.dtype_name)[codes]

for _f in FLOATS.values():
    register(float_spec(_f))
