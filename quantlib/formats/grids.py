"""Value grids (what the Formats page draws) and how a tensor lands on them.

:func:`format_grid` gives any registry scheme's :class:`FormatGrid` through its spec's
``grid`` hook — the actual levels of per-tensor formats, or the *element grid* of block,
group and channel formats with a note on the scale that stretches it — and its dynamic
range; :func:`grid_landing` counts how a tensor lands on it (levels used, share clipped),
through the spec's ``view`` hook for element grids; :func:`format_table` ranks every
registry scheme on one tensor. A scheme without hooks gets :func:`result_grid` and
:func:`result_view`: the levels or the affine params of its own result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_float_array, check_choice
from ..metrics import mse_sqnr
from ..nonuniform import nearest_level
from ..params import QuantParams, blocks, broadcastable
from ..schemes import SCHEMES, Quantizer, QuantResult
from .common import F32, frozen

if TYPE_CHECKING:
    import pandas as pd

GRID_KINDS = ("levels", "element grid")


@dataclass(frozen=True)
class FormatGrid:
    """The values a scheme can represent, with its dynamic range.

    ``kind="levels"``: the actual representable values, in the tensor's units (plain and per-tensor
    scaled floats, per-tensor integer / fixed-point / histogram levels, codebooks chosen from the
    tensor). ``kind="element grid"``: the values one element can take *before* its block, group or
    channel scale, which ``scale`` describes (MX, NVFP4, bitsandbytes, ggml, int_group, per-channel
    and per-group schemes); integer grids are the codes q with x ≈ (q − z)·s. ``values`` are
    sorted, distinct, finite float64 (−0 merged into 0). ``min_normal``: the smallest positive
    normal value of a float element type (None for other grids).
    """

    scheme: str
    kind: str
    values: np.ndarray
    element: str  # what one grid value is, e.g. "FP8 E4M3FN value", "NF4 code value", "int4 code"
    scale: str  # how a scale maps the grid onto the tensor ("" when the values are the levels as they are)
    min_normal: float | None = None

    def __post_init__(self) -> None:
        check_choice(self.kind, "grid kind", GRID_KINDS)
        v = np.array(self.values, dtype=np.float64) + 0.0  # a copy; -0 becomes +0
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
            raise ValueError(f"grid values must be a non-empty, finite, strictly increasing 1-D array, got {v!r}")
        object.__setattr__(self, "values", frozen(v))

    @property
    def size(self) -> int:
        return int(self.values.size)

    @property
    def magnitudes(self) -> np.ndarray:
        """The distinct positive magnitudes |v|, ascending."""
        return np.unique(np.abs(self.values[self.values != 0]))

    @property
    def max_magnitude(self) -> float:
        return float(np.abs(self.values).max())

    @property
    def min_positive(self) -> float | None:
        """Smallest non-zero magnitude (the smallest subnormal of a float type); None for the grid {0}."""
        m = self.magnitudes
        return float(m[0]) if m.size else None

    @property
    def binades(self) -> float:
        """Dynamic range in binades (octaves): log2(max magnitude / smallest non-zero magnitude)."""
        lo = self.min_positive
        return float(np.log2(self.max_magnitude / lo)) if lo else 0.0

    @property
    def dynamic_range_db(self) -> float:
        """20 log10(max magnitude / smallest non-zero magnitude); 6.02 dB per binade."""
        lo = self.min_positive
        return float(20 * np.log10(self.max_magnitude / lo)) if lo else 0.0

    @property
    def normal_binades(self) -> float | None:
        """log2(max / smallest positive normal) for float element types, else None."""
        return None if self.min_normal is None else float(np.log2(self.max_magnitude / self.min_normal))

    def per_binade(self) -> tuple[np.ndarray, np.ndarray]:
        """``(k, counts)``: how many distinct magnitudes lie in each binade [2**k, 2**(k+1)), every k
        from the smallest to the largest magnitude's (empty binades included)."""
        m = self.magnitudes
        if not m.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        k = np.frexp(m)[1].astype(np.int64) - 1  # exact floor(log2 m)
        return np.arange(k[0], k[-1] + 1), np.bincount(k - k[0])

    def spacing(self) -> tuple[np.ndarray, np.ndarray]:
        """``(magnitude, gap)`` for each pair of neighbouring values: the gap between them, placed at
        the larger of their two magnitudes (the pair around 0 included)."""
        v = self.values
        return np.maximum(np.abs(v[:-1]), np.abs(v[1:])), np.diff(v)


@dataclass(frozen=True)
class GridLanding:
    """How a tensor lands on a grid: ``counts[i]`` elements are quantized to ``grid.values[i]``.

    Values are measured in the grid's units (the tensor itself for levels, x divided by its block
    scale for element grids). ``clip_low`` / ``clip_high`` lie half a step beyond the end values:
    an element beyond them is *clipped* — its error exceeds half the last step (for an integer grid
    this is :func:`quantlib.metrics`' clip rule; for a float, where the cast of an unbounded
    exponent would round up past the max). ``clipped_low`` / ``clipped_high`` count them.
    """

    grid: FormatGrid
    counts: np.ndarray
    clip_low: float
    clip_high: float
    clipped_low: int
    clipped_high: int

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    @property
    def used(self) -> int:
        """Grid values that at least one element was quantized to."""
        return int(np.count_nonzero(self.counts))

    @property
    def unused(self) -> int:
        return self.grid.size - self.used

    @property
    def clipped(self) -> int:
        return self.clipped_low + self.clipped_high

    @property
    def clip_share(self) -> float:
        return self.clipped / self.size


def need_result(result: QuantResult | None, name: str) -> QuantResult:
    if result is None:
        raise ValueError(f"the grid of {name!r} with these settings depends on the tensor; pass "
                         f"result=Quantizer({name!r}, ...)(x)")
    return result


def result_grid(name: str, s: dict[str, Any], result: QuantResult | None) -> FormatGrid:
    """Integer, fixed-point, histogram and codebook schemes: the levels of their own result."""
    r = need_result(result, name)
    p = r.params
    if r.levels is not None:
        if p is not None and p.per_tensor:
            text = (f"affine levels (q − z)·s, s = {float(p.scale):.6g}, z = {int(p.zero_point)}, "
                    f"q ∈ [{p.qmin}, {p.qmax}]")
        else:
            text = f"{r.levels.size} levels chosen from this tensor (a codebook stored with it)"
        return FormatGrid(name, "levels", r.levels, "level", text)
    if p is None:
        raise ValueError(f"{name!r} with these settings has no grid to show")
    per = f"group of {p.group_size}" if p.group_size is not None else f"channel (axis {p.axis})"
    return FormatGrid(name, "element grid", np.arange(p.qmin, p.qmax + 1), f"int{p.bits} code",
                      f"x̂ = s·(q − z) with one scale s (and zero-point z) per {per}")


def format_grid(name: str, settings: Mapping[str, Any] | None = None, result: QuantResult | None = None) -> FormatGrid:
    """The value grid of registry scheme ``name`` with ``settings`` (defaults for the rest).

    The scheme's spec builds it (its ``grid`` hook; without one, :func:`result_grid`).
    Grids fixed by the format come from the format tables (ml_dtypes types, codebooks, code
    ranges). Grids that depend on the tensor (per-tensor scaled floats, integer / fixed-point /
    histogram / codebook schemes) are read from ``result``, that scheme's QuantResult on the
    tensor; without it they raise ValueError.
    """
    spec = SCHEMES[check_choice(name, "scheme", SCHEMES)]
    s = spec.validate(settings or {})
    if result is not None and result.scheme != name:
        raise ValueError(f"result is of scheme {result.scheme!r}, not {name!r}")
    return (spec.grid or result_grid)(name, s, result)


# Element views: (name, x, settings, result) -> (x in grid units, grid value of each element).
def affine_view(x: np.ndarray, p: QuantParams, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xb, restore = blocks(x, p.axis, p.group_size)
    s = broadcastable(np.asarray(p.scale, np.float64), x.ndim, p.axis, p.group_size)
    z = broadcastable(np.asarray(p.zero_point, np.float64), x.ndim, p.axis, p.group_size)
    return restore(xb / s + z), codes


def result_view(name: str, x: np.ndarray, s: dict[str, Any], r: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    return affine_view(x, r.params, r.codes)


def grid_units(x: object, result: QuantResult) -> tuple[FormatGrid, np.ndarray, np.ndarray]:
    """(grid, y, elements) of ``result`` (its scheme run on ``x``): the scheme's grid, ``x`` in the grid's
    units (float64, shaped like x) and the grid value of each element.

    Levels: y is x itself and each dequantized value is its level. Element grids: the block / group /
    channel quantizer runs again to recover each element's value on the grid and x divided by its
    scale (ggml: by the float32 d its codes were computed with, before the float16 rounding).
    Raises ValueError when the scheme has no grid (:func:`format_grid`).
    """
    x = as_float_array(x)
    if result.dequantized.shape != x.shape:
        raise ValueError(f"result has shape {result.dequantized.shape}, x has {x.shape}; pass the result of x")
    grid = format_grid(result.scheme, result.settings, result)
    if grid.kind == "levels":
        y, elements = x, result.dequantized
    else:
        view = SCHEMES[result.scheme].view or result_view
        y, elements = view(result.scheme, x, dict(result.settings), result)
    return grid, np.asarray(y, np.float64).reshape(x.shape), np.asarray(elements)


def grid_ends(values: np.ndarray) -> tuple[float, float]:
    """The clip thresholds of a sorted grid: half the end step beyond each end value."""
    v = np.asarray(values, np.float64)
    if v.size < 2:
        return float(v[0]), float(v[-1])
    return float(v[0] - (v[1] - v[0]) / 2), float(v[-1] + (v[-1] - v[-2]) / 2)


def saturation(x: object, result: QuantResult) -> np.ndarray | None:
    """Which elements of ``x`` clipped under ``result``: a boolean mask shaped like x, or None for a
    scheme without a grid to clip at (an element-wise cast with no bound, a float with no scale).

    An element clips when, in its grid's units (:func:`grid_units`), it lies beyond an end of the grid
    by more than half the end step: its code had to be clamped, and its error exceeds half the last
    step. For affine params this is :func:`quantlib.metrics.clip_mask` (the code range ± ½); for a
    block format, the element divided by the scale its codes were computed with against the element
    grid; for a per-tensor codebook, the value against the end levels. The one rule behind every
    "clipped" the app shows: Explore's cards, Compare's table, Formats' landing and the error anatomy.
    """
    try:
        grid, y, _ = grid_units(x, result)
    except (ValueError, TypeError, KeyError):
        return None
    lo, hi = grid_ends(grid.values)
    return (y < lo) | (y > hi)


def grid_landing(x: object, result: QuantResult) -> GridLanding:
    """How ``x`` lands on the grid of ``result``'s scheme (``result`` = that scheme run on ``x``): how many
    elements on each grid value (:func:`grid_units`), and how many clipped below and above
    (:func:`saturation`'s rule)."""
    grid, y, elements = grid_units(x, result)
    idx = nearest_level(np.asarray(elements, F32).reshape(-1), grid.values.astype(F32))
    lo, hi = grid_ends(grid.values)
    return GridLanding(grid, np.bincount(idx, minlength=grid.size), lo, hi,
                       int(np.count_nonzero(y < lo)), int(np.count_nonzero(y > hi)))


TABLE_COLUMNS = ("scheme", "family", "grid", "levels", "levels used", "dynamic range dB", "binades",
                 "bits/element", "SQNR dB", "SQNR dB per bit", "clip_ratio", "note")


def format_table(x: object, names: Iterable[str] | None = None, *, max_samples: int | None = None) -> pd.DataFrame:
    """One row per registry scheme (default settings) on ``x``: its grid (kind, number of levels,
    dynamic range), how ``x`` lands on it (levels used, share clipped: ``clip_ratio``, a fraction as in
    :class:`quantlib.Metrics`), bits per element including
    the scale overhead, and SQNR. ``max_samples``: use only the first that many elements (C order,
    so blocks stay whole). A scheme that refuses the tensor gets a row with its message in ``note``.
    """
    import pandas as pd

    x = as_float_array(x)
    if max_samples is not None and x.size > max_samples:
        x = x.reshape(-1)[:max_samples]
    rows = []
    for name in names if names is not None else SCHEMES:
        row = dict.fromkeys(TABLE_COLUMNS, np.nan) | {"scheme": name, "family": SCHEMES[name].family, "note": ""}
        try:
            r = Quantizer(name)(x)
            land = grid_landing(x, r)
            sqnr = mse_sqnr(x, r.dequantized)[1]  # metrics' own SQNR; the landing above counts the clipped
        except ValueError as exc:
            rows.append(row | {"grid": "", "note": str(exc)})
            continue
        g = land.grid
        rows.append(row | {
            "grid": g.kind, "levels": g.size, "levels used": land.used, "dynamic range dB": g.dynamic_range_db,
            "binades": g.binades, "bits/element": r.bits_per_element, "SQNR dB": sqnr,
            "SQNR dB per bit": sqnr / r.bits_per_element, "clip_ratio": land.clip_share,
        })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
