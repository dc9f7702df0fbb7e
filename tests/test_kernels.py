"""The fused numba kernels give bit-identical results to the numpy paths they replace."""

import numpy as np
import pytest

import quantlib as ql
from quantlib import _kernels, histograms
from conftest import sum_rtol

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")


@pytest.fixture
def numpy_path(monkeypatch):
    def run(f):
        monkeypatch.setattr(_kernels, "AVAILABLE", False)
        try:
            return f()
        finally:
            monkeypatch.setattr(_kernels, "AVAILABLE", True)
    return run


def _tensor(kind, seed):
    rng = np.random.default_rng(seed)
    n = 2**16 + 123
    x = {"normal": rng.standard_normal(n), "ties": np.round(rng.standard_normal(n) * 40) / 8,
         "outliers": np.r_[rng.standard_normal(n - 3), [80.0, -50.0, 1e4]]}[kind]
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", ["normal", "ties", "outliers"])
@pytest.mark.parametrize("convention", sorted(ql.CONVENTIONS))
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
def test_quantize_and_fake_quantize_match_numpy(kind, convention, symmetric, numpy_path):
    if convention == "tensorrt" and not symmetric:
        pytest.skip("tensorrt is symmetric only")
    x = _tensor(kind, 0)
    for bits in (3, 8):
        p = ql.choose_qparams(x, bits=bits, symmetric=symmetric, convention=convention, calibration="percentile",
                              percentile=99.9)
        assert _kernels.usable(x)
        np.testing.assert_array_equal(ql.quantize(x, p), numpy_path(lambda: ql.quantize(x, p)))
        np.testing.assert_array_equal(ql.fake_quantize(x, p), numpy_path(lambda: ql.fake_quantize(x, p)))


@pytest.mark.parametrize("bins", [7, 256, 2048])
def test_histograms_match_numpy(bins):
    x = _tensor("ties", 1)
    np.testing.assert_array_equal(histograms.histc(x, bins, x.min(), x.max()),
                                  np.bincount(np.minimum(((x - x.min()) * np.float32(bins) / (x.max() - x.min())).astype(np.int64), bins - 1), minlength=bins))
    c, e = histograms.uniform_histogram(x, bins, -3.0, 2.5)
    c2, e2 = np.histogram(x, bins, range=(-3.0, 2.5))
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(e, e2)


def test_metrics_match_numpy(numpy_path):
    """The kernel adds each sum in per-thread chunks, numpy in BLAS dot products: a different
    order, so the sums may differ by sum_rtol(n) (more threads, other chunks; another CPU, another
    BLAS kernel). Everything that adds nothing in float is equal: max |e|, the clipped share and
    its error (numpy on both paths), the histograms behind the KL and the code counts."""
    x = _tensor("outliers", 2)
    r = ql.Quantizer("asymmetric", bits=4, calibration="percentile")(x)
    a, b = r.metrics(x).to_dict(), numpy_path(lambda: r.metrics(x).to_dict())
    assert _kernels.usable(x) and r.metrics(x).clip_ratio > 0
    for k in ("max_abs_error", "clip_ratio", "clipping_mse", "kl_divergence", "levels_used", "code_entropy_bits",
              "bits_per_element"):
        assert a[k] == b[k], k
    tol = sum_rtol(x.size + 2)  # a sum of n terms, then / n or a sqrt
    for k in ("mse", "rmse", "mae"):
        assert np.isclose(a[k], b[k], rtol=tol, atol=0), k
    # rounding_mse = (total - clipped) / n: the total's error, relative to the whole mse
    assert np.isclose(a["rounding_mse"], b["rounding_mse"], rtol=0, atol=tol * a["mse"])
    for k in ("sqnr_db", "psnr_db"):  # 10 log10 of a ratio of sums: 10 / ln 10 * 2 tol
        assert np.isclose(a[k], b[k], rtol=0, atol=10 / np.log(10) * 2 * tol), k
    cross = x.astype(np.float64) * r.dequantized
    cond = np.abs(cross).sum() / abs(cross.sum())
    assert np.isclose(a["cosine_similarity"], b["cosine_similarity"], rtol=sum_rtol(x.size, condition=cond) + tol, atol=0)


@pytest.mark.parametrize("kind", ["normal", "ties", "outliers"])
@pytest.mark.parametrize("scheme, bits", [("lloyd_max", 6), ("quantile", 8), ("log2", 8)])
def test_codebook_schemes_match_numpy_search(kind, scheme, bits, numpy_path):
    x = _tensor(kind, 3)
    fast = ql.Quantizer(scheme, bits=bits)(x)
    slow = numpy_path(lambda: ql.Quantizer(scheme, bits=bits)(x))
    assert fast.codes.dtype == slow.codes.dtype and np.array_equal(fast.codes, slow.codes)
    assert np.array_equal(fast.dequantized, slow.dequantized)


@pytest.mark.parametrize("right", [False, True], ids=["left", "right"])
def test_bucketize_is_searchsorted_on_ties_and_ends(right):
    rng = np.random.default_rng(11)
    bounds = np.sort(rng.standard_normal(300).astype(np.float32))
    x = np.concatenate([bounds, np.nextafter(bounds, np.float32(np.inf)), np.nextafter(bounds, np.float32(-np.inf)),
                        [-np.inf, np.inf], rng.standard_normal(2**16).astype(np.float32) * 3]).astype(np.float32)
    want = np.searchsorted(bounds, x, side="right" if right else "left")
    got = _kernels.bucketize(x, bounds, right)
    assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("right", [False, True], ids=["left", "right"])
@pytest.mark.parametrize("bounds_of", ["outlier", "one-value-repeated", "two-bounds", "subnormal"])
def test_bucketize_table_guess_is_exact_on_uneven_bounds(right, bounds_of):
    """The kernel starts from a table guess over [bounds[0], bounds[-1]]: bounds crowded into one cell
    (a huge outlier), equal bounds, a zero-width range and subnormal spacings still give searchsorted's indices."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(2**16), [0.0, -0.0, 1e30, -1e30, np.inf, -np.inf]]).astype(np.float32)
    bounds = {
        "outlier": np.concatenate([np.sort(rng.standard_normal(200)), [1e30]]),
        "one-value-repeated": np.full(40, 0.5),
        "two-bounds": np.array([0.25, 0.25]),
        "subnormal": np.sort(rng.standard_normal(64)) * 1e-40,
    }[bounds_of].astype(np.float32)
    x[: bounds.size] = bounds  # every bound also as a value: ties
    want = np.searchsorted(bounds, x, side="right" if right else "left")
    assert np.array_equal(_kernels.bucketize(x, bounds, right), want)


def test_read_only_and_writable_inputs_share_one_compilation():
    # numba compiles a kernel apart for a read-only array (the app's tensors) and a writable one; the kernels
    # get read-only views of their inputs, so one compilation serves both, the one ql.warm_up leaves warm
    x = _tensor("normal", 2)
    xh = x + np.float32(0.01)
    ql.metrics(x, xh)
    kernel = _kernels._kernel("error_sums", x.size)[0]  # the serial form, at this size
    before = len(kernel.signatures)
    x.setflags(write=False)
    ql.metrics(x, xh)
    xh.setflags(write=False)
    ql.metrics(x, xh)
    assert len(kernel.signatures) == before


@pytest.mark.parametrize("convention", sorted(ql.CONVENTIONS))
def test_serial_and_parallel_forms_agree(convention):
    # tensors under MIN_PARALLEL values run each kernel's serial twin, larger ones its parallel form
    x = _tensor("ties", 3)
    p = ql.choose_qparams(x, bits=4, symmetric=True, convention=convention)

    def outputs():
        return (ql.quantize(x, p), ql.fake_quantize(x, p), histograms.histc(x, 256, x.min(), x.max()),
                histograms.uniform_histogram(x, 128, -2.0, 2.0)[0], ql.Quantizer("nf4")(x).codes)

    serial = outputs()
    with _kernels.parallel_kernels():
        parallel = outputs()
    assert _kernels._kernel("histc", x.size)[0] is _kernels._jit().SERIAL["histc"]
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)
