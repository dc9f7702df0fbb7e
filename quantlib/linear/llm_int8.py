"""``llm_int8``: LLM.int8() — mixed-precision decomposition with vector-wise int8 (Dettmers et al. 2022).

Input columns holding an outlier ``|x| ≥ threshold`` (default 6.0) are multiplied in 16 bits; every
other column goes through an int8 matmul with one absmax scale per token and one per output row::

    O      = {j : max_t |x_tj| ≥ threshold}                       (threshold 0: O = ∅)
    c_t    = max_{j, |x_tj| < threshold} |x_tj|,  r_o = max_j |w_oj|   (float32 statistics)
    Xq_tj  = round(x_tj · 127 / c_t)  (0 for j ∈ O),  Wq_oj = round(w_oj · 127 / r_o)
    y_to   = (Σ_j Xq_tj Wq_oj) · c_t r_o / 127²  +  Σ_{j ∈ O} x_tj w_oj     (int32 sum, float32 rescale)

computed as bitsandbytes 0.50.2's CPU path does (``int8_vectorwise_quant``, ``int8_linear_matmul``,
``int8_mm_dequant``, ``int8_mixed_scaled_mm``): inputs and weights are first cast to float16
(``precision``), ``round`` is half-to-even, ``c_t`` ignores only the outlier *elements* of a row
(the rest of an outlier column still counts), the int32 sum is exact, and the rescale multiplies in
float32 as ``acc · (c_t · r_o) · (1 / 127²)``. One deliberate difference: bitsandbytes' default
backend writes ``1/127²`` as ``6.200124e-05`` (1.8e-5 relative too large; its CUDA kernel uses
``6.200012e-5``), here it is ``float32(1 / 16129)``. A row (token or weight) with no value below
the threshold has scale 0 and codes 0.

Settings:

- ``outliers``: ``per_call`` (bitsandbytes: ``O`` from each call's own input), ``calibration``
  (``O`` fixed from the calibration inputs), or ``all`` (every column kept: no int8 part — with
  ``precision="float32"`` the layer is exactly float, i.e. quantization off).
- ``outlier_weights``: ``float`` (the paper: the weight columns of the outlier dimensions found on
  the calibration inputs are stored in ``precision``; their rows' int8 scales ignore them) or
  ``int8`` (bitsandbytes 0.50.2: only one int8 copy of ``W`` is stored and the outlier part uses its
  dequantized columns ``Wq · r / 127``). A column that turns out to be an outlier only at call time
  (``per_call``) uses its int8 weights in either case; a stored float column is always multiplied
  in ``precision``.
- ``precision``: ``float16`` (bitsandbytes and the paper) or ``float32``: the dtype inputs and
  weights are rounded to before anything else; the outlier part is computed in float32 from them.
  A value beyond float16's range (±65504) becomes ±inf there, as in a float16 model.

``weight`` is the effective weight of the calibration decomposition (stored float columns + the
dequantized int8 columns); ``bits_per_element`` counts ``precision`` bits for stored float
columns, 8 for the rest, and one float32 scale per output row. The method quantizes its own
activations: ``activations=`` is refused, ``weights=`` too (there is no weight scheme to choose).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, register_method

#: ``1 / 127²`` for the int32 rescale (bitsandbytes' default backend: 6.200124e-05, see the docstring).
INV_127_SQ = np.float32(1.0 / (127.0 * 127.0))
#: bitsandbytes' ``int8_vectorwise_dequant`` factor ``1 / 127``.
INV_127 = np.float32(7.874015718698502e-3)
_DTYPES = {"float16": np.float16, "float32": np.float32}


def vectorwise_quant(a: np.ndarray, outliers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(codes int8, absmax float32)`` per row of the float32 ``a``, as bitsandbytes'
    ``int8_vectorwise_quant``: ``round(a · (127 / absmax))`` half-to-even, with ``127 / absmax``
    rounded as torch computes ``127.0 / t`` (``(1 / t) · 127``, two float32 roundings: a plain
    division moves a code by one in ~3 of 100,000 values), ``absmax`` over the
    elements not masked by ``outliers`` (masked elements and all-zero rows give code 0)."""
    kept = a if outliers is None else np.where(outliers, np.float32(0), a)
    absmax = np.abs(kept).max(axis=1).astype(np.float32) if a.shape[1] else np.zeros(a.shape[0], np.float32)
    with np.errstate(divide="ignore"):
        inv = (np.float32(1.0) / absmax) * np.float32(127.0)  # torch evaluates 127.0 / t as t.reciprocal() * 127
    inv[absmax == 0] = 0
    codes = np.rint(kept * inv[:, None]).astype(np.int8)
    return codes, absmax


def int8_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` of int8 codes, exact (the int32 accumulator): float32 BLAS while every partial sum
    stays below 2^24, else float64."""
    k = a.shape[1]
    dt = np.float32 if k * 127 * 127 < (1 << 24) else np.float64
    return (a.astype(dt) @ b.astype(dt).T).astype(np.int32)


def _fit(w: np.ndarray, x: np.ndarray | None, st: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    if aq is not None:
        raise ValueError(f"method 'llm_int8' quantizes its inputs with its own per-token int8 rule and takes no "
                         f"activations= scheme (got {aq.label}); use its settings instead: threshold, outliers, "
                         f"outlier_weights, precision")
    if x is None and st["outliers"] == "calibration" and st["threshold"] > 0:
        raise ValueError("llm_int8 with outliers='calibration' needs calibration inputs (tokens, "
                         f"{w.shape[1]}) to find the outlier columns; got None (or use outliers='per_call')")
    dt = _DTYPES[st["precision"]]
    thr = np.float32(st["threshold"])
    w_p = w.astype(dt).astype(np.float32)
    n = w.shape[1]
    if st["outliers"] == "all":
        cal_cols = np.ones(n, dtype=bool)
    elif x is None or thr == 0:
        cal_cols = np.zeros(n, dtype=bool)
    else:
        cal_cols = np.abs(x.astype(dt)).max(axis=0) >= thr
    stored = cal_cols if st["outlier_weights"] == "float" or st["outliers"] == "all" else np.zeros(n, bool)
    wcodes, wscale = vectorwise_quant(w_p, np.broadcast_to(stored, w.shape))
    w_int8 = (wcodes.astype(np.float32) * wscale[:, None]) * INV_127
    w_kept = np.where(stored[None, :], w_p, w_int8)  # the weight each column is multiplied by in 16 bits
    per_call = st["outliers"] == "per_call"

    def forward(xc: np.ndarray) -> np.ndarray:
        a = xc.astype(dt).astype(np.float32)
        if per_call and thr > 0:
            out_el = np.abs(a) >= thr
            cols = out_el.any(axis=0) | stored
            mask = out_el | stored[None, :]
        else:
            cols = stored if per_call else cal_cols
            mask = np.broadcast_to(cols, a.shape)
        y = np.zeros((a.shape[0], w.shape[0]), dtype=np.float32)
        if not cols.all():
            acodes, ascale = vectorwise_quant(a, mask)
            acodes[:, cols] = 0
            y = int8_matmul(acodes, wcodes).astype(np.float32) * (ascale[:, None] * wscale[None, :]) * INV_127_SQ
        if cols.any():
            y = y + a[:, cols] @ w_kept[:, cols].T
        return y

    k = int(stored.sum())
    pbits = 8 * np.dtype(dt).itemsize
    bits = pbits if k == n else (pbits * k + 8 * (n - k) + 32) / n
    eff = np.where(cal_cols[None, :], w_kept, w_int8).astype(np.float32)
    eff.setflags(write=False)
    details: dict[str, Any] = {
        "outlier_columns": np.flatnonzero(cal_cols), "stored_float_columns": np.flatnonzero(stored),
        "x_max": None if x is None else np.abs(x).max(axis=0), "weight_codes": wcodes, "weight_scales": wscale,
    }
    for v in details.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return LinearResult("llm_int8", dict(st), eff, float(bits), w, details, None, forward)


def _at_bits(bits: int, settings: dict[str, Any], wq: Quantizer | None) -> tuple[dict[str, Any], Quantizer | None]:
    """LLM.int8 exists at 8 bits only (its codes are int8 by definition)."""
    if bits != 8:
        raise ValueError(f"method 'llm_int8' is 8-bit only (int8 codes with 16-bit outlier columns); got bits={bits}")
    return settings, wq


LLM_INT8 = register_method(LinearMethod(
    name="llm_int8",
    title="LLM.int8()",
    description="Input columns with an outlier |x| ≥ threshold stay in 16 bits; every other column goes through an "
                "int8 matmul with one absmax scale per token and one per output row (vector-wise), int32 "
                "accumulation, float rescale.",
    formula=r"y = \frac{c\,r^\top}{127^2}\odot\big(Q_8(X_{:,\bar O})\,Q_8(W_{:,\bar O})^\top\big)"
            r" + X_{:,O}\,W_{:,O}^\top,"
            r"\quad O = \{j : \max_t |x_{tj}| \ge \tau\}",
    source="Dettmers et al. 2022, LLM.int8() (NeurIPS), Sec. 3; reference bitsandbytes 0.50.2 CPU path "
           "(MatMul8bitLt, int8_vectorwise_quant, int8_mixed_scaled_mm), matched side by side in the tests.",
    settings=(
        Setting("threshold", float, 6.0, "Outlier threshold τ on |x| (0: no outlier columns, as bitsandbytes).",
                min=0.0, in_label=True),
        Setting("outliers", str, "per_call", "Outlier columns from each call's input (bitsandbytes), fixed from the "
                "calibration inputs, or all columns kept (no int8 part).", choices=("per_call", "calibration", "all")),
        Setting("outlier_weights", str, "float", "Outlier weight columns stored in float (the paper) or taken from "
                "the one int8 copy of W (bitsandbytes 0.50.2).", choices=("float", "int8")),
        Setting("precision", str, "float16", "Dtype inputs and weights are rounded to first (bitsandbytes: "
                "float16); float32 with outliers='all' turns quantization off.", choices=("float16", "float32")),
    ),
    fit=_fit,
    needs_inputs=False,
    default_weights=None,
    at_bits=_at_bits,
))
