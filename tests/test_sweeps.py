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


def _outlier_matrix(rows: int = 1024, cols: int = 512) -> np.ndarray:
    """A float32 weight whose input column 7 holds outliers (every row has one), as transformer weights do."""
    w = (np.random.default_rng(21).standard_normal((rows, cols)) * 0.02).astype(np.float32)
    w[:, 7] *= 50
    return w


def test_structured_sample_keeps_whole_rows_and_the_extremes():
    from quantlib.sweeps import structured_sample

    w = _outlier_matrix()
    w[333, 100], w[777, 200] = 9.0, -9.0  # the extremes, in rows a stride would skip
    s = structured_sample(w, 2**18)
    assert s.shape == (512, 512) and s.max() == 9.0 and s.min() == -9.0
    rows = {tuple(r) for r in w.tolist()}
    assert all(tuple(r) in rows for r in s.tolist())  # whole rows of the tensor
    v = ql.synthetic("laplace", 2**20, 3)
    sv = structured_sample(v, 2**16)
    assert sv.size == 2**16 and sv.max() == v.max() and sv.min() == v.min()
    assert structured_sample(w, None) is w and structured_sample(w, w.size) is w


def test_bit_curve_of_a_large_matrix_is_the_whole_tensors_within_its_estimate():
    """Explore's bit curve on a 1024 × 512 weight (a 262,144-value sample): per-channel works (the flat
    subsample made it a vector), and the ringed setting's SQNR is near the cards' whole-tensor value
    (the flat sample never visited the outlier column and read 38 dB against 19.75)."""
    w = _outlier_matrix()
    for settings in ({}, {"granularity": "per_channel"}):
        df = ql.sweep_bits(w, "symmetric", [4, 8], max_samples=2**18, **settings)
        for bits in (4, 8):
            exact = ql.Quantizer("symmetric", bits=bits, **settings)(w).metrics(w).sqnr_db
            got = float(df[(df.scheme == "symmetric") & (df.bits == bits)].sqnr_db.iloc[0])
            assert abs(got - exact) < 0.5, (settings, bits, got, exact)


def test_threshold_sweep_starts_at_the_tensors_own_range():
    w = _outlier_matrix()
    w[901, 3] = 7.5  # one value a 65,536-value stride would miss
    t = ql.sweep_threshold(w, bits=8, symmetric=True, convention="pytorch", num_bins=2048, num_points=8,
                           max_samples=2**16, percentile=99.99)
    assert float(t[t["kind"] == "sweep"]["threshold"].max()) == pytest.approx(7.5, rel=1e-6)
