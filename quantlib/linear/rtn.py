"""``rtn``: round-to-nearest with any registry weight scheme — the baseline every method beats or not."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..schemes import Quantizer
from ._base import LinearMethod, LinearResult, label, register_method, round_weight, transformed_result


def _fit(w: np.ndarray, x: np.ndarray | None, s: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    deq, bits, r = round_weight(wq, w)  # wq None: weights=FLOAT, quantization off
    return transformed_result("rtn", {**s, "weights": label(wq)}, w, deq, bits, aq, weight_result=r,
                              details={"weights": label(wq), "activations": None if aq is None else aq.label})


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
