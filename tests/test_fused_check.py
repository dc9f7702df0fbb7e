"""quantize / fake_quantize of a large float32 tensor check the input for NaN / ±Inf inside the
kernel's own pass (quantlib._kernels counts them, the caller raises after): the same message as
the separate check of the numpy path, the same codes as torch when the data is finite."""

import numpy as np
import pytest

import quantlib as ql
from quantlib import _checks, _kernels

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba not installed")

N = 2**16 + 5  # past _kernels.MIN_SIZE: the fused kernels run


def _poisoned(n_nan: int, n_inf: int) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(N).astype(np.float32)
    x[np.arange(n_nan) * 997 + 3] = np.nan
    x[N - 1 - np.arange(n_inf) * 1009] = np.inf * np.where(np.arange(n_inf) % 2, -1, 1)
    return x


def _message(x: np.ndarray) -> str:
    with pytest.raises(ValueError) as info:
        _checks.check_finite(x)
    return str(info.value)


PARAMS = {  # one per kernel: divide, multiply, fma (reciprocal with zero-point), amax
    "divide": ql.QuantParams(scale=0.02, zero_point=0, qmin=-128, qmax=127),
    "multiply": ql.QuantParams(scale=0.02, zero_point=0, qmin=-128, qmax=127, convention="onnxruntime"),
    "fma": ql.QuantParams(scale=0.02, zero_point=128, qmin=0, qmax=255, convention="pytorch"),
    "amax": ql.qparams_from_range(-4.0, 4.0, bits=8, symmetric=True, convention="tensorrt"),
}


@pytest.mark.parametrize("kernel", sorted(PARAMS))
@pytest.mark.parametrize("n_nan, n_inf", [(1, 0), (0, 1), (3, 4)], ids=["nan", "inf", "both"])
@pytest.mark.parametrize("op", ["quantize", "fake_quantize"])
def test_kernel_pass_raises_the_separate_checks_message(kernel, n_nan, n_inf, op):
    x = _poisoned(n_nan, n_inf)
    assert _kernels.usable(x)
    want = _message(x)
    assert f"{n_nan + n_inf} non-finite value(s) ({n_nan} NaN, {n_inf} ±Inf) out of {N}" in want
    with pytest.raises(ValueError) as info:
        getattr(ql, op)(x, PARAMS[kernel])
    assert str(info.value) == want


@pytest.mark.parametrize("op", ["quantize", "fake_quantize"])
def test_numpy_path_still_checks(op, monkeypatch):
    x = _poisoned(2, 1)
    want = _message(x)
    monkeypatch.setattr(_kernels, "AVAILABLE", False)
    assert not _kernels.usable(x)
    with pytest.raises(ValueError) as info:
        getattr(ql, op)(x, PARAMS["divide"])
    assert str(info.value) == want


def test_unfused_options_on_a_large_tensor_still_check():
    """half_away rounding and per-channel params take the numpy path: checked before it."""
    x = _poisoned(1, 1)
    with pytest.raises(ValueError, match=r"2 non-finite value\(s\) \(1 NaN, 1 ±Inf\)"):
        ql.quantize(x, PARAMS["divide"], rounding="half_away")
    per_row = ql.QuantParams(scale=np.full(4, 0.02), zero_point=np.zeros(4, np.int64), qmin=-128, qmax=127, axis=0)
    rows = _poisoned(1, 1)[: 4 * (N // 4)].reshape(4, -1).copy()
    rows[-1, -1] = -np.inf
    assert _kernels.usable(rows)
    with pytest.raises(ValueError, match=r"2 non-finite value\(s\) \(1 NaN, 1 ±Inf\)"):
        ql.quantize(rows, per_row)


def test_float64_input_is_checked_before_its_conversion():
    x = _poisoned(0, 1).astype(np.float64)
    with pytest.raises(ValueError, match=r"1 non-finite value\(s\) \(0 NaN, 1 ±Inf\)"):
        ql.quantize(x, PARAMS["divide"])


def test_fused_codes_match_torch_quantize_per_tensor():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal(2**18).astype(np.float32)
    x[::7] = np.round(x[::7] * 50) / 50 * 0.5  # many exact ties
    p = ql.choose_qparams(x, symmetric=False, convention="pytorch")
    assert _kernels.usable(x) and p.zero_point != 0
    ref = torch.quantize_per_tensor(torch.from_numpy(x), p.scale, p.zero_point, torch.quint8).int_repr().numpy()
    np.testing.assert_array_equal(ql.quantize(x, p), ref)
