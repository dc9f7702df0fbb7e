"""Metrics, checked against independent formulas (numpy/scipy), not against quantlib itself."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

import quantlib as ql
from conftest import sum_rtol


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000).astype(np.float32)
    p = ql.choose_qparams(x, bits=4, calibration="percentile", percentile=99.0)
    codes = ql.quantize(x, p)
    return x, ql.dequantize(codes, p), p, codes


def test_error_metrics_match_direct_formulas(pair):
    """Every reference is computed in float64 (scipy's cosine of float32 vectors would take its
    dot products in float32 with the CPU's BLAS kernel: 0.9937942 on one machine, 0.9937945 on
    another). The two sides add the same terms in different orders (quantlib: BLAS dot or numba
    chunks; here: numpy's pairwise sum), so each sum may differ by sum_rtol(n); max|e| has no
    order and is compared exactly."""
    x, xh, p, codes = pair
    m = ql.metrics(x, xh, p, codes=codes)
    x64, xh64 = x.astype(np.float64), xh.astype(np.float64)
    e = x64 - xh64
    n = x.size
    tol = sum_rtol(n + 2)  # a sum of n terms, then / n or a sqrt: one or two roundings more
    db = 10 / np.log(10)  # d(10 log10 r) = db * dr / r: a ratio of two sums is off by 2 tol at most
    mse = np.mean(e**2)
    assert np.isclose(m.mse, mse, rtol=tol, atol=0)
    assert np.isclose(m.rmse, np.sqrt(mse), rtol=tol, atol=0)
    assert np.isclose(m.mae, np.mean(np.abs(e)), rtol=tol, atol=0)
    assert m.max_abs_error == np.abs(e).max()
    assert np.isclose(m.sqnr_db, 10 * np.log10(np.sum(x64**2) / np.sum(e**2)), rtol=0, atol=db * 2 * tol)
    assert np.isclose(m.psnr_db, 10 * np.log10(np.abs(x64).max() ** 2 / mse), rtol=0, atol=db * 2 * tol)
    # cosine: the cross sum's terms may differ in sign (condition = sum|x xh| / |sum x xh|), each norm
    # carries half its sum's error, and scipy returns 1 - (1 - cos): two more roundings of ~1
    cross = x64 * xh64
    cond = np.abs(cross).sum() / abs(cross.sum())
    cos_tol = sum_rtol(n, condition=cond) + sum_rtol(n) + 4 * np.finfo(np.float64).eps
    assert np.isclose(m.cosine_similarity, 1 - distance.cosine(x64, xh64), rtol=cos_tol, atol=0)


def test_clip_ratio_counts_values_beyond_half_a_step(pair):
    x, xh, p, codes = pair
    m = ql.metrics(x, xh, p, codes=codes)
    lo = (p.qmin - p.zero_point - 0.5) * p.scale
    hi = (p.qmax - p.zero_point + 0.5) * p.scale
    assert m.clip_ratio == np.mean((x < lo) | (x > hi)) > 0


def test_code_entropy_and_levels_used_match_scipy(pair):
    x, xh, p, codes = pair
    m = ql.metrics(x, xh, p, codes=codes)
    _, counts = np.unique(codes, return_counts=True)
    assert m.levels_used == counts.size
    assert np.isclose(m.code_entropy_bits, stats.entropy(counts, base=2), rtol=1e-12)
    # without codes, distinct reconstructed values give the same answer
    assert ql.metrics(x, xh, p).levels_used == counts.size


def test_perfect_reconstruction():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    m = ql.metrics(x, x.copy())
    assert m.mse == 0 and m.sqnr_db == float("inf") and m.cosine_similarity == 1.0 and m.kl_divergence == 0


def test_bits_per_element_counts_scale_overhead():
    w = np.random.default_rng(0).standard_normal((16, 128)).astype(np.float32)
    per_group = ql.choose_qparams(w, bits=4, axis=0, group_size=32)
    assert ql.metrics(w, ql.fake_quantize(w, per_group), per_group).bits_per_element == 4 + 32 / 32
    asym = ql.choose_qparams(w, bits=4, symmetric=False, axis=0, group_size=32)
    assert ql.metrics(w, ql.fake_quantize(w, asym), asym).bits_per_element == 4 + (32 + 4) / 32


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="same shape"):
        ql.metrics(np.ones(3, np.float32), np.ones(4, np.float32))
