"""Metrics, checked against independent formulas (numpy/scipy), not against quantlib itself."""

import numpy as np
import pytest
from scipy import stats

import quantlib as ql


@pytest.fixture
def pair():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000).astype(np.float32)
    p = ql.choose_qparams(x, bits=4, calibration="percentile", percentile=99.0)
    codes = ql.quantize(x, p)
    return x, ql.dequantize(codes, p), p, codes


def test_error_metrics_match_direct_formulas(pair):
    x, xh, p, codes = pair
    m = ql.metrics(x, xh, p, codes=codes)
    e = x.astype(np.float64) - xh
    assert np.isclose(m.mse, np.mean(e**2), rtol=1e-12)
    assert np.isclose(m.rmse, np.sqrt(np.mean(e**2)), rtol=1e-12)
    assert np.isclose(m.mae, np.mean(np.abs(e)), rtol=1e-12)
    assert m.max_abs_error == np.abs(e).max()
    assert np.isclose(m.sqnr_db, 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(e**2)), rtol=1e-12)
    assert np.isclose(m.psnr_db, 10 * np.log10(np.abs(x).max() ** 2 / np.mean(e**2)), rtol=1e-6)
    assert np.isclose(m.cosine_similarity, 1 - __import__("scipy").spatial.distance.cosine(x, xh), rtol=1e-9)


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
