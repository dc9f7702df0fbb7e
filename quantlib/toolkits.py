"""Where PyTorch, ONNX Runtime, TensorRT and quantlib disagree on the same tensor — and why.

:func:`compare_toolkits` runs one calibration method under each toolkit convention
(:data:`quantlib.CONVENTIONS`), then compares every pair of toolkits code by code. Each
element whose codes differ is put down to one of two causes, found by swapping one
ingredient at a time:

* **parameters** — the toolkits' ranges, scales, zero-points or code ranges differ, so the
  grids differ (``quantize(x, params_a, convention=b) != codes_b``);
* **arithmetic** — with the same parameters the toolkits' own arithmetic still disagrees:
  division vs float32 reciprocal multiply vs TensorRT's ``qmax / amax`` multiplier, and
  PyTorch adding the zero-point before rounding. This happens only where ``x / s`` lies
  within float32 rounding of a half-integer (a near-tie or a tie).

Every count here is of codes quantlib computes bit-exactly like the toolkit it names (see
tests/test_reference_*.py); tests/test_toolkits.py checks the counts against torch and
onnxruntime run side by side. ONNX Runtime's symmetric scale comes from its narrow range
(int8 [-127, 127]), but its kernels saturate at the type's full range, so its codes here
are clamped there, as ``QuantizeLinear`` and ``quantize_data`` do (the convention's
``narrow_codes=False``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ._checks import as_float_array, check_bits, check_choice
from ._lazy import pandas as pd
from .calibration import METHODS, calibrate
from .conventions import CONVENTIONS, get_convention
from .integer import dequantize, multiplier, onto_grid, qparams_from_range, quantize
from .params import QuantParams

__all__ = ["TOOLKITS", "CALIBRATORS", "ToolkitRun", "PairDiff", "Comparison", "compare_toolkits", "grid_coordinate"]

_F32 = np.float32
TOOLKITS = ("pytorch", "onnxruntime", "tensorrt", "quantlib")
LABELS = {t: CONVENTIONS[t].title for t in TOOLKITS}

#: Each toolkit's own calibrator for a method (absent: the toolkit has none; quantlib's rule is used).
CALIBRATORS: dict[str, dict[str, str]] = {
    "pytorch": {"minmax": "MinMaxObserver", "l2_histogram": "HistogramObserver"},
    "onnxruntime": {"minmax": "MinMaxCalibrater", "percentile": "PercentileCalibrater",
                    "entropy": "EntropyCalibrater"},
    "tensorrt": {"minmax": "MaxCalibrator", "percentile": "HistogramCalibrator (percentile)",
                 "entropy": "HistogramCalibrator (entropy)", "mse": "HistogramCalibrator (mse)"},
    "quantlib": {m: f"calibrate({m!r})" for m in METHODS},
}


def grid_coordinate(x: object, params: QuantParams) -> np.ndarray:
    """What ``quantize`` rounds (per-tensor params, their convention): x / s, x · fl32(1/s)
    (+ z first for PyTorch with a zero-point), or x · fl32(qmax / amax); float32."""
    xa = as_float_array(x)
    if not params.per_tensor:
        raise ValueError("grid_coordinate takes per-tensor params")
    conv = get_convention(params.convention)
    m, multiply = multiplier(params, conv)
    m = _F32(np.asarray(m).reshape(()))
    zp_first = conv.mapping == "reciprocal" and params.zero_point != 0
    return onto_grid(xa, m, multiply, zero_point=_F32(params.zero_point) if zp_first else None).reshape(xa.shape)


@dataclass(frozen=True, eq=False)
class ToolkitRun:
    """One toolkit's pipeline on the tensor: calibrated range, params, codes and their SQNR / clipped share."""

    convention: str
    calibration: str
    symmetric: bool
    lo: float
    hi: float
    params: QuantParams
    codes: np.ndarray = field(repr=False)
    sqnr_db: float
    clipped: float  # share of elements at qmin or qmax that lie beyond half a step outside

    @property
    def calibrator(self) -> str:
        """The toolkit's own calibrator for this method; an unknown method raises ValueError."""
        check_choice(self.calibration, "calibration method", METHODS)
        return CALIBRATORS.get(self.convention, {}).get(self.calibration, "none of its own: quantlib's rule")

    @property
    def range_rule(self) -> str:
        return get_convention(self.convention).range_rule(self.calibration, symmetric=self.symmetric)

    @property
    def scale_rule(self) -> str:
        return get_convention(self.convention).scale_rule(self.symmetric)

    @property
    def mapping(self) -> str:
        return get_convention(self.convention).mapping_rule(int(self.params.zero_point))


@dataclass(frozen=True)
class PairDiff:
    """Two toolkits compared element by element. ``n_diff = n_parameters + n_arithmetic``;
    ``examples`` lists elements where they differ, ``reasons`` the causes in plain words.
    ``comparable`` is False when their codes live on different grids (signed vs unsigned)."""

    a: str
    b: str
    comparable: bool
    n_diff: int
    n_parameters: int
    n_arithmetic: int
    n_ties: int
    reasons: tuple[str, ...]
    examples: pd.DataFrame


@dataclass(frozen=True, eq=False)
class Comparison:
    """Every toolkit's run and every pair compared; ``symmetric`` is the mode asked for (a
    toolkit without that mode, TensorRT under asymmetric, ran symmetric: see :meth:`mode`)."""

    size: int
    runs: dict[str, ToolkitRun]
    pairs: tuple[PairDiff, ...]
    symmetric: bool = True

    def mode(self, toolkit: str) -> str:
        """The mode ``toolkit`` ran in, in words: "symmetric", "asymmetric", or "symmetric only —
        no asymmetric mode" when it has no mode of the kind asked for."""
        r = self.runs[toolkit]
        if r.symmetric == self.symmetric:
            return "symmetric" if r.symmetric else "asymmetric"
        return "symmetric only — no asymmetric mode"

    @property
    def substituted(self) -> tuple[str, ...]:
        """Toolkits that ran symmetric although asymmetric was asked for (they have no such mode)."""
        return tuple(t for t, r in self.runs.items() if r.symmetric != self.symmetric)

    def table(self) -> pd.DataFrame:
        """One row per toolkit: the mode it ran in, its SQNR and clipped share (``clip_ratio``, a
        fraction, as in :class:`quantlib.Metrics`), the calibrated range (``range lo/hi``: what the
        calibrator observed or chose), the grid it quantizes onto (``grid lo/hi``: the values of the
        lowest and highest codes — under a symmetric mode ±amax-like even when the range is
        [min, max]), scale, zero-point, code range, its calibrator and its arithmetic."""
        return pd.DataFrame([{
            "toolkit": LABELS[r.convention], "mode": self.mode(t), "SQNR dB": r.sqnr_db, "clip_ratio": r.clipped,
            "range lo": r.lo, "range hi": r.hi, **_grid_ends(r.params),
            "scale": float(r.params.scale), "zero-point": int(r.params.zero_point),
            "codes": f"[{r.params.qmin}, {r.params.qmax}]", "calibrator": r.calibrator, "quantize": r.mapping,
        } for t, r in self.runs.items()])

    def matrix(self) -> pd.DataFrame:
        """Differing codes for every pair (symmetric matrix; None where not comparable)."""
        names = list(self.runs)
        m = pd.DataFrame(0, index=[LABELS[n] for n in names], columns=[LABELS[n] for n in names], dtype=object)
        for p in self.pairs:
            v = p.n_diff if p.comparable else None
            m.loc[LABELS[p.a], LABELS[p.b]] = v
            m.loc[LABELS[p.b], LABELS[p.a]] = v
        return m

    def pair(self, a: str, b: str) -> PairDiff:
        for p in self.pairs:
            if {p.a, p.b} == {a, b}:
                return p
        raise KeyError(f"no pair ({a!r}, {b!r}); toolkits: {list(self.runs)}")


def run_toolkit(x: np.ndarray, convention: str, *, bits: int = 8, symmetric: bool = True,
                calibration: str = "minmax") -> ToolkitRun:
    """``calibration`` under ``convention``'s rules and defaults, then its params, codes and values.
    TensorRT is symmetric only: it always runs symmetric (signed)."""
    sym = bool(symmetric) or not get_convention(convention).asymmetric
    lo, hi = calibrate(x, calibration, bits=bits, symmetric=sym, convention=convention)
    p = qparams_from_range(lo, hi, bits=bits, symmetric=sym, convention=convention)  # onnxruntime: codes to -128
    codes = quantize(x, p)
    deq = dequantize(codes, p)
    xd = x.astype(np.float64)
    e = xd - deq
    sig, err = float(np.dot(xd.ravel(), xd.ravel())), float(np.dot(e.ravel(), e.ravel()))
    sqnr = float("inf") if err == 0 else (float("-inf") if sig == 0 else float(10 * np.log10(sig / err)))
    clipped = float(np.count_nonzero(np.abs(e) > 0.5 * _step(p) * (1 + 1e-6))) / x.size
    return ToolkitRun(convention, calibration, sym, float(lo), float(hi), p, codes, sqnr, clipped)


def _grid_ends(p: QuantParams) -> dict[str, float]:
    """The values of the lowest and highest codes of ``p``'s grid (what a toolkit can represent)."""
    lo, hi = dequantize(np.array([p.qmin, p.qmax]), p)
    return {"grid lo": float(lo), "grid hi": float(hi)}


def _step(p: QuantParams) -> float:
    if p.amax is not None and p.amax > 0:
        return float(p.amax) / p.qmax
    return float(p.scale)


def compare_toolkits(
    x: object,
    *,
    bits: int = 8,
    symmetric: bool = True,
    calibration: str = "minmax",
    toolkits: Sequence[str] = TOOLKITS,
    max_examples: int = 5,
) -> Comparison:
    """Run ``calibration`` at ``bits`` under every toolkit convention and compare every pair.

    ``symmetric=True`` compares signed symmetric codes (int8-style), ``False`` unsigned
    asymmetric ones (uint8-style); TensorRT has no asymmetric mode, so in that case its pairs
    are marked not comparable. Each pair lists up to ``max_examples`` elements of each cause.
    """
    x = as_float_array(x)
    bits = check_bits(bits, symmetric=symmetric)
    check_choice(calibration, "calibration method", METHODS)
    for t in toolkits:
        check_choice(t, "toolkit", CONVENTIONS)
    runs = {t: run_toolkit(x, t, bits=bits, symmetric=symmetric, calibration=calibration) for t in toolkits}
    pairs = tuple(_compare_pair(x, runs[a], runs[b], max_examples) for a, b in itertools.combinations(toolkits, 2))
    return Comparison(x.size, runs, pairs, bool(symmetric))


def _compare_pair(x: np.ndarray, A: ToolkitRun, B: ToolkitRun, k: int) -> PairDiff:
    la, lb = LABELS[A.convention], LABELS[B.convention]
    if A.symmetric != B.symmetric:
        sym, asym = (la, lb) if A.symmetric else (lb, la)
        why = (f"Not comparable: {sym} quantizes symmetrically to signed codes (TensorRT has no zero-point), "
               f"{asym} asymmetrically to unsigned codes with a zero-point; the codes live on different grids.")
        return PairDiff(A.convention, B.convention, False, 0, 0, 0, 0, (why,), pd.DataFrame())
    ca, cb = A.codes.astype(np.int32), B.codes.astype(np.int32)
    diff = ca != cb
    mixed = quantize(x, A.params, convention=B.convention).astype(np.int32)  # B's arithmetic, A's params
    by_params = diff & (mixed != cb)
    by_arith = diff & ~by_params
    n_diff, n_par, n_ari = int(diff.sum()), int(by_params.sum()), int(by_arith.sum())
    pa, pb = A.params, B.params
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        y = np.divide(x, _F32(pa.scale), dtype=_F32)
    n_ties = int(np.count_nonzero(y - np.floor(y) == _F32(0.5)))

    reasons = []
    if (A.lo, A.hi) != (B.lo, B.hi):
        reasons.append(f"Range rule: {la} picks [{A.lo:.6g}, {A.hi:.6g}] — {A.range_rule}; "
                       f"{lb} picks [{B.lo:.6g}, {B.hi:.6g}] — {B.range_rule}.")
    if float(pa.scale) != float(pb.scale):
        same = " from the same range" if (A.lo, A.hi) == (B.lo, B.hi) else ""
        reasons.append(f"Scale rule: {la} s = {float(pa.scale):.9g} ({A.scale_rule}); "
                       f"{lb} s = {float(pb.scale):.9g} ({B.scale_rule}){same}.")
    if pa.zero_point != pb.zero_point:
        reasons.append(f"Zero-point rule: {la} z = {pa.zero_point}, {lb} z = {pb.zero_point} "
                       f"({la}: {A.scale_rule.split(', ')[-1]}; {lb}: {B.scale_rule.split(', ')[-1]}).")
    if (pa.qmin, pa.qmax) != (pb.qmin, pb.qmax):
        reasons.append(f"Code range: {la} [{pa.qmin}, {pa.qmax}], {lb} [{pb.qmin}, {pb.qmax}] — the narrow range drops "
                       "the lowest code so the grid is symmetric; it matters only for values clipped at the bottom.")
    if A.mapping != B.mapping:
        reasons.append(f"Arithmetic: {la} {A.mapping}; {lb} {B.mapping}. With equal parameters they agree except where "
                       f"x / s lies within float32 rounding of a half-integer: {n_ari} element(s) here.")
    reasons.append(f"Tie rule: all four round half to even, so an exact tie x / s = k + 1/2 goes to the even k in each; "
                   f"{n_ties} element(s) are exact ties under {la}'s scale"
                   + (" — a reciprocal multiply can move a tie off the half-way point." if A.mapping != B.mapping else "."))
    if n_diff == 0:
        reasons.insert(0, f"Identical codes on all {x.size:,} elements"
                       + (": the rules below differ, but change no code of this tensor." if len(reasons) > 1 else "."))

    idx = np.concatenate([np.flatnonzero(by_arith)[:k], np.flatnonzero(by_params)[:k]])
    examples = _examples(x, idx, A, B, by_arith) if idx.size else pd.DataFrame()
    return PairDiff(A.convention, B.convention, True, n_diff, n_par, n_ari, n_ties, tuple(reasons), examples)


def _code_axis(y: np.ndarray, p: QuantParams) -> np.ndarray:
    """The rounded value moved onto the code axis: + z where the toolkit adds z after rounding."""
    conv = get_convention(p.convention)
    after = 0 if conv.mapping == "amax" or (conv.mapping == "reciprocal" and p.zero_point != 0) else p.zero_point
    return y.astype(np.float64) + after


def _rounds(label: str, y: float, p: QuantParams) -> str:
    conv = get_convention(p.convention)
    z = int(p.zero_point)
    if conv.mapping == "reciprocal" and z:
        what = f"fma(x, fl32(1/s), {z}) = {y:.9g}"
    elif conv.mapping == "reciprocal":
        what = f"x · fl32(1/s) = {y:.9g}"
    elif conv.mapping == "amax":
        what = f"x · fl32(qmax/amax) = {y:.9g}"
    else:
        what = f"x / s = {y:.9g}"
    tie = " (an exact tie: half to even)" if y - np.floor(y) == 0.5 else ""
    added = f", then adds z = {z}" if z and not (conv.mapping == "reciprocal") and conv.mapping != "amax" else ""
    return f"{label} rounds {what}{tie}{added}"


def _examples(x: np.ndarray, idx: np.ndarray, A: ToolkitRun, B: ToolkitRun, by_arith: np.ndarray) -> pd.DataFrame:
    flat = x.ravel()
    xv = flat[idx]
    ya, yb = grid_coordinate(xv, A.params), grid_coordinate(xv, B.params)
    ka, kb = _code_axis(ya, A.params), _code_axis(yb, B.params)
    la, lb = LABELS[A.convention], LABELS[B.convention]
    pa, pb = A.params, B.params
    rows = []
    for j, i in enumerate(idx):
        qa, qb = int(A.codes.flat[i]), int(B.codes.flat[i])
        if by_arith.flat[i]:
            cause = "arithmetic"
            pm = replace(pa, convention=B.convention)  # A's parameters, B's arithmetic
            ym = grid_coordinate(xv[j : j + 1], pm)
            km = float(_code_axis(ym, pm)[0])
            h = float(np.floor(min(ka[j], km))) + 0.5
            same = "the same" if (float(pa.scale), pa.zero_point) == (float(pb.scale), pb.zero_point) else f"{la}'s"
            why = (f"With {same} s = {float(pa.scale):.9g} and z = {pa.zero_point}: {_rounds(la, float(ya[j]), pa)} -> {qa}; "
                   f"{_rounds(lb, float(ym[0]), pm)} -> {qb}. On the code axis {ka[j]:.9g} and {km:.9g} straddle "
                   f"(or sit on) the half-way point {h:g}.")
        else:
            cause = "parameters"
            lo_a, hi_a = _represented(pa)
            lo_b, hi_b = _represented(pb)
            v = float(xv[j])
            if not lo_b <= v <= hi_b and lo_a <= v <= hi_a:
                why = f"x lies outside {lb}'s range [{lo_b:.6g}, {hi_b:.6g}]: {lb} clips it to {qb}, {la} does not."
            elif not lo_a <= v <= hi_a and lo_b <= v <= hi_b:
                why = f"x lies outside {la}'s range [{lo_a:.6g}, {hi_a:.6g}]: {la} clips it to {qa}, {lb} does not."
            elif pa.zero_point != pb.zero_point and float(pa.scale) == float(pb.scale):
                why = f"Same scale, different zero-points ({pa.zero_point} vs {pb.zero_point}): the whole grid is shifted."
            else:
                why = (f"Different grids: s = {float(pa.scale):.9g}, z = {pa.zero_point} ({la}) vs s = {float(pb.scale):.9g}, "
                       f"z = {pb.zero_point} ({lb}) put x at {ka[j]:.6g} vs {kb[j]:.6g} on the code axis.")
        rows.append({"index": int(i), "x": float(xv[j]), f"{la} before rounding (+z)": float(ka[j]),
                     f"{lb} before rounding (+z)": float(kb[j]), f"{la} code": qa, f"{lb} code": qb,
                     "cause": cause, "why": why})
    return pd.DataFrame(rows)


def _represented(p: QuantParams) -> tuple[float, float]:
    if p.amax is not None:
        return (-float(p.amax) if p.qmin < 0 else 0.0), float(p.amax)
    return (p.qmin - p.zero_point) * float(p.scale), (p.qmax - p.zero_point) * float(p.scale)
