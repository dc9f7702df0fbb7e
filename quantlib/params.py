"""Quantization parameters and the one block notion behind per-tensor, per-channel and per-group.

Layout of ``scale`` / ``zero_point`` for an input ``x``:

* per-tensor (``axis=None, group_size=None``): scalars;
* per-channel (``axis=a``): shape ``(x.shape[a],)``;
* per-group (``group_size=g``): the elements of each channel (or of the flattened tensor
  when ``axis=None``), in C order, are cut into consecutive groups of ``g``; shape
  ``(x.shape[a], n // g)`` or ``(x.size // g,)``. ``g`` must divide the channel size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from ._checks import MAX_BITS, MIN_BITS, check_axis, check_int, shown
from .conventions import get_convention

ParamArray = float | np.ndarray


def qrange(bits: int, signed: bool, narrow_range: bool = False) -> tuple[int, int]:
    """Integer code range for ``bits``.

    signed: [-2**(b-1), 2**(b-1)-1], or [-(2**(b-1)-1), 2**(b-1)-1] with ``narrow_range``;
    unsigned: [0, 2**b-1], or [0, 2**b-2] with ``narrow_range``.
    One bit is two codes, [-1, 0] or [0, 1]; it cannot drop one (``narrow_range``): ValueError.
    """
    bits = check_int(bits, "bits", MIN_BITS, MAX_BITS)
    if bits == 1 and narrow_range:
        raise ValueError("narrow_range at bits=1 would leave a single code (1 bit has two: "
                         f"{'[-1, 0]' if signed else '[0, 1]'}); narrow_range needs bits >= 2")
    if signed:
        hi = 2 ** (bits - 1) - 1
        return (-hi if narrow_range else -hi - 1), hi
    return 0, 2**bits - 1 - int(bool(narrow_range))


def code_dtype(qmin: int, qmax: int) -> np.dtype:
    """Smallest numpy integer dtype holding every code in [qmin, qmax]: unsigned when no code is
    negative (uint4-style codes [0, 15] are uint8, not int8), signed otherwise."""
    dtypes = (np.uint8, np.uint16, np.uint32) if qmin >= 0 else (np.int8, np.int16, np.int32)
    for dt in dtypes:
        info = np.iinfo(dt)
        if info.min <= qmin and qmax <= info.max:
            return np.dtype(dt)
    return np.dtype(np.int64)


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization parameters: ``x ≈ (q - zero_point) * scale``, ``q`` in [qmin, qmax].

    Validation (ValueError naming the field and the allowed range):
    ``scale`` finite and > 0 everywhere; ``zero_point`` integral and within [qmin, qmax];
    ``qmin < qmax``; ``scale`` and ``zero_point`` of equal shape (a scalar zero-point is
    broadcast). Scales are stored as float32 values, the precision every toolkit keeps.

    ``amax`` is kept only by amax-based conventions (``"tensorrt"``), whose kernels multiply
    by ``qmax / amax`` rather than dividing by ``scale``.
    """

    scale: ParamArray
    zero_point: int | np.ndarray
    qmin: int
    qmax: int
    axis: int | None = None
    group_size: int | None = None
    convention: str = "quantlib"
    amax: ParamArray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("qmin", "qmax"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, Integral):
                raise TypeError(f"{name} must be an integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        if not self.qmin < self.qmax:
            raise ValueError(f"qmin must be < qmax, got qmin={self.qmin}, qmax={self.qmax}")
        get_convention(self.convention)
        if self.axis is not None:
            if isinstance(self.axis, bool) or not isinstance(self.axis, Integral):
                raise TypeError(f"axis must be an integer or None, got {self.axis!r}")
            object.__setattr__(self, "axis", int(self.axis))
        if self.group_size is not None:
            object.__setattr__(self, "group_size", check_int(self.group_size, "group_size", 1, 2**31))

        raw = np.asarray(self.scale)
        if raw.dtype.kind not in "fiu":  # a string such as "0.1" would convert; it is not a number
            raise TypeError(f"scale must be a real number or array of them, got {shown(self.scale)} ({raw.dtype})")
        scale = raw.astype(np.float64)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f"scale must be finite and > 0, got {_short(self.scale)}")
        scale32 = scale.astype(np.float32)
        if np.any(scale32 == 0) or not np.all(np.isfinite(scale32)):
            raise ValueError(f"scale must be a positive float32 value (about 1.4e-45 .. 3.4e38), got {_short(self.scale)}")

        zp = np.asarray(self.zero_point)
        if zp.dtype.kind == "f":
            if not np.all(np.isfinite(zp)) or np.any(zp != np.round(zp)):
                raise ValueError(f"zero_point must be integral, got {_short(self.zero_point)}")
        elif zp.dtype.kind not in "iu":
            raise TypeError(f"zero_point must be an integer, got {self.zero_point!r}")
        if np.any(zp < self.qmin) or np.any(zp > self.qmax):
            raise ValueError(
                f"zero_point must be within [qmin, qmax] = [{self.qmin}, {self.qmax}], got {_short(self.zero_point)}"
            )
        zp = zp.astype(np.int64)
        if zp.ndim and scale.ndim and zp.shape != scale.shape:
            raise ValueError(f"zero_point shape {zp.shape} does not match scale shape {scale.shape}")
        if scale.ndim == 0 and zp.ndim == 0:
            object.__setattr__(self, "scale", float(scale32))
            object.__setattr__(self, "zero_point", int(zp))
        else:
            shape = scale.shape if scale.ndim else zp.shape
            object.__setattr__(self, "scale", np.broadcast_to(scale32, shape).copy())
            object.__setattr__(self, "zero_point", np.broadcast_to(zp, shape).copy())
        if self.amax is not None:
            amax = np.asarray(self.amax, dtype=np.float32)
            if not np.all(np.isfinite(amax)) or np.any(amax < 0):
                raise ValueError(f"amax must be finite and >= 0, got {_short(self.amax)}")
            object.__setattr__(self, "amax", float(amax) if amax.ndim == 0 else amax)

    @property
    def per_tensor(self) -> bool:
        return np.ndim(self.scale) == 0

    @property
    def bits(self) -> int:
        """Bits needed to store one code: ceil(log2(qmax - qmin + 1))."""
        return int(np.ceil(np.log2(self.qmax - self.qmin + 1)))

    def to_dict(self) -> dict:
        """JSON-friendly dict (arrays become nested lists)."""
        conv = lambda v: v.tolist() if isinstance(v, np.ndarray) else v  # noqa: E731
        return {
            "scale": conv(self.scale),
            "zero_point": conv(self.zero_point),
            "qmin": self.qmin,
            "qmax": self.qmax,
            "axis": self.axis,
            "group_size": self.group_size,
            "convention": self.convention,
            "amax": conv(self.amax),
        }

    def check_fits(self, shape: tuple[int, ...]) -> None:
        """Raise ValueError unless these params can apply to an array of ``shape``."""
        expected = param_shape(shape, self.axis, self.group_size)
        if np.shape(self.scale) not in (expected, ()):
            raise ValueError(
                f"params of shape {np.shape(self.scale)} (axis={self.axis}, group_size={self.group_size}) "
                f"do not fit an array of shape {shape}; expected {expected}"
            )
        if np.shape(self.scale) == () and expected != ():
            raise ValueError(f"per-tensor params given but axis={self.axis}, group_size={self.group_size}")


def _short(v: object) -> str:
    a = np.asarray(v)
    return repr(v) if a.size <= 4 else f"array(shape={a.shape}, min={a.min()!r}, max={a.max()!r})"


def param_shape(shape: tuple[int, ...], axis: int | None, group_size: int | None) -> tuple[int, ...]:
    """Shape of ``scale`` for an input of ``shape`` (see the module docstring)."""
    ndim = len(shape)
    if axis is not None:
        if ndim < 2 and group_size is None:
            raise ValueError(
                f"per-channel quantization needs an array with at least 2 dimensions; got shape {shape} "
                "(use axis=None for per-tensor, or group_size for blocks of a 1-D tensor)"
            )
        axis = check_axis(axis, ndim)
    size = int(np.prod(shape))
    if group_size is None:
        return () if axis is None else (shape[axis],)
    channels = 1 if axis is None else shape[axis]
    per_channel = size // channels
    if per_channel % group_size:
        where = "the tensor" if axis is None else f"each channel along axis {axis}"
        raise ValueError(
            f"group_size {group_size} does not divide the {per_channel} elements of {where} (shape {shape}); "
            f"choose a divisor of {per_channel}"
        )
    groups = per_channel // group_size
    return (groups,) if axis is None else (channels, groups)


def blocks(x: np.ndarray, axis: int | None, group_size: int | None) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """View ``x`` so that its parameters broadcast against it; return it with an inverse.

    per-tensor: ``x`` itself; per-channel: ``x`` itself (params reshape instead, see
    :func:`broadcastable`); per-group: an array of shape ``(C, G, group_size)``.
    """
    if group_size is None:
        return x, lambda y: y
    param_shape(x.shape, axis, group_size)
    moved = x.reshape(1, -1) if axis is None else np.moveaxis(x, axis % x.ndim, 0)
    c = moved.shape[0]
    xb = moved.reshape(c, -1, group_size)

    def restore(yb: np.ndarray) -> np.ndarray:
        y = yb.reshape(moved.shape)
        return y.reshape(x.shape) if axis is None else np.moveaxis(y, 0, axis % x.ndim)

    return xb, restore


def broadcastable(p: np.ndarray | float, ndim: int, axis: int | None, group_size: int | None) -> np.ndarray | float:
    """Reshape a parameter so it broadcasts against ``x`` (or its block view)."""
    if np.ndim(p) == 0:
        return p
    p = np.asarray(p)
    if group_size is not None:
        return p.reshape(1, -1, 1) if axis is None else p.reshape(p.shape[0], -1, 1)
    shape = [1] * ndim
    shape[axis % ndim] = p.shape[0]
    return p.reshape(shape)


def reduce_axes(x: np.ndarray, axis: int | None, group_size: int | None) -> tuple[np.ndarray, int | tuple[int, ...] | None]:
    """Return (view, axes) such that ``view.min(axis=axes)`` has the parameter shape."""
    if group_size is not None:
        xb, _ = blocks(x, axis, group_size)
        out = xb if axis is not None else xb[0]
        return out, -1
    if axis is None:
        return x, None
    axis = axis % x.ndim
    return x, tuple(i for i in range(x.ndim) if i != axis)


def code_range_of(params: QuantParams) -> tuple[float, float] | None:
    """Representable range (dequantized qmin and qmax) of per-tensor params, else None."""
    if not params.per_tensor:
        return None
    if params.amax is not None:
        a = float(params.amax)
        return (-a if params.qmin < 0 else 0.0), a
    s, z = float(params.scale), params.zero_point
    return (params.qmin - z) * s, (params.qmax - z) * s
