"""What a result shows beyond its error, read from its ``details``: small tables for the figures.

Each function returns None when the result's method records nothing of the kind, so a page
offers a view only where it applies, without knowing the method's name:

- :func:`channel_scaling`: per input channel max |x| and max |w| before and after a per-channel
  scaling (SmoothQuant, AWQ: ``details`` keys ``x_max_before``, ``x_max_after``, ``w_max_before``,
  ``w_max_after``);
- :func:`rotation_samples`: the weights and the inputs before and after an orthogonal rotation
  (Hadamard: ``details["rotation"]``, and ``rotated_weight`` when kept);
- :func:`column_errors`: each input column's share of the output error, for any result with an
  effective weight (GPTQ moves error between columns; RTN rounds each on its own);
- :func:`own_column_errors`: a method's own per-column split of its error beside RTN's on the same
  grid, where the method records both (GPTQ: ``column_error``, ``rtn_column_error``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._lazy import pandas as pd
from ._base import LinearResult

SCALING_KEYS = ("x_max_before", "x_max_after", "w_max_before", "w_max_after")


def channel_scaling(result: LinearResult) -> pd.DataFrame | None:
    """One row per input channel: ``channel``, ``x_max_before``, ``x_max_after``, ``w_max_before``,
    ``w_max_after`` (float64); None when ``result.details`` lacks any of them."""
    d = result.details
    if not all(k in d for k in SCALING_KEYS):
        return None
    cols = {k: np.asarray(d[k], dtype=np.float64).reshape(-1) for k in SCALING_KEYS}
    n = {v.size for v in cols.values()}
    if len(n) != 1:
        return None
    return pd.DataFrame({"channel": np.arange(n.pop()), **cols})


def rotation_samples(result: LinearResult, inputs: np.ndarray, max_values: int = 200_000
                     ) -> Mapping[str, np.ndarray] | None:
    """``weights_before``, ``weights_after``, ``inputs_before``, ``inputs_after`` as flat float32
    arrays (a strided subsample of at most ``max_values`` each), for a result whose details hold
    its ``rotation`` R (in, in): ``W R`` and ``x R``; None otherwise."""
    r = result.details.get("rotation")
    if r is None or np.ndim(r) != 2 or np.shape(r) != (result.in_features, result.in_features):
        return None
    r = np.asarray(r, dtype=np.float32)
    w = result.float_weight
    wr = result.details.get("rotated_weight")
    wr = np.asarray(wr, dtype=np.float32) if wr is not None and np.shape(wr) == w.shape else w @ r
    x = np.asarray(inputs, dtype=np.float32)
    out = {"weights_before": w, "weights_after": wr, "inputs_before": x, "inputs_after": x @ r}
    return {k: _thin(v.reshape(-1), max_values) for k, v in out.items()}


def _thin(a: np.ndarray, n: int) -> np.ndarray:
    return a if a.size <= n else a[:: -(-a.size // n)]


def column_errors(results: Mapping[str, LinearResult], inputs: np.ndarray) -> pd.DataFrame | None:
    """Each input column's share of the output error, per result with an effective weight:

        e_j = (Σ_t x_tj²) ‖W_:,j − Ŵ_:,j‖² / ‖x Wᵀ‖²

    the diagonal terms of the relative output error (Σ_j e_j is the error when the input
    channels are uncorrelated; GPTQ lowers the total by letting e_j of some columns grow).
    One column per result (named by its key), a ``column`` index; None when no result has a
    weight."""
    x = np.asarray(inputs, dtype=np.float64)
    with_weight = {k: r for k, r in results.items() if r.weight is not None}
    if not with_weight:
        return None
    first = next(iter(with_weight.values()))
    w = first.float_weight.astype(np.float64)
    power = np.sum(x * x, axis=0)
    y = x @ w.T
    total = float(np.sum(y * y))
    out = {"column": np.arange(w.shape[1])}
    for k, r in with_weight.items():
        d = r.weight.astype(np.float64) - w
        e = power * np.sum(d * d, axis=0)
        out[k] = e / total if total > 0 else np.where(e > 0, np.inf, 0.0)
    return pd.DataFrame(out)


def own_column_errors(result: LinearResult, name: str) -> pd.DataFrame | None:
    """``column``, ``name`` (the method's own per-column error, ``details["column_error"]``) and
    ``rtn (same grid)`` (``details["rtn_column_error"]``); None when either is missing."""
    d = result.details
    if "column_error" not in d or "rtn_column_error" not in d:
        return None
    own = np.asarray(d["column_error"], dtype=np.float64).reshape(-1)
    rtn = np.asarray(d["rtn_column_error"], dtype=np.float64).reshape(-1)
    if own.size != rtn.size:
        return None
    return pd.DataFrame({"column": np.arange(own.size), name: own, "rtn (same grid)": rtn})
