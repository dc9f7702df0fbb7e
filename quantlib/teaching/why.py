"""Lesson 1, what and why: the memory and memory-bound speed of a model at several bit widths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._checks import check_int

if TYPE_CHECKING:
    import pandas as pd

# ------------------------------------------------------------------- 1. what & why
#: Dense peak throughput of an NVIDIA A100 (datasheet): FP32 without tensor cores, FP16/BF16,
#: INT8 and INT4 tensor-core operations per second, in tera-ops. Speed-ups are against FP16.
A100_PEAK_TOPS = {32: 19.5, 16: 312.0, 8: 624.0, 4: 1248.0}


def footprint_table(
    n_params: float,
    bits: Sequence[float] = (32, 16, 8, 4),
    *,
    bandwidth_gb_s: float = 100.0,
    group_size: int | None = None,
) -> pd.DataFrame:
    """Memory and memory-bound speed of a model with ``n_params`` weights at each bit width.

    ``bits per weight`` adds a 32-bit scale per ``group_size`` weights (below 16 bits, when
    given). A memory-bound pass (one generated token of a language model reads every weight
    once) takes ``bytes / bandwidth``; ``tokens/s`` is its inverse, an upper bound. ``A100
    peak`` is the dense tensor-core throughput where the chip has one for that width.
    """
    import pandas as pd

    if not (np.isfinite(n_params) and n_params > 0):
        raise ValueError(f"n_params must be a positive number, got {n_params!r}")
    if not (np.isfinite(bandwidth_gb_s) and bandwidth_gb_s > 0):
        raise ValueError(f"bandwidth_gb_s must be a positive number, got {bandwidth_gb_s!r}")
    if group_size is not None:
        group_size = check_int(group_size, "group_size", 1, 2**24)
    rows = []
    fp32_bytes = n_params * 4
    for b in bits:
        b = float(b)
        if not 1 <= b <= 64:
            raise ValueError(f"bits must be in [1, 64], got {b}")
        overhead = 32 / group_size if (group_size and b < 16) else 0.0
        bpw = b + overhead
        nbytes = n_params * bpw / 8
        seconds = nbytes / (bandwidth_gb_s * 1e9)
        label = {32: "FP32", 16: "FP16 / BF16"}.get(int(b), f"INT{int(b)}") if b == int(b) else f"{b:g}-bit"
        rows.append({
            "format": label,
            "bits": b,
            "bits per weight": bpw,
            "memory GB": nbytes / 1e9,
            "x smaller than FP32": fp32_bytes / nbytes,
            "x smaller than FP16": fp32_bytes / 2 / nbytes,
            "ms per pass": seconds * 1e3,
            "tokens/s (memory-bound)": 1.0 / seconds,
            "A100 peak TOPS": A100_PEAK_TOPS.get(int(b)) if b == int(b) else None,
        })
    return pd.DataFrame(rows)
