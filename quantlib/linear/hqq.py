"""``hqq``: Half-Quadratic Quantization (Badri & Shaji, 2023, https://mobiusml.github.io/hqq_blog/).

No calibration data: per group, the zero-point is moved to minimise an ``l_p`` (p < 1) norm of
the weight error, which is robust to the few large errors of outliers. The problem
``min_z ‖W − s⁻¹(Q(W) − z)‖_p^p`` is split with an auxiliary error ``E`` (half-quadratic
splitting) and solved by alternating two closed forms::

    s  = (2^b − 1) / (max − min)                      (an *inverse* scale, per group; 1 where
                                                        max − min ≤ 1e-4; clamped at 2e4)
    z  = −min · s                                     (rounded when ``round_zero``)
    repeat ``iterations`` times:
        W_q = clamp(round(W·s + z), 0, 2^b − 1),   W_r = (W_q − z) / s
        E   = sign(W − W_r) · relu(|W − W_r| − |W − W_r|^(p−1) / β)      (generalised soft threshold)
        z   = mean over the group of (W_q − (W − E)·s)
        stop as soon as mean|W − W_r| stops decreasing
    stored: codes W_q, scale 1/s and zero z per group;  Ŵ = (W_q − z) · (1/s)

Everything is what the ``hqq`` package 0.2.8.post1 computes on CPU
(``hqq.core.quantize.Quantizer.quantize`` with ``device="cpu"``), matched in
``tests/test_hqq.py``: its default solver is ``optimize_weights_proximal_legacy`` (in float32 on
CPU, float16 on CUDA) with ``lp_norm=0.7, beta=10, kappa=1.01, iters=20``. That legacy solver
never grows β (``kappa`` is unused) and returns the zero-point of the step on which it stopped
(one step past the best); ``solver="v2"`` is hqq's ``optimize_weights_proximal_v2`` (β ← κβ each
step, keeps the best zero-point). The scale is not optimised (hqq's scale grid search works only
for ``axis=0`` and is off by default). Groups are hqq's reshape of the row-major weight:
``axis=1`` → ``W.reshape(-1, group_size)`` (contiguous runs of a row; the usual choice, and
``BaseQuantizeConfig``'s default), ``axis=0`` → ``W.reshape(group_size, -1)`` (strided);
``group_size=None`` → one group per row (axis 1) or per column (axis 0). The weight's size must
be a multiple of ``group_size``, as hqq asserts. ``round_zero`` None follows
``BaseQuantizeConfig``: rounded at 4 bits only.

Bits per element: the code plus, per group, the scale and zero-point as float16 (HQQLinear's
default compute dtype keeps them so): ``b + 32 / group_size``. The effective weight uses the
float16-rounded scale and zero (arithmetic in float32); ``details`` hold them in float32 as
``Quantizer.quantize`` returns them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .._checks import shown
from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, register_method, transformed_result

#: Bits per group for the stored scale and zero-point (two float16 values).
META_BITS = 32
SUPPORTED_BITS = (1, 2, 3, 4, 5, 6, 8)  # hqq's Quantizer.SUPPORTED_BITS (1.58 aside)
#: ``nbits=32`` turns quantization off: the layer stays float32 (32 bits per weight).
OFF_BITS = 32


def groups_of(w: np.ndarray, group_size: int | None, axis: int) -> np.ndarray:
    """hqq's grouping of the row-major ``w``: a view whose ``axis`` runs along each group."""
    if group_size is None:
        return w
    if w.size % group_size:
        raise ValueError(f"group_size={group_size} must divide the weight's {w.size} elements (shape {w.shape}), "
                         "as hqq requires")
    return w.reshape(-1, group_size) if axis == 1 else w.reshape(group_size, -1)


def initial_params(wg: np.ndarray, nbits: int, axis: int, round_zero: bool) -> tuple[np.ndarray, np.ndarray]:
    """hqq's min-max start: inverse scale ``s`` and zero ``z`` per group (float32, keepdims)."""
    mn = wg.min(axis=axis, keepdims=True)
    mx = wg.max(axis=axis, keepdims=True)
    denom = mx - mn
    with np.errstate(divide="ignore"):  # torch evaluates ``max_v / denom`` as ``reciprocal(denom) * max_v``
        s = (np.float32(1) / denom) * np.float32(2**nbits - 1)
    s = np.where(np.abs(denom) <= 1e-4, np.float32(1), s)
    s = np.minimum(s, np.float32(2e4)).astype(np.float32)
    z = -mn * s
    if round_zero:
        z = np.rint(z)
    return s, z.astype(np.float32)


def _quant(wg: np.ndarray, s: np.ndarray, z: np.ndarray, qmax: np.float32) -> np.ndarray:
    return np.clip(np.rint(wg * s + z), np.float32(0), qmax)


def shrink(x: np.ndarray, beta: float, lp_norm: float, a: np.ndarray | None = None) -> np.ndarray:
    """hqq's generalised soft-threshold ``sign(x)·relu(|x| − |x|^(p−1)/β)`` in float32 (``a``: ``|x|``
    if the caller has it).

    For p < 2 it is 0 wherever ``|x| <= t = β^(−1/(2−p))`` (there ``|x|^(2−p) <= 1/β``), so the power,
    the costly part, is evaluated only where ``|x| > 0.999 t`` (0.1 % is far beyond float32 rounding):
    usually nowhere once the solver starts, since a group's rounding errors are at most half its step.
    The values computed are the same element by element; a zero keeps no sign (harmless: ``W − E`` is
    the same either way)."""
    if a is None:
        a = np.abs(x)
    if lp_norm >= 2:
        return _shrink_all(x, a, beta, lp_norm)
    near = a > np.float32(_threshold(beta, lp_norm))
    count = int(np.count_nonzero(near))
    if count == 0:
        return np.zeros_like(x)
    if count * 4 > near.size:
        return _shrink_all(x, a, beta, lp_norm)
    out = np.zeros_like(x)
    out[near] = _shrink_all(x[near], a[near], beta, lp_norm)
    return out


def _shrink_all(x: np.ndarray, a: np.ndarray, beta: float, lp_norm: float) -> np.ndarray:
    if lp_norm == 1:
        out = a - np.float32(1.0 / beta)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = a - np.float32(1.0 / beta) * np.power(a, np.float32(lp_norm - 1))
    out = np.maximum(out, np.float32(0))
    return out * np.sign(x)


def _legacy_step(wg: np.ndarray, s: np.ndarray, z: np.ndarray, qmax: np.float32, beta: float, lp_norm: float,
                 axis: int, absdiff: np.ndarray) -> np.ndarray:
    """One step of hqq's legacy solver on a block of whole groups: the new zero-points, and
    ``|W − W_r|`` written into ``absdiff``. The same float32 operations as the formulas above, each
    value rounded as there, with fewer passes: ``W·s`` is computed once, and where the soft threshold
    is 0 everywhere (:func:`shrink`), ``W − E`` is ``W`` and ``(W − E)·s`` is that same ``W·s``."""
    ws = wg * s
    q = ws + z
    np.rint(q, out=q)
    np.clip(q, np.float32(0), qmax, out=q)  # W_q
    d = q - z
    d /= s  # W_r
    np.subtract(wg, d, out=d)  # W − W_r
    np.abs(d, out=absdiff)
    if lp_norm < 2 and float(absdiff.max(initial=0)) <= _threshold(beta, lp_norm):
        target = np.subtract(q, ws, out=ws)  # E = 0: W_q − W·s
    else:
        e = shrink(d, beta, lp_norm, absdiff)
        target = np.subtract(q, (wg - e) * s, out=ws)
    return np.mean(target, axis=axis, keepdims=True, dtype=np.float32)


def _threshold(beta: float, lp_norm: float) -> float:
    """Below this |x| the soft threshold of :func:`shrink` is 0 for p < 2: 0.999 β^(−1/(2−p))."""
    return 0.999 * (1.0 / beta) ** (1.0 / (2.0 - lp_norm))


#: The legacy solver's steps run over blocks of whole groups of about this many weights, two blocks at a
#: time on two threads (numpy's element-wise work releases the GIL): a block's few float32 temporaries
#: stay near a core's cache. Every value is the one the whole-weight computation gives.
BLOCK = 2**17


def optimize_zero(wg: np.ndarray, s: np.ndarray, z: np.ndarray, nbits: int, axis: int, *, lp_norm: float,
                  beta: float, kappa: float, iterations: int, solver: str,
                  trace: list[np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """The half-quadratic zero-point solver (see the module docstring); returns z and the
    number of steps run. Vectorised over the whole weight: the loop is over iterations.
    ``trace``, when given, receives the zero-point each step rounded with (the start first).
    The legacy solver's steps run on two threads over blocks of groups (:data:`BLOCK`): each group's
    zero-point is its own mean, and the stopping error is the mean of the whole |W − W_r|, so the
    result is the whole-weight result bit for bit."""
    qmax = np.float32(2**nbits - 1)
    steps = 0
    if solver == "legacy":
        best = np.float32(np.inf)
        absdiff = np.empty(wg.shape, np.float32)
        groups = wg.shape[1 - axis]
        per = max(1, BLOCK // max(wg.shape[axis], 1))  # groups per block
        blocks = [slice(a, min(a + per, groups)) for a in range(0, groups, per)]
        pool = ThreadPoolExecutor(2, thread_name_prefix="quantlib-hqq") if len(blocks) > 1 else None
        try:
            for _ in range(iterations):
                if trace is not None:
                    trace.append(z)
                if pool is None:
                    z = _legacy_step(wg, s, z, qmax, beta, lp_norm, axis, absdiff)
                else:
                    def half(h: slice) -> np.ndarray:
                        at = (h, slice(None)) if axis == 1 else (slice(None), h)
                        return _legacy_step(wg[at], s[at], z[at], qmax, beta, lp_norm, axis, absdiff[at])

                    z = np.concatenate(list(pool.map(half, blocks)), axis=1 - axis)
                steps += 1
                err = np.mean(absdiff, dtype=np.float32)
                if err < best:
                    best = err
                else:
                    break
        finally:
            if pool is not None:
                pool.shutdown()
        return z, steps
    best = np.float32(1e4)
    lp = max(lp_norm, 0.1)
    z_prev = z
    for _ in range(iterations):
        if trace is not None:
            trace.append(z)
        wq = _quant(wg, s, z, qmax)
        wr = (wq - z) / s
        err = np.mean(np.abs(wg - wr), dtype=np.float32)
        if best - err > 0:
            best, z_prev = err, z
        else:
            z = z_prev
            break
        e = shrink(wg - wr, beta, lp)
        z = np.mean(wq - (wg - e) * s, axis=axis, keepdims=True, dtype=np.float32)
        beta *= kappa
        steps += 1
    return z, steps


def hqq_quantize(weight: np.ndarray, *, nbits: int = 4, group_size: int | None = 64, axis: int = 1,
                 optimize: bool = True, round_zero: bool | None = None, lp_norm: float = 0.7, beta: float = 10.0,
                 kappa: float = 1.01, iterations: int = 20, solver: str = "legacy") -> dict[str, Any]:
    """HQQ of ``weight`` as ``hqq.core.quantize.Quantizer.quantize(weight, nbits, group_size=…, axis=…,
    optimize=…, round_zero=…, device="cpu")``: codes (shape of ``weight``, uint8), ``scale`` and
    ``zero`` (float32, hqq's meta shape: (groups, 1) for axis 1, (1, groups) for axis 0), the
    start values ``scale0``/``zero0``, ``steps`` of the solver run."""
    w = np.ascontiguousarray(weight, dtype=np.float32)
    if round_zero is None:
        round_zero = nbits == 4
    wg = groups_of(w, group_size, axis)
    s, z0 = initial_params(wg, nbits, axis, round_zero)
    z, steps = z0, 0
    if optimize:
        z, steps = optimize_zero(wg, s, z0, nbits, axis, lp_norm=lp_norm, beta=beta, kappa=kappa,
                                 iterations=iterations, solver=solver)
    codes = _quant(wg, s, z, np.float32(2**nbits - 1))
    return {"codes": codes.reshape(w.shape).astype(np.uint8), "scale": (np.float32(1) / s).astype(np.float32),
            "zero": z.astype(np.float32), "scale0": (np.float32(1) / s).astype(np.float32), "zero0": z0,
            "steps": steps}


def dequantize(codes: np.ndarray, scale: np.ndarray, zero: np.ndarray, group_size: int | None, axis: int) -> np.ndarray:
    """``(W_q − z) · scale`` with scale and zero rounded to float16 as HQQLinear stores them
    (arithmetic in float32), in the weight's shape."""
    s16 = scale.astype(np.float16).astype(np.float32)
    z16 = zero.astype(np.float16).astype(np.float32)
    cg = groups_of(codes.astype(np.float32), group_size, axis)
    return np.ascontiguousarray(((cg - z16) * s16).reshape(codes.shape), dtype=np.float32)


def _check(w: np.ndarray, s: dict[str, Any]) -> None:
    if s["nbits"] not in SUPPORTED_BITS:
        raise ValueError(f"nbits={shown(s['nbits'])} is not one of hqq's bit widths {list(SUPPORTED_BITS)} "
                         f"(or {OFF_BITS}: off)")
    gs = s["group_size"]
    if gs is not None and gs < 1:
        raise ValueError(f"group_size must be None (a whole row or column) or a positive divisor of the weight's "
                         f"size, got {shown(gs)}")
    groups_of(w, gs, s["axis"])
    if s["solver"] == "v2" and s["kappa"] <= 1:
        raise ValueError(f"kappa={shown(s['kappa'])} must be > 1 for solver 'v2' (β grows by κ each step)")


def _fit(w: np.ndarray, x: np.ndarray | None, s: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    if s["nbits"] == OFF_BITS:  # the off switch: nothing rounded
        return transformed_result("hqq", s, w, w, 32.0, aq, details={
            "rtn_weight": w, "activations": None if aq is None else aq.label})
    _check(w, s)
    opts = {k: s[k] for k in ("nbits", "group_size", "axis", "round_zero")}
    r = hqq_quantize(w, optimize=s["optimize"], lp_norm=s["lp_norm"], beta=s["beta"], kappa=s["kappa"],
                     iterations=s["iterations"], solver=s["solver"], **opts)
    deq = dequantize(r["codes"], r["scale"], r["zero"], s["group_size"], s["axis"])
    rtn = hqq_quantize(w, optimize=False, **opts)
    rtn_w = dequantize(rtn["codes"], rtn["scale"], rtn["zero"], s["group_size"], s["axis"])
    details = {**r, "rtn_weight": rtn_w, "rtn_codes": rtn["codes"],
               "activations": None if aq is None else aq.label}
    for v in details.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    n_groups = r["scale"].size
    bpe = s["nbits"] + META_BITS * n_groups / w.size
    return transformed_result("hqq", s, w, deq, bpe, aq, details=details)


def _at_bits(bits: int, s: dict[str, Any], wq: Quantizer | None) -> tuple[dict[str, Any], Quantizer | None]:
    return HQQ.validate({**s, "nbits": int(bits)}), wq


HQQ = register_method(LinearMethod(
    name="hqq",
    title="HQQ (half-quadratic)",
    description="No data: each group's zero-point is optimised so the weight error is small in an l_p norm with "
                "p < 1 (robust to outliers), by half-quadratic splitting — a few closed-form steps, no gradients.",
    formula=r"\min_z \big\|W - s^{-1}(\mathrm{round}(W s + z) - z)\big\|_p^p,\ p<1:\quad "
            r"E \leftarrow \mathrm{shrink}_{p,\beta}(W - W_r),\ z \leftarrow \langle W_q - (W - E)\,s\rangle",
    source="Badri & Shaji, Half-Quadratic Quantization of Large Machine Learning Models (2023); matched against "
           "the hqq package 0.2.8.post1 (Quantizer.quantize on CPU).",
    settings=(
        Setting("nbits", int, 4, "bits per weight code (32: quantization off, the float32 layer)",
                choices=SUPPORTED_BITS + (OFF_BITS,), in_label=True),
        Setting("group_size", int, 64, "weights per group (None: a whole row for axis 1, column for axis 0); must "
                "divide the weight's size", min=1, optional=True, in_label=True),
        Setting("axis", int, 1, "1: groups run along a row (hqq's default); 0: hqq's strided column groups",
                choices=(0, 1)),
        Setting("optimize", bool, True, "run the half-quadratic solver (False: plain min-max)"),
        Setting("round_zero", bool, None, "round the start zero-point (None: as hqq's BaseQuantizeConfig, at 4 bits "
                "only)", optional=True),
        Setting("iterations", int, 20, "solver steps at most (it stops early when the error grows)", min=1, max=1000,
                when=lambda s, ndim: bool(s.get("optimize", True))),
        Setting("lp_norm", float, 0.7, "p of the l_p error norm", min=0.1, max=1.0,
                when=lambda s, ndim: bool(s.get("optimize", True))),
        Setting("beta", float, 10.0, "β of the shrinkage (threshold |e|^(p-1)/β)", min=1e-6, max=1e9,
                when=lambda s, ndim: bool(s.get("optimize", True))),
        Setting("kappa", float, 1.01, "β grows by κ per step (solver 'v2' only; hqq's legacy solver ignores it)",
                min=1.0, max=10.0, when=lambda s, ndim: s.get("solver") == "v2"),
        Setting("solver", str, "legacy", "'legacy': hqq's default optimize_weights_proximal_legacy; 'v2': "
                "optimize_weights_proximal_v2", choices=("legacy", "v2"),
                when=lambda s, ndim: bool(s.get("optimize", True))),
    ),
    fit=_fit,
    needs_inputs=False,
    at_bits=_at_bits,
))
