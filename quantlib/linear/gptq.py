"""``gptq``: GPTQ (Frantar, Ashkboos, Hoefler & Alistarh, ICLR 2023, arXiv:2210.17323).

Each weight column is rounded in turn, and the rounding error is spread over the columns not
yet rounded so that the layer's output on the calibration inputs moves as little as possible
(Optimal Brain Surgeon on the quadratic ``‖X (W − Ŵ)ᵀ‖²``)::

    H  = 2 XᵀX / n  + λ I,      λ = damp · mean(diag(2 XᵀX / n))
    U  = chol(H⁻¹)ᵀ              (upper triangular, H⁻¹ = UᵀU)
    for each column j (in blocks of ``block_size``; later columns updated once per block):
        q_j  = s · (clamp(round(w_j / s) + z, 0, 2^b − 1) − z)       (per row, its group's s, z)
        δ_j  = (w_j − q_j) / U_jj
        w_k −= δ_j · U_jk    for k > j

Every number is what `GPTQModel <https://github.com/ModelCloud/GPTQModel>`_ 7.7.0
(``gptqmodel.quantization.gptq.GPTQ`` with its ``Quantizer``; itself the IST-DASLab reference
code) computes on CPU, matched code for code in ``tests/test_gptq.py``:

- ``H`` is float32: ``XᵀX`` in one float32 product, times ``float32(2 / n)``. Everything after is
  float32 too (the Cholesky factors, the updates), as the reference runs it.
- Dead input channels (``diag(H) = 0``: the input is always zero there) get ``H_jj = 1`` and
  their weight column set to 0 before anything else, as the reference does.
- A group's grid is the min-max of the group's *current* weights with 0 included:
  ``s = (max − min) / (2^b − 1)``, ``z = round(−min / s)``. It is computed when the group's first
  column is reached, from the weights as the earlier *blocks* left them (updates made inside the
  current block are not yet written back then — the reference's behaviour when a group starts
  inside a block). ``symmetric``: ``max = max(|min|, max)``, ``min = −max`` when ``min < 0``
  (left at 0 when the row is all ≥ 0, the reference's quirk), ``z = 2^(b−1)``. An all-zero
  range becomes ``[−1, 1]``. ``group_size`` -1/None: one grid per row, from the original weights.
  A last group shorter than ``group_size`` is allowed, as the reference allows it.
- ``static_groups``: every group's grid is fixed from the (dead-column-cleaned) weights before
  any update. ``act_order``: columns are processed in order of decreasing ``diag(H)`` (stable
  for ties); ``g_idx`` maps each original column to its group (with ``static_groups`` the groups
  stay those of the original order).
- Rounding is ``round(w / s)`` — a float32 division, ties to even.

Defaults: ``bits`` 4, ``group_size`` 128, ``symmetric`` True and ``block_size`` 128 are
GPTQModel's (and AutoGPTQ's) defaults — the paper's own code defaults to asymmetric;
``damp`` 0.01 is the paper's (GPTQModel's default is 0.05; it also retries a failed
Cholesky with a larger damp, which this implementation does not: it refuses, see below).

Degenerate cases: ``damp = 0`` with a (numerically) singular ``H`` — fewer independent tokens
than channels, duplicated channels — is a ``ValueError`` (a Cholesky pivot ``≤ n·ε·max diag(H)``
counts as singular); with ``damp > 0`` the damped ``H`` is always positive definite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._checks import shown
from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, register_method, transformed_result

#: Bits stored per group and row besides the codes, as GPTQ checkpoints store them:
#: a float16 scale, plus a ``bits``-wide zero-point (``qzeros``; stored even when symmetric).
SCALE_BITS = 16
#: Bits of one ``g_idx`` entry (int32 per input column), counted only where it carries
#: information: act_order without static groups.
G_IDX_BITS = 32
#: ``bits=32`` turns quantization off: the layer stays float32 (GPTQ then changes nothing).
OFF_BITS = 32
BITS = (2, 3, 4, 5, 6, 7, 8, OFF_BITS)


@dataclass(frozen=True)
class GPTQOutput:
    """What :func:`gptq_quantize` returns; every array is in the *original* column order.

    ``codes`` (out, in) uint8 in ``[0, 2^b − 1]``; ``scales``/``zeros`` (out, groups) float32 /
    int32, group ``g`` in the order GPTQ met it (``g_idx[j]`` names column ``j``'s group);
    ``weight`` = ``scales[:, g_idx] · (codes − zeros[:, g_idx])`` (float32); ``perm``: the
    processing order (``None`` without act_order); ``rounded_from``: the value each weight had
    when it was rounded (the original plus the error feedback of earlier columns);
    ``column_error``: each column's share ``½ Σ_rows δ_j²`` of ``½ tr(E H Eᵀ)``, E = W − Ŵ (the
    damped calibration output error; GPTQModel's per-column ``Losses``); ``hinv_factor``: U, in
    processing order; ``damp_value``: λ; ``dead``: the dead input channels.
    """

    codes: np.ndarray
    scales: np.ndarray
    zeros: np.ndarray
    g_idx: np.ndarray
    weight: np.ndarray
    perm: np.ndarray | None
    rounded_from: np.ndarray
    column_error: np.ndarray
    hinv_factor: np.ndarray
    damp_value: float
    dead: np.ndarray


def hessian(x: np.ndarray) -> np.ndarray:
    """GPTQ's float32 ``H = 2 XᵀX / n`` of inputs ``x`` (tokens, in), as GPTQModel accumulates it."""
    n = x.shape[0]
    if n == 0:
        raise ValueError("GPTQ needs at least one calibration token; got inputs of shape "
                         f"{x.shape}")
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        h = x32.T @ x32
        h *= np.float32(2.0 / n)
    if not np.all(np.isfinite(h)):
        raise ValueError("the inputs' Hessian 2XᵀX/n overflows float32 (inputs too large, max |x| = "
                         f"{float(np.max(np.abs(x32))):.3g}); scale the inputs down")
    return h


def grid(w: np.ndarray, bits: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """The reference's min-max grid of ``w`` (k, rows) per row (reduced over axis 0):
    float32 scale and zero-point, each (rows,). See the module docstring."""
    maxq = np.float32(2**bits - 1)
    xmin = np.minimum(w.min(axis=0), np.float32(0))
    xmax = np.maximum(w.max(axis=0), np.float32(0))
    if symmetric:
        xmax = np.maximum(np.abs(xmin), xmax)
        xmin = np.where(xmin < 0, -xmax, xmin)
        both_zero = xmax == 0
    else:
        both_zero = (xmin == 0) & (xmax == 0)
    xmin = np.where(both_zero, xmin - 1, xmin).astype(np.float32)
    xmax = np.where(both_zero, xmax + 1, xmax).astype(np.float32)
    scale = (xmax - xmin) / maxq
    if symmetric:
        zero = np.full_like(scale, (2**bits) // 2)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            zero = np.rint(-xmin / scale)
    tiny = scale == 0  # a range that underflows: the reference's smallest-normal scale, finite zero
    if np.any(tiny):
        zero = np.where(tiny & ~np.isfinite(zero), np.float32(0), zero)
        scale = np.where(tiny, np.finfo(np.float32).tiny, scale)
    return scale.astype(np.float32), zero.astype(np.float32)


def _round(w: np.ndarray, scale: np.ndarray, zero: np.ndarray, maxq: np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Codes and dequantized values of ``w`` on the grid (elementwise, float32 as the reference)."""
    code = np.clip(np.rint(w / scale) + zero, np.float32(0), maxq)
    return code, scale * (code - zero)


def hinv_factor(h: np.ndarray, damp: float) -> tuple[np.ndarray, float]:
    """``U`` with ``(H + λI)⁻¹ = UᵀU`` (upper), λ = damp · mean(diag H), all in float32, by the
    reference's steps: Cholesky of H, the inverse from that factor, Cholesky of the inverse."""
    h = h.copy()
    d = np.diagonal(h)
    lam = np.float32(damp) * np.float32(np.mean(d, dtype=np.float32))
    idx = np.arange(h.shape[0])
    h[idx, idx] = d + lam
    what = "the Hessian 2XᵀX/n" + (" with damp=0" if damp == 0 else f" + {float(lam):.3g}·I (damp={damp})")
    try:
        low = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        raise ValueError(f"{what} is singular (not positive definite): the inputs span fewer directions "
                         f"than their {h.shape[0]} channels; use damp > 0 (e.g. 0.01) or more tokens") from None
    pivots = np.diagonal(low).astype(np.float64) ** 2
    if damp == 0 and pivots.min() <= h.shape[0] * np.finfo(np.float32).eps * float(np.max(np.diagonal(h))):
        raise ValueError(f"{what} is numerically singular (smallest Cholesky pivot² {pivots.min():.3g}); "
                         "use damp > 0 (e.g. 0.01) or more tokens")
    linv = np.linalg.inv(low)
    hinv = linv.T @ linv
    try:
        u = np.linalg.cholesky(hinv).T
    except np.linalg.LinAlgError:
        raise ValueError(f"the inverse of {what} is not positive definite in float32; use a larger damp") from None
    if not np.all(np.isfinite(u)):
        raise ValueError(f"the inverse of {what} is not finite in float32; use a larger damp")
    return np.ascontiguousarray(u, dtype=np.float32), float(lam)


def check_group_size(group_size: int | None, in_features: int) -> int:
    """Columns per group: ``in_features`` for -1/None (one grid per row), else ``group_size`` ≥ 1."""
    if group_size is None or group_size == -1:
        return in_features
    if group_size < 1:
        raise ValueError(f"group_size must be -1 or None (one group per row) or a positive number of "
                         f"columns, got {shown(group_size)}")
    return int(group_size)


def gptq_quantize(weight: np.ndarray, h: np.ndarray, *, bits: int = 4, group_size: int | None = 128,
                  symmetric: bool = True, damp: float = 0.01, block_size: int = 128, act_order: bool = False,
                  static_groups: bool = False) -> GPTQOutput:
    """GPTQ of ``weight`` (out, in) given the layer's Hessian ``h`` (in, in) (see :func:`hessian`).

    The column loop inside a block is GPTQ's own (each step vectorised over all rows); the
    later columns get each block's correction in one matrix product. Work is on the transposed
    weight so that a column is one contiguous vector.
    """
    out_f, in_f = weight.shape
    if np.shape(h) != (in_f, in_f):
        raise ValueError(f"the Hessian must be ({in_f}, {in_f}) for a weight with {in_f} input columns, "
                         f"got shape {np.shape(h)}")
    gs = check_group_size(group_size, in_f)
    per_row = group_size is None or group_size == -1
    maxq = np.float32(2**bits - 1)
    wt = np.array(weight, dtype=np.float32).T.copy()  # (in, out): column j is wt[j]
    h = np.array(h, dtype=np.float32)
    if per_row:  # the reference finds the per-row grid before it cleans dead columns
        row_scale, row_zero = grid(wt, bits, symmetric)
    d = np.diagonal(h)
    dead = d == 0
    if np.any(dead):
        h[dead, dead] = 1
        wt[dead] = 0
    n_groups = -(-in_f // gs)
    starts = np.arange(0, in_f, gs)
    if static_groups and not per_row:
        fixed = [grid(wt[s:s + gs], bits, symmetric) for s in starts]
    perm = None
    if act_order:
        perm = np.argsort(-np.diagonal(h), kind="stable")
        wt = wt[perm]
        h = h[perm][:, perm]
    u, lam = hinv_factor(h, damp)

    codes = np.empty((in_f, out_f), np.float32)
    q = np.empty((in_f, out_f), np.float32)
    before = np.empty((in_f, out_f), np.float32)
    err = np.empty((in_f, out_f), np.float32)
    scales = np.empty((n_groups, out_f), np.float32)
    zeros = np.empty((n_groups, out_f), np.float32)
    if per_row:
        scales[0], zeros[0] = row_scale, row_zero
    elif static_groups:
        for g, (s, z) in enumerate(fixed):
            scales[g], zeros[g] = s, z
    src = np.arange(in_f) if perm is None else perm
    scale, zero = (row_scale, row_zero) if per_row else (None, None)
    tmp = np.empty((min(block_size, in_f), out_f), np.float32)  # the rank-1 update, computed in place
    for i1 in range(0, in_f, block_size):
        i2 = min(i1 + block_size, in_f)
        w1 = wt[i1:i2].copy()
        u1 = u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            j = i1 + i
            if not per_row:
                if static_groups:
                    g = src[j] // gs
                    scale, zero = scales[g], zeros[g]
                elif j % gs == 0:  # a new group: its grid from the weights as earlier blocks left them
                    g = j // gs
                    scale, zero = grid(wt[j:j + gs], bits, symmetric)
                    scales[g], zeros[g] = scale, zero
            w = w1[i]
            before[j] = w
            c, qj = _round(w, scale, zero, maxq)
            codes[j], q[j] = c, qj
            e = (w - qj) / u1[i, i]
            err[j] = e
            k = i2 - j - 1
            np.multiply(u1[i, i + 1:, None], e, out=tmp[:k])
            w1[i + 1:] -= tmp[:k]
        wt[i2:] -= u[i1:i2, i2:].T @ err[i1:i2]

    column_error = 0.5 * np.sum(np.square(err, dtype=np.float64), axis=1)
    if static_groups or per_row:
        g_proc = np.zeros(in_f, np.int32) if per_row else (src // gs).astype(np.int32)
    else:
        g_proc = (np.arange(in_f) // gs).astype(np.int32)
    inv = np.arange(in_f) if perm is None else np.argsort(perm)
    codes_o = codes[inv].T
    g_idx = g_proc[inv]
    wq = q[inv].T
    return GPTQOutput(
        codes=np.ascontiguousarray(codes_o.astype(np.uint8)),
        scales=np.ascontiguousarray(scales.T),
        zeros=np.ascontiguousarray(zeros.T.astype(np.int32)),
        g_idx=g_idx,
        weight=np.ascontiguousarray(wq),
        perm=perm,
        rounded_from=np.ascontiguousarray(before[inv].T),
        column_error=column_error[inv],
        hinv_factor=u,
        damp_value=lam,
        dead=dead,
    )


def rtn_same_grid(weight: np.ndarray, *, bits: int, group_size: int | None, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Round-to-nearest on GPTQ's grids without the error feedback: every group's min-max grid
    from the original weights (codes uint8, dequantized float32), both (out, in)."""
    out_f, in_f = weight.shape
    gs = check_group_size(group_size, in_f)
    wt = np.ascontiguousarray(weight, dtype=np.float32).T
    maxq = np.float32(2**bits - 1)
    codes = np.empty((in_f, out_f), np.float32)
    deq = np.empty((in_f, out_f), np.float32)
    for s in range(0, in_f, gs):  # one vectorised step per group
        scale, zero = grid(wt[s:s + gs], bits, symmetric)
        codes[s:s + gs], deq[s:s + gs] = _round(wt[s:s + gs], scale, zero, maxq)
    return np.ascontiguousarray(codes.T.astype(np.uint8)), np.ascontiguousarray(deq.T)


def column_error_of(weight: np.ndarray, quantized: np.ndarray, out: GPTQOutput) -> np.ndarray:
    """Each column's share of ``½ tr(E H Eᵀ)`` for any quantized weight, E = W − Ŵ (dead columns
    left out), split as GPTQ splits its own error: ``½ Σ_rows ((E P) U⁻¹)_j²`` in GPTQ's column
    order P, mapped back to the original columns (float64). For GPTQ's own result this is its
    ``column_error``; for round-to-nearest it says what each column costs without the feedback."""
    e = weight.astype(np.float64) - quantized.astype(np.float64)
    e[:, out.dead] = 0
    if out.perm is not None:
        e = e[:, out.perm]
    delta = e @ np.linalg.inv(out.hinv_factor.astype(np.float64))
    share = 0.5 * np.sum(delta * delta, axis=0)
    return share if out.perm is None else share[np.argsort(out.perm)]


def bits_per_element(bits: int, in_features: int, out_features: int, group_size: int | None, act_order: bool,
                     static_groups: bool) -> float:
    """Stored bits per weight as a GPTQ checkpoint stores the layer: the ``bits``-wide code, and per
    group and row a float16 scale and a ``bits``-wide zero-point (``qzeros``, stored even when
    symmetric): ``bits + ⌈in/g⌉·(16 + bits)/in``; plus the int32 ``g_idx`` (32 bits per input
    column, shared by every row: ``32/out``) when act_order without static groups makes it
    information. The optional bias is not counted."""
    gs = check_group_size(group_size, in_features)
    groups = -(-in_features // gs)
    b = bits + groups * (SCALE_BITS + bits) / in_features
    if act_order and not static_groups and gs < in_features:
        b += G_IDX_BITS / out_features
    return float(b)


def _off(name: str, w: np.ndarray, s: dict[str, Any], aq: Quantizer | None) -> LinearResult:
    """``bits=32``: nothing rounded — the float32 layer (the method's off switch; 32 bits per weight)."""
    zero = np.zeros(w.shape[1])
    zero.setflags(write=False)
    return transformed_result(name, s, w, w, 32.0, aq, details={"column_error": zero, "rtn_column_error": zero,
                                                                "rtn_weight": w,
                                                                "activations": None if aq is None else aq.label})


def _fit(w: np.ndarray, x: np.ndarray | None, s: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    assert x is not None  # needs_inputs
    check_group_size(s["group_size"], w.shape[1])
    if s["bits"] == OFF_BITS:
        return _off("gptq", w, s, aq)
    opts = dict(bits=s["bits"], group_size=s["group_size"], symmetric=s["symmetric"])
    out = gptq_quantize(w, hessian(x), damp=s["damp"], block_size=s["block_size"], act_order=s["act_order"],
                        static_groups=s["static_groups"], **opts)
    rtn_codes, rtn_w = rtn_same_grid(w, **opts)
    details = {
        "codes": out.codes, "scales": out.scales, "zeros": out.zeros, "g_idx": out.g_idx, "perm": out.perm,
        "rounded_from": out.rounded_from, "column_error": out.column_error,
        "rtn_weight": rtn_w, "rtn_codes": rtn_codes, "rtn_column_error": column_error_of(w, rtn_w, out),
        "damp_value": out.damp_value, "dead_columns": np.flatnonzero(out.dead),
        "activations": None if aq is None else aq.label,
    }
    for v in details.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    bpe = bits_per_element(s["bits"], w.shape[1], w.shape[0], s["group_size"], s["act_order"], s["static_groups"])
    return transformed_result("gptq", s, w, out.weight, bpe, aq, details=details)


GPTQ = register_method(LinearMethod(
    name="gptq",
    title="GPTQ",
    description="Rounds the weight one input column at a time and spreads each column's rounding error over the "
                "columns not yet rounded, weighted by the inverse Hessian 2XᵀX/n of the calibration inputs, so the "
                "layer's output moves least. Group-wise min-max grids, as GPTQ checkpoints store them.",
    formula=r"\delta_j = \frac{w_j - Q(w_j)}{[U]_{jj}},\quad w_{k} \mathrel{-}= \delta_j\,U_{jk}\ (k>j),\quad "
            r"U^\top U = \left(\tfrac{2}{n}X^\top X + \lambda I\right)^{-1}",
    source="Frantar et al., GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers "
           "(ICLR 2023); matched code for code against GPTQModel 7.7.0's GPTQ on CPU.",
    settings=(
        Setting("bits", int, 4, "bits per weight code, 2-8 (32: quantization off, the float32 layer)",
                choices=BITS, in_label=True),
        Setting("group_size", int, 128, "input columns per scale/zero-point group (-1 or None: one per row; a "
                "shorter last group is allowed)", min=-1, optional=True, in_label=True),
        Setting("symmetric", bool, True, "symmetric grid (zero-point fixed at 2^(bits-1)); GPTQModel's default"),
        Setting("damp", float, 0.01, "λ = damp · mean diag(H) added to H's diagonal (0: none; a singular H is "
                "then refused)", min=0.0, max=1.0),
        Setting("block_size", int, 128, "columns per lazy-batch block (changes only float rounding)", min=1),
        Setting("act_order", bool, False, "process columns by decreasing diag(H) (GPTQModel's desc_act)"),
        Setting("static_groups", bool, False, "fix every group's grid from the original weights before any update",
                when=lambda s, ndim: s.get("group_size") not in (None, -1)),
    ),
    fit=_fit,
    needs_inputs=True,
))
