"""Lessons 2 and 3: the four common methods on a tensor, and what they do to a real model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_float_array, check_bits, check_choice
from ..metrics import Metrics
from ..schemes import SCHEMES, Quantizer, QuantResult

if TYPE_CHECKING:
    import pandas as pd

# ------------------------------------------------------------------------ 2. methods
#: The blog's four common methods, as registry schemes.
METHODS = {
    "symmetric": "Zero maps to code 0; one scale s = max|x| / qmax covers [-max|x|, max|x|].",
    "asymmetric": "A zero-point z shifts the grid so [min, max] fills every code: x ≈ s (q - z).",
    "histogram": "Each value becomes the index of its uniform bin over [min, max]; rebuilt at the bin centre.",
    "fixed_point": "Qm.n: a power-of-two scale 2^-n fixed in advance, no calibration at all.",
}


@dataclass(frozen=True)
class MethodDemo:
    method: str
    settings: dict[str, Any]
    result: QuantResult
    metrics: Metrics
    table: pd.DataFrame  # the first elements: x, code, x_hat, error


def method_demo(x: object, method: str, bits: int = 8, *, show: int = 8) -> MethodDemo:
    """``method`` (a key of :data:`METHODS`) at ``bits`` on ``x``: result, metrics and the first ``show`` elements."""
    import pandas as pd

    method = check_choice(method, "method", METHODS)
    x = as_float_array(x)
    spec = SCHEMES[method]
    settings = spec.at_bits(check_bits(bits), spec.defaults())
    r = Quantizer(method, **settings)(x)
    n = min(int(show), x.size)
    xf = x.ravel()[:n]
    xh = r.dequantized.ravel()[:n]
    table = pd.DataFrame({"x": xf, "code": r.codes.ravel()[:n].astype(np.int64), "x_hat": xh,
                          "error": xf.astype(np.float64) - xh.astype(np.float64)})
    return MethodDemo(method, settings, r, r.metrics(x), table)


# ------------------------------------------------------------------ 3. model quality
def model_quality(bits: int, scheme: str = "symmetric", *, per_channel: bool = False) -> dict[str, float]:
    """The shipped digits MLP with weights quantized by ``scheme`` at ``bits``: accuracy against the float model."""
    from ..model import digits_model

    spec = SCHEMES[check_choice(scheme, "scheme", SCHEMES)]
    settings = spec.at_bits(check_bits(bits), spec.defaults())
    if per_channel and spec.per_channel is not None:
        settings.update(spec.per_channel(0))
    return digits_model().evaluate(weights=Quantizer(scheme, **settings))
