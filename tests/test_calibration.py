"""Calibrators: what each one is for, checked on data where the answer is known."""

import numpy as np
import pytest

import quantlib as ql


@pytest.fixture(scope="module")
def outlier_tensor():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200_000).astype(np.float32)
    x[:20] = 60.0
    return x


def test_minmax_is_the_data_range(outlier_tensor):
    lo, hi = ql.calibrate(outlier_tensor, "minmax")
    assert (lo, hi) == (outlier_tensor.min(), outlier_tensor.max())


@pytest.mark.parametrize(
    "method, convention, bits",
    [("percentile", c, 8) for c in ("quantlib", "pytorch", "onnxruntime", "tensorrt")]
    + [("entropy", "quantlib", 8), ("entropy", "tensorrt", 8), ("mse", "quantlib", 4), ("mse", "tensorrt", 4)],
    ids=lambda v: str(v),
)
def test_outlier_robust_methods_clip_rare_outliers(outlier_tensor, method, convention, bits):
    # a rare outlier lies beyond every default percentile cut, and at 4 bits an L2 criterion
    # prefers clipping them (at 8 bits keeping them is cheaper, so mse rightly keeps them there).
    x = np.concatenate([outlier_tensor[20:], outlier_tensor[:1]])  # 1 outlier in 200k: 0.0005 %
    lo, hi = ql.calibrate(x, method, convention=convention, bits=bits)
    assert 2.0 < hi < 30, f"{method}/{convention} kept the outliers: hi={hi}"


def test_percentile_matches_numpy_quantile_exactly():
    x = np.random.default_rng(1).standard_normal(10_001).astype(np.float32)
    lo, hi = ql.calibrate(x, "percentile", percentile=99.0, symmetric=False)
    assert (lo, hi) == tuple(np.quantile(x, [0.005, 0.995]).astype(np.float32))
    lo, hi = ql.calibrate(x, "percentile", percentile=99.0)
    assert hi == np.float32(np.quantile(np.abs(x), 0.99)) and lo == -hi


def test_num_bins_changes_histogram_methods(outlier_tensor):
    picks = {ql.calibrate(outlier_tensor, "entropy", num_bins=nb)[1] for nb in (256, 1024, 4096)}
    assert len(picks) > 1


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_per_channel_calibration_matches_row_by_row(method):
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((6, 500)) * np.arange(1, 7)[:, None]).astype(np.float32)
    lo, hi = ql.calibrate(w, method, axis=0, percentile=99.0)
    for r in range(6):
        rlo, rhi = ql.calibrate(w[r : r + 1], method, axis=0, percentile=99.0)
        assert lo[r] == rlo[0] and hi[r] == rhi[0]


def test_mse_pick_is_no_worse_than_minmax(outlier_tensor):
    def err(lo, hi):
        p = ql.qparams_from_range(lo, hi, bits=4)
        return np.mean((outlier_tensor - ql.fake_quantize(outlier_tensor, p)) ** 2)

    assert err(*ql.calibrate(outlier_tensor, "mse", bits=4)) < err(*ql.calibrate(outlier_tensor, "minmax"))


def test_calibrators_on_constant_tensor_return_a_valid_range():
    x = np.full(100, 2.5, np.float32)
    for method in ql.CALIBRATION_METHODS:
        for conv in ql.CONVENTIONS:
            lo, hi = ql.calibrate(x, method, convention=conv)
            assert np.isfinite(lo) and np.isfinite(hi) and lo <= hi
            p = ql.qparams_from_range(lo, hi, convention=conv)
            assert np.all(np.isfinite(ql.fake_quantize(x, p)))


# ---------------------------------------------------------------- the prefix-sum KL search
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from quantlib import calibration as cal  # noqa: E402


@st.composite
def kl_histograms(draw):
    """A count histogram (sparse, peaked, flat or with outlier bins) and a quantized bin count."""
    nbins = draw(st.sampled_from([16, 33, 64, 128, 129, 256, 511, 1024]))
    nq = draw(st.integers(2, min(nbins, 160)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([5, 50, 2_000, 200_000]))
    shape = draw(st.sampled_from(["normal", "laplace", "outliers", "integers", "uniform"]))
    x = {"normal": lambda: rng.standard_normal(n), "laplace": lambda: rng.laplace(size=n),
         "outliers": lambda: np.r_[rng.standard_normal(n), 40 * rng.standard_normal(max(1, n // 200))],
         "integers": lambda: np.round(3 * rng.standard_normal(n)), "uniform": lambda: rng.uniform(-1, 1, n)}[shape]()
    t = np.abs(x).max()
    return np.histogram(x, nbins, (-t, t))[0].astype(np.int64), nq


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(kl_histograms(), st.booleans())
def test_prefix_kl_is_within_its_bound_of_the_exact_kl(case, integer_expansion):
    """Every candidate's filter value lies within its stated error bound of the exact KL
    (onnxruntime's float32 operations, or the float64 row formula); an exact inf always
    carries an infinite bound, so it is re-evaluated rather than trusted."""
    hist, nq = case
    zbi = hist.size // 2
    cand = np.arange(nq // 2, zbi + 1)
    pre = cal._Prefix(hist)
    kl, bound = cal._kl_prefix(pre, cand, nq, integer_expansion)
    exact = np.array([cal._exact_kl(hist, pre.count, zbi - i, min(zbi + i + 1, hist.size), nq, integer_expansion) for i in cand])
    finite = np.isfinite(exact)
    assert np.all(np.isinf(bound[~finite]))
    trusted = finite & np.isfinite(bound)
    assert np.all(np.abs(kl[trusted] - exact[trusted]) <= bound[trusted])


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(kl_histograms(), st.booleans())
def test_kl_search_equals_the_brute_force_first_minimum(case, integer_expansion):
    """The filter-then-rescore search returns the first minimum of the exact KL over all
    candidates, as a loop over every candidate would."""
    hist, nq = case
    zbi = hist.size // 2
    edges = np.linspace(-1.0, 1.0, hist.size + 1)
    csum = np.concatenate([[0], np.cumsum(hist)])
    cand = np.arange(nq // 2, zbi + 1)
    exact = np.array([cal._exact_kl(hist, csum, zbi - i, min(zbi + i + 1, hist.size), nq, integer_expansion) for i in cand])
    got = cal.kl_threshold_search(hist, edges, nq, integer_expansion=integer_expansion)
    if np.isfinite(exact).any():
        i = int(cand[int(np.argmin(exact))])
        assert got == (edges[zbi - i], edges[min(zbi + i + 1, hist.size)])
    else:
        assert got == (edges[0], edges[-1])


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("dist", ["normal", "laplace", "normal_with_outliers", "uniform"])
def test_mse_calibrator_kernel_picks_the_numpy_paths_range(dist, symmetric, monkeypatch):
    """The histogram-MSE cost on the numba kernel sums the same float64 terms in another order;
    the chosen range is the numpy path's on every case here (bits 2..8, coarse and fine bins)."""
    x = ql.synthetic(dist, 2**16, 1)
    for bits in (2, 4, 8):
        for num_bins in (128, 2048):
            fast = ql.calibrate(x, "mse", bits=bits, symmetric=symmetric, num_bins=num_bins)
            with monkeypatch.context() as m:
                m.setattr(ql._kernels, "AVAILABLE", False)
                slow = ql.calibrate(x, "mse", bits=bits, symmetric=symmetric, num_bins=num_bins)
            assert fast == slow, (bits, num_bins)
