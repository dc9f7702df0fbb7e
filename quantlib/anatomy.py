"""Error anatomy: where a configuration's MSE comes from, and a look inside one block.

:func:`error_anatomy` splits the MSE of any result into three parts that add up to it:

* **block scale** (block formats — results with :class:`~quantlib.schemes.BlockScales`, and
  per-group integer params): in each block the reconstruction is ``x_hat = S v + O`` (v the
  element grid values, S the stored scale, O a stored offset or 0). The least-squares scale (and
  offset, for formats that store one) for the *same codes*, ``(S*, O*) = argmin |x − S v − O|²``,
  leaves a residual ``r = x − S* v − O*`` that is orthogonal to v (and 1), while
  ``x_hat − (S* v + O*)`` lies in their span, so per block ``|x − x_hat|² = |r|² + |x_hat − S* v − O*|²``
  exactly (Pythagoras). The second term is the block-scale part: what the stored scale costs —
  its own rounding (float16 d, an E4M3 or power-of-two scale) and the rule that picked it
  (absmax) — against the best scale for these codes. For other schemes it is 0 and r = x − x_hat.
* **clipping**: Σ r² over the elements that saturated (beyond the end of the grid by more than
  half its end step; see :func:`saturated`), divided by N;
* **rounding**: Σ r² over the rest, divided by N.

So ``scale_mse + clipping_mse + rounding_mse == mse`` up to float64 rounding, each part >= 0.
For a scheme without blocks the clipping and rounding parts are :func:`quantlib.metrics`' own.

:func:`block_view` shows one block: its values, stored scale (and offset), codes, grid values,
reconstruction and error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ._checks import as_float_array, check_int
from ._lazy import pandas as pd
from .params import blocks as param_blocks
from .params import broadcastable
from .schemes import QuantResult


@dataclass(frozen=True)
class ErrorAnatomy:
    """The MSE of one result in parts (``scale_mse + clipping_mse + rounding_mse == mse``) and its saturation counts."""

    mse: float
    scale_mse: float
    clipping_mse: float
    rounding_mse: float
    saturated: int
    saturated_low: int
    saturated_high: int
    size: int
    kind: str  # "blocks" (block scales), "groups" (per-group params), "params", "levels", "none"
    note: str

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def parts(self) -> pd.DataFrame:
        """One row per part: ``part``, ``mse``, ``share`` (of the total MSE)."""
        total = self.mse if self.mse > 0 else 1.0
        rows = [("block scale", self.scale_mse), ("clipping", self.clipping_mse), ("rounding", self.rounding_mse)]
        return pd.DataFrame([{"part": p, "mse": v, "share": v / total} for p, v in rows])


@dataclass(frozen=True)
class _Layout:
    """A result as blocks: x, x_hat, grid values v and a validity mask as (blocks, size) float64,
    the stored scale and offset of each block, whether the format stores an offset, the codes."""

    xb: np.ndarray
    hb: np.ndarray
    vb: np.ndarray
    valid: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    has_offset: bool
    codes: np.ndarray  # (blocks, size), padded with 0


def _pad(a: np.ndarray, nb: int, size: int) -> np.ndarray:
    flat = np.asarray(a).reshape(-1)
    out = np.zeros(nb * size, flat.dtype)
    out[: flat.size] = flat
    return out.reshape(nb, size)


def _layout(x: np.ndarray, r: QuantResult) -> _Layout | None:
    if r.blocks is not None:
        b = r.blocks
        nb = int(np.size(b.scales))
        size = int(b.size)
        if nb * size < x.size:
            return None
        xb, hb = _pad(x, nb, size).astype(np.float64), _pad(r.dequantized, nb, size).astype(np.float64)
        valid = _pad(np.ones(x.size, bool), nb, size)
        scale = b.effective()
        offset = np.zeros(nb) if b.offsets is None else np.asarray(b.offsets, np.float64).reshape(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            vb = np.where(scale[:, None] != 0, (hb - offset[:, None]) / scale[:, None], 0.0)
        return _Layout(xb, hb, vb * valid, valid, scale, offset, b.offsets is not None,
                       _pad(r.codes, nb, size))
    p = r.params
    if p is None or p.group_size is None:
        return None
    xg, _ = param_blocks(x, p.axis, p.group_size)
    hg, _ = param_blocks(r.dequantized, p.axis, p.group_size)
    cg, _ = param_blocks(r.codes, p.axis, p.group_size)
    s = np.broadcast_to(broadcastable(np.asarray(p.scale, np.float64), x.ndim, p.axis, p.group_size), xg.shape[:-1] + (1,))
    z = np.broadcast_to(broadcastable(np.asarray(p.zero_point, np.float64), x.ndim, p.axis, p.group_size), s.shape)
    size = xg.shape[-1]
    xb, hb, cb = xg.reshape(-1, size).astype(np.float64), hg.reshape(-1, size).astype(np.float64), cg.reshape(-1, size)
    scale, zp = s.reshape(-1).astype(np.float64), z.reshape(-1).astype(np.float64)
    has_offset = bool(np.any(zp != 0))
    offset = -scale * zp
    vb = cb.astype(np.float64) if has_offset else cb.astype(np.float64) - zp[:, None]
    return _Layout(xb, hb, vb, np.ones_like(xb, bool), scale, offset, has_offset, cb)


def _ls_fit(L: _Layout) -> np.ndarray:
    """S* v + O* per block: the least-squares reconstruction for the same codes (float64, (blocks, size))."""
    w = L.valid.astype(np.float64)
    v, x = L.vb, L.xb
    if L.has_offset:
        n = w.sum(axis=1)
        mv, mx = (w * v).sum(axis=1) / n, (w * x).sum(axis=1) / n
        dv, dx = (v - mv[:, None]) * w, (x - mx[:, None]) * w
        vv = (dv * dv).sum(axis=1)
        slope = np.divide((dv * dx).sum(axis=1), vv, out=np.zeros_like(vv), where=vv > 0)
        return slope[:, None] * v + (mx - slope * mv)[:, None]
    vv = (w * v * v).sum(axis=1)
    slope = np.divide((w * v * x).sum(axis=1), vv, out=np.zeros_like(vv), where=vv > 0)
    return slope[:, None] * v


def saturated(x: object, result: QuantResult) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (below, above) of the elements that saturated, shaped like x: the elements that
    :func:`quantlib.formats.grids.saturation` says clipped (beyond the grid's ends, in its units, by more
    than half the end step), split by whether x lies below or above its reconstruction (a negative
    scale, as Q4_0's, flips the grid's ends; the value's side does not flip). Nothing saturates under a
    scheme without a grid to clip at."""
    from .formats.grids import saturation

    x = as_float_array(x)
    mask = saturation(x, result)
    if mask is None:
        z = np.zeros(x.shape, bool)
        return z, z
    return mask & (x < result.dequantized), mask & (x > result.dequantized)


def error_anatomy(x: object, result: QuantResult) -> ErrorAnatomy:
    """The MSE of ``result`` on ``x`` split into block scale, clipping and rounding (see the module doc)."""
    x = as_float_array(x)
    if result.dequantized.shape != x.shape:
        raise ValueError(f"result is of shape {result.dequantized.shape}, x of shape {x.shape}")
    n = x.size
    e = x.astype(np.float64) - result.dequantized
    mse = float(np.dot(e.ravel(), e.ravel())) / n
    low, high = saturated(x, result)
    sat = (low | high).ravel()
    L = _layout(x, result)
    if L is not None:
        fit = _ls_fit(L)
        p = (L.hb - fit) * L.valid
        r = ((L.xb - fit) * L.valid).reshape(-1)[:n]
        scale_mse = float(np.sum(p * p)) / n
        kind = "blocks" if result.blocks is not None else "groups"
        note = (f"{L.scale.size} blocks of {L.xb.shape[1]}: block scale = the error that the least-squares scale"
                f"{' and offset' if L.has_offset else ''} of each block, for the same codes, would remove")
    else:
        r, scale_mse = e.ravel(), 0.0
        kind = "params" if result.params is not None else ("levels" if result.levels is not None else "none")
        note = {"params": "one float32 scale per tensor or channel: no block scale part",
                "levels": "a per-tensor codebook: no scale; clipping beyond the end levels",
                "none": "no stored grid ends to saturate at: all error counts as rounding"}[kind]
    rc = r[sat]
    clip = float(np.dot(rc, rc)) / n
    rr = r[~sat]
    return ErrorAnatomy(mse, scale_mse, clip, float(np.dot(rr, rr)) / n, int(sat.sum()), int(low.sum()),
                        int(high.sum()), n, kind, note)


@dataclass(frozen=True)
class BlockView:
    """One block of a block format: ``table`` has one row per element (position, x, code, grid
    value, x_hat, error, saturated); ``scale`` the stored (effective) scale, ``offset`` the stored offset."""

    index: int
    blocks: int
    size: int
    start: int
    scale: float
    offset: float | None
    table: pd.DataFrame


def block_count(x: object, result: QuantResult) -> int:
    """How many blocks :func:`block_view` can show (0: the result has no blocks)."""
    L = _layout(as_float_array(x), result)
    return 0 if L is None else int(L.scale.size)


def block_view(x: object, result: QuantResult, index: int = 0) -> BlockView:
    """Block ``index`` of a block format's result (or of per-group integer params) on ``x``."""
    x = as_float_array(x)
    L = _layout(x, result)
    if L is None:
        raise ValueError(f"scheme {result.scheme!r} stores no block scales (it is not a block format); "
                         "block formats: mx*, nvfp4, nf4, fp4_bnb, the ggml q* formats, int_group")
    nb, size = L.xb.shape
    index = check_int(index, "block index", 0, nb - 1)
    low, high = saturated(x, result)
    satb = _pad((low | high), nb, size)[index]
    keep = L.valid[index]
    xv, hv = L.xb[index][keep], L.hb[index][keep]
    table = pd.DataFrame({
        "position": np.arange(index * size, index * size + keep.sum()),
        "x": xv, "code": L.codes[index][keep], "grid value": L.vb[index][keep], "x_hat": hv, "error": xv - hv,
        "saturated": satb[keep],
    })
    return BlockView(index, nb, size, index * size, float(L.scale[index]),
                     float(L.offset[index]) if L.has_offset else None, table)
