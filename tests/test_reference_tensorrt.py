"""quantlib ``convention="tensorrt"`` against NVIDIA ModelOpt on CPU, side by side, bit for bit.

Expected values come from ModelOpt only: ``HistogramCalibrator.compute_amax`` (entropy,
percentile, mse), ``MaxCalibrator`` and ``tensor_quant.fake_tensor_quant`` (whose CPU path
is the pure-torch ``_tensor_quant``). quantlib's calibrate returns (-amax, amax).

ModelOpt 0.47's ``compute_amax("mse")`` calls ``fake_tensor_quant(centers, amax, num_bits,
unsigned)`` positionally, but the function's third parameter is now ``bias``: it subtracts
``num_bits`` from the data and quantizes with ``num_bits=False``, so every candidate
quantizes to one constant and the search returns (nearly) the first candidate bin. The mse
tests therefore run ModelOpt's own ``_compute_amax_mse`` with that call mapped to the
keyword arguments it means (the pytorch-quantization signature), and
``test_modelopt_mse_positional_bug`` pins the broken behaviour so a fix upstream is noticed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    histogram = pytest.importorskip("modelopt.torch.quantization.calib.histogram")
    from modelopt.torch.quantization import tensor_quant  # noqa: E402
    from modelopt.torch.quantization.calib.max import MaxCalibrator  # noqa: E402

import quantlib as ql  # noqa: E402
from conftest import KINDS, REGULAR_KINDS, cases, make_tensor  # noqa: E402

torch.set_num_threads(1)
HistogramCalibrator = histogram.HistogramCalibrator
NONNEG_KINDS = ("relu", "lognormal")

if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX"):
    pytestmark = pytest.mark.skip(
        reason="torch.linspace (the histogram edges) rounds differently in torch's non-AVX2 CPU build; "
        "quantlib follows the AVX2/AVX-512 kernels"
    )


def _fake_tensor_quant_by_keyword(inputs, amax, num_bits=8, unsigned=False, narrow_range=True):
    return tensor_quant.fake_tensor_quant(inputs, amax, None, num_bits, unsigned, narrow_range)


@pytest.fixture
def fixed_mse(monkeypatch):
    """ModelOpt's histogram module with its mse call mapped to keyword arguments (see module doc)."""
    monkeypatch.setattr(histogram, "fake_tensor_quant", _fake_tensor_quant_by_keyword)


def modelopt_amax(x: np.ndarray, method: str, *, num_bins=2048, num_bits=8, unsigned=False, percentile=99.99) -> np.float32:
    c = HistogramCalibrator(num_bits=num_bits, axis=None, unsigned=unsigned, num_bins=num_bins)
    c.collect(torch.from_numpy(x))
    return np.float32(c.compute_amax(method, percentile=percentile).item())


def quantlib_amax(x: np.ndarray, method: str, *, num_bins=2048, num_bits=8, unsigned=False, percentile=99.99) -> np.float32:
    lo, hi = ql.calibrate(x, method, bits=num_bits, symmetric=not unsigned, num_bins=num_bins, percentile=percentile, convention="tensorrt")
    assert np.float32(lo) == -np.float32(hi)
    return np.float32(hi)


# -------------------------------------------------------------------------- histogram
@pytest.mark.parametrize("num_bins", [2048, 1000, 256])
@pytest.mark.parametrize("percentile", [99.99, 99.9, 99.0, 100.0])
@pytest.mark.parametrize(
    "kind,n,seed,scale",
    cases(KINDS, sizes=(1000,)) + cases(REGULAR_KINDS, sizes=(100, 200_000), seeds=(1,)) + cases(("normal", "outliers"), sizes=(20_000,), seeds=(2,), scales=(1e-5, 1e5)),
)
def test_percentile_amax(num_bins, percentile, kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    assert quantlib_amax(x, "percentile", num_bins=num_bins, percentile=percentile) == modelopt_amax(x, "percentile", num_bins=num_bins, percentile=percentile)


@pytest.mark.parametrize(
    "num_bins,kind,n,seed,scale",
    [pytest.param(256, *c.values, id=f"{c.id}-b256") for c in cases(KINDS, sizes=(1000,)) + cases(REGULAR_KINDS, sizes=(100,), seeds=(1,))]
    + [pytest.param(1000, *c.values, id=f"{c.id}-b1000") for c in cases(REGULAR_KINDS, sizes=(200_000,), seeds=(1,))]
    # default 2048 bins: ModelOpt's loop over ~1900 candidates takes ~0.1 s, so fewer cases
    + [pytest.param(2048, *c.values, id=f"{c.id}-b2048") for c in cases(("normal", "outliers", "tiny", "huge", "constant", "all_zero"), sizes=(1000,))]
    + [pytest.param(2048, *c.values, id=f"{c.id}-b2048") for c in cases(("normal", "outliers"), sizes=(20_000,), seeds=(2,), scales=(1e-5, 1e5))],
)
def test_mse_amax(fixed_mse, num_bins, kind, n, seed, scale):
    """Includes |x| ~ 1e30, where float32 squared errors overflow and ModelOpt's NaN means
    make np.argmin pick the first candidate; quantlib follows."""
    x = make_tensor(kind, n, seed, scale)
    assert quantlib_amax(x, "mse", num_bins=num_bins) == modelopt_amax(x, "mse", num_bins=num_bins)


ENTROPY_CASES = (
    [pytest.param(256, *c.values, id=f"{c.id}-b256") for c in cases(KINDS, sizes=(1000,)) + cases(REGULAR_KINDS, sizes=(5000,), seeds=(2,), scales=(3e-4,))]
    + [pytest.param(512, *c.values, id=f"{c.id}-b512") for c in cases(("normal", "outliers", "bimodal", "ties"), sizes=(100, 100_000), seeds=(1,))]
    # 2048 bins: ModelOpt's pure-Python search takes ~1.3 s, so one case
    + [pytest.param(2048, *c.values, id=f"{c.id}-b2048", marks=pytest.mark.slow) for c in cases(("bimodal",), sizes=(1000,), seeds=(4,))]
)


@pytest.mark.parametrize("num_bins,kind,n,seed,scale", ENTROPY_CASES)
def test_entropy_amax(num_bins, kind, n, seed, scale):
    """Includes tensors whose first histogram bins are empty (constant, bimodal, ties, small
    n): ModelOpt's KL is then 0/0 = NaN for the leading candidates and np.argmin returns a
    NaN; quantlib follows."""
    x = make_tensor(kind, n, seed, scale)
    assert quantlib_amax(x, "entropy", num_bins=num_bins) == modelopt_amax(x, "entropy", num_bins=num_bins)


@pytest.mark.parametrize("num_bits", [4, 6, 8])
@pytest.mark.parametrize("unsigned", [False, True], ids=["signed", "unsigned"])
@pytest.mark.parametrize("method", ["entropy", "mse", "percentile"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(NONNEG_KINDS + ("normal",), sizes=(3000,), seeds=(5,)))
def test_amax_bits_and_unsigned(fixed_mse, num_bits, unsigned, method, kind, n, seed, scale):
    """Other bit widths (2**(bits-1) levels) and unsigned mode (one more bit of levels),
    which ModelOpt allows for non-negative data only."""
    x = make_tensor(kind, n, seed, scale)
    if unsigned and x.min() < 0:
        x = np.abs(x)
    kw = dict(num_bins=200 if method == "entropy" else 1000, num_bits=num_bits, unsigned=unsigned)
    assert quantlib_amax(x, method, **kw) == modelopt_amax(x, method, **kw)


def test_modelopt_mse_positional_bug():
    """ModelOpt 0.47 (unpatched) returns the centre of the first candidate bin for plain
    normal data: its mse search quantizes every candidate to a constant (see module doc).
    If this starts failing, ModelOpt fixed the call and the fixture can go."""
    x = make_tensor("normal", 10_000, 0)
    c = HistogramCalibrator(num_bits=8, axis=None, unsigned=False)
    c.collect(torch.from_numpy(x))
    amax = np.float32(c.compute_amax("mse").item())
    edges = torch.linspace(0, float(np.abs(x).max()), 2049).numpy()
    assert amax == np.float32((edges[128] + edges[129]) / np.float32(2))
    assert amax < quantlib_amax(x, "mse") / 10


# -------------------------------------------------------------------- max and quantizer
@pytest.mark.parametrize("kind,n,seed,scale", cases(KINDS, sizes=(100, 100_000)))
def test_max_calibrator(kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    c = MaxCalibrator(num_bits=8, axis=None, unsigned=False)
    c.collect(torch.from_numpy(x))
    amax = np.float32(c.compute_amax().item())
    lo, hi = ql.calibrate(x, "minmax", convention="tensorrt")
    assert max(-np.float32(lo), np.float32(hi)) == amax
    # QuantParams keep the amax the quantizer acts on: ModelOpt's _tensor_quant treats
    # amax <= 2**-24 as 0 (everything quantizes to 0), and quantlib stores that 0.
    p = ql.choose_qparams(x, convention="tensorrt")
    assert np.float32(p.amax) == (amax if amax > 2.0**-24 else 0)


def modelopt_fake_quant(x: np.ndarray, amax: float, num_bits: int = 8, unsigned: bool = False) -> np.ndarray:
    out = tensor_quant.fake_tensor_quant(torch.from_numpy(x), torch.tensor(np.float32(amax)), None, num_bits, unsigned, True)
    return out.numpy()


@pytest.mark.parametrize("num_bits", [2, 4, 8])
@pytest.mark.parametrize("kind,n,seed,scale", cases(KINDS, sizes=(5000,)) + cases(REGULAR_KINDS, sizes=(200_000,), seeds=(1,), scales=(0.013,)))
def test_fake_tensor_quant(num_bits, kind, n, seed, scale):
    """fake_tensor_quant(x, amax=max|x|): clamp(round(x * (qmax/amax)), -qmax, qmax) / (qmax/amax),
    narrow range; amax <= 2**-24 quantizes everything to 0 (the tiny and all-zero tensors)."""
    x = make_tensor(kind, n, seed, scale)
    p = ql.choose_qparams(x, bits=num_bits, convention="tensorrt")
    np.testing.assert_array_equal(ql.fake_quantize(x, p), modelopt_fake_quant(x, np.abs(x).max(), num_bits))


@pytest.mark.parametrize("num_bits", [4, 8])
@pytest.mark.parametrize("unsigned", [False, True], ids=["signed", "unsigned"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(REGULAR_KINDS, sizes=(20_000,), seeds=(3,)))
def test_fake_tensor_quant_calibrated_amax(num_bits, unsigned, kind, n, seed, scale):
    """amax from a 99.9 % percentile calibration, so the tails clip; unsigned on |x|."""
    x = make_tensor(kind, n, seed, scale)
    if unsigned:
        x = np.abs(x)
    amax = modelopt_amax(x, "percentile", percentile=99.9)
    p = ql.qparams_from_range(-amax, amax, bits=num_bits, symmetric=True, signed=not unsigned, convention="tensorrt")
    np.testing.assert_array_equal(ql.fake_quantize(x, p), modelopt_fake_quant(x, amax, num_bits, unsigned))


@pytest.mark.parametrize("seed", range(3))
def test_fake_tensor_quant_ties(seed):
    """Values exactly halfway between codes: torch.round (half to even) and quantlib agree."""
    rng = np.random.default_rng(seed)
    amax = np.float32(127 * 2.0 ** rng.integers(-8, 8))  # qmax/amax is a power of two
    x = ((rng.integers(-140, 140, 4000) + 0.5) * (amax / 127)).astype(np.float32)
    p = ql.qparams_from_range(-amax, amax, bits=8, symmetric=True, convention="tensorrt")
    np.testing.assert_array_equal(ql.fake_quantize(x, p), modelopt_fake_quant(x, amax))
