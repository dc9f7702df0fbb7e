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


@dataclass(frozen=True)
class Convention:
    """How one toolkit turns a calibrated range into qparams and codes."""

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
        ),
        Convention(
            "onnxruntime", "divide", True, "half_span", "float64", "one", "round_difference", "ceil", True,
            "onnxruntime.quantization compute_scale_zp + QuantizeLinear: float64 scale cast to float32, "
            "symmetric int8 scale from [-127, 127] (amax/127) while QuantizeLinear still saturates at -128, "
            "zero-point round(qmin - rmin/s), division.",
            narrow_codes=False,
        ),
        Convention(
            "tensorrt", "amax", True, "max_code", "float32", "one", "round_difference", "zero", False,
            "NVIDIA TensorRT / ModelOpt amax quantizer: symmetric only, narrow range, "
            "q = round(x * (qmax/amax)), dequantized as q / (qmax/amax).",
        ),
    )
}


def get_convention(name: str) -> Convention:
    """Look a convention up by name; unknown names raise ValueError listing the allowed ones."""
    return CONVENTIONS[check_choice(name, "convention", CONVENTIONS)]
