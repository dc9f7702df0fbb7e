"""``rtn``: round-to-nearest with any registry weight scheme — the baseline every method beats or not."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..schemes import Quantizer
from ._base import LinearMethod, LinearResult, quantize_weight_result, register_method, transformed_result


def _fit(w: np.ndarray, x: np.ndarray | None, s: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    assert wq is not None  # default_weights is set
    r = quantize_weight_result(wq, w)
    return transformed_result("rtn", {**s, "weights": wq.label}, w, r.dequantized, r.bits_per_element, aq,
                              weight_result=r,
                              details={"weights": wq.label, "activations": None if aq is None else aq.label})


RTN = register_method(LinearMethod(
    name="rtn",
    title="Round to nearest",
    description="Each weight rounded on its own by a registry scheme (per channel by default): no data, no "
                "correction. The baseline: every other method changes what is rounded, not how.",
    formula=r"\hat W = Q(W),\quad y = Q_a(x)\,\hat W^\top",
    source="The registry scheme's own reference (torch, ONNX Runtime, ggml … as that scheme states).",
    settings=(),
    fit=_fit,
    needs_inputs=False,
    default_weights=("symmetric", {"bits": 4, "granularity": "per_channel", "axis": 0}),
))
