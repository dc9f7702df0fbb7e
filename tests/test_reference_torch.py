"""quantlib ``convention="pytorch"`` against torch.ao.quantization and ATen, side by side, bit for bit.

Expected values come from torch only: observers for qparams, quantize_per_tensor /
quantize_per_channel for codes, fake_quantize_* for fake quantization, ``.dequantize()``.
reduce_range is not supported by quantlib and is not tested.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.ao.quantization import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver  # noqa: E402

import quantlib as ql  # noqa: E402
from conftest import KINDS, REGULAR_KINDS, TIE_SCALE, cases, make_tensor  # noqa: E402

torch.set_num_threads(1)
# torch 2.13 deprecates the quantized dtypes (quint8/qint8) but they are the reference here
pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions.*:UserWarning")

SCHEMES = {
    # id: (torch dtype, per-tensor qscheme, per-channel qscheme, symmetric, signed)
    "quint8-affine": (torch.quint8, torch.per_tensor_affine, torch.per_channel_affine, False, False),
    "qint8-affine": (torch.qint8, torch.per_tensor_affine, torch.per_channel_affine, False, True),
    "quint8-symmetric": (torch.quint8, torch.per_tensor_symmetric, torch.per_channel_symmetric, True, False),
    "qint8-symmetric": (torch.qint8, torch.per_tensor_symmetric, torch.per_channel_symmetric, True, True),
}
scheme = pytest.mark.parametrize("scheme", list(SCHEMES), ids=list(SCHEMES))


def observe(observer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run a torch observer on x; return (scale as float32, zero_point as int64) arrays."""
    observer(torch.from_numpy(x))
    s, z = observer.calculate_qparams()
    return s.numpy().astype(np.float32), z.numpy().astype(np.int64)


def assert_params_equal(p: ql.QuantParams, scale: np.ndarray, zp: np.ndarray) -> None:
    np.testing.assert_array_equal(np.asarray(p.scale, dtype=np.float32).reshape(-1), scale.reshape(-1))
    np.testing.assert_array_equal(np.asarray(p.zero_point).reshape(-1), zp.reshape(-1))


def torch_codes(x: np.ndarray, scale: float, zp: int, dtype) -> np.ndarray:
    return torch.quantize_per_tensor(torch.from_numpy(x), float(scale), int(zp), dtype).int_repr().numpy()


# ----------------------------------------------------------------------------- qparams
@scheme
@pytest.mark.parametrize(
    "kind,n,seed,scale",
    cases(KINDS, sizes=(100, 5000), seeds=(0, 1)) + cases(REGULAR_KINDS, sizes=(200_000,), seeds=(2,), scales=(1e-3, 1e4)),
)
def test_minmax_qparams_8bit(scheme, kind, n, seed, scale):
    dtype, qscheme, _, symmetric, signed = SCHEMES[scheme]
    x = make_tensor(kind, n, seed, scale)
    s, z = observe(MinMaxObserver(dtype=dtype, qscheme=qscheme), x)
    p = ql.choose_qparams(x, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    assert_params_equal(p, s, z)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7])
@scheme
@pytest.mark.parametrize("kind,n,seed,scale", cases(("normal", "relu", "outliers", "lognormal", "ties", "all_zero"), sizes=(3000,)))
def test_minmax_qparams_custom_range(bits, scheme, kind, n, seed, scale):
    """Other bit widths: a customized quant_min/quant_max on the 8-bit dtypes. (With a
    customized range, torch's unsigned symmetric zero-point is the rounded-down midpoint.)"""
    dtype, qscheme, _, symmetric, signed = SCHEMES[scheme]
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    x = make_tensor(kind, n, seed, scale)
    s, z = observe(MinMaxObserver(dtype=dtype, qscheme=qscheme, quant_min=qmin, quant_max=qmax), x)
    p = ql.choose_qparams(x, bits=bits, symmetric=symmetric, signed=signed, convention="pytorch")
    assert (p.qmin, p.qmax) == (qmin, qmax)
    assert_params_equal(p, s, z)


@scheme
@pytest.mark.parametrize("ch_axis", [0, 1])
@pytest.mark.parametrize("kind,n,seed,scale", cases(REGULAR_KINDS + ("tiny", "huge"), sizes=(32 * 96,), seeds=(0, 1)))
def test_per_channel_minmax_qparams(scheme, ch_axis, kind, n, seed, scale):
    dtype, _, qscheme, symmetric, signed = SCHEMES[scheme]
    w = make_tensor(kind, n, seed, scale).reshape(32, 96)
    w[3] = 0.0  # an all-zero row (channel along axis 0): scale floored at eps
    w[:, 5] = w[0, 5]  # a constant column
    s, z = observe(PerChannelMinMaxObserver(ch_axis=ch_axis, dtype=dtype, qscheme=qscheme), w)
    p = ql.choose_qparams(w, axis=ch_axis, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    assert_params_equal(p, s, z)


def test_torch_zero_point_on_unit_range_is_127():
    """[-1, 1] with quint8 affine: torch's zp = 0 - round(-1 / (2/255)) = round(127.5) = 127
    (onnxruntime gives 128, see test_reference_onnxruntime.py)."""
    s, z = observe(MinMaxObserver(dtype=torch.quint8), np.array([-1.0, 1.0], dtype=np.float32))
    assert int(z[0]) == 127
    p = ql.qparams_from_range(-1.0, 1.0, bits=8, symmetric=False, signed=False, convention="pytorch")
    assert_params_equal(p, s, z)
    assert p.zero_point == 127


# ------------------------------------------------------------------------------- codes
@scheme
@pytest.mark.parametrize(
    "kind,n,seed,scale",
    cases(KINDS, sizes=(100, 20_000), seeds=(0,)) + cases(REGULAR_KINDS, sizes=(200_000,), seeds=(3,), scales=(7.3e-3,)),
)
def test_quantize_per_tensor_codes(scheme, kind, n, seed, scale):
    dtype, _, _, symmetric, signed = SCHEMES[scheme]
    x = make_tensor(kind, n, seed, scale)
    # params fitted on the central 80 % of x, so the tails exercise clamping
    fit = np.sort(x)[n // 10 : n - n // 10] if n >= 20 else x
    p = ql.choose_qparams(fit, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    expected = torch_codes(x, p.scale, p.zero_point, dtype)
    np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), expected.astype(np.int64))


@scheme
@pytest.mark.parametrize("step", [TIE_SCALE, 2.0**-10, 2.0**3])
def test_quantize_rounding_ties(scheme, step):
    """x = (k + 1/2) * step on a power-of-two grid: every value is an exact tie, rounded to even."""
    dtype, _, _, _, signed = SCHEMES[scheme]
    k = np.arange(-300, 300)
    x = ((k + 0.5) * step).astype(np.float32)
    zp = 0 if signed else 128
    p = ql.QuantParams(scale=step, zero_point=zp, qmin=-128 if signed else 0, qmax=127 if signed else 255, convention="pytorch")
    expected = torch_codes(x, step, zp, dtype)
    np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), expected.astype(np.int64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantize_ties_tensor_with_observer_scale(seed):
    """The ``ties`` tensor has amax = 127.5 * TIE_SCALE, so torch's symmetric qint8 scale is
    exactly TIE_SCALE and every odd k/2 value is a rounding tie."""
    x = make_tensor("ties", 10_000, seed)
    s, z = observe(MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric), x)
    assert s[0] == np.float32(TIE_SCALE)
    p = ql.choose_qparams(x, bits=8, symmetric=True, signed=True, convention="pytorch")
    np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), torch_codes(x, s[0], z[0], torch.qint8).astype(np.int64))


def test_quantize_reciprocal_multiply_known_case():
    """torch multiplies by fl32(1/s): x=0.273939937, s=0.00214854861 gives 128 (division gives
    127). quint8 is used because 128 does not fit qint8 (which clamps it to 127)."""
    x = np.array([0.273939937], dtype=np.float32)
    s = np.float32(0.00214854861)
    expected = torch_codes(x, s, 0, torch.quint8)
    assert int(expected[0]) == 128
    assert int(np.rint(x[0] / s)) == 127  # what a division would give
    p = ql.QuantParams(scale=s, zero_point=0, qmin=0, qmax=255, convention="pytorch")
    assert int(ql.quantize(x, p)[0]) == 128
    fq = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), 0, 0, 255).numpy()
    assert fq[0] == np.float32(128) * s
    np.testing.assert_array_equal(ql.fake_quantize(x, p), fq)


@pytest.mark.parametrize("seed", range(3))
def test_zero_point_added_before_rounding(seed):
    """Values within float32 noise of a half-integer grid point, non-zero zero-points: torch's
    quantize_per_tensor rounds fma(x, 1/s, z) (FBGEMM AVX2), quantize_per_channel rounds
    fl32(fl32(x/s') + z), fake_quantize rounds x/s' and adds z after. Each is checked."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        s = np.float32(10.0 ** rng.uniform(-4, 2))
        k = rng.integers(-140, 140, 256)
        x = ((k + 0.5 + rng.normal(0.0, 1e-6, k.size)) * np.float64(s)).astype(np.float32)
        for dtype, (qmin, qmax) in ((torch.quint8, (0, 255)), (torch.qint8, (-128, 127))):
            zp = int(rng.integers(qmin, qmax + 1))
            p = ql.QuantParams(scale=s, zero_point=zp, qmin=qmin, qmax=qmax, convention="pytorch")
            np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), torch_codes(x, s, zp, dtype).astype(np.int64))
            pc = ql.QuantParams(scale=[s], zero_point=[zp], qmin=qmin, qmax=qmax, axis=0, convention="pytorch")
            qc = torch.quantize_per_channel(torch.from_numpy(x[None]), torch.tensor([float(s)], dtype=torch.float64), torch.tensor([zp]), 0, dtype)
            np.testing.assert_array_equal(ql.quantize(x[None], pc).astype(np.int64), qc.int_repr().numpy().astype(np.int64))
            fq = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), zp, qmin, qmax)
            np.testing.assert_array_equal(ql.fake_quantize(x, p), fq.numpy())


@pytest.mark.parametrize("seed", range(4))
def test_quantize_random_scales_and_zero_points(seed):
    """Arbitrary float32 scales (many decades) and zero-points, values well past the range."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        s = np.float32(10.0 ** rng.uniform(-6, 4))
        x = (rng.standard_normal(2000) * s * rng.uniform(10, 400)).astype(np.float32)
        for dtype, (qmin, qmax) in ((torch.quint8, (0, 255)), (torch.qint8, (-128, 127))):
            zp = int(rng.integers(qmin, qmax + 1))
            p = ql.QuantParams(scale=s, zero_point=zp, qmin=qmin, qmax=qmax, convention="pytorch")
            np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), torch_codes(x, s, zp, dtype).astype(np.int64))


@scheme
@pytest.mark.parametrize("ch_axis", [0, 1])
@pytest.mark.parametrize("kind,n,seed,scale", cases(REGULAR_KINDS, sizes=(24 * 80,), seeds=(0, 1)))
def test_quantize_per_channel_codes(scheme, ch_axis, kind, n, seed, scale):
    dtype, _, _, symmetric, signed = SCHEMES[scheme]
    w = make_tensor(kind, n, seed, scale).reshape(24, 80)
    p = ql.choose_qparams(w[:, :60] if ch_axis == 0 else w[:18], axis=ch_axis, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    p = ql.QuantParams(p.scale, p.zero_point, p.qmin, p.qmax, axis=ch_axis, convention="pytorch")
    q = torch.quantize_per_channel(
        torch.from_numpy(w), torch.from_numpy(np.asarray(p.scale, dtype=np.float64)), torch.from_numpy(np.asarray(p.zero_point)), ch_axis, dtype
    )
    np.testing.assert_array_equal(ql.quantize(w, p).astype(np.int64), q.int_repr().numpy().astype(np.int64))
    # dequantize the torch codes both ways
    np.testing.assert_array_equal(ql.dequantize(q.int_repr().numpy(), p), q.dequantize().numpy())


# ---------------------------------------------------------------------- fake quantize
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("symmetric,signed", [(False, False), (False, True), (True, True), (True, False)], ids=["asym-u", "asym-s", "sym-s", "sym-u"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(("normal", "laplace", "relu", "outliers", "bimodal", "ties", "tiny", "all_zero"), sizes=(5000,)))
def test_fake_quantize_per_tensor(bits, symmetric, signed, kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    p = ql.choose_qparams(x[: n // 2], bits=bits, symmetric=symmetric, signed=signed, convention="pytorch")
    expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(p.scale), int(p.zero_point), p.qmin, p.qmax)
    np.testing.assert_array_equal(ql.fake_quantize(x, p), expected.numpy())


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("step", [TIE_SCALE, 2.0**-12])
def test_fake_quantize_ties(bits, step):
    x = ((np.arange(-200, 200) + 0.5) * step).astype(np.float32)
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    for zp in (qmin, 0, qmax):
        p = ql.QuantParams(scale=step, zero_point=zp, qmin=qmin, qmax=qmax, convention="pytorch")
        expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), step, zp, qmin, qmax)
        np.testing.assert_array_equal(ql.fake_quantize(x, p), expected.numpy())


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric,signed", [(False, False), (True, True)], ids=["asym-u", "sym-s"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(("normal", "outliers", "lognormal", "ties"), sizes=(16 * 64,), seeds=(0, 1)))
def test_fake_quantize_per_channel(bits, symmetric, signed, kind, n, seed, scale):
    w = make_tensor(kind, n, seed, scale).reshape(16, 64)
    p = ql.choose_qparams(w[:, :40], axis=0, bits=bits, symmetric=symmetric, signed=signed, convention="pytorch")
    p = ql.QuantParams(p.scale, p.zero_point, p.qmin, p.qmax, axis=0, convention="pytorch")
    expected = torch.fake_quantize_per_channel_affine(
        torch.from_numpy(w), torch.from_numpy(np.asarray(p.scale, dtype=np.float32)),
        torch.from_numpy(np.asarray(p.zero_point, dtype=np.int32)), 0, p.qmin, p.qmax,
    )
    np.testing.assert_array_equal(ql.fake_quantize(w, p), expected.numpy())


# ------------------------------------------------------------------------- dequantize
@scheme
@pytest.mark.parametrize("kind,n,seed,scale", cases(KINDS, sizes=(4000,)))
def test_dequantize_per_tensor(scheme, kind, n, seed, scale):
    dtype, _, _, symmetric, signed = SCHEMES[scheme]
    x = make_tensor(kind, n, seed, scale)
    p = ql.choose_qparams(x, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    q = torch.quantize_per_tensor(torch.from_numpy(x), float(p.scale), int(p.zero_point), dtype)
    np.testing.assert_array_equal(ql.dequantize(q.int_repr().numpy(), p), q.dequantize().numpy())


# ------------------------------------------------------------------ HistogramObserver
HIST_SCHEMES = ["quint8-affine", "qint8-symmetric", "qint8-affine"]


HIST_CASES = (
    cases(("normal", "laplace", "uniform", "relu", "outliers", "bimodal", "lognormal", "ties", "constant", "all_zero"), sizes=(100, 3000, 60_000), seeds=(0,))
    + cases(("normal", "laplace", "outliers", "bimodal"), sizes=(1000, 200_000), seeds=(1,), scales=(3e-3,))
)


@pytest.mark.parametrize(
    "scheme,kind,n,seed,scale",
    [pytest.param(sch, *c.values, id=f"{c.id}-{sch}") for sch in HIST_SCHEMES for c in HIST_CASES]
    # 1e-30 / 1e30 magnitudes make torch's float32 L2 norms 0 / inf and its Python search
    # walk ~1e5 steps (~1 s), so one scheme each
    + [pytest.param("quint8-affine", *c.values, id=f"{c.id}-quint8-affine", marks=pytest.mark.slow) for c in cases(("tiny",), sizes=(500,))]
    + [pytest.param("qint8-symmetric", *c.values, id=f"{c.id}-qint8-symmetric", marks=pytest.mark.slow) for c in cases(("huge",), sizes=(500,))],
)
def test_histogram_observer_qparams(scheme, kind, n, seed, scale):
    dtype, qscheme, _, symmetric, signed = SCHEMES[scheme]
    x = make_tensor(kind, n, seed, scale)
    s, z = observe(HistogramObserver(dtype=dtype, qscheme=qscheme), x)
    lo, hi = ql.calibrate(x, "l2_histogram", bits=8, convention="pytorch")
    p = ql.qparams_from_range(lo, hi, bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    assert_params_equal(p, s, z)
    p2 = ql.choose_qparams(x, calibration="l2_histogram", bits=8, symmetric=symmetric, signed=signed, convention="pytorch")
    assert_params_equal(p2, s, z)
