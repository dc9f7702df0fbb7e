"""Toolkit conventions: a small table of choices, one shared pipeline.

Every convention answers the same handful of questions, and :mod:`quantlib.integer` reads
the answers; no convention copies the pipeline.

========================  ===========  =============  ============  =========
choice                    quantlib     pytorch        onnxruntime   tensorrt
========================  ===========  =============  ============  =========
x -> grid                 x / s        x * fl32(1/s)  x / s         x * fl32(qmax/amax)
zero-point added          after round  before round(*) after round  (none)
signed symmetric range    full         full           narrow(**)    narrow
symmetric scale           a/(qmax-zp)  2a/(qmax-qmin) 2a/(qmax-qmin) amax/qmax
scale arithmetic          float64      float32        float64       float32
tiny range                s = 1        s >= 2**-23    s = 1         s = 1
zero-point                round(qmin - lo/s)  qmin - round(lo/s)  round(qmin - lo/s)  0
unsigned symmetric zp     ceil(mid)    128 / floor(mid)  round-half-even(mid)  0
asymmetric                yes          yes            yes           no
========================  ===========  =============  ============  =========

``a`` is max(|lo|, |hi|) after the range is widened to contain 0; ``mid`` = (qmin+qmax)/2.
"full" signed range is [-2**(b-1), 2**(b-1)-1]; "narrow" drops the lowest code so the grid
is symmetric. All four round half to even by default.

(*) ``torch.quantize_per_tensor`` rounds ``fma(x, fl32(1/s), z)`` in one step and
``quantize_per_channel`` rounds ``fl32(x * fl32(1/s)) + z``; ``torch.fake_quantize_*``
round first and add z after (see ``integer._torch_grid``). They differ only in float32
near-ties with z != 0. (**) onnxruntime narrows INT8 and INT16 but keeps INT4 at [-8, 7],
and only for the scale: QuantizeLinear still saturates at the type's ends, so a value
clipped below -amax becomes -128 (``narrow_codes=False``); tensorrt clamps at -127.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._checks import check_choice


#: What each calibration method picks, in plain words, unless a convention says otherwise
#: (:attr:`Convention.range_rules`). ``{bins}``, ``{p}``, ``{entropy_bins}`` and ``{data}`` are
#: filled in from the convention's defaults (``{data}``: ``|x|`` or ``x (each tail)``).
RANGE_RULES: dict[str, str] = {
    "minmax": "the smallest and largest value",
    "percentile": "the exact {p:g}th percentile of {data}, interpolated between values",
    "entropy": "the least-KL threshold on a {bins}-bin histogram with 2**bits quantized bins, the first minimum wins",
    "mse": "the least-MSE threshold estimated from a {bins}-bin histogram",
    "l2_histogram": "PyTorch HistogramObserver's greedy L2 search on 2048 bins",
}


@dataclass(frozen=True)
class Convention:
    """How one toolkit turns a calibrated range into qparams and codes, with its calibration
    defaults and the words that explain each of its rules (read by :mod:`quantlib.toolkits`).

    Calibration: ``default_bins`` / ``default_percentile`` are the defaults of
    :func:`quantlib.calibrate`; ``entropy_bins`` the histogram of the entropy search (None:
    ``default_bins``) and ``entropy_quantized_bins`` its quantized bins (None: ``2**bits``).
    ``percentile_rule``: ``"exact"`` order statistics, ``"histogram"`` the left edge of the bin
    where the CDF reaches p (onnxruntime), ``"abs_histc"`` the same on a ``torch.histc`` of |x|
    (ModelOpt). ``entropy_rule``: ``"kl"`` symmetric KL search with an exact expansion,
    ``"kl_integer"`` with onnxruntime's integer-truncated one, ``"abs_kl"`` ModelOpt's |x|
    search. ``mse_rule``: ``"histogram"`` or ``"abs_histc"`` (ModelOpt). ``full_range_bits``:
    widths that keep the full signed range although ``narrow_symmetric`` (onnxruntime's INT4).
    """

    name: str
    mapping: Literal["divide", "reciprocal", "amax"]
    narrow_symmetric: bool
    symmetric_scale: Literal["max_code", "half_span"]
    scale_dtype: Literal["float32", "float64"]
    tiny_range: Literal["one", "eps_floor"]
    zero_point_rule: Literal["round_difference", "qmin_minus_round"]
    unsigned_mid: Literal["ceil", "torch", "zero"]
    asymmetric: bool
    description: str
    narrow_codes: bool = True  # codes clamp to the narrow range too (False: the type's full range)
    label: str = ""  # the toolkit's name as written in tables ("" : the convention's name)
    default_bins: int = 2048
    default_percentile: float = 99.99
    entropy_bins: int | None = None
    entropy_quantized_bins: int | None = None
    percentile_rule: Literal["exact", "histogram", "abs_histc"] = "exact"
    entropy_rule: Literal["kl", "kl_integer", "abs_kl"] = "kl"
    mse_rule: Literal["histogram", "abs_histc"] = "histogram"
    full_range_bits: tuple[int, ...] = ()
    half_span_note: str = " (amax / 127 for int8)"  # what the half_span scale rule gives, in words
    range_rules: tuple[tuple[str, str], ...] = ()  # (method, words) overriding :data:`RANGE_RULES`

    @property
    def title(self) -> str:
        return self.label or self.name

    def bins_for(self, method: str) -> int:
        """Default histogram bins of calibration ``method`` under this convention."""
        return (self.entropy_bins or self.default_bins) if method == "entropy" else self.default_bins

    def range_rule(self, method: str, *, symmetric: bool) -> str:
        """How this convention picks the range with calibration ``method``, in plain words;
        an unknown method raises ValueError naming the allowed ones."""
        rules = RANGE_RULES | dict(self.range_rules)
        text = rules[check_choice(method, "calibration method", rules)]
        return text.format(bins=self.default_bins, p=self.default_percentile, entropy_bins=self.bins_for("entropy"),
                           data="|x|" if symmetric else "x (each tail)")

    def scale_rule(self, symmetric: bool) -> str:
        """How this convention turns the range into a scale (and zero-point), in plain words."""
        if self.mapping == "amax":
            return "narrow range, s = amax / qmax; the kernel multiplies by fl32(qmax / amax)"
        if symmetric:
            if self.symmetric_scale == "half_span":
                where = ("scale from the narrow range (int8: [-127, 127]) though the kernel saturates at the type's "
                         "lowest code (-128), " if self.narrow_symmetric and not self.narrow_codes else "")
                return f"{where}s = 2·amax / (qmax - qmin) in {self.scale_dtype}{self.half_span_note}"
            return f"s = amax / qmax in {self.scale_dtype}, so ±amax land exactly on codes"
        zp = "z = qmin - round(min / s)" if self.zero_point_rule == "qmin_minus_round" else "z = round(qmin - min / s)"
        return f"s = (max - min) / (qmax - qmin) in {self.scale_dtype}, {zp}"

    def mapping_rule(self, zero_point: int) -> str:
        """How this convention's kernel maps x onto the codes, in plain words."""
        if self.mapping == "divide":
            return "divides: q = round(x / s) + z"
        if self.mapping == "amax":
            return "multiplies by fl32(qmax / amax): q = round(x · m)"
        if zero_point:
            return "multiplies by the float32 reciprocal and adds z before rounding: q = round(fma(x, fl32(1/s), z))"
        return "multiplies by the float32 reciprocal: q = round(x · fl32(1/s)) + z"


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "quantlib", "divide", False, "max_code", "float64", "one", "round_difference", "ceil", True,
            "Our default: correctly rounded division, full signed range, a symmetric scale that maps "
            "±amax exactly onto the outermost usable code, zero-point clamped into range.",
        ),
        Convention(
            "pytorch", "reciprocal", False, "half_span", "float32", "eps_floor", "qmin_minus_round", "torch", True,
            "torch.ao.quantization observers and quantize_per_tensor/per_channel: float32 scale "
            "arithmetic floored at 2**-23, symmetric scale amax/127.5 for int8, and a float32 "
            "reciprocal multiply x*(1/s) before rounding.",
            label="PyTorch", half_span_note=" (amax / 127.5 for int8), floored at 2**-23",
        ),
        Convention(
            "onnxruntime", "divide", True, "half_span", "float64", "one", "round_difference", "ceil", True,
            "onnxruntime.quantization compute_scale_zp + QuantizeLinear: float64 scale cast to float32, "
            "symmetric int8 scale from [-127, 127] (amax/127) while QuantizeLinear still saturates at -128, "
            "zero-point round(qmin - rmin/s), division.",
            narrow_codes=False, label="ONNX Runtime", default_percentile=99.999, entropy_bins=128,
            entropy_quantized_bins=128, percentile_rule="histogram", entropy_rule="kl_integer", full_range_bits=(4,),
            range_rules=(
                ("percentile", "the left edge of the {bins}-bin histogram bin where the CDF reaches {p:g} %, clipped to "
                               "[min, max] (a bin-edge rule: the range snaps down to an edge)"),
                ("entropy", "the least-KL threshold on a {entropy_bins}-bin histogram with 128 quantized bins "
                            "(integer-truncated)"),
            ),
        ),
        Convention(
            "tensorrt", "amax", True, "max_code", "float32", "one", "round_difference", "zero", False,
            "NVIDIA TensorRT / ModelOpt amax quantizer: symmetric only, narrow range, "
            "q = round(x * (qmax/amax)), dequantized as q / (qmax/amax).",
            label="TensorRT", percentile_rule="abs_histc", entropy_rule="abs_kl", mse_rule="abs_histc",
            range_rules=(
                ("minmax", "the largest |x| (symmetric only)"),
                ("percentile", "the left edge of the {bins}-bin |x| histogram bin where the CDF reaches {p:g} % "
                               "(a bin-edge rule)"),
                ("entropy", "the least-KL amax on a {bins}-bin |x| histogram, candidates from bin 128, the last "
                            "minimum wins"),
                ("mse", "the least-MSE amax over |x| histogram bin centres from bin 128 ({bins} bins, float32)"),
            ),
        ),
    )
}


def get_convention(name: str) -> Convention:
    """Look a convention up by name; unknown names raise ValueError listing the allowed ones."""
    return CONVENTIONS[check_choice(name, "convention", CONVENTIONS)]
