"""Uniform integer quantization: qparams from a range, quantize, dequantize, fake-quantize.

The affine map, for every convention::

    q     = clamp(round(x / s) + z, qmin, qmax)          (division: quantlib, onnxruntime)
    q     = clamp(round(x * fl32(1 / s)) + z, qmin, qmax)  (reciprocal multiply: pytorch;
            torch's quantize_per_tensor/per_channel add z before rounding, see _torch_grid)
    q     = clamp(round(x * fl32(qmax / amax)), qmin, qmax)  (amax multiplier: tensorrt)
    x_hat = (q - z) * s          (tensorrt: q / fl32(qmax / amax))

All arithmetic is float32 on float32 input, like the toolkits' kernels.

Shared with :mod:`quantlib.teaching` and :mod:`quantlib.toolkits` (internal API, not in
``quantlib.__all__``): :func:`code_range`, :func:`multiplier`, :func:`onto_grid` (the grid
coordinate a kernel rounds) and :func:`round_values` (the rounding modes).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ._checks import MAX_BITS, MIN_BITS, as_float_array, check_axis, check_bits, check_choice, check_finite, check_int
from .conventions import Convention, get_convention
from . import _kernels
from .histograms import fma_f32
from .params import QuantParams, blocks, broadcastable, code_dtype, qrange

ROUNDING_MODES = ("half_even", "half_away", "floor", "stochastic")
OVERFLOW_MODES = ("saturate", "wrap")
_F32 = np.float32
_TRT_EPS = 1.0 / (1 << 24)  # ModelOpt treats amax <= 2**-24 as zero


def code_range(bits: int, *, symmetric: bool, signed: bool, narrow_range: bool, convention: Convention) -> tuple[int, int]:
    """The convention's code range: signed symmetric ranges are narrow where the toolkit says so.

    onnxruntime narrows only the types in its ``ONNX_INT_TYPE_SYMMETRIC_RANGE`` table (INT8
    [-127, 127], INT16 [-32767, 32767]); its INT4 stays [-8, 7] (``get_qmin_qmax_for_qType``).
    Widths onnxruntime has no type for follow the convention's narrow rule.
    """
    narrow_sym = convention.narrow_symmetric and bits not in convention.full_range_bits
    narrow = narrow_range or (signed and symmetric and narrow_sym)
    return qrange(bits, signed, narrow)


def qparams_from_range(
    lo: float | np.ndarray,
    hi: float | np.ndarray,
    *,
    bits: int = 8,
    symmetric: bool = True,
    signed: bool | None = None,
    narrow_range: bool = False,
    power_of_two: bool = False,
    convention: str = "quantlib",
    axis: int | None = None,
    group_size: int | None = None,
) -> QuantParams:
    """Turn a calibrated range [lo, hi] (scalars or per-channel arrays) into :class:`QuantParams`.

    The range is first widened to contain 0 (so 0 is exactly representable). Then, with
    ``a = max(-lo, hi)``:

    * symmetric, ``max_code`` rule (quantlib, tensorrt): ``s = a / min(qmax - z, z - qmin)``
      (``a / qmax`` when z = qmin), so ±a land exactly on usable codes;
    * symmetric, ``half_span`` rule (pytorch, onnxruntime): ``s = 2a / (qmax - qmin)``;
    * asymmetric: ``s = (hi - lo) / (qmax - qmin)``, ``z = round(qmin - lo / s)`` (pytorch:
      ``qmin - round(lo / s)`` in float32), clamped into [qmin, qmax].

    Degenerate range (all zeros): pytorch floors the scale at 2**-23; the others use s = 1,
    z = 0. ``power_of_two`` rounds the scale *up* to 2**k so the range still fits.
    ``signed=None`` means signed for symmetric, unsigned for asymmetric.
    """
    conv = get_convention(convention)
    symmetric = bool(symmetric)
    bits = check_bits(bits, symmetric=symmetric)
    if signed is None:
        signed = symmetric
    if not symmetric and not conv.asymmetric:
        raise ValueError(f"convention {conv.name!r} supports symmetric quantization only; pass symmetric=True")
    qmin, qmax = code_range(bits, symmetric=symmetric, signed=bool(signed), narrow_range=narrow_range, convention=conv)
    # the range the codes saturate at: the scale's range, or the type's full range (onnxruntime)
    code_min = qmin if conv.narrow_codes else qrange(bits, bool(signed), narrow_range)[0]

    lo32, hi32 = _widened_range(lo, hi)
    if symmetric:
        amax = np.maximum(-lo32, hi32)
        zp = np.full(amax.shape, _symmetric_zero_point(conv, bits, bool(signed), narrow_range, qmin, qmax), dtype=np.int64)
        scale = _symmetric_scale(conv, amax, zp, qmin, qmax)
    else:
        amax = None
        scale = _asymmetric_scale(conv, lo32, hi32, qmin, qmax)
    scale, tiny = _floored_scale(conv, np.asarray(scale), power_of_two)
    if not symmetric:
        zp = _asymmetric_zero_point(conv, lo32, scale, qmin)
    zp = np.clip(np.where(tiny, 0, zp), qmin, qmax)
    amax = np.where(np.asarray(amax) <= _TRT_EPS, _F32(0), amax) if conv.mapping == "amax" else None
    return QuantParams(
        scale=scale.astype(_F32),
        zero_point=zp,
        qmin=code_min,
        qmax=qmax,
        axis=axis,
        group_size=group_size,
        convention=conv.name,
        amax=amax,
    )


def _widened_range(lo: object, hi: object) -> tuple[np.ndarray, np.ndarray]:
    """The calibrated range as float32, checked, and widened to contain 0."""
    lo32, hi32 = np.asarray(lo, dtype=_F32), np.asarray(hi, dtype=_F32)
    if not (np.all(np.isfinite(lo32)) and np.all(np.isfinite(hi32))):
        raise ValueError(f"range must be finite, got lo={lo!r}, hi={hi!r}")
    if np.any(lo32 > hi32):
        raise ValueError(f"range is empty: lo={lo!r} > hi={hi!r}; lo must be <= hi")
    return np.minimum(lo32, _F32(0)), np.maximum(hi32, _F32(0))


def _symmetric_zero_point(conv: Convention, bits: int, signed: bool, narrow_range: bool, qmin: int, qmax: int) -> int:
    """0 for signed codes; for unsigned ones the convention's middle code (``unsigned_mid``)."""
    if signed:
        return 0
    mid2 = qmin + qmax
    if conv.unsigned_mid == "zero":
        return qmin
    if conv.unsigned_mid == "torch" and not (bits == 8 and not narrow_range):
        return mid2 // 2
    return (mid2 + 1) // 2


def _symmetric_scale(conv: Convention, amax: np.ndarray, zp: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    """``half_span``: 2a / (qmax - qmin); ``max_code``: a / (codes from z to the nearer end)."""
    f64 = conv.scale_dtype == "float64"
    if conv.symmetric_scale == "half_span":
        return 2.0 * amax.astype(np.float64) / float(qmax - qmin) if f64 else amax / _F32((qmax - qmin) / 2)
    steps = np.where(zp > qmin, np.minimum(qmax - zp, zp - qmin), qmax - zp)
    return amax.astype(np.float64) / steps if f64 else amax / steps.astype(_F32)


def _asymmetric_scale(conv: Convention, lo32: np.ndarray, hi32: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    if conv.scale_dtype == "float64":
        return (hi32.astype(np.float64) - lo32.astype(np.float64)) / float(qmax - qmin)
    return (hi32 - lo32) / _F32(qmax - qmin)


def _floored_scale(conv: Convention, scale: np.ndarray, power_of_two: bool) -> tuple[np.ndarray, np.ndarray]:
    """The scale of a tiny range (``tiny_range``: floored at float32 eps, or 1 with z = 0 where
    ``tiny``), then rounded up to a power of two if asked."""
    if conv.tiny_range == "eps_floor":
        scale = np.maximum(scale.astype(_F32), _F32(np.finfo(_F32).eps))
        tiny = np.zeros(scale.shape, dtype=bool)
    else:
        tiny = scale < np.finfo(_F32).tiny
        scale = np.where(tiny, 1.0, scale)
    if power_of_two:
        scale = np.exp2(np.ceil(np.log2(scale.astype(np.float64))))
    return scale, tiny


def _asymmetric_zero_point(conv: Convention, lo32: np.ndarray, scale: np.ndarray, qmin: int) -> np.ndarray:
    if conv.zero_point_rule == "qmin_minus_round":
        return qmin - np.rint(lo32 / scale.astype(_F32)).astype(np.int64)
    return np.rint(qmin - lo32.astype(np.float64) / scale.astype(np.float64)).astype(np.int64)


def fixed_point_params(int_bits: int, frac_bits: int, *, signed: bool = True) -> QuantParams:
    """Qm.n fixed point: ``m = int_bits`` integer bits, ``n = frac_bits`` fraction bits.

    Total width is ``m + n`` (+1 sign bit when signed), between 1 and 16 (1 bit: the sign alone,
    {-1, 0}, or one unsigned bit {0, 2**-n}: two levels, as in any 1-bit code). The scale is the
    power of two 2**-n and the zero-point is 0, so representable values are k / 2**n with
    k in [-2**(m+n), 2**(m+n) - 1] (signed) or [0, 2**(m+n) - 1] (unsigned).
    """
    m = check_int(int_bits, "int_bits", 0, 16)
    n = check_int(frac_bits, "frac_bits", -16, 16)
    total = m + n + int(bool(signed))
    if not MIN_BITS <= total <= MAX_BITS:
        raise ValueError(
            f"Q{m}.{n} {'signed' if signed else 'unsigned'} needs {total} bits; allowed total width is "
            f"{MIN_BITS}..{MAX_BITS}"
        )
    qmin, qmax = qrange(total, bool(signed))
    return QuantParams(scale=2.0**-n, zero_point=0, qmin=qmin, qmax=qmax)


def round_values(y: np.ndarray, mode: str, seed: int | None) -> np.ndarray:
    """Round float32 values to integers (still float32). Ties: ``half_even`` to even, ``half_away``
    away from zero; ``floor`` toward -inf; ``stochastic`` up with probability frac(y), from
    ``np.random.default_rng(seed)`` (seed None means 0, so results are reproducible)."""
    if mode == "half_even":
        return np.rint(y, out=y)
    if mode == "floor":
        return np.floor(y, out=y)
    if mode == "half_away":
        t = np.trunc(y)
        frac = np.abs(y - t)  # exact in floating point
        return t + np.copysign((frac >= 0.5).astype(y.dtype), y)
    fl = np.floor(y)
    u = np.random.default_rng(0 if seed is None else seed).random(y.shape, dtype=y.dtype)
    return fl + (u < (y - fl)).astype(y.dtype)


_round = round_values  # the name the quantize path uses


def multiplier(params: QuantParams, conv: Convention) -> tuple[np.ndarray | float, bool]:
    """(m, multiply?) such that the grid coordinate is x * m (multiply) or x / m (divide):
    the float32 scale (division), its float32 reciprocal, or tensorrt's fl32(qmax / amax)."""
    if conv.mapping == "divide":
        return np.asarray(params.scale, dtype=_F32), False
    if conv.mapping == "reciprocal":
        return _F32(1) / np.asarray(params.scale, dtype=_F32), True
    amax = params.amax if params.amax is not None else np.asarray(params.scale, dtype=_F32) * _F32(params.qmax)
    amax = np.asarray(amax, dtype=_F32)
    with np.errstate(divide="ignore"):
        mult = np.where(amax <= _TRT_EPS, _F32(0), _F32(params.qmax) / amax)
    return mult.astype(_F32), True


_multiplier = multiplier  # the name the quantize path uses


def onto_grid(x: np.ndarray, m: np.ndarray | float, multiply: bool, *, zero_point: object = None,
              fused: bool = True) -> np.ndarray:
    """What a kernel rounds, in float32: ``x * m`` or ``x / m`` (``m``, ``multiply`` from
    :func:`multiplier`); with ``zero_point`` (PyTorch adding z before rounding) ``fma(x, m, z)``,
    one rounding (``fused``, per tensor), or ``fl32(fl32(x * m) + z)`` (per channel)."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if zero_point is None:
            return np.multiply(x, m, dtype=_F32) if multiply else np.divide(x, m, dtype=_F32)
        if fused:
            return fma_f32(x, m, zero_point)
        y = np.multiply(x, m, dtype=_F32)
        return np.add(y, np.asarray(zero_point, dtype=_F32), out=y if isinstance(y, np.ndarray) else None)


def _torch_grid(xb: np.ndarray, inv: np.ndarray | float, zp: object, params: QuantParams) -> np.ndarray:
    """PyTorch (x86 FBGEMM) grid coordinate *with the zero-point already added*, before rounding.

    Measured against torch 2.13 and matching the kernels' source: ``quantize_per_tensor``
    runs FBGEMM's AVX2 ``Quantize<T, LEGACY=true>``: ``nearbyint(fma(x, fl32(1/s), z))``, one
    rounding; ``quantize_per_channel`` runs the scalar LEGACY ``Quantize``:
    ``nearbyint(fl32(fl32(x * fl32(1/s)) + z))``. These differ from ``z + nearbyint(x/s')``
    only when ``x * (1/s)`` lies within float32 noise of a half-integer and ``z != 0``.
    """
    return onto_grid(xb, inv, True, zero_point=zp, fused=params.axis is None)


def _check_params(params: object) -> None:
    if not isinstance(params, QuantParams):
        raise TypeError(f"params must be a QuantParams (see choose_qparams / qparams_from_range), "
                        f"got {type(params).__name__}")


def quantize(
    x: object,
    params: QuantParams,
    *,
    rounding: str = "half_even",
    convention: str | None = None,
    seed: int | None = None,
    overflow: Literal["saturate", "wrap"] = "saturate",
) -> np.ndarray:
    """Integer codes of ``x`` under ``params``, in the smallest integer dtype that holds them.

    ``convention=None`` uses the params' own. ``overflow="wrap"`` keeps the low bits of the
    code, two's-complement style: ``q = (r + z - qmin) mod (qmax - qmin + 1) + qmin`` — what
    a C or Go cast to int8 does without clamping (300 -> 44, 128 -> -128).

    pytorch: per-tensor and per-channel codes add the zero-point *before* rounding, as
    ``torch.quantize_per_tensor`` / ``quantize_per_channel`` do (see :func:`_torch_grid`);
    per-group codes and :func:`fake_quantize` round first and add ``z`` after, as
    ``torch.fake_quantize_per_*_affine`` do.
    """
    return _quantize(x, params, rounding=rounding, convention=convention, seed=seed, overflow=overflow)


def _quantize(
    x: object,
    params: QuantParams,
    *,
    rounding: str = "half_even",
    convention: str | None = None,
    seed: int | None = None,
    overflow: Literal["saturate", "wrap"] = "saturate",
    fake: bool = False,
) -> np.ndarray:
    _check_params(params)
    # fake_quantize has already validated x; for the one-pass kernel the finite check rides on
    # the kernel's own pass (it counts non-finite values; raised below, same message)
    in_kernel = not fake and _fused(x, params, rounding, overflow)
    x = x if fake else as_float_array(x, finite=not in_kernel)
    params.check_fits(x.shape)
    conv = get_convention(convention or params.convention)
    check_choice(rounding, "rounding", ROUNDING_MODES)
    check_choice(overflow, "overflow", OVERFLOW_MODES)
    xb, restore = blocks(x, params.axis, params.group_size)
    m, multiply = _multiplier(params, conv)
    m = broadcastable(m, x.ndim, params.axis, params.group_size)
    zp = params.zero_point
    if np.ndim(zp):
        zp = broadcastable(zp, x.ndim, params.axis, params.group_size)
    zp_first = conv.mapping == "reciprocal" and not fake and params.group_size is None and np.any(np.asarray(zp) != 0)
    if _fused(x, params, rounding, overflow):
        mode = "fma" if zp_first else ("multiply" if multiply else "divide")
        z = 0 if conv.mapping == "amax" else int(zp)
        codes, bad = _kernels.quantize_per_tensor(x, float(m), z, params.qmin, params.qmax, mode,
                                                  code_dtype(params.qmin, params.qmax))
        if bad:
            check_finite(x)
        return codes
    y = _torch_grid(xb, m, zp, params) if zp_first else onto_grid(xb, m, multiply)
    r = _round(y, rounding, seed)
    if conv.mapping == "amax" or zp_first:
        zp = 0
    if overflow == "saturate":
        lo = np.asarray(params.qmin - np.asarray(zp), dtype=_F32)
        hi = np.asarray(params.qmax - np.asarray(zp), dtype=_F32)
        r = np.clip(r, lo, hi, out=r if r.flags.writeable else None)
        codes = r.astype(np.int32) + np.asarray(zp, dtype=np.int32)
    else:
        span = params.qmax - params.qmin + 1
        codes = np.mod(r.astype(np.float64) + (np.asarray(zp) - params.qmin), span) + params.qmin
    return restore(codes.astype(code_dtype(params.qmin, params.qmax)))


_F32_MAX = float(np.finfo(_F32).max)


def _saturate(values: np.ndarray, params: QuantParams) -> np.ndarray:
    """Values past float32's largest clamped to +-3.4028235e38. Only grids whose end
    ``(qmax - z) * s`` or ``(qmin - z) * s`` lies within a few ulps of it (data near float32's
    max) can overflow there; torch returns inf for them. Checked on the params (a few
    scalars), so ordinary tensors pay nothing."""
    s = np.asarray(params.scale, dtype=np.float64)
    z = np.asarray(params.zero_point, dtype=np.float64)
    reach = float(np.max(np.maximum(np.abs((params.qmin - z) * s), np.abs((params.qmax - z) * s))))
    if reach < _F32_MAX * (1 - 1e-6):
        return values
    with np.errstate(invalid="ignore"):
        return np.clip(values, -_F32_MAX, _F32_MAX).astype(_F32, copy=False)


def dequantize(codes: object, params: QuantParams) -> np.ndarray:
    """float32 values of integer ``codes``: ``(q - z) * s`` (tensorrt: ``q / fl32(qmax/amax)``).
    Values past float32's largest saturate there (see :func:`_saturate`; torch gives inf)."""
    _check_params(params)
    q = np.asarray(codes)
    if q.dtype.kind not in "iu":
        if q.dtype.kind == "f" and q.size and np.all(np.isfinite(q)) and np.all(q == np.round(q)):
            q = q.astype(np.int64)
        else:
            raise TypeError(f"codes must be integers, got dtype {q.dtype}")
    if q.ndim == 0 or q.size == 0:
        raise ValueError(f"codes must be a non-empty array with at least one dimension, got shape {q.shape}")
    params.check_fits(q.shape)
    qb, restore = blocks(q, params.axis, params.group_size)
    conv = get_convention(params.convention)
    qf = qb.astype(_F32)
    if conv.mapping == "amax":
        m, _ = _multiplier(params, conv)
        m = np.where(m == 0, _F32(1), m).astype(_F32)
        return restore(qf / broadcastable(m, q.ndim, params.axis, params.group_size))
    s = broadcastable(np.asarray(params.scale, dtype=_F32), q.ndim, params.axis, params.group_size)
    zp = params.zero_point
    if np.ndim(zp):
        zp = broadcastable(np.asarray(zp, dtype=_F32), q.ndim, params.axis, params.group_size)
    with np.errstate(over="ignore"):
        return _saturate(restore((qf - _F32(zp) if np.ndim(zp) == 0 else qf - zp) * s), params)


def fake_quantize(x: object, params: QuantParams, **quantize_options: object) -> np.ndarray:
    """``dequantize(quantize(x, params, ...), params)``: x as the quantized model sees it.

    pytorch: rounds ``x * fl32(1/s)`` and adds the zero-point after, as
    ``torch.fake_quantize_per_tensor_affine`` / ``_per_channel_affine`` do; torch's
    ``quantize_per_*`` add it before rounding, so in rare float32 near-ties (z != 0) the
    two differ by one code, in torch as here.
    """
    _check_params(params)
    rounding = quantize_options.get("rounding", "half_even")
    overflow = quantize_options.get("overflow", "saturate")
    conv = get_convention(quantize_options.get("convention") or params.convention)
    in_kernel = _fused(x, params, rounding, overflow) and set(quantize_options) <= {"rounding", "overflow",
                                                                                    "convention", "seed"}
    xa = as_float_array(x, finite=not in_kernel)  # the kernel counts non-finite values in its pass
    if in_kernel:
        params.check_fits(xa.shape)
        m, multiply = _multiplier(params, conv)
        if conv.mapping == "amax":
            d = float(m) if float(m) != 0 else 1.0
            values, bad = _kernels.fake_quantize_per_tensor(xa, float(m), 0, params.qmin, params.qmax, "amax", d)
        else:
            mode = "multiply" if multiply else "divide"
            values, bad = _kernels.fake_quantize_per_tensor(xa, float(m), int(params.zero_point), params.qmin,
                                                            params.qmax, mode, params.scale)
            values = _saturate(values, params)
        if bad:
            check_finite(xa)
        return values
    return dequantize(_quantize(xa, params, fake=True, **quantize_options), params)


def _fused(x: np.ndarray, params: QuantParams, rounding: str, overflow: str) -> bool:
    """Whether the one-pass kernels (quantlib._kernels) can do this job bit-identically."""
    return (isinstance(rounding, str) and rounding == "half_even" and isinstance(overflow, str)
            and overflow == "saturate" and params.per_tensor and params.group_size is None and _kernels.usable(x))


def candidate_sse(x: np.ndarray, params: QuantParams) -> np.ndarray:
    """Sum of squared errors of candidate quantizations of one 1-D float32 sample.

    ``params`` holds one candidate per entry along axis 0 (per-channel params, ``axis=0``,
    e.g. from :func:`qparams_from_range` over arrays of ranges); candidate j's error is
    ``sum((dequantize(quantize(x, p_j), p_j) - x) ** 2)`` in float64, where ``p_j`` is the
    *per-tensor* quantization with j's scale and zero-point and the convention's own arithmetic
    (PyTorch's reciprocal mapping with z != 0 rounds fma(x, 1/s, z), as its per-tensor kernel).
    One fused pass per candidate on the numba kernels, nothing of size (candidates x n) held;
    the numpy path (no numba, or a grid reaching float32's largest) evaluates the same
    per-tensor quantizations a few candidates at a time.
    """
    _check_params(params)
    x = as_float_array(x).reshape(-1)
    conv = get_convention(params.convention)
    scale = np.atleast_1d(np.asarray(params.scale, dtype=_F32))
    zp = np.broadcast_to(np.asarray(params.zero_point, dtype=np.int64), scale.shape)
    m, multiply = multiplier(params, conv)
    m = np.broadcast_to(np.asarray(m, dtype=_F32), scale.shape)
    reach = np.maximum(np.abs((params.qmin - zp) * scale.astype(np.float64)),
                       np.abs((params.qmax - zp) * scale.astype(np.float64)))
    if _kernels.usable(x) and float(reach.max()) < _F32_MAX * (1 - 1e-6):
        if conv.mapping == "amax":
            full = np.full(m.shape, params.qmin), np.full(m.shape, params.qmax)
            return _kernels.candidate_sse(x, m, np.zeros(m.shape), *full, np.where(m == 0, _F32(1), m), "amax")
        if conv.mapping == "reciprocal" and np.any(zp != 0):
            full = np.full(m.shape, params.qmin), np.full(m.shape, params.qmax)
            return _kernels.candidate_sse(x, m, zp, *full, scale, "fma")
        return _kernels.candidate_sse(x, m, zp, params.qmin - zp, params.qmax - zp, scale,
                                      "multiply" if multiply else "divide")
    x64 = x.astype(np.float64)
    out = np.empty(scale.size)
    for j in range(scale.size):  # the fallback only: one vectorised per-tensor pass per candidate
        p = QuantParams(scale=scale[j], zero_point=int(zp[j]), qmin=params.qmin, qmax=params.qmax,
                        convention=params.convention,
                        amax=None if params.amax is None else np.atleast_1d(params.amax)[j])
        err = np.subtract(dequantize(_quantize(x, p), p), x64, dtype=np.float64)
        out[j] = float(np.dot(err, err))
    return out


def levels(params: QuantParams, max_levels: int = 65536) -> np.ndarray | None:
    """All representable values (float32, ascending) of per-tensor params; None otherwise."""
    if not params.per_tensor or params.qmax - params.qmin + 1 > max_levels:
        return None
    codes = np.arange(params.qmin, params.qmax + 1).astype(code_dtype(params.qmin, params.qmax))
    return dequantize(codes, params)


def choose_qparams(
    x: object,
    *,
    bits: int = 8,
    symmetric: bool = True,
    signed: bool | None = None,
    narrow_range: bool = False,
    calibration: str = "minmax",
    axis: int | None = None,
    group_size: int | None = None,
    power_of_two: bool = False,
    convention: str = "quantlib",
    **calibration_options: object,
) -> QuantParams:
    """Calibrate ``x`` (see :func:`quantlib.calibrate`) and turn the range into :class:`QuantParams`.

    ``calibration_options`` go to the calibrator: ``num_bins``, ``percentile``,
    ``num_quantized_bins``. tensorrt's unsigned mode (``signed=False``) is for non-negative data.
    """
    from .calibration import calibrate  # calibration imports this module's neighbours; keep it lazy

    x = as_float_array(x)
    if axis is not None:
        axis = check_axis(axis, x.ndim)
    sym = bool(symmetric)
    check_bits(bits, symmetric=sym)  # before calibrating: a 1-bit symmetric grid does not exist
    unsigned = signed is False or (signed is None and not sym)
    # a symmetric-only convention's (tensorrt's) unsigned mode calibrates an amax for
    # non-negative data, i.e. on x itself
    lo, hi = calibrate(
        x, calibration, bits=bits, symmetric=sym and not (unsigned and not get_convention(convention).asymmetric),
        convention=convention, axis=axis, group_size=group_size, **calibration_options,
    )
    return qparams_from_range(
        lo, hi, bits=bits, symmetric=sym, signed=signed, narrow_range=narrow_range,
        power_of_two=power_of_two, convention=convention, axis=axis, group_size=group_size,
    )
