import math

import numpy as np
import pytest

import quantlib as ql
from conftest import sum_rtol

X = np.random.default_rng(7).standard_normal(20_000).astype(np.float32)


def test_sweep_bits_follows_six_db_per_bit_for_a_uniform_signal():
    u = np.random.default_rng(0).uniform(-1, 1, 100_000).astype(np.float32)
    df = ql.sweep_bits(u, "symmetric", range(4, 13))
    slopes = np.diff(df["sqnr_db"])
    # step = amax / qmax with qmax = 2**(b-1) - 1, error ~ uniform: each bit gains 20 log10(qmax_{b+1} / qmax_b)
    qmax = 2.0 ** (np.arange(4, 13) - 1) - 1
    np.testing.assert_allclose(slopes, 20 * np.log10(qmax[1:] / qmax[:-1]), atol=0.1)
    assert abs(slopes[-1] - 6.02) < 0.05
    assert np.allclose(np.diff(df["reference_db"]), 20 * np.log10(2))
    assert {"scheme", "bits", "mse", "sqnr_db", "bits_per_element", "reference_db"} <= set(df.columns)


def test_sweep_bits_points_equal_individual_runs():
    df = ql.sweep_bits(X, "asymmetric", [3, 7], calibration="mse")
    for _, row in df.iterrows():
        r = ql.Quantizer("asymmetric", bits=int(row.bits), calibration="mse")(X)
        assert row.mse == r.metrics(X).mse


def test_sweep_threshold_rows_are_exact_quantizations():
    df = ql.sweep_threshold(X, bits=4, num_points=16)
    assert (df["kind"] == "sweep").sum() == 16
    assert set(ql.CALIBRATION_METHODS) <= set(df["kind"])
    row = df[df["kind"] == "sweep"].iloc[5]
    p = ql.qparams_from_range(row.lo, row.hi, bits=4)
    # the same float64 squared errors, summed in another order: sum_rtol(n) apart at most
    assert np.isclose(row.mse, np.mean((X.astype(np.float64) - ql.fake_quantize(X, p)) ** 2), rtol=sum_rtol(X.size + 1), atol=0)
    # the MSE calibrator's pick is no worse than min-max's on the same data
    assert df.loc[df.kind == "mse", "mse"].item() <= df.loc[df.kind == "minmax", "mse"].item()


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("convention", list(ql.CONVENTIONS))
@pytest.mark.parametrize("kernels", [True, False], ids=["numba", "numpy"])
def test_candidate_sse_equals_each_per_tensor_quantization(convention, symmetric, kernels, monkeypatch):
    if not kernels:
        monkeypatch.setattr(ql._kernels, "AVAILABLE", False)
    if symmetric is False and not ql.CONVENTIONS[convention].asymmetric:
        pytest.skip(f"{convention} has no asymmetric mode")
    x = np.random.default_rng(3).standard_normal(2**16).astype(np.float32) * np.float32(0.7) + np.float32(0.2)
    t = np.linspace(1.0, 0.05, 12)
    lo, hi = (float(x.min()) * t).astype(np.float32), (float(x.max()) * t).astype(np.float32)
    if symmetric:
        a = np.maximum(-lo, hi)
        lo, hi = -a, a
    params = ql.qparams_from_range(lo, hi, bits=4, symmetric=symmetric, convention=convention, axis=0)
    got = ql.integer.candidate_sse(x, params)
    for j in range(t.size):
        p = ql.qparams_from_range(lo[j], hi[j], bits=4, symmetric=symmetric, convention=convention)
        err = ql.dequantize(ql.quantize(x, p, convention=convention), p).astype(np.float64) - x.astype(np.float64)
        # one element quantized differently would move the sum by ~1/n of it, far beyond sum_rtol
        assert got[j] == pytest.approx(math.fsum(err * err), rel=sum_rtol(x.size), abs=0), j
