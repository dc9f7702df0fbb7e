"""The scheme registry: every scheme is one :class:`SchemeSpec`, found by name.

Pages and sweeps discover schemes here and drive them through :class:`Quantizer`; adding a
scheme means registering one spec (settings + one ``run`` function), nothing else. What the
pages show about a scheme is on its spec too, with defaults that suit a scheme whose result
carries its levels or affine params: the value grid and element view of the Formats page
(``grid``, ``view``), the bits of one code and the worked example of the Learn page
(``code_bits``, ``worked_example``), and the traits the pages offer controls for
(``per_channel``, ``symmetric``, ``bins_setting``, ``manual_params``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np

from ._checks import (
    MAX_BINS,
    MAX_BITS,
    MIN_BINS,
    MIN_BITS,
    SYMMETRIC_MIN_BITS,
    SYMMETRIC_ONE_BIT,
    as_float_array,
    check_choice,
    shown,
)
from ._shared import deferred, latex_g
from .binning import RECONSTRUCTIONS, histogram_quantize
from .calibration import METHODS
from .conventions import CONVENTIONS
from .integer import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    choose_qparams,
    code_range,
    dequantize,
    fixed_point_params,
    levels,
    quantize,
)
from .conventions import get_convention
from .metrics import Metrics, bits_per_element, metrics
from .params import QuantParams, code_range_of


@dataclass(frozen=True)
class Setting:
    """One knob of a scheme: its type, default, allowed values and a help line for the UI."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    optional: bool = False  # None is allowed (e.g. manual scale: None = calibrate)
    in_label: bool = False  # named in Quantizer.label even at its default (bits, calibration …)
    #: When the setting acts, given the other settings and the tensor's number of dimensions
    #: (None: always). A UI shows the control only then; elsewhere its value changes nothing.
    when: Callable[[Mapping[str, Any], int], bool] | None = field(default=None, compare=False, repr=False)
    #: What the current value needs that the tensor lacks, in a sentence (None: nothing).
    needs: Callable[[Mapping[str, Any], int], str | None] | None = field(default=None, compare=False, repr=False)
    #: An axis of the tensor: its allowed values are -ndim .. ndim - 1 of the tensor at hand.
    tensor_axis: bool = False
    #: Why ``min`` / ``max`` are where they are (e.g. why a symmetric grid needs 2 bits), quoted in
    #: the out-of-range message.
    range_reason: str = ""

    def acts(self, settings: Mapping[str, Any], ndim: int) -> bool:
        """Whether this setting changes anything under ``settings`` on a tensor of ``ndim`` dims."""
        return self.when is None or bool(self.when(settings, ndim))

    def missing(self, settings: Mapping[str, Any], ndim: int) -> str | None:
        """Why the current value cannot apply to a tensor of ``ndim`` dims (None: it can)."""
        return None if self.needs is None else self.needs(settings, ndim)

    def validate(self, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"setting {self.name!r} must not be None")
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"setting {self.name!r} must be True or False, got {shown(value)}")
            return bool(value)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise TypeError(f"setting {self.name!r} must be an integer, got {shown(value)}")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"setting {self.name!r} must be a number, got {shown(value)}")
            value = float(value)
            if not np.isfinite(value):
                raise ValueError(f"setting {self.name!r} must be finite, got {shown(value)}")
        elif self.type is str and not isinstance(value, str):
            raise TypeError(f"setting {self.name!r} must be a string, got {shown(value)}")
        elif self.type is np.ndarray:  # e.g. importance weights: a read-only float32 copy, checked by the scheme
            value = np.array(as_float_array(value, self.name), dtype=np.float32)
            value.setflags(write=False)
            return value
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"setting {self.name!r} = {shown(value)} is not allowed; choose one of {list(self.choices)}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            allowed = f"[{self.min}, {self.max}]" if self.max is not None else f">= {self.min}"
            why = f" ({self.range_reason})" if self.range_reason else ""
            raise ValueError(f"setting {self.name!r} = {shown(value)} is out of range; allowed: {allowed}{why}")
        return value


@dataclass(frozen=True)
class BlockScales:
    """The scales a block format stores: blocks of ``size`` consecutive elements of the
    flattened tensor (a short last block counts as one), each rebuilt as
    ``x_hat = scales[b] * global_scale * v + offsets[b]`` with v the element's grid value.
    ``scales``: float32, one per block, the value as stored; ``offsets``: a stored per-block
    minimum (llama.cpp Q4_1) or None; ``global_scale``: a per-tensor factor (NVFP4) or None."""

    size: int
    scales: np.ndarray
    offsets: np.ndarray | None = None
    global_scale: float | None = None

    def effective(self) -> np.ndarray:
        """float64 scale of each block: ``scales * global_scale``."""
        s = np.asarray(self.scales, np.float64).reshape(-1)
        return s if self.global_scale is None else s * float(self.global_scale)


@dataclass(frozen=True)
class QuantResult:
    """What a scheme made of a tensor.

    ``codes``: integer codes (same shape as x); ``dequantized``: float32 reconstruction;
    ``params``: :class:`QuantParams` for affine schemes, else None; ``levels``: the
    representable values (sorted, float32) when finite and per-tensor, else None;
    ``clip_range``: (lo, hi) beyond which values are clipped, or None; ``blocks``: for block
    formats, the stored scale of each block (:class:`BlockScales`), else None; ``ggml_blocks``:
    the stored block fields of a llama.cpp type (:class:`quantlib.formats.GGMLBlocks`: what
    ``to_ggml_bytes`` packs), else None.
    """

    scheme: str
    settings: Mapping[str, Any]
    codes: np.ndarray
    dequantized: np.ndarray
    params: QuantParams | None
    levels: np.ndarray | None
    clip_range: tuple[float, float] | None
    bits_per_element: float
    blocks: BlockScales | None = None
    ggml_blocks: Any = None

    def clipped(self, x: object) -> np.ndarray | None:
        """Boolean mask of the elements of ``x`` that clipped under this result (shaped like x), or None
        for a scheme with no grid to clip at: with affine params, beyond the code range by half a step
        (:func:`quantlib.metrics.clip_mask`); otherwise the same rule in the grid's units
        (:func:`quantlib.formats.grids.saturation`). Every "clipped" the app and its reports show."""
        if self.params is not None:
            from .metrics import clip_mask

            return clip_mask(as_float_array(x), self.params)
        from .formats.grids import saturation

        return saturation(x, self)

    def metrics(self, x: object, **options: Any) -> Metrics:
        """:func:`quantlib.metrics` of ``x`` against this result (codes passed for speed);
        ``bits_per_element`` is the scheme's own count (e.g. fixed point stores no scale).
        ``options``: ``num_bins``, ``histograms`` (see :func:`quantlib.metrics`).
        Clipped elements: with affine params, beyond the code range by half a step; otherwise (block
        formats, codebooks) :func:`quantlib.formats.grids.saturation`, the same rule in the grid's units,
        which re-runs the block quantizer once to know each element's scale."""
        clipped = None if self.params is not None else self.clipped(x)  # params: metrics' own fused rule
        m = metrics(x, self.dequantized, self.params, codes=self.codes, clipped=clipped, **options)
        return replace(m, bits_per_element=self.bits_per_element)


@dataclass(frozen=True)
class Chunking:
    """How a scheme runs on a large tensor one slice at a time with the whole tensor's result
    (:func:`quantlib.checkpoint_report` streams checkpoints this way).

    ``quantum``: the scheme's result on consecutive elements [a, b) of the flattened tensor, a
    and b multiples of ``quantum``, computed alone, equals those elements of its result on the
    whole tensor: 1 for an element-wise cast, the block size of a block format, the row length
    (``prod(shape[1:])``) for one scale per row. ``pin``: None, or for a per-tensor calibration
    that depends on the data only through its minimum and maximum,
    ``pin(settings, lo, hi) -> (settings, shared_bits)``: settings with the tensor-wide parameters
    fixed (e.g. a manual scale), which then give the whole tensor's result on every slice, and
    the bits of those parameters — stored once per tensor, but counted again in each slice's
    bits per element."""

    quantum: int = 1
    pin: Callable[[dict[str, Any], float, float], tuple[dict[str, Any], float]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.quantum, int) or self.quantum < 1:
            raise ValueError(f"quantum must be a positive integer, got {self.quantum!r}")


def whole_tensor(settings: Mapping[str, Any], shape: tuple[int, ...]) -> Chunking | None:
    """The default ``chunking`` hook: None, the scheme needs the whole tensor at once."""
    return None


def in_blocks(size: int | str, importance: str | None = None
              ) -> Callable[[Mapping[str, Any], tuple[int, ...]], Chunking | None]:
    """A ``chunking`` hook for a block format: blocks of ``size`` consecutive flattened elements
    (a number, or the name of the setting that holds it), each quantized from its own values.
    ``importance``: a setting whose value (an importance matrix over the whole tensor), when
    given, ties the tensor together: then None."""
    def chunking(settings: Mapping[str, Any], shape: tuple[int, ...]) -> Chunking | None:
        if importance is not None and settings.get(importance) is not None:
            return None
        return Chunking(int(settings[size]) if isinstance(size, str) else size)

    return chunking


def row_quantum(shape: tuple[int, ...], axis: int) -> int | None:
    """The chunk quantum of one parameter per slice along ``axis``: a row (``prod(shape[1:])``)
    when the axis is the first one, else None (a slice of rows would hold part of every channel)."""
    if len(shape) < 2 or axis % len(shape) != 0:
        return None
    return math.prod(shape[1:])


def bits_setting(settings: Mapping[str, Any]) -> int | None:
    """The default ``code_bits`` hook: the ``bits`` setting, or None for a scheme without one."""
    return int(settings["bits"]) if "bits" in settings else None


def fixed_bits(bits: int) -> Callable[[Mapping[str, Any]], int]:
    """A ``code_bits`` hook for a fixed-width format."""
    return lambda settings: bits


class SettingsSpec:
    """What every registered spec with a tuple of :class:`Setting` s shares (schemes here, linear
    methods in :mod:`quantlib.linear`): look one up, the defaults, and validation of a mapping.
    A subclass names its kind (``"scheme"``, ``"method"``) and any arguments its callers take
    besides the settings (listed in the unknown-setting message)."""

    kind: ClassVar[str] = "scheme"
    also_takes: ClassVar[tuple[str, ...]] = ()
    name: str
    settings: tuple[Setting, ...]

    def setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def validate(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``settings``, each validated by its :class:`Setting`; an
        unknown name is a ValueError listing the known ones."""
        known = {s.name for s in self.settings}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"{self.kind} {self.name!r} has no setting(s) {unknown}; its settings are "
                             f"{sorted(known | set(self.also_takes))}")
        out = self.defaults()
        for k, v in settings.items():
            out[k] = self.setting(k).validate(v)
        return out


@dataclass(frozen=True)
class SchemeSpec(SettingsSpec):
    """A registered scheme: ``run(x, settings) -> QuantResult`` plus what a UI needs to show it.

    Hooks (all optional; the settings they receive are validated):

    * ``grid(name, settings, result) -> quantlib.formats.FormatGrid`` — the value grid the
      Formats page draws (None: the levels of the scheme's own result, or its integer codes
      for per-channel / per-group params; see :func:`quantlib.formats.format_grid`);
    * ``view(name, x, settings, result) -> (x in grid units, grid value of each element)`` —
      how a tensor lands on an element grid (None: the affine view of ``result.params``);
    * ``code_bits(settings) -> int | None`` — bits of one stored code, scales not counted;
    * ``worked_example(x, index, result) -> quantlib.teaching.WorkedExample`` — one element
      step by step (None: the scheme has no worked example);
    * ``per_channel(axis) -> settings`` — the settings that give it one scale per channel
      along ``axis`` (None: it has no such granularity);
    * ``compare_with(settings) -> ((scheme, settings), ...)`` — configurations whose bit sweep
      belongs beside this scheme's on a metric-vs-bits chart (nf4: int4 with one absmax per
      block of the same size); mostly for fixed-width formats, which are a point each;
    * ``threshold_sweep(settings) -> dict`` — for a calibrated range: the arguments of
      :func:`quantlib.sweep_threshold` that match these settings (bits, symmetric, convention,
      num_bins, percentile), plus ``calibration`` (the calibrator in use) and ``granularity``
      (None: per tensor, else what one range covers); None: the sweep does not apply.
    * ``pack(result) -> (uint8 array, layout)`` — the bytes of the format's own memory layout and
      a line naming it (None: the format defines no byte layout); golden vectors carry them.
    * ``chunking(settings, shape) -> Chunking | None`` — how the scheme runs on a tensor of
      ``shape`` a slice at a time with the whole tensor's result (:class:`Chunking`); None (the
      default): it needs the whole tensor at once.

    Traits: ``symmetric`` — for calibrated affine schemes, whether the grid is centred on 0
    (the clipping-threshold sweep applies to them); None for every other scheme.
    ``bins_setting`` — the setting a page's histogram-bin control drives (None: none).
    ``manual_params`` — it accepts a manual ``scale`` and ``zero_point`` (None = calibrate).
    """

    name: str
    family: str
    description: str
    formula: str  # LaTeX
    settings: tuple[Setting, ...]
    run: Callable[[np.ndarray, dict[str, Any]], QuantResult] = field(repr=False)
    at_bits: Callable[[int, Mapping[str, Any]], dict[str, Any]] = field(
        default=lambda bits, settings: {"bits": bits}, repr=False
    )  # settings that make this scheme use ``bits`` bits per code (for bit sweeps)
    live_formula: Callable[[QuantResult], str] | None = field(default=None, repr=False)  # LaTeX with the numbers
    grid: Callable[[str, dict[str, Any], QuantResult | None], Any] | None = field(default=None, repr=False)
    view: Callable[[str, np.ndarray, dict[str, Any], QuantResult], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False)
    code_bits: Callable[[Mapping[str, Any]], int | None] = field(default=bits_setting, repr=False)
    worked_example: Callable[[np.ndarray, int, QuantResult], Any] | None = field(default=None, repr=False)
    per_channel: Callable[[int], dict[str, Any]] | None = field(default=None, repr=False)
    compare_with: Callable[[Mapping[str, Any]], tuple[tuple[str, dict[str, Any]], ...]] = field(
        default=lambda settings: (), repr=False)
    threshold_sweep: Callable[[Mapping[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)
    pack: Callable[[QuantResult], tuple[np.ndarray, str]] | None = field(default=None, repr=False)
    chunking: Callable[[Mapping[str, Any], tuple[int, ...]], Chunking | None] = field(default=whole_tensor, repr=False)
    symmetric: bool | None = None
    bins_setting: str | None = None
    manual_params: bool = False

    @property
    def fixed_width(self) -> bool:
        """True when no setting changes the width of a code (``at_bits`` overrides nothing):
        nf4, mxfp4, q4_0, fp8 … are one point each on a metric-vs-bits chart."""
        d = self.defaults()
        return not self.at_bits(4, d) and not self.at_bits(8, d)



SCHEMES: dict[str, SchemeSpec] = {}


def register(spec: SchemeSpec) -> SchemeSpec:
    """Add ``spec`` to :data:`SCHEMES` (names are unique)."""
    if spec.name in SCHEMES:
        raise ValueError(f"scheme {spec.name!r} is already registered")
    SCHEMES[spec.name] = spec
    return spec


class Quantizer:
    """A scheme with its settings fixed: ``Quantizer("symmetric", bits=4)(x) -> QuantResult``."""

    def __init__(self, scheme: str, **settings: Any) -> None:
        self.spec = SCHEMES[check_choice(scheme, "scheme", SCHEMES)]
        self.settings = self.spec.validate(settings)

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, x: object) -> QuantResult:
        return self.spec.run(as_float_array(x), dict(self.settings))

    @property
    def label(self) -> str:
        """Short name for tables and legends, parts joined by " · ": the scheme, then its
        ``in_label`` settings always (a choice by its value alone, e.g. ``minmax``; others as
        ``name=value``), then every other setting that differs from its default, as
        ``name=value``: ``symmetric · bits=8 · minmax``,
        ``asymmetric · bits=4 · mse · granularity=per_channel``, ``nf4``."""
        return self.describe()

    def describe(self, omit: Iterable[str] = ()) -> str:
        """:attr:`label` without the settings named in ``omit`` — for a curve that sweeps them
        (a curve over bit widths is ``symmetric · minmax``, not ``symmetric · bits=8 · minmax``)."""
        omit = set(omit)
        changed = self._changed()
        parts = [self.name]
        for k, v in self.settings.items():
            s = self.spec.setting(k)
            if k in omit:
                continue
            if s.in_label:
                parts.append(str(v) if s.choices is not None and isinstance(v, str) else f"{k}={_shown_setting(v)}")
            elif k in changed:
                parts.append(f"{k}={_shown_setting(v)}")
        return " · ".join(parts)

    def _changed(self) -> dict[str, Any]:
        """The settings that differ from their defaults (an array setting differs unless it is the default None)."""
        def differs(v: Any, d: Any) -> bool:
            return (v is not d) if isinstance(v, np.ndarray) or isinstance(d, np.ndarray) else bool(v != d)

        return {k: v for k, v in self.settings.items() if differs(v, self.spec.setting(k).default)}

    def __repr__(self) -> str:
        changed = self._changed()
        args = "".join(f", {k}={v!r}" for k, v in changed.items())
        return f"Quantizer({self.name!r}{args})"


def _shown_setting(v: Any) -> str:
    return f"<{v.size} values>" if isinstance(v, np.ndarray) else str(v)


# ----------------------------------------------------------------- integer schemes
#: The calibrators that histogram the data (and so read ``num_bins``).
HISTOGRAM_CALIBRATORS = ("percentile", "entropy", "mse", "l2_histogram")


def needs_matrix(what: str) -> Callable[[Mapping[str, Any], int], str | None]:
    """A ``needs`` hook: ``what`` = (setting, value) needs a tensor of 2 or more dimensions."""
    name, value = what.split("=")

    def needs(s: Mapping[str, Any], ndim: int) -> str | None:
        if s.get(name) == value and ndim < 2:
            return (f"{name}={value} needs a tensor with 2 or more dimensions (rows = channels); this one is "
                    f"{ndim}-D. Pick a matrix-shaped tensor (synthetic data: Layout = matrix).")
        return None

    return needs


def _common_int_settings(signed_default: bool, symmetric: bool) -> tuple[Setting, ...]:
    per_tensor = lambda s, nd: s.get("granularity", "per_tensor") == "per_tensor"  # noqa: E731
    return (
        Setting("bits", int, 8, "Bit width of the integer codes.", min=SYMMETRIC_MIN_BITS if symmetric else MIN_BITS,
                max=MAX_BITS, in_label=True,
                range_reason=SYMMETRIC_ONE_BIT if symmetric else
                "1 bit is two codes, lo and hi (narrow_range needs 2 bits); 16 bits is the widest integer kernel"),
        Setting("signed", bool, signed_default, "Signed codes (int8-style) or unsigned (uint8-style)."),
        Setting("narrow_range", bool, False, "Drop the lowest code so the grid is symmetric (e.g. [-127, 127])."),
        Setting("calibration", str, "minmax", "How the clipping range is chosen from the data.", choices=tuple(METHODS),
                in_label=True),
        Setting("num_bins", int, 2048, "Histogram bins used by the histogram-based calibrators.", min=MIN_BINS, max=MAX_BINS,
                when=lambda s, nd: s.get("calibration") in HISTOGRAM_CALIBRATORS),
        Setting("percentile", float, 99.99, "Percentile kept by the 'percentile' calibrator.", min=1e-9, max=100.0,
                when=lambda s, nd: s.get("calibration") == "percentile"),
        Setting("granularity", str, "per_tensor", "One scale for the tensor, one per channel, or one per group.",
                choices=("per_tensor", "per_channel", "per_group"), needs=needs_matrix("granularity=per_channel")),
        Setting("axis", int, 0, "Channel axis for per-channel / per-group.", min=-32, max=31, tensor_axis=True,
                when=lambda s, nd: nd >= 2 and s.get("granularity") != "per_tensor"),
        Setting("group_size", int, 128, "Elements per group for per-group.", min=1, max=2**24,
                when=lambda s, nd: s.get("granularity") == "per_group"),
        Setting("rounding", str, "half_even", "Rounding of x/s to an integer.", choices=ROUNDING_MODES),
        Setting("convention", str, "quantlib", "Whose arithmetic to reproduce.", choices=tuple(CONVENTIONS)),
        Setting("power_of_two", bool, False, "Round the scale up to a power of two (shift-only hardware)."),
        Setting("scale", float, None, "Manual scale (None: calibrate); must be finite and > 0.", optional=True,
                when=per_tensor),
        Setting("zero_point", int, None,
                "Manual zero-point (None: from calibration, or 0 with a manual scale)." if not symmetric else
                "Symmetric grids fix the zero-point (0, or the middle code when unsigned); None keeps it.",
                optional=True, when=(lambda s, nd: False) if symmetric else per_tensor),
        Setting("seed", int, 0, "Seed for stochastic rounding.", min=0, max=2**32 - 1,
                when=lambda s, nd: s.get("rounding") == "stochastic"),
    )


def _granularity(x: np.ndarray, s: dict[str, Any]) -> tuple[int | None, int | None]:
    g = s["granularity"]
    if g == "per_tensor":
        return None, None
    if g == "per_channel":
        return s["axis"], None
    return (s["axis"] if x.ndim >= 2 else None), s["group_size"]


def _threshold_sweep(symmetric: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def args(s: Mapping[str, Any]) -> dict[str, Any]:
        g = s["granularity"]
        return {"bits": s["bits"], "symmetric": symmetric, "convention": s["convention"], "num_bins": s["num_bins"],
                "percentile": s["percentile"], "calibration": s["calibration"],
                "granularity": None if g == "per_tensor" else ("channel" if g == "per_channel" else "group")}

    return args


def _check_symmetric_zero_point(given: int | None, fixed: int) -> None:
    if given is not None and given != fixed:
        raise ValueError(f"zero_point={given} does not fit a symmetric grid, whose zero-point is {fixed}; "
                         "leave zero_point unset, or use the asymmetric scheme")


def _run_integer(symmetric: bool) -> Callable[[np.ndarray, dict[str, Any]], QuantResult]:
    def run(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        axis, group = _granularity(x, s)
        if s["scale"] is not None:
            qmin, qmax = code_range(s["bits"], symmetric=symmetric, signed=s["signed"],
                                    narrow_range=s["narrow_range"], convention=get_convention(s["convention"]))
            fixed = 0 if qmin <= 0 <= qmax else qmin
            zp = s["zero_point"] if s["zero_point"] is not None else fixed
            if symmetric:
                _check_symmetric_zero_point(s["zero_point"], fixed)
            if axis is not None or group is not None:
                raise ValueError("a manual scale / zero-point is per-tensor; set granularity='per_tensor'")
            params = QuantParams(scale=s["scale"], zero_point=zp, qmin=qmin, qmax=qmax, convention=s["convention"])
        else:
            params = choose_qparams(
                x, bits=s["bits"], symmetric=symmetric, signed=s["signed"], narrow_range=s["narrow_range"],
                calibration=s["calibration"], axis=axis, group_size=group, power_of_two=s["power_of_two"],
                convention=s["convention"], num_bins=s["num_bins"], percentile=s["percentile"],
            )
            if symmetric and s["zero_point"] is not None:
                _check_symmetric_zero_point(s["zero_point"], int(np.ravel(params.zero_point)[0]))
            if s["zero_point"] is not None:
                params = QuantParams(scale=params.scale, zero_point=s["zero_point"], qmin=params.qmin,
                                     qmax=params.qmax, axis=params.axis, group_size=params.group_size,
                                     convention=params.convention, amax=params.amax)
        codes = quantize(x, params, rounding=s["rounding"], seed=s["seed"])
        deq = dequantize(codes, params)
        lv = levels(params)
        clip = code_range_of(params)
        return QuantResult("", s, codes, deq, params, lv, clip, _bpe(params, x.size))

    return run


def _integer_chunking(symmetric: bool) -> Callable[[Mapping[str, Any], tuple[int, ...]], Chunking | None]:
    """Per channel / per group along the first axis: rows; per tensor with a manual scale: element-wise;
    per tensor with min-max calibration: pinned to the tensor's range (its min and max decide it
    alone); any other calibration or stochastic rounding needs the whole tensor."""
    def pin(s: dict[str, Any], lo: float, hi: float) -> tuple[dict[str, Any], float]:
        p = choose_qparams(np.array([lo, hi], dtype=np.float32), bits=s["bits"], symmetric=symmetric,
                           signed=s["signed"], narrow_range=s["narrow_range"], calibration="minmax",
                           power_of_two=s["power_of_two"], convention=s["convention"])
        zp = int(np.ravel(p.zero_point)[0])
        pinned = {**s, "scale": float(np.ravel(p.scale)[0]), "zero_point": None if symmetric else zp}
        return pinned, bits_per_element(p, 1) - p.bits

    def chunking(s: Mapping[str, Any], shape: tuple[int, ...]) -> Chunking | None:
        if s["rounding"] == "stochastic":
            return None
        if s["granularity"] == "per_tensor":
            if s["scale"] is not None:
                return Chunking(1)
            # a manual scale on the symmetric grid keeps zero-point 0 (or qmin): the unsigned grid's middle
            # zero-point cannot be pinned through it
            pinnable = s["calibration"] == "minmax" and not (symmetric and not s["signed"])
            return Chunking(1, pin) if pinnable else None
        if len(shape) < 2 and s["granularity"] == "per_group":
            return Chunking(s["group_size"])
        q = row_quantum(shape, s["axis"])
        return None if q is None else Chunking(q)

    return chunking


def _affine_live(r: QuantResult) -> str:
    """The affine map with this result's numbers (per-tensor), or a note for per-channel/group."""
    p = r.params
    if p is None or not p.per_tensor:
        n = int(np.size(p.scale)) if p is not None else 0
        return rf"\text{{{n} scales (per-channel / per-group): }} q_i = \mathrm{{clamp}}(\mathrm{{round}}(x / s_i) + z_i,\ {p.qmin},\ {p.qmax})"
    z = p.zero_point
    zterm = f" + {z}" if z > 0 else (f" - {-z}" if z < 0 else "")
    zsub = f"(q - {z})" if z > 0 else (f"(q + {-z})" if z < 0 else "q")
    return (rf"q = \mathrm{{clamp}}\!\left(\mathrm{{round}}\!\left(\tfrac{{x}}{{{latex_g(p.scale)}}}\right){zterm},\ {p.qmin},\ {p.qmax}\right),"
            rf"\quad \hat x = {latex_g(p.scale)}\cdot {zsub}")


def _histogram_live(r: QuantResult) -> str:
    lo, hi = r.clip_range
    b = r.settings["num_bins"]
    return (rf"k = \mathrm{{clamp}}\!\left(\left\lfloor \tfrac{{x - ({latex_g(lo)})}}{{{latex_g((hi - lo) / b)}}} \right\rfloor,\ 0,\ {b - 1}\right)")


def _bpe(params: QuantParams, size: int) -> float:
    return bits_per_element(params, size)


def _run_fixed_point(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    params = fixed_point_params(s["int_bits"], s["frac_bits"], signed=s["signed"])
    codes = quantize(x, params, rounding=s["rounding"], overflow=s["overflow"])
    deq = dequantize(codes, params)
    return QuantResult("", s, codes, deq, params, levels(params), code_range_of(params), float(params.bits))


def _run_histogram(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
    codes, deq, lv, edges = histogram_quantize(x, s["num_bins"], s["reconstruction"])
    bits = float(np.ceil(np.log2(s["num_bins"])))
    overhead = (32 * 2 if s["reconstruction"] == "center" else 32 * s["num_bins"]) / x.size
    return QuantResult("", s, codes, deq, None, np.unique(lv), (float(edges[0]), float(edges[-1])), bits + overhead)


def _named(run: Callable[[np.ndarray, dict[str, Any]], QuantResult], name: str) -> Callable[[np.ndarray, dict[str, Any]], QuantResult]:
    def wrapped(x: np.ndarray, s: dict[str, Any]) -> QuantResult:
        return replace(run(x, s), scheme=name, settings=s)

    return wrapped


#: The worked example of every affine scheme (integer codes with QuantParams).
AFFINE_EXAMPLE = deferred("quantlib.teaching", "affine_example")
_INTEGER_HOOKS: dict[str, Any] = {
    "worked_example": AFFINE_EXAMPLE,
    "per_channel": lambda axis: {"granularity": "per_channel", "axis": axis},
    "bins_setting": "num_bins",
    "manual_params": True,
}

for _spec in (
    SchemeSpec(
        "symmetric", "integer",
        "Uniform grid centred on 0: zero-point 0 (signed), scale from max|x|.",
        r"q = \mathrm{clamp}\!\left(\mathrm{round}\!\left(\tfrac{x}{s}\right),\ q_{min},\ q_{max}\right),\quad s = \tfrac{\max|x|}{q_{max}},\quad \hat x = s\,q",
        _common_int_settings(True, True), _run_integer(True), live_formula=_affine_live, **_INTEGER_HOOKS, symmetric=True,
        threshold_sweep=_threshold_sweep(True), chunking=_integer_chunking(True),
    ),
    SchemeSpec(
        "asymmetric", "integer",
        "Uniform grid over [min, max] with a zero-point, so a skewed range wastes no codes.",
        r"q = \mathrm{clamp}\!\left(\mathrm{round}\!\left(\tfrac{x}{s}\right) + z,\ q_{min},\ q_{max}\right),\quad s = \tfrac{x_{max} - x_{min}}{q_{max} - q_{min}},\quad z = \mathrm{round}\!\left(q_{min} - \tfrac{x_{min}}{s}\right),\quad \hat x = s\,(q - z)",
        _common_int_settings(False, False), _run_integer(False), live_formula=_affine_live, **_INTEGER_HOOKS, symmetric=False,
        threshold_sweep=_threshold_sweep(False), chunking=_integer_chunking(False),
    ),
    SchemeSpec(
        "fixed_point", "fixed point",
        "Qm.n fixed point: a power-of-two scale 2^-n, no calibration; overflow saturates or wraps.",
        r"q = \mathrm{sat\ or\ wrap}\!\left(\mathrm{round}\!\left(x \cdot 2^{n}\right)\right),\quad \hat x = q \cdot 2^{-n}",
        (
            Setting("int_bits", int, 3, "m: integer bits (excluding the sign bit).", min=0, max=15, in_label=True),
            Setting("frac_bits", int, 4, "n: fraction bits; the step is 2^-n.", min=0, max=15, in_label=True),
            Setting("signed", bool, True, "Two's-complement sign bit."),
            Setting("overflow", str, "saturate", "Clamp at the range ends, or wrap around like a C/Go int cast.",
                    choices=OVERFLOW_MODES),
            Setting("rounding", str, "half_even", "Rounding of x * 2^n.", choices=ROUNDING_MODES),
        ),
        _run_fixed_point,
        lambda bits, s: {"frac_bits": max(0, min(15, bits - int(s.get("signed", True)) - s.get("int_bits", 3))),
                         "int_bits": min(s.get("int_bits", 3), bits - int(s.get("signed", True)))},
        _affine_live,
        code_bits=lambda s: int(s["int_bits"] + s["frac_bits"] + int(s["signed"])),
        worked_example=AFFINE_EXAMPLE,
        chunking=lambda s, shape: None if s["rounding"] == "stochastic" else Chunking(1),
    ),
    SchemeSpec(
        "histogram", "histogram",
        "Each value becomes the index of its uniform bin over [min, max]; rebuilt at the bin centre or bin mean.",
        r"k = \mathrm{clamp}\!\left(\left\lfloor \tfrac{x - x_{min}}{w} \right\rfloor,\ 0,\ B-1\right),\quad w = \tfrac{x_{max}-x_{min}}{B},\quad \hat x = x_{min} + \left(k + \tfrac12\right) w",
        (
            Setting("num_bins", int, 256, "B: number of bins (levels).", min=MIN_BINS, max=MAX_BINS, in_label=True),
            Setting("reconstruction", str, "center", "Rebuild at the bin centre or at the mean of its values.",
                    choices=RECONSTRUCTIONS),
        ),
        _run_histogram,
        lambda bits, s: {"num_bins": 2**bits},
        _histogram_live,
        code_bits=lambda s: int(np.ceil(np.log2(s["num_bins"]))),
        worked_example=deferred("quantlib.teaching", "histogram_example"),
        bins_setting="num_bins",
    ),
):
    register(replace(_spec, run=_named(_spec.run, _spec.name)))
