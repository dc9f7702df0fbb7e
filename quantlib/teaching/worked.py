"""Worked examples: one element quantized step by step, with quantlib's own float32 arithmetic.

:func:`integer_steps`, :func:`float_steps` and :func:`histogram_steps` work one element out;
every number equals what :func:`quantlib.quantize` / :func:`quantlib.dequantize` (or the float
and histogram schemes) give, each step with its LaTeX. A scheme offers a worked example through
its spec's ``worked_example`` hook — :func:`affine_example`, :func:`float_example`,
:func:`histogram_example` here — and :func:`worked_example` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import as_float_array, check_bits, check_choice, check_int, check_num_bins
from ..conventions import Convention, get_convention
from ..integer import OVERFLOW_MODES, ROUNDING_MODES, multiplier, onto_grid, round_values
from ..params import QuantParams, qrange
from ..schemes import SCHEMES, QuantResult
from .numbers import num, tex, tex_err, tex_plain

_F32 = np.float32

#: The source blog's worked example: these five values with scale 0.1 give codes 10 ... 50.
BLOG_VALUES = np.array([1, 2, 3, 4, 5], dtype=_F32)
BLOG_SCALE = 0.1


@dataclass(frozen=True)
class Step:
    """One step of a worked example: a name, plain words, the LaTeX with the actual numbers, its value."""

    name: str
    text: str
    latex: str
    value: Any


@dataclass(frozen=True)
class WorkedExample:
    """One element quantized step by step. ``code`` is the stored code (float formats: the bit
    pattern), ``value`` the dequantized float32 value and ``error`` ``x - value``;
    ``code_label`` names the code and ``code_text`` writes it (hex for a bit pattern)."""

    index: int
    x: float
    steps: tuple[Step, ...]
    code: int
    value: float
    error: float
    code_label: str = "code q"
    code_hex: bool = False

    @property
    def code_text(self) -> str:
        return f"{self.code:#x}" if self.code_hex else str(self.code)


def _error_step(xi: Any, xh: Any, what: str) -> tuple[Step, float]:
    e = float(xi) - float(xh)
    return Step("error", what, rf"x - \hat x = {tex_plain(xi)} - {tex(xh)} = {tex_err(e)}", e), e


# ------------------------------------------------------------------ integer (affine)
def element_params(params: QuantParams, shape: tuple[int, ...], index: int) -> tuple[np.float32, int, float | None]:
    """(scale, zero-point, amax) that apply to element ``index`` (flat, C order) of an array of
    ``shape``: per-tensor, per-channel or per-group params alike."""
    params.check_fits(tuple(shape))
    amax = params.amax
    if params.per_tensor:
        return _F32(params.scale), int(params.zero_point), (None if amax is None else float(amax))
    pos = _param_position(params, tuple(shape), index)
    s = np.asarray(params.scale)[pos]
    z = np.asarray(params.zero_point)[pos]
    a = None if amax is None else float(np.asarray(amax)[pos])
    return _F32(s), int(z), a


def _param_position(params: QuantParams, shape: tuple[int, ...], index: int) -> tuple[int, ...]:
    idx = np.unravel_index(index, shape)
    if params.group_size is None:
        return (int(idx[params.axis % len(shape)]),)
    if params.axis is None:
        return (index // params.group_size,)
    ax = params.axis % len(shape)
    rest_shape = tuple(d for k, d in enumerate(shape) if k != ax)
    rest = tuple(int(i) for k, i in enumerate(idx) if k != ax)
    within = int(np.ravel_multi_index(rest, rest_shape)) if rest_shape else 0
    return (int(idx[ax]), within // params.group_size)


def _block_position(params: QuantParams, shape: tuple[int, ...], index: int) -> int:
    """Flat position of element ``index`` in the block view quantize rounds (see params.blocks)."""
    if params.group_size is None or params.axis is None:
        return index
    ax = params.axis % len(shape)
    idx = np.unravel_index(index, shape)
    moved_shape = (shape[ax],) + tuple(d for k, d in enumerate(shape) if k != ax)
    moved_idx = (idx[ax],) + tuple(i for k, i in enumerate(idx) if k != ax)
    return int(np.ravel_multi_index(moved_idx, moved_shape))


def _block_shape(params: QuantParams, shape: tuple[int, ...]) -> tuple[int, ...]:
    if params.group_size is None:
        return tuple(shape)
    size = int(np.prod(shape))
    c = 1 if params.axis is None else shape[params.axis % len(shape)]
    return (c, size // c // params.group_size, params.group_size)


_ROUND_WORDS = {
    "half_even": "Round to nearest; a tie (exactly k + 1/2) would go to the even integer",
    "half_away": "Round to nearest; a tie (exactly k + 1/2) would go away from zero",
    "floor": "Round down, toward -infinity",
    "stochastic": "Round up with probability frac(y), down otherwise (seeded draw)",
}
_ROUND_TEX = {"half_even": r"\mathrm{round}_{\text{half-even}}", "half_away": r"\mathrm{round}_{\text{half-away}}",
              "floor": r"\lfloor\cdot\rfloor", "stochastic": r"\mathrm{round}_{\text{stochastic}}"}


@dataclass(frozen=True)
class _Element:
    """One element and the parameters that apply to it, as :func:`integer_steps` works it out:
    ``m`` / ``multiply`` from :func:`quantlib.integer.multiplier`; ``zp_first``: PyTorch adds the
    zero-point before rounding."""

    x: np.float32
    s: np.float32
    z: int
    amax: float | None
    m: np.float32
    multiply: bool
    zp_first: bool
    conv: Convention
    params: QuantParams


def integer_steps(
    x: object,
    index: int,
    params: QuantParams,
    *,
    rounding: str = "half_even",
    seed: int | None = 0,
    overflow: str = "saturate",
) -> WorkedExample:
    """Element ``index`` of ``x`` through quantize and dequantize under ``params``, step by step.

    The arithmetic is quantlib's own, in float32, for the params' convention: x / s
    (quantlib, onnxruntime), x * fl32(1/s) (pytorch, which adds the zero-point before
    rounding, fused, per tensor), x * fl32(qmax / amax) (tensorrt); then the rounding (with
    its tie rule), + z, clamp (or wrap), dequantize and the error. The final code and value
    equal ``quantize(x, params, ...)`` and ``dequantize`` at that element.
    """
    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    check_choice(rounding, "rounding", ROUNDING_MODES)
    check_choice(overflow, "overflow", OVERFLOW_MODES)
    e = _element(x, i, params)
    steps = [_map_step(e)]
    y = steps[-1].value
    steps.append(_round_step(e, y, rounding, seed, x.shape, i))
    r = steps[-1].value
    steps.append(_zero_point_step(e, r))
    v = float(r) + (0 if e.conv.mapping == "amax" or e.zp_first else e.z)
    steps.append(_clamp_step(params, v) if overflow == "saturate" else _wrap_step(params, v))
    q = steps[-1].value
    steps.append(_dequantize_step(e, q))
    xh = steps[-1].value
    step, err = _integer_error_step(e, xh, overflow)
    steps.append(step)
    return WorkedExample(i, float(e.x), tuple(steps), q, float(xh), err)


def _element(x: np.ndarray, i: int, params: QuantParams) -> _Element:
    conv = get_convention(params.convention)
    s, z, amax = element_params(params, x.shape, i)
    one = QuantParams(scale=s, zero_point=z, qmin=params.qmin, qmax=params.qmax, convention=conv.name, amax=amax)
    m, multiply = multiplier(one, conv)
    zp_first = conv.mapping == "reciprocal" and params.group_size is None and z != 0
    return _Element(_F32(x.ravel()[i]), s, z, amax, _F32(np.asarray(m).reshape(())), multiply, zp_first, conv, params)


def _map_step(e: _Element) -> Step:
    """x onto the grid: divide, multiply (by fl32(1/s) or fl32(qmax / amax)), or PyTorch's fused zero-point."""
    xi, m, z, params = e.x, e.m, e.z, e.params
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        y_div = np.divide(xi, e.s, dtype=_F32)
    if e.zp_first:
        y = _F32(np.asarray(onto_grid(xi, m, True, zero_point=_F32(z), fused=params.axis is None)).reshape(-1)[0])
        how = "one fused multiply-add, one rounding" if params.axis is None else "multiply, then add"
        step = Step(
            "x / s + z", f"PyTorch multiplies by the float32 reciprocal fl32(1/s) = {num(m)} and adds the "
            f"zero-point before rounding ({how}).",
            rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{1}}{{s}}\right) + z = {tex(xi)} \cdot {tex(m)} + {tex(z)} = {tex_plain(y)}",
            y)
    elif e.conv.mapping == "amax":
        y = onto_grid(xi, m, True)
        a = _F32(e.amax) if e.amax is not None else _F32(e.s) * _F32(params.qmax)
        step = Step(
            "x * qmax / amax", f"TensorRT multiplies by fl32(qmax / amax) = fl32({params.qmax} / {num(a)}) = {num(m)}.",
            rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{q_{{max}}}}{{a}}\right) = {tex(xi)} \cdot \tfrac{{{params.qmax}}}{{{tex_plain(a)}}} = {tex(xi)} \cdot {tex(m)} = {tex_plain(y)}",
            y)
    elif e.multiply:
        y = onto_grid(xi, m, True)
        step = Step(
            "x / s", f"PyTorch multiplies by the float32 reciprocal fl32(1/s) = {num(m)} instead of dividing.",
            rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{1}}{{s}}\right) = {tex(xi)} \cdot {tex(m)} = {tex_plain(y)}",
            y)
    else:
        y = y_div
        step = Step(
            "x / s", "Divide by the scale (float32, correctly rounded).",
            rf"\frac{{x}}{{s}} = \frac{{{tex_plain(xi)}}}{{{tex_plain(e.s)}}} = {tex_plain(y)}", y)
    if y != y_div and not e.zp_first and e.conv.mapping != "divide":
        step = Step(step.name, step.text + f" Dividing would give {num(y_div)}.", step.latex, y)
    return step


def _round_step(e: _Element, y: Any, rounding: str, seed: int | None, shape: tuple[int, ...], i: int) -> Step:
    fl = np.floor(y)
    tie = bool(np.isfinite(y) and y - fl == _F32(0.5))
    if rounding == "stochastic":
        block = _block_shape(e.params, shape)
        u = np.random.default_rng(0 if seed is None else seed).random(block, dtype=_F32).ravel()[_block_position(e.params, shape, i)]
        r = _F32(fl + _F32(u < (y - fl)))
        words = f"frac(y) = {num(y - fl)}; the draw u = {num(u)} is {'below' if u < y - fl else 'not below'} it, so y goes {'up' if r > fl else 'down'}."
    else:
        r = _F32(round_values(np.array([y], dtype=_F32), rounding, seed)[0])
        words = _ROUND_WORDS[rounding] + "." if y != fl else f"{num(y)} is already an integer."
        if tie and rounding in ("half_even", "half_away"):
            words = (f"{num(y)} is exactly halfway between {num(fl)} and {num(fl + 1)}: a tie, "
                     + ("which goes to the even integer" if rounding == "half_even" else "which goes away from zero")
                     + f", {num(r)}.")
    return Step("round", words, rf"{_ROUND_TEX[rounding]}({tex_plain(y)}) = {tex_plain(r)}", r)


def _zero_point_step(e: _Element, r: Any) -> Step:
    if e.conv.mapping == "amax":
        return Step("+ z", "TensorRT has no zero-point (symmetric only).", rf"z = 0 \Rightarrow {tex_plain(r)}", r)
    if e.zp_first:
        return Step("+ z", f"The zero-point {e.z} was already added before rounding.", rf"z = {e.z}\ \text{{(added above)}}", r)
    v = float(r) + e.z
    return Step("+ z", "Add the zero-point." if e.z else "The zero-point is 0: nothing to add.",
                rf"{tex_plain(r)} + {tex(e.z)} = {num(v) if np.isfinite(v) else v}", _F32(v))


def _clamp_step(params: QuantParams, v: float) -> Step:
    q = int(min(max(v, params.qmin), params.qmax)) if np.isfinite(v) else (params.qmax if v > 0 else params.qmin)
    clipped = not (params.qmin <= v <= params.qmax)
    return Step("clamp", f"Keep the code in [{params.qmin}, {params.qmax}]" + (": it was outside and saturates." if clipped else ": it is inside."),
                rf"\mathrm{{clamp}}({num(v) if np.isfinite(v) else v},\ {params.qmin},\ {params.qmax}) = {q}", q)


def _wrap_step(params: QuantParams, v: float) -> Step:
    span = params.qmax - params.qmin + 1
    q = int(np.mod(v - params.qmin, span) + params.qmin)
    return Step("wrap", f"No clamp: keep the low bits, two's-complement style (modulo {span}), as a C/Go integer cast does.",
                rf"\left(({num(v)} - ({params.qmin})) \bmod {span}\right) + ({params.qmin}) = {q}", q)


def _dequantize_step(e: _Element, q: int) -> Step:
    if e.conv.mapping == "amax":
        d = e.m if e.m != 0 else _F32(1)
        xh = _F32(_F32(q) / d)
        return Step("dequantize", f"Divide the code by the same multiplier {num(d)}.",
                    rf"\hat x = \frac{{q}}{{\mathrm{{fl}}_{{32}}(q_{{max}}/a)}} = \frac{{{q}}}{{{tex_plain(d)}}} = {tex_plain(xh)}", xh)
    xh = _F32(np.multiply(_F32(q) - _F32(e.z), e.s, dtype=_F32))
    return Step("dequantize", "Subtract the zero-point and multiply by the scale.",
                rf"\hat x = s\,(q - z) = {tex_plain(e.s)} \cdot ({q} - {tex(e.z)}) = {tex_plain(xh)}", xh)


def _integer_error_step(e: _Element, xh: Any, overflow: str) -> tuple[Step, float]:
    err = float(e.x) - float(xh)
    m = e.m
    step = float(e.s) if e.conv.mapping != "amax" else 1.0 / float(m) if m != 0 else float(e.s)
    if err == 0:
        words = "None: this value lies exactly on the grid."
    else:
        beyond = " (wrapped around)." if overflow == "wrap" else " (clipped: more than half a step)."
        words = f"What quantization cost this element: {abs(err) / step:.3g} of a step" + (
            beyond if abs(err) > step / 2 * (1 + 1e-6) else ".")
    return _error_step(e.x, xh, words)


# ------------------------------------------------------------------------- float
def float_steps(x: object, index: int, fmt: str, *, scaling: str = "none", saturate: bool = True,
                axis: int = 0) -> WorkedExample:
    """Element ``index`` of ``x`` cast to float format ``fmt`` (a :data:`quantlib.formats.FLOATS`
    name), step by step: the optional scale, the saturation, the two neighbouring
    representable values, the chosen one (nearest, ties to an even mantissa) and its sign,
    exponent and mantissa bits. Equal to the registry scheme ``fmt`` at that element."""
    from ..formats import FLOATS, SCALINGS
    from ..formats.common import cast

    f = FLOATS[check_choice(fmt, "float format", FLOATS)]
    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    check_choice(scaling, "scaling", SCALINGS)
    xi = _F32(x.ravel()[i])
    steps: list[Step] = []
    s, y = _F32(1), xi
    if scaling != "none":
        s = _element_scale(x, i, f.max, scaling, axis)
        y = np.divide(xi, s, dtype=_F32)
        steps.append(Step("x / s", f"Scale so the largest |x| lands on the format's max {f.max:g}: s = amax / {f.max:g} = {num(s)}.",
                          rf"\frac{{x}}{{s}} = \frac{{{tex_plain(xi)}}}{{{tex_plain(s)}}} = {tex_plain(y)}", y))
    fmax = _F32(f.max)
    if saturate:
        yc = _F32(np.clip(y, -fmax, fmax))
        steps.append(Step("saturate", f"Clip to ±{f.max:g}, the largest finite {f.name} value" + (": it was beyond." if yc != y else ": it is inside."),
                          rf"\mathrm{{clamp}}({tex_plain(y)},\ -{f.max:g},\ {f.max:g}) = {tex_plain(yc)}", yc))
        y = yc
    elif abs(y) > fmax:
        raise ValueError(f"{f.name} with saturate=False: {num(y)} overflows (max {f.max:g}); the cast gives {f.overflow}")
    codes, vals = cast(np.array([y], dtype=_F32), f.dtype)
    code, v = int(codes[0]), _F32(vals[0])
    steps.append(_nearest_step(f, y, v))
    steps.append(_bits_step(f.dtype, code, v))
    xh = _F32(v * s) if scaling != "none" else v
    if scaling != "none":
        steps.append(Step("dequantize", "Multiply back by the scale.",
                          rf"\hat x = s \cdot v = {tex_plain(s)} \cdot {tex(v)} = {tex_plain(xh)}", xh))
    step, e = _error_step(xi, xh, "What the format cost this element.")
    steps.append(step)
    return WorkedExample(i, float(xi), tuple(steps), code, float(xh), e, code_label="bit pattern", code_hex=True)


def _element_scale(x: np.ndarray, i: int, fmax: float, scaling: str, axis: int) -> np.float32:
    """The float32 scale amax / max that applies to element ``i`` (per tensor or per channel)."""
    from ..formats.floats import amax_scale

    ax = None
    if scaling == "per_channel":
        if x.ndim < 2:
            raise ValueError(f"scaling='per_channel' needs a tensor with at least 2 dimensions, got shape {x.shape}")
        ax = axis % x.ndim
    sc = amax_scale(x, _F32(fmax), ax)
    if ax is None:
        return _F32(np.asarray(sc).reshape(()))
    return _F32(sc.reshape(-1)[np.unravel_index(i, x.shape)[ax]])


def _nearest_step(f: Any, y: Any, v: Any) -> Step:
    """The two representable neighbours of ``y`` and the one the cast chose, ``v``."""
    from ..formats.common import finite_values

    finite = finite_values(f.dtype)
    k = int(np.searchsorted(finite, y, side="left"))
    lo = finite[max(k - 1, 0)] if finite[min(k, finite.size - 1)] != y else y
    hi = finite[min(k, finite.size - 1)]
    if lo == hi:
        words = f"{num(y)} is exactly representable in {f.name}."
        label = f.name.replace("_", r"\_")
        nearest_tex = rf"{tex_plain(y)} \in \mathrm{{{label}}}"
    else:
        tie = float(y) * 2 == float(lo) + float(hi)
        words = (f"{num(y)} lies between the neighbours {num(lo)} and {num(hi)}; "
                 + ("it is exactly halfway: the tie goes to the one with an even mantissa, " if tie else "the nearest is ")
                 + f"{num(v)}.")
        nearest_tex = rf"{tex_plain(lo)} \le {tex_plain(y)} \le {tex_plain(hi)} \;\Rightarrow\; {tex_plain(v)}"
    return Step("nearest value", words, nearest_tex, v)


def _bits_step(dtype: Any, code: int, v: Any) -> Step:
    """The sign, exponent and mantissa fields of bit pattern ``code`` and the value they make."""
    from ..formats.common import ml_dtypes

    fi = ml_dtypes().finfo(dtype)
    nexp, nmant = int(fi.nexp), int(fi.nmant)
    bias = 1 - int(fi.minexp)
    sign = (code >> (nexp + nmant)) & 1
    expo = (code >> nmant) & ((1 << nexp) - 1)
    mant = code & ((1 << nmant) - 1)
    bits_tex = (rf"\underbrace{{{sign}}}_{{\text{{sign}}}}\ \underbrace{{{expo:0{nexp}b}}}_{{\text{{exponent}}}}\ "
                rf"\underbrace{{{mant:0{nmant}b}}}_{{\text{{mantissa}}}}")
    if expo == 0:
        value_tex = rf"(-1)^{{{sign}}} \cdot 2^{{{1 - bias}}} \cdot \tfrac{{{mant}}}{{{1 << nmant}}} = {tex_plain(v)}"
        kind = f"subnormal (exponent field 0): (-1)^sign x 2^(1 - {bias}) x mantissa / {1 << nmant}"
    else:
        value_tex = rf"(-1)^{{{sign}}} \cdot 2^{{{expo} - {bias}}} \cdot \left(1 + \tfrac{{{mant}}}{{{1 << nmant}}}\right) = {tex_plain(v)}"
        kind = f"normal: (-1)^sign x 2^(exponent - {bias}) x (1 + mantissa / {1 << nmant})"
    return Step("bits", f"{1 + nexp + nmant} bits: 1 sign, {nexp} exponent (bias {bias}), {nmant} mantissa; {kind}. "
                f"Bit pattern {code:#0{2 + (1 + nexp + nmant + 3) // 4}x}.",
                bits_tex + r"\;\Rightarrow\;" + value_tex, code)


# --------------------------------------------------------------------- histogram
def histogram_steps(x: object, index: int, num_bins: int = 256, reconstruction: str = "center") -> WorkedExample:
    """Element ``index`` through the histogram scheme: bin width, raw bin index, the clamp that
    fixes the blog's out-of-range index, and the reconstruction (bin centre or bin mean)."""
    from ..binning import RECONSTRUCTIONS

    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    num_bins = check_num_bins(num_bins)
    check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    xi = _F32(x.ravel()[i])
    lo, hi = float(x.min()), float(x.max())
    w = (hi - lo) / num_bins
    steps = [Step("bin width", f"{num_bins} equal bins over [min, max] = [{num(lo)}, {num(hi)}].",
                  rf"w = \frac{{x_{{max}} - x_{{min}}}}{{B}} = \frac{{{tex_plain(hi)} - {tex(lo)}}}{{{num_bins}}} = {w:.9g}", w)]
    if w == 0:
        k_raw = 0
        steps.append(Step("bin index", "A constant tensor: one value, bin 0.", r"w = 0 \Rightarrow k = 0", 0))
    else:
        t = (float(xi) - lo) / w
        k_raw = int(np.floor(t))
        steps.append(Step("bin index", "Which bin: floor of the distance from min in bin widths.",
                          rf"\left\lfloor \frac{{x - x_{{min}}}}{{w}} \right\rfloor = \lfloor {t:.9g} \rfloor = {k_raw}", k_raw))
    k = min(max(k_raw, 0), num_bins - 1)
    steps.append(Step("clamp", f"Keep k in [0, {num_bins - 1}]" + (
        f": x = max gives {k_raw}, one past the last bin — the blog's bug; the clamp puts it in bin {k}." if k != k_raw else ": it is inside."),
        rf"\mathrm{{clamp}}({k_raw},\ 0,\ {num_bins - 1}) = {k}", k))
    edges = lo + w * np.arange(num_bins + 1)
    edges[-1] = hi
    if w == 0:
        xh = _F32(lo)
        steps.append(Step("reconstruct", "Every value is the constant itself.", rf"\hat x = {tex_plain(xh)}", xh))
    elif reconstruction == "center":
        xh = _F32((edges[k] + edges[k + 1]) / 2)
        steps.append(Step("reconstruct", "Rebuild at the bin centre.",
                          rf"\hat x = x_{{min}} + \left(k + \tfrac12\right) w = {tex_plain(xh)}", xh))
    else:
        idx = np.clip(np.floor((x.astype(np.float64) - lo) / w).astype(np.int64), 0, num_bins - 1)
        members = x.ravel()[idx.ravel() == k].astype(np.float64)
        xh = _F32(members.mean())
        steps.append(Step("reconstruct", f"Rebuild at the mean of the {members.size} values in bin {k}.",
                          rf"\hat x = \overline{{x}}_{{k}} = {tex_plain(xh)}", xh))
    step, e = _error_step(xi, xh, "What binning cost this element.")
    steps.append(step)
    return WorkedExample(i, float(xi), tuple(steps), k, float(xh), e)


# ------------------------------------------------------------------ the spec hooks
def affine_example(x: object, index: int, result: QuantResult) -> WorkedExample:
    """The ``worked_example`` hook of affine schemes (integer, fixed point, int_group): :func:`integer_steps`
    under the result's params, rounding, seed and overflow."""
    if result.params is None:
        raise ValueError(f"{result.scheme}: no per-element affine parameters to show (try a size its groups divide)")
    s = result.settings
    return integer_steps(x, index, result.params, rounding=s.get("rounding", "half_even"), seed=s.get("seed", 0),
                         overflow=s.get("overflow", "saturate"))


def float_example(x: object, index: int, result: QuantResult) -> WorkedExample:
    """The ``worked_example`` hook of the float formats: :func:`float_steps`."""
    s = result.settings
    return float_steps(x, index, result.scheme, scaling=s["scaling"], saturate=s["saturate"], axis=s["axis"])


def histogram_example(x: object, index: int, result: QuantResult) -> WorkedExample:
    """The ``worked_example`` hook of the histogram scheme: :func:`histogram_steps`."""
    s = result.settings
    return histogram_steps(x, index, s["num_bins"], s["reconstruction"])


def worked_example(x: object, index: int, result: QuantResult) -> WorkedExample:
    """The worked example for a registry result on ``x``, from its scheme's ``worked_example`` hook."""
    hook = SCHEMES[result.scheme].worked_example
    if hook is None:
        raise ValueError(f"{result.scheme!r} has no worked example; schemes with one: {worked_schemes()}")
    return hook(x, index, result)


def worked_schemes() -> list[str]:
    """Registry schemes whose spec has a worked example (affine integer, fixed point, histogram, float, ...)."""
    return [n for n, spec in SCHEMES.items() if spec.worked_example is not None]


def blog_params(bits: int = 8, *, signed: bool = True) -> QuantParams:
    """The blog's example parameters: scale 0.1, zero-point 0."""
    qmin, qmax = qrange(check_bits(bits), signed)
    return QuantParams(scale=BLOG_SCALE, zero_point=0, qmin=qmin, qmax=qmax)
