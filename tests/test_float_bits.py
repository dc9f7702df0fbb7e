"""The FP8 / FP6 / FP4 / bfloat16 casts computed from their bit fields equal ml_dtypes' casts.

quantlib computes these types from ``formats.common.BIT_FIELDS`` (so the schemes run without
importing ml_dtypes, whose start-up costs about a second); ml_dtypes is the reference here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")
from quantlib.formats import common  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _probes(dt, rng: np.random.Generator) -> np.ndarray:
    """Every finite value, every midpoint (ties) and its float32 neighbours, values beyond the
    largest finite one (overflow, and the tie just above it), subnormals, signed zeros, random values."""
    table = np.arange(2 ** ml_dtypes.finfo(dt).bits, dtype=np.uint8 if np.dtype(dt).itemsize == 1 else np.uint16)
    vals = np.unique(table.view(dt).astype(np.float64))
    vals = vals[np.isfinite(vals)]
    mids = ((vals[:-1] + vals[1:]) / 2).astype(np.float32)
    top = vals[-1] + (vals[-1] - vals[-2]) / 2
    tiny = float(ml_dtypes.finfo(dt).smallest_normal)
    parts = [vals, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
             [top, -top, np.nextafter(np.float32(top), np.float32(np.inf)), vals[-1] * 1.5, 1e30, -1e30, 3.4e38,
              0.0, -0.0, 1e-45, -1e-45],
             rng.standard_normal(50_000) * vals[-1] / 3, rng.standard_normal(5_000) * tiny]
    return np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(np.float32)


@pytest.mark.parametrize("name", sorted(common.BIT_FIELDS))
def test_cast_by_name_equals_ml_dtypes(name):
    dt = getattr(ml_dtypes, name)
    y = _probes(dt, np.random.default_rng(1))
    with np.errstate(over="ignore", invalid="ignore"):
        ref = y.astype(dt)
    want_codes = ref.view(np.uint8 if ref.itemsize == 1 else np.uint16)
    codes, values = common.cast(y, name)
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(values, common.value_table(dt)[want_codes] if ref.itemsize == 1 else ref.astype(np.float32))
    np.testing.assert_array_equal(common.value_table(name), common.value_table(dt))  # NaN where NaN
    assert common.smallest_normal(name) == float(ml_dtypes.finfo(dt).smallest_normal)
    f = common.BIT_FIELDS[name]
    fi = ml_dtypes.finfo(dt)
    assert (f.nexp, f.nmant, 1 - f.bias) == (fi.nexp, fi.nmant, fi.minexp)


def test_the_rate_distortion_chart_runs_without_ml_dtypes():
    code = ("import sys, quantlib as ql; x = ql.synthetic('normal', 2**16, 0); ql.rate_distortion(x); ql.rd_limits(x); "
            "print('ml_dtypes' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
