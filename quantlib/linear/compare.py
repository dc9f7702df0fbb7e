"""Linear methods side by side on one layer: calibrate on some tokens, measure on held-out ones.

``split_tokens`` keeps the last share of the tokens apart (contiguous: tokens of one sentence
or paragraph are alike, so a random split would leak); ``method_row`` fits one method and
times it; ``compare_methods`` and ``error_vs_bits`` are the table and the curve of the Methods
page and of ``python -m quantlib linear``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .._checks import check_choice
from .._lazy import pandas as pd
from ..models._base import Config
from ._base import LINEAR_METHODS, LinearResult, check_inputs, check_weight, quantize_linear

#: ``bits``: the code width set (None for a method without one, such as llm_int8's int8 codes).
COLUMNS = ("method", "title", "bits", "bits_per_element", "calibration_error", "heldout_error", "seconds")


def split_tokens(inputs: object, heldout_share: float) -> tuple[np.ndarray, np.ndarray | None]:
    """``(calibration, heldout)``: the first ``1 - heldout_share`` of the rows of ``inputs``
    ``(tokens, in)`` and the rest (None when ``heldout_share`` is 0). Both parts keep at least one
    token: a share that would leave either empty is a ``ValueError``."""
    x = np.asarray(inputs)
    if x.ndim != 2:
        raise ValueError(f"inputs must be a 2-D (tokens, in_features) matrix, got shape {x.shape}")
    share = float(heldout_share)
    if not 0.0 <= share < 1.0:
        raise ValueError(f"heldout_share must be in [0, 1), got {heldout_share!r}")
    if share == 0.0:
        return x, None
    cut = int(round(x.shape[0] * (1.0 - share)))
    if cut < 1 or cut >= x.shape[0]:
        raise ValueError(f"heldout_share={share:g} of {x.shape[0]} tokens leaves no token on one side; "
                         "use more tokens or another share")
    return x[:cut], x[cut:]


def has_bits(method: str) -> bool:
    """Whether ``method`` has a bit width to set (``LinearMethod.configure``'s rule: its own
    ``at_bits``, a ``bits`` setting, or a weight scheme); LLM.int8's int8 codes, for one, have none."""
    spec = LINEAR_METHODS[check_choice(method, "method", LINEAR_METHODS)]
    return spec.at_bits is not None or "bits" in spec.defaults() or spec.default_weights is not None


def configured(method: str, bits: int | None, settings: Mapping[str, Any] | None = None,
               weights: Config | None = None) -> tuple[dict[str, Any], Any]:
    """``(settings, weights quantizer)`` of ``method`` at ``bits`` (None, or a method without a
    bit width: as given)."""
    spec = LINEAR_METHODS[check_choice(method, "method", LINEAR_METHODS)]
    if bits is None or not has_bits(method):
        return spec.validate(settings or {}), spec.weights_quantizer(weights)
    return spec.configure(int(bits), settings or {}, weights)


def fit(weight: object, calibration: object, method: str, *, bits: int | None = None,
        settings: Mapping[str, Any] | None = None, weights: Config | None = None,
        activations: Config | None = None) -> tuple[LinearResult, float]:
    """``(result, seconds)``: ``method`` at ``bits`` on ``calibration`` inputs, and its wall time."""
    s, wq = configured(method, bits, settings, weights)
    t0 = time.perf_counter()
    r = quantize_linear(weight, calibration, method, weights=wq, activations=activations, **s)
    return r, time.perf_counter() - t0


def method_row(weight: object, inputs: object, method: str, *, bits: int | None = None, heldout_share: float = 0.25,
               settings: Mapping[str, Any] | None = None, weights: Config | None = None,
               activations: Config | None = None) -> dict[str, Any]:
    """One method on one layer: bits per element, relative output error on the calibration and
    the held-out tokens (``LinearResult.output_error``; NaN held-out when the share is 0) and
    the fitting time in seconds."""
    w = check_weight(weight)
    x = check_inputs(inputs, w.shape[1])
    calib, held = split_tokens(x, heldout_share)
    r, seconds = fit(w, calib, method, bits=bits, settings=settings, weights=weights, activations=activations)
    return {"method": method, "title": LINEAR_METHODS[method].title, "bits": bits if has_bits(method) else None,
            "bits_per_element": r.bits_per_element, "calibration_error": r.output_error(calib),
            "heldout_error": float("nan") if held is None else r.output_error(held), "seconds": seconds}


def compare_methods(weight: object, inputs: object, methods: Sequence[str], *, bits: int | None = None,
                    heldout_share: float = 0.25, settings: Mapping[str, Mapping[str, Any]] | None = None,
                    weights: Config | None = None, activations: Config | None = None) -> pd.DataFrame:
    """:func:`method_row` for each of ``methods`` (``settings``: method -> its settings; ``weights``
    applies to the methods that round with a registry scheme, the others refuse it and use their own).
    A method that has no form at ``bits`` (LLM.int8 is 8-bit only, HQQ has no 7-bit codes) gets no
    row; ``df.attrs["refused"]`` maps it to its reason."""
    if not methods:
        raise ValueError(f"methods is empty; choose from {list(LINEAR_METHODS)}")
    w = check_weight(weight)
    check_inputs(inputs, w.shape[1])
    rows, refused = [], {}
    for m in dict.fromkeys(methods):
        check_choice(m, "method", LINEAR_METHODS)
        takes = LINEAR_METHODS[m].default_weights is not None
        try:
            configured(m, bits, (settings or {}).get(m), weights if takes else None)
        except ValueError as exc:
            refused[m] = str(exc)
            continue
        rows.append(method_row(w, inputs, m, bits=bits, heldout_share=heldout_share,
                               settings=(settings or {}).get(m), weights=weights if takes else None,
                               activations=activations))
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df.attrs["refused"] = refused
    return df


def error_vs_bits(weight: object, inputs: object, method: str, bits: Iterable[int] = range(2, 9), *,
                  heldout_share: float = 0.25, settings: Mapping[str, Any] | None = None,
                  weights: Config | None = None, activations: Config | None = None) -> pd.DataFrame:
    """:func:`method_row` of ``method`` at each of ``bits`` (the curve of the Methods page); one
    row, at its own width, for a method without a bit width (:func:`has_bits`). A width the
    method refuses (HQQ has no 7-bit codes) is left out; if it refuses every one, the first
    refusal is raised."""
    widths = list(bits) if has_bits(method) else [None]
    rows, refused = [], []
    for b in widths:
        try:
            rows.append(method_row(weight, inputs, method, bits=b, heldout_share=heldout_share, settings=settings,
                                   weights=weights, activations=activations))
        except ValueError as exc:
            refused.append(exc)
    if not rows and refused:
        raise refused[0]
    return pd.DataFrame(rows, columns=list(COLUMNS))
