"""Hypothesis invariants of the integer engine, for every convention and rounding mode."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib as ql
from conftest import sum_rtol

finite_f32 = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=32)
tensors = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=40), elements=finite_f32)
conventions = st.sampled_from(sorted(ql.CONVENTIONS))
bits = st.integers(2, 16)
pytestmark = pytest.mark.slow  # hypothesis: 150 tensors per invariant
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _params(x, b, symmetric, convention, signed=None):
    if convention == "tensorrt":
        symmetric = True
    return ql.choose_qparams(x, bits=b, symmetric=symmetric, signed=signed, convention=convention)


@SETTINGS
@given(tensors, bits, st.booleans(), conventions, st.sampled_from(ql.ROUNDING_MODES))
def test_codes_stay_within_qmin_qmax(x, b, symmetric, convention, rounding):
    p = _params(x, b, symmetric, convention)
    q = ql.quantize(x * 3, p, rounding=rounding)  # x*3 forces clipping
    assert q.shape == x.shape
    assert q.min() >= p.qmin and q.max() <= p.qmax


@SETTINGS
@given(tensors, bits, st.booleans(), conventions)
def test_error_at_most_half_a_step_inside_the_range(x, b, symmetric, convention):
    p = _params(x, b, symmetric, convention)
    xhat = ql.fake_quantize(x, p)
    lo, hi = ql.dequantize(np.array([p.qmin, p.qmax]), p)
    inside = (x >= lo) & (x <= hi)
    if convention == "tensorrt" and p.amax == 0:  # ModelOpt: amax <= 2**-24 quantizes everything to 0
        assert np.all(xhat == 0) and np.abs(x).max() <= 2.0**-24
        return
    step = float(p.scale) if convention != "tensorrt" else float(p.amax) / p.qmax
    # float32 arithmetic (reciprocal multiply, x/s rounding) may add a few ulps
    tol = step / 2 * (1 + 1e-5) + 4 * np.spacing(np.abs(x).max())
    err = np.abs(x.astype(np.float64) - xhat)[inside]
    assert err.size == 0 or err.max() <= tol


@SETTINGS
@given(tensors, bits, st.booleans(), conventions)
def test_fake_quantize_is_idempotent(x, b, symmetric, convention):
    p = _params(x, b, symmetric, convention)
    once = ql.fake_quantize(x, p)
    np.testing.assert_array_equal(ql.fake_quantize(once, p), once)


@SETTINGS
@given(tensors, bits, st.booleans(), conventions)
def test_zero_is_exactly_representable(x, b, symmetric, convention):
    p = _params(x, b, symmetric, convention)
    assert ql.fake_quantize(np.zeros(3, np.float32), p).tolist() == [0.0, 0.0, 0.0]


@SETTINGS
@given(tensors, bits, st.booleans(), conventions, st.sampled_from(["half_even", "half_away", "floor"]))
def test_transfer_function_is_monotone(x, b, symmetric, convention, rounding):
    p = _params(x, b, symmetric, convention)
    xs = np.sort(np.concatenate([x.ravel(), x.ravel() * 2]))
    assert np.all(np.diff(ql.fake_quantize(xs, p, rounding=rounding)) >= 0)


@SETTINGS
@given(tensors, bits, st.booleans())
def test_clipping_and_rounding_mse_sum_to_mse(x, b, symmetric):
    p = ql.choose_qparams(x, bits=b, symmetric=symmetric, calibration="percentile", percentile=90.0)
    codes = ql.quantize(x, p)
    m = ql.metrics(x, ql.dequantize(codes, p), p, codes=codes)
    assert m.clipping_mse + m.rounding_mse == m.mse
    direct = np.mean((x.astype(np.float64) - ql.dequantize(codes, p)) ** 2)
    # the same float64 squared errors, summed in another order (BLAS dot vs pairwise), then / n;
    # m.mse adds the clipped and the rest's sums, each divided by n: a few roundings more
    assert np.isclose(m.mse, direct, rtol=sum_rtol(x.size + 4), atol=0)


@SETTINGS
@given(tensors, st.integers(2, 12), st.booleans())
def test_per_channel_error_bounded_by_each_channels_step(x, b, symmetric):
    assume(x.ndim == 2)
    p = ql.choose_qparams(x, bits=b, symmetric=symmetric, axis=0)
    err = np.abs(x.astype(np.float64) - ql.fake_quantize(x, p))
    bound = np.asarray(p.scale, dtype=np.float64)[:, None] / 2 * (1 + 1e-5) + 4 * np.spacing(np.abs(x).max())
    assert np.all(err <= bound)


@SETTINGS
@given(tensors, st.integers(0, 2**31))
def test_stochastic_rounding_is_reproducible_and_unbiased_in_range(x, seed):
    p = ql.choose_qparams(x, bits=8)
    a = ql.quantize(x, p, rounding="stochastic", seed=seed)
    np.testing.assert_array_equal(a, ql.quantize(x, p, rounding="stochastic", seed=seed))
    lower = ql.quantize(x, p, rounding="floor")
    assert np.all((a == lower) | (a == np.minimum(lower.astype(np.int64) + 1, p.qmax)))


@SETTINGS
@given(hnp.arrays(np.float32, st.integers(1, 200), elements=finite_f32), st.integers(2, 4096), st.sampled_from(["center", "mean"]))
def test_histogram_codes_are_valid_bins_and_error_within_bin(x, nbins, recon):
    codes, xhat, levels, edges = ql.histogram_quantize(x, nbins, recon)
    assert codes.min() >= 0 and codes.max() <= nbins - 1
    width = (float(x.max()) - float(x.min())) / nbins
    assert np.all(np.abs(x.astype(np.float64) - xhat) <= width * (1 + 1e-5) + np.spacing(np.abs(x).max()) * 4)
