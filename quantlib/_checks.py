"""Input validation shared by every public entry point.

Each checker either returns a clean value or raises ``ValueError`` / ``TypeError`` whose
message names the argument, the bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

#: The code widths the integer kernels handle: 1 bit is two codes ({0, 1} unsigned, {-1, 0} signed).
#: A scheme's own ``bits`` setting carries its own minimum (:class:`quantlib.Setting` ``min``, with
#: the reason): a symmetric grid needs :data:`SYMMETRIC_MIN_BITS`.
MIN_BITS, MAX_BITS = 1, 16
#: A grid centred on 0 needs 2 bits: a 1-bit signed grid is {-1, 0} (a 1-bit unsigned one around a
#: middle zero-point is {-1, 0} or {0, 1}), a level on one side of 0 and none on the other.
SYMMETRIC_MIN_BITS = 2
SYMMETRIC_ONE_BIT = ("a 1-bit grid cannot be symmetric: a 1-bit signed grid is {-1, 0} and an unsigned one around a "
                     "middle zero-point {-1, 0} or {0, 1}, a level on one side of 0 and none on the other; "
                     "symmetric quantization needs bits >= 2, so use an asymmetric scheme for 1 bit (two levels)")
MIN_BINS, MAX_BINS = 2, 2**20


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a hostile value (a 100 kB string from a
    link, a 5000-digit integer) cannot flood the message that quotes it."""
    try:
        text = repr(value)
    except ValueError:  # int too large to convert to a string
        return f"<integer of {value.bit_length():,} bits>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def as_float_array(x: object, name: str = "x", *, finite: bool = True) -> np.ndarray:
    """Return ``x`` as a finite, non-empty float32 array with at least one dimension.

    float32 is the dtype every toolkit we mirror quantizes from, so all arithmetic that
    must be bit-exact starts here. Integer input is converted; float64 input is rounded
    to float32 (values beyond float32's range are refused, not turned into inf).

    ``finite=False`` skips the finite check of float32 input, for a caller whose fused kernel
    counts the non-finite values in its own pass and calls :func:`check_finite` when it met
    any; input of other dtypes is always checked here, before its conversion.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; only real numbers can be quantized")
    if kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (float or integer dtype), got dtype {arr.dtype}"
        )
    if arr.ndim == 0:
        raise ValueError(f"{name} is a 0-d scalar; pass an array with at least one element, e.g. [{arr.item()}]")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); there is nothing to quantize")
    if kind == "f" and (finite or arr.dtype != np.float32):
        check_finite(arr, name)
    if arr.dtype == np.float32:
        return arr
    if kind == "f" and arr.dtype.itemsize > 4:
        big = np.abs(arr).max()
        if big > np.finfo(np.float32).max:
            raise ValueError(f"{name} has a value of magnitude {big:g}, beyond float32's range (±3.4e38)")
    return arr.astype(np.float32)


def check_finite(arr: np.ndarray, name: str = "x") -> None:
    """Raise ``ValueError`` saying how many NaN / ±Inf values the float array ``arr`` holds."""
    bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if bad:
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        raise ValueError(
            f"{name} contains {bad} non-finite value(s) ({n_nan} NaN, {bad - n_nan} ±Inf) "
            f"out of {arr.size}; remove or replace them before quantizing"
        )


def check_int(value: object, name: str, lo: int, hi: int) -> int:
    """Return ``value`` as int if it is an integer within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer in [{lo}, {hi}], got {shown(value)}")
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {shown(value)}")
    return value


def check_bits(bits: object, *, symmetric: bool = False) -> int:
    """``bits`` as int in [MIN_BITS, MAX_BITS]; ``symmetric=True`` also refuses 1 bit, saying why
    (:data:`SYMMETRIC_ONE_BIT`)."""
    bits = check_int(bits, "bits", MIN_BITS, MAX_BITS)
    if symmetric and bits < SYMMETRIC_MIN_BITS:
        raise ValueError(f"bits={bits}: {SYMMETRIC_ONE_BIT}")
    return bits


def check_num_bins(num_bins: object) -> int:
    return check_int(num_bins, "num_bins", MIN_BINS, MAX_BINS)


def check_percentile(percentile: object) -> float:
    if isinstance(percentile, bool) or not isinstance(percentile, Real):
        raise TypeError(f"percentile must be a number in (0, 100], got {shown(percentile)}")
    p = float(percentile)
    if not (0.0 < p <= 100.0):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    return p


def check_choice(value: object, name: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {shown(value)}; choose one of: {', '.join(map(repr, allowed))}")
    return value


def check_axis(axis: object, ndim: int) -> int | None:
    """Normalise ``axis`` (None = per-tensor) against an array of ``ndim`` dimensions."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise TypeError(f"axis must be an integer or None, got {shown(axis)}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis {axis} is out of range for a {ndim}-d array; allowed: {-ndim}..{ndim - 1} or None (per-tensor)"
        )
    return axis % ndim
