"""``smoothquant``: migrate activation outliers into the weights (Xiao et al. 2023, SmoothQuant).

Per input channel ``j``::

    s_j = max|X_j|^α / max|W_j|^(1−α)          (max|X_j| over the calibration tokens, max|W_j| over output rows)
    y   = Qa(x / s) @ Q(W * s)^T

``x Wᵀ = (x / s)(W s)ᵀ`` in exact arithmetic; ``α`` sets how much of the channel's range moves from
the activations to the weights (0: none, ``s = 1 / max|W_j|``; 1: all, ``s = max|X_j|``; the paper's
default 0.5). Default W8A8 as in the paper's O1 setting: weights 8-bit symmetric per output channel,
activations 8-bit symmetric per tensor, computed per call (dynamic); both overridable.

Degenerate channels: where ``max|X_j| = 0`` or ``max|W_j| = 0`` the formula gives 0 or ∞; there
``s_j = 1`` (the channel is left as it is). The reference (``smoothquant/smooth.py``) instead clamps
``max|W_j|`` and ``s_j`` to ≥ 1e-5, which leaves the calibration product unchanged but scales the
channel of a *new* input by up to 1e5; elsewhere the two agree exactly.

``bits_per_element`` adds the float32 ``s`` (``32 / out_features`` per weight); a deployment folds
``s`` into the previous LayerNorm and stores nothing extra. ``weights="float"`` and
``activations="float"`` together turn quantization off (the layer is then exact up to float32
rounding of ``x / s`` and ``W s``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, label, register_method, round_weight, transformed_result


def smoothing_scales(x_max: np.ndarray, w_max: np.ndarray, alpha: float) -> np.ndarray:
    """``s_j = x_max_j^α / w_max_j^(1−α)`` in float64, 1 where either maximum is 0 (see module doc)."""
    x_max = np.asarray(x_max, dtype=np.float64)
    w_max = np.asarray(w_max, dtype=np.float64)
    ok = (x_max > 0) & (w_max > 0)
    s = np.ones_like(x_max)
    s[ok] = x_max[ok] ** alpha / w_max[ok] ** (1.0 - alpha)
    return s


def channel_stats(w: np.ndarray, x: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
    """Per-input-channel ``max|x|`` and ``max|w|`` before and after scaling by ``s`` (read-only)."""
    s32 = s.astype(np.float32)
    out = {
        "x_max_before": np.abs(x).max(axis=0), "x_max_after": np.abs(x / s32).max(axis=0),
        "w_max_before": np.abs(w).max(axis=0), "w_max_after": np.abs(w * s32).max(axis=0),
    }
    for v in out.values():
        v.setflags(write=False)
    return out


def _fit(w: np.ndarray, x: np.ndarray | None, st: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    assert x is not None  # needs_inputs
    s = smoothing_scales(np.abs(x).max(axis=0), np.abs(w).max(axis=0), st["alpha"]).astype(np.float32)
    deq, bits, r = round_weight(wq, w * s)
    details: dict[str, Any] = {"alpha": st["alpha"], "scales": s, **channel_stats(w, x, s),
                               "weights": label(wq), "activations": label(aq)}
    s.setflags(write=False)
    return transformed_result("smoothquant", {**st, "weights": label(wq), "activations": label(aq)}, w, deq,
                              bits + 32.0 / w.shape[0], aq, scale=s, details=details, weight_result=r)


SMOOTHQUANT = register_method(LinearMethod(
    name="smoothquant",
    title="SmoothQuant",
    description="Divide each input channel by s = max|x|^α / max|w|^(1−α) and multiply the weight's column by it: "
                "activation outliers move into the weights, so per-tensor 8-bit activations lose less.",
    formula=r"s_j = \frac{\max|X_j|^{\alpha}}{\max|W_{:,j}|^{1-\alpha}},"
            r"\quad y = Q_a(x/s)\,Q(W\,\mathrm{diag}(s))^\top",
    source="Xiao et al. 2023, SmoothQuant (ICML), Eq. 4; reference mit-han-lab/smoothquant smooth.py "
           "(smooth_ln_fcs); zero channels: s = 1 here, clamped to 1e-5 there.",
    settings=(
        Setting("alpha", float, 0.5, "Migration strength α in [0, 1]: 0 keeps activations, 1 moves all of their "
                "range into the weights.", min=0.0, max=1.0, in_label=True),
    ),
    fit=_fit,
    needs_inputs=True,
    default_weights=("symmetric", {"bits": 8, "granularity": "per_channel", "axis": 0}),
    default_activations=("symmetric", {"bits": 8}),
))
