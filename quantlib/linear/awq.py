"""``awq``: activation-aware weight quantization (Lin et al. 2024, AWQ, MLSys).

Salient input channels (large mean ``|x|``) are scaled up before rounding so that their weights
lose less, and the inputs are divided by the same scale::

    s(α) = mean|x|^α                        per input channel, over the calibration tokens
    s(α) ← s(α) / √(max s(α) · min s(α))    (the reference's normalisation)
    L(α) = mean((x W_α^T − x W^T)²),  W_α = Q(W · s(α)) / s(α)
    α*   = argmin L(α) over α ∈ {0, 1/n, …, (n−1)/n}   (n = ``grid``, 20 as the reference)
    y    = Qa(x / s) @ Q(clip(W · s))^T

A fixed ``alpha`` skips the search (for a slider). ``α = 0`` gives ``s = 1``: plain round-to-nearest, so the chosen ``α`` is never worse than RTN with
the same weight scheme on the calibration inputs. ``duo_scaling`` (AutoAWQ's default, not the
paper's) uses ``s = mean|x|^α / (mean ŵ^(1−α) + 1e-4)`` with ``ŵ = |w| / max|w|`` per group.
``s`` is clamped to ≥ 1e-4 before normalising, as the reference does (a channel whose inputs are
all 0 gets ``s = 1e-4`` for ``α > 0``).

Clipping search (``clip``, AutoAWQ's ``_search_best_clip``): per output row and group of
``group_size`` input channels of ``W · s``, the maximum ``m = max|w|`` shrinks to ``m (1 − i/20)``,
``i = 0 … 9``; the weights are clamped to ``±m (1 − i/20)`` and quantized, and each group keeps the
shrink with the least output MSE of that group, ``mean_t((x_g (q_g − w_g))²)``. The reference
samples 512 tokens for memory; here every calibration token is used, through the group's Gram
matrix ``x_gᵀ x_g`` (the same mean, exactly).

Weights: any registry weight scheme; the default ``int_group`` 4-bit asymmetric, groups of 128
consecutive input channels, is AWQ's INT4 g128 with a zero-point. It takes each group's range as
``[min(w, 0), max(w, 0)]``; the reference's ``pseudo_quantize_tensor`` takes ``[min w, max w]``
with the zero-point clamped to the code range — the same whenever a group has weights of both
signs (every group of MiniLM's layers; a test checks it). ``bits_per_element`` adds the float32
``s`` (``32 / out_features``; zero where ``s`` is folded into the previous operation, as AWQ does).

The grid: each candidate ``α`` is quantized by one scheme call (a per-tensor scheme must see each
candidate alone); the candidates' losses are computed in batches, as ``Σ (D G) ⊙ D / (tokens · out)``
with ``D = W_α − W`` and ``G = xᵀx`` computed once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, label, register_method, round_weight, transformed_result
from .smoothquant import channel_stats

#: AutoAWQ's clip search: shrink steps of 1/20, at most 50 % (``n_grid=20, max_shrink=0.5``).
CLIP_GRID, CLIP_MAX_SHRINK = 20, 0.5
#: Largest number of float32 elements of stacked candidates held at once in the loss batch.
_BATCH_ELEMENTS = 1 << 24


def awq_scales(x_mean: np.ndarray, alpha: float, w_mean: np.ndarray | None = None) -> np.ndarray:
    """AWQ's per-channel scales for one ``alpha`` (float64): ``mean|x|^α`` (or AutoAWQ's duo
    scaling with ``w_mean``), clamped to ≥ 1e-4, divided by ``√(max · min)``."""
    s = np.asarray(x_mean, dtype=np.float64) ** alpha
    if w_mean is not None:
        s = s / (np.asarray(w_mean, dtype=np.float64) ** (1.0 - alpha) + 1e-4)
    s = np.maximum(s, 1e-4)
    return s / np.sqrt(s.max() * s.min())


def _group_starts(n: int, g: int) -> np.ndarray:
    return np.arange(0, n, min(g, n))


def _weight_mean(w: np.ndarray, g: int) -> np.ndarray:
    """AutoAWQ's ``w_mean``: ``|w| / (max|w| of its group + 1e-6)`` averaged over output rows."""
    a = np.abs(w.astype(np.float64))
    starts = _group_starts(w.shape[1], g)
    gmax = np.maximum.reduceat(a, starts, axis=1)
    sizes = np.diff(np.append(starts, w.shape[1]))
    return (a / (np.repeat(gmax, sizes, axis=1) + 1e-6)).mean(axis=0)


def _losses(w: np.ndarray, scales: list[np.ndarray], wq: Quantizer | None, gram: np.ndarray,
            tokens: int) -> np.ndarray:
    """``mean((x Dᵀ)²)``, ``D = Q(W s)/s − W``, for each ``s`` in ``scales``; candidates are built and
    scored a batch at a time (at most ``_BATCH_ELEMENTS`` weights held), float64 sums of float32 products."""
    out = np.empty(len(scales))
    per = max(1, _BATCH_ELEMENTS // w.size)
    g32 = gram.astype(np.float32)
    for i in range(0, len(scales), per):
        d = np.stack([round_weight(wq, w * s)[0] / s - w for s in scales[i:i + per]]).reshape(-1, w.shape[1])
        rows = np.einsum("ij,ij->i", d @ g32, d)  # per-row quadratic forms d G dᵀ, one BLAS call for the batch
        out[i:i + per] = rows.reshape(-1, w.shape[0]).sum(axis=1, dtype=np.float64)
    return out / (tokens * w.shape[0])


def clip_search(ws: np.ndarray, xs: np.ndarray, wq: Quantizer | None, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(clipped ws, max_val (out, groups))``: AutoAWQ's per-group clipping of the scaled weight
    ``ws`` for scaled inputs ``xs`` (see the module docstring); ``wq`` None (float weights): no clip."""
    out_f, n = ws.shape
    starts = _group_starts(n, group_size)
    sizes = np.diff(np.append(starts, n))
    org_max = np.maximum.reduceat(np.abs(ws), starts, axis=1)  # (out, groups)
    if wq is None:
        return ws, org_max
    grams = [(xs[:, a:a + m].astype(np.float64).T @ xs[:, a:a + m]).astype(np.float32)
             for a, m in zip(starts, sizes)]
    shrinks = 1.0 - np.arange(int(CLIP_MAX_SHRINK * CLIP_GRID)) / CLIP_GRID
    errs = np.empty((len(shrinks), out_f, len(starts)))
    for i, r in enumerate(shrinks):
        m = np.repeat((org_max * np.float32(r)).astype(np.float32), sizes, axis=1)
        d = round_weight(wq, np.clip(ws, -m, m))[0] - ws
        for k, (a, sz) in enumerate(zip(starts, sizes)):
            dg = d[:, a:a + sz]
            errs[i, :, k] = np.einsum("ij,ij->i", dg @ grams[k], dg, dtype=np.float64)
    best = np.argmin(errs, axis=0)  # first minimum: the least shrink among equals, as the reference's strict <
    max_val = (org_max * shrinks[best].astype(np.float32)).astype(np.float32)
    m = np.repeat(max_val, sizes, axis=1)
    return np.clip(ws, -m, m), max_val


def _fit(w: np.ndarray, x: np.ndarray | None, st: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    assert x is not None  # needs_inputs
    g = st["group_size"]
    x_mean = np.abs(x.astype(np.float64)).mean(axis=0)
    w_mean = _weight_mean(w, g) if st["duo_scaling"] else None
    alphas = np.arange(st["grid"]) / st["grid"] if st["alpha"] is None else np.array([st["alpha"]])
    gram = x.astype(np.float64).T @ x
    scales = [awq_scales(x_mean, a, w_mean).astype(np.float32) for a in alphas]
    losses = _losses(w, scales, wq, gram, x.shape[0])
    best = int(np.argmin(losses))  # the first minimum, as the reference's strict <
    s = scales[best]
    ws = w * s
    max_val = None
    if st["clip"]:
        ws, max_val = clip_search(ws, x / s, wq, g)
    deq, bits, r = round_weight(wq, ws)
    details: dict[str, Any] = {
        "alpha": float(alphas[best]), "alphas": alphas, "losses": losses, "scales": s,
        "x_mean": x_mean.astype(np.float32), **channel_stats(w, x, s),
        "clip_max": max_val, "weights": label(wq), "activations": None if aq is None else aq.label,
    }
    for v in details.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return transformed_result("awq", {**st, "weights": label(wq)}, w, deq, bits + 32.0 / w.shape[0], aq,
                              scale=s, details=details, weight_result=r)


AWQ = register_method(LinearMethod(
    name="awq",
    title="AWQ",
    description="Scale each input channel by s = mean|x|^α before rounding the weight (and divide the inputs by s), "
                "with α searched on a grid for the least output error on the calibration inputs; optionally clip "
                "each weight group's range by a searched shrink.",
    formula=r"s = \overline{|x|}^{\,\alpha^*},\ \alpha^* = \arg\min_\alpha \big\|x\,(Q(W s)/s)^\top - x W^\top\big\|^2,"
            r"\quad y = Q_a(x/s)\,Q(\mathrm{clip}(W s))^\top",
    source="Lin et al. 2024, AWQ (MLSys), Sec. 3.2; reference casper-hansen/AutoAWQ awq/quantize/quantizer.py "
           "(_search_best_scale, _compute_best_scale, _compute_best_clip) and mit-han-lab/llm-awq auto_scale.py.",
    settings=(
        Setting("alpha", float, None, "A fixed α in [0, 1] instead of the search (None: search the grid).",
                min=0.0, max=1.0, optional=True),
        Setting("grid", int, 20, "Number of α candidates 0, 1/n, …, (n−1)/n (the reference: 20).", min=1, max=200),
        Setting("clip", bool, True, "Search a per-group clipping of the scaled weight (AutoAWQ's apply_clip)."),
        Setting("group_size", int, 128, "Input channels per group of the clip search and of duo scaling's weight "
                "normalisation (AWQ's q_group_size: match the weight scheme's groups).", min=1),
        Setting("duo_scaling", bool, False, "AutoAWQ's s = mean|x|^α / mean ŵ^(1−α) instead of the paper's mean|x|^α."),
    ),
    fit=_fit,
    needs_inputs=True,
    default_weights=("int_group", {"bits": 4, "group_size": 128, "symmetric": False}),
))
