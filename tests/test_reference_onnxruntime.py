"""quantlib ``convention="onnxruntime"`` against onnxruntime, side by side, bit for bit.

Expected values come from onnxruntime only: ``quant_utils.compute_scale_zp`` /
``quantize_data`` for qparams and weight codes, the CPU execution provider's
QuantizeLinear / DequantizeLinear / ReduceMin / ReduceMax kernels (tiny in-memory ONNX
models), and ``calibrate.HistogramCollector`` for the percentile and entropy calibrators.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization.calibrate import HistogramCollector  # noqa: E402
from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType, quantize_data  # noqa: E402

import quantlib as ql  # noqa: E402
from conftest import KINDS, REGULAR_KINDS, TIE_SCALE, cases, make_tensor  # noqa: E402

QTYPES = {
    # id: (ONNX type, bits, signed, numpy dtype)
    "int8": (TensorProto.INT8, 8, True, np.int8),
    "uint8": (TensorProto.UINT8, 8, False, np.uint8),
    "int16": (TensorProto.INT16, 16, True, np.int16),
    "uint16": (TensorProto.UINT16, 16, False, np.uint16),
    "int4": (TensorProto.INT4, 4, True, np.int8),
    "uint4": (TensorProto.UINT4, 4, False, np.uint8),
}
QTYPES8 = ["int8", "uint8"]


def ort_scale_zp(lo, hi, qtype: int, symmetric: bool) -> tuple[np.float32, int, int, int]:
    """onnxruntime's compute_scale_zp on a float32 range -> (scale, zp, qmin, qmax)."""
    qmin, qmax = get_qmin_qmax_for_qType(qtype, symmetric=symmetric)
    zp, scale = compute_scale_zp(np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32), qmin, qmax, symmetric)
    return np.float32(scale), int(zp), int(qmin), int(qmax)


def quiet(fn, *args, **kwargs):
    """Call an onnxruntime calibration function without its progress prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


# ------------------------------------------------------------------------------ qparams
@pytest.mark.parametrize("qtype", QTYPES8 + ["int16", "uint16"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asym", "sym"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(KINDS, sizes=(1000,), seeds=(0, 1)) + cases(REGULAR_KINDS, sizes=(50_000,), seeds=(2,), scales=(1e-4, 300.0)))
def test_compute_scale_zp(qtype, symmetric, kind, n, seed, scale):
    onnx_type, bits, signed, _ = QTYPES[qtype]
    x = make_tensor(kind, n, seed, scale)
    s, z, qmin, qmax = ort_scale_zp(x.min(), x.max(), onnx_type, symmetric)
    p = ql.qparams_from_range(x.min(), x.max(), bits=bits, symmetric=symmetric, signed=signed, convention="onnxruntime")
    # the scale comes from ORT's (possibly narrow) range; codes saturate at the type's ends, as QuantizeLinear does
    assert p.qmax == qmax and p.qmin == ql.qrange(bits, signed)[0]
    assert np.float32(p.scale) == s
    assert p.zero_point == z


@pytest.mark.parametrize("qtype", QTYPES8)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asym", "sym"])
@pytest.mark.parametrize("seed", range(4))
def test_compute_scale_zp_random_ranges(qtype, symmetric, seed):
    """Arbitrary [lo, hi] over many decades, including ranges that do not contain 0."""
    onnx_type, bits, signed, _ = QTYPES[qtype]
    rng = np.random.default_rng(seed)
    for _ in range(300):
        a, b = np.sort(rng.standard_normal(2) * 10.0 ** rng.uniform(-6, 6, 2)).astype(np.float32)
        if rng.random() < 0.2:
            a = np.float32(0.0)
        lo, hi = min(a, b), max(a, b)
        s, z, qmin, qmax = ort_scale_zp(lo, hi, onnx_type, symmetric)
        p = ql.qparams_from_range(lo, hi, bits=bits, symmetric=symmetric, signed=signed, convention="onnxruntime")
        assert (np.float32(p.scale), p.zero_point, p.qmax) == (s, z, qmax), (lo, hi)
        assert p.qmin == ql.qrange(bits, signed)[0]


def test_unit_range_uint8_zero_point_is_128():
    """[-1, 1] uint8 asymmetric: onnxruntime's zp = round(0 - (-1) / (2/255)) = round(127.5) = 128
    (pytorch computes 0 - round(-127.5) = 127 — the documented difference)."""
    s, z, _, _ = ort_scale_zp(-1.0, 1.0, TensorProto.UINT8, False)
    assert z == 128
    p = ql.qparams_from_range(-1.0, 1.0, bits=8, symmetric=False, signed=False, convention="onnxruntime")
    assert (np.float32(p.scale), p.zero_point) == (s, 128)
    torch_like = ql.qparams_from_range(-1.0, 1.0, bits=8, symmetric=False, signed=False, convention="pytorch")
    assert torch_like.zero_point == 127


@pytest.mark.parametrize("qtype", list(QTYPES))
@pytest.mark.parametrize("symmetric", [False, True], ids=["asym", "sym"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(REGULAR_KINDS + ("tiny", "huge", "constant", "all_zero"), sizes=(3000,)))
def test_quantize_data_end_to_end(qtype, symmetric, kind, n, seed, scale):
    """onnxruntime's weight quantizer ``quantize_data`` (min/max -> compute_scale_zp ->
    quantize_nparray) against choose_qparams + quantize, for 4, 8 and 16 bits."""
    onnx_type, bits, signed, _ = QTYPES[qtype]
    x = make_tensor(kind, n, seed, scale)
    zp, s, q = quantize_data(x, onnx_type, symmetric)
    p = ql.choose_qparams(x, bits=bits, symmetric=symmetric, signed=signed, convention="onnxruntime")
    assert np.float32(p.scale) == np.float32(s)
    assert p.zero_point == int(zp)
    np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), np.asarray(q).astype(np.int64))


# ------------------------------------------------------------- QuantizeLinear kernels
def run_model(nodes, inputs: dict, initializers: list, out_name: str, out_type: int, opset: int = 21):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for k, v in inputs.items()],
        [helper.make_tensor_value_info(out_name, out_type, None)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)[0]


def ort_quantize_linear(x: np.ndarray, scale, zp, np_dtype, axis: int | None = None, opset: int = 21) -> np.ndarray:
    onnx_type = helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype))
    inits = [
        numpy_helper.from_array(np.asarray(scale, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.asarray(zp, dtype=np_dtype), "zp"),
    ]
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["y"], **attrs)
    return run_model([node], {"x": x}, inits, "y", onnx_type, opset)


def ort_dequantize_linear(q: np.ndarray, scale, zp, axis: int | None = None) -> np.ndarray:
    inits = [
        numpy_helper.from_array(np.asarray(scale, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.asarray(zp, dtype=q.dtype), "zp"),
    ]
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], **attrs)
    return run_model([node], {"q": q}, inits, "y", TensorProto.FLOAT)


@pytest.mark.parametrize("qtype", QTYPES8 + ["int16", "uint16"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asym", "sym"])
@pytest.mark.parametrize(
    "kind,n,seed,scale",
    cases(KINDS, sizes=(100, 20_000)) + cases(REGULAR_KINDS, sizes=(200_000,), seeds=(5,), scales=(0.37,)),
)
def test_quantize_linear_kernel(qtype, symmetric, kind, n, seed, scale):
    """QuantizeLinear (MLAS): saturate(round_half_even(x / s) + z) on the type's full range.
    The params are fitted on the central 80 % of x, so the tails saturate; narrow-range
    symmetric params are widened to the type's full range, as the kernel clamps there."""
    _, bits, signed, np_dtype = QTYPES[qtype]
    x = make_tensor(kind, n, seed, scale)
    fit = np.sort(x)[n // 10 : n - n // 10]
    p = ql.choose_qparams(fit, bits=bits, symmetric=symmetric, signed=signed, convention="onnxruntime")
    info = np.iinfo(np_dtype)
    p = ql.QuantParams(p.scale, p.zero_point, int(info.min), int(info.max), convention="onnxruntime")
    expected = ort_quantize_linear(x, p.scale, p.zero_point, np_dtype)
    np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), expected.astype(np.int64))
    # DequantizeLinear of the kernel's codes
    np.testing.assert_array_equal(ql.dequantize(expected, p), ort_dequantize_linear(expected, p.scale, p.zero_point))


@pytest.mark.parametrize("qtype", QTYPES8)
@pytest.mark.parametrize("step", [TIE_SCALE, 2.0**-9, 4.0])
def test_quantize_linear_ties(qtype, step):
    """x = (k + 1/2) * step: exact ties, rounded half to even by the kernel."""
    _, _, signed, np_dtype = QTYPES[qtype]
    x = ((np.arange(-300, 300) + 0.5) * step).astype(np.float32)
    info = np.iinfo(np_dtype)
    for zp in (0, 1, 37) if signed else (0, 128, 201):
        p = ql.QuantParams(scale=step, zero_point=zp, qmin=int(info.min), qmax=int(info.max), convention="onnxruntime")
        np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), ort_quantize_linear(x, step, zp, np_dtype).astype(np.int64))


@pytest.mark.parametrize("seed", range(4))
def test_quantize_linear_division_known_case(seed):
    """ONNX Runtime divides: x=0.273939937, s=0.00214854861 gives 127 (a reciprocal multiply
    gives 128). Plus random values near half-integers of random scales."""
    x = np.array([0.273939937], dtype=np.float32)
    s = np.float32(0.00214854861)
    p = ql.QuantParams(scale=s, zero_point=0, qmin=0, qmax=255, convention="onnxruntime")
    assert int(ort_quantize_linear(x, s, 0, np.uint8)[0]) == 127
    assert int(ql.quantize(x, p)[0]) == 127
    rng = np.random.default_rng(seed)
    for _ in range(30):
        s = np.float32(10.0 ** rng.uniform(-5, 3))
        k = rng.integers(-120, 120, 512)
        x = ((k + 0.5 + rng.normal(0, 1e-6, k.size)) * np.float64(s)).astype(np.float32)
        zp = int(rng.integers(-128, 128))
        p = ql.QuantParams(scale=s, zero_point=zp, qmin=-128, qmax=127, convention="onnxruntime")
        np.testing.assert_array_equal(ql.quantize(x, p).astype(np.int64), ort_quantize_linear(x, s, zp, np.int8).astype(np.int64))


@pytest.mark.parametrize("qtype", QTYPES8)
@pytest.mark.parametrize("symmetric", [False, True], ids=["asym", "sym"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("kind,n,seed,scale", cases(REGULAR_KINDS, sizes=(24 * 72,), seeds=(0, 1)))
def test_quantize_linear_per_channel(qtype, symmetric, axis, kind, n, seed, scale):
    _, bits, signed, np_dtype = QTYPES[qtype]
    w = make_tensor(kind, n, seed, scale).reshape(24, 72)
    p = ql.choose_qparams(w, axis=axis, bits=bits, symmetric=symmetric, signed=signed, convention="onnxruntime")
    # per-channel qparams must equal compute_scale_zp channel by channel
    for c in range(w.shape[axis]):
        row = np.take(w, c, axis=axis)
        onnx_type = QTYPES[qtype][0]
        s, z, qmin, qmax = ort_scale_zp(row.min(), row.max(), onnx_type, symmetric)
        assert (np.float32(p.scale[c]), int(p.zero_point[c]), p.qmax) == (s, z, qmax)
        assert p.qmin == ql.qrange(bits, signed)[0]
    info = np.iinfo(np_dtype)
    p = ql.QuantParams(p.scale, p.zero_point, int(info.min), int(info.max), axis=axis, convention="onnxruntime")
    expected = ort_quantize_linear(w, p.scale, p.zero_point, np_dtype, axis=axis)
    np.testing.assert_array_equal(ql.quantize(w, p).astype(np.int64), expected.astype(np.int64))
    np.testing.assert_array_equal(ql.dequantize(expected, p), ort_dequantize_linear(expected, p.scale, p.zero_point, axis=axis))


# ------------------------------------------------------------------------ calibrators
def ort_minmax(x: np.ndarray) -> tuple[np.float32, np.float32]:
    """The ReduceMin / ReduceMax nodes MinMaxCalibrater inserts, run by the CPU provider.
    (MinMaxCalibrater itself needs model files on disk; its range is exactly these two
    reductions, merged with min/max across batches.)"""
    nodes = [
        helper.make_node("ReduceMin", ["x"], ["mn"], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
        helper.make_node("Reshape", ["mn", "shape"], ["mn1"]),
        helper.make_node("Reshape", ["mx", "shape"], ["mx1"]),
        helper.make_node("Concat", ["mn1", "mx1"], ["y"], axis=0),
    ]
    y = run_model(nodes, {"x": x}, [numpy_helper.from_array(np.array([1], dtype=np.int64), "shape")], "y", TensorProto.FLOAT, opset=17)
    return np.float32(y[0]), np.float32(y[1])


@pytest.mark.parametrize("kind,n,seed,scale", cases(KINDS, sizes=(100, 100_000)))
def test_minmax_calibration(kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    lo, hi = ort_minmax(x)
    qlo, qhi = ql.calibrate(x, "minmax", convention="onnxruntime")
    assert (np.float32(qlo), np.float32(qhi)) == (lo, hi)


def ort_histogram_range(x, method, symmetric, num_bins, num_quantized_bins=128, percentile=99.999):
    c = HistogramCollector(method, symmetric, num_bins, num_quantized_bins, percentile, scenario="same")
    quiet(c.collect, {"x": x})
    lo, hi = quiet(c.compute_collection_result)["x"][:2]
    return np.float32(lo), np.float32(hi)


@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("num_bins,percentile", [(2048, 99.999), (2048, 99.9), (512, 99.99), (128, 99.0), (4096, 100.0)], ids=["default", "b2048-p99.9", "b512-p99.99", "b128-p99", "b4096-p100"])
@pytest.mark.parametrize(
    "kind,n,seed,scale",
    cases(KINDS, sizes=(1000,)) + cases(REGULAR_KINDS, sizes=(100, 200_000), seeds=(1,)) + cases(("normal", "outliers", "lognormal"), sizes=(30_000,), seeds=(2, 3), scales=(1e-3, 50.0)),
)
def test_percentile_calibration(symmetric, num_bins, percentile, kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    expected = ort_histogram_range(x, "percentile", symmetric, num_bins, percentile=percentile)
    lo, hi = ql.calibrate(x, "percentile", symmetric=symmetric, num_bins=num_bins, percentile=percentile, convention="onnxruntime")
    assert (np.float32(lo), np.float32(hi)) == expected


def test_percentile_defaults():
    """ORT's percentile defaults (2048 bins, 99.999) are quantlib's onnxruntime defaults."""
    x = make_tensor("laplace", 100_000, 7)
    assert ql.calibrate(x, "percentile", convention="onnxruntime") == ort_histogram_range(x, "percentile", True, 2048, percentile=99.999)


ENTROPY_BINS = {
    "default-b128": (128, 128),
    "b256": (256, 128),
    "b512": (512, 128),
    "b512-q64": (512, 64),
}
ENTROPY_CASES = (
    cases(("normal", "laplace", "uniform", "relu", "outliers", "bimodal", "lognormal", "ties"), sizes=(3000,))
    + cases(("normal", "laplace", "outliers"), sizes=(100, 100_000), seeds=(1,), scales=(2e-3,))
    + cases(("tiny", "huge", "constant", "all_zero"), sizes=(500,))
)
# bigger / odd bin counts: ORT's O(bins^2) Python search takes 0.2-0.5 s each, so fewer cases
ENTROPY_BIG = (
    [pytest.param(1024, 128, *c.values, id=f"{c.id}-b1024") for c in cases(("normal", "outliers", "ties"), sizes=(3000,)) + cases(("laplace",), sizes=(100_000,), seeds=(1,), scales=(2e-3,))]
    + [pytest.param(1001, 99, *c.values, id=f"{c.id}-b1001-q99") for c in cases(("normal", "bimodal", "outliers", "tiny"), sizes=(3000,))]
    + [pytest.param(2048, 128, *c.values, id=f"{c.id}-b2048") for c in cases(("normal", "outliers"), sizes=(5000,), seeds=(4,))]
)


@pytest.mark.parametrize(
    "num_bins,nq,kind,n,seed,scale",
    [
        pytest.param(*bins, *c.values, id=f"{c.id}-{bid}")
        for bid, bins in ENTROPY_BINS.items()
        for c in ENTROPY_CASES
        if bid != "b512-q64" or c.values[0] in ("normal", "relu", "outliers", "ties", "all_zero")
    ]
    + ENTROPY_BIG,
)
def test_entropy_calibration(num_bins, nq, kind, n, seed, scale):
    """Exact: the KL search picks onnxruntime's candidate even where float32 rounding of
    its KL values decides between near-equal candidates."""
    x = make_tensor(kind, n, seed, scale)
    expected = ort_histogram_range(x, "entropy", True, num_bins, num_quantized_bins=nq)
    lo, hi = ql.calibrate(x, "entropy", num_bins=num_bins, num_quantized_bins=nq, convention="onnxruntime")
    assert (np.float32(lo), np.float32(hi)) == expected


def test_entropy_no_finite_candidate():
    """Documented divergence. A constant tensor with an odd bin count puts all its mass in
    the remainder bins onnxruntime never expands, so every candidate's q is all zeros and
    every KL is inf; np.argmin then picks the first candidate and the clipped result has
    lo > hi. quantlib returns the full range [min, max] instead."""
    x = make_tensor("constant", 500, 0)
    lo_ort, hi_ort = ort_histogram_range(x, "entropy", True, 1001, num_quantized_bins=99)
    assert lo_ort > hi_ort  # onnxruntime's degenerate answer
    assert ql.calibrate(x, "entropy", num_bins=1001, num_quantized_bins=99, convention="onnxruntime") == (x.min(), x.max())


def test_entropy_defaults():
    """ORT's entropy defaults (128 bins, 128 quantized bins) are quantlib's onnxruntime defaults."""
    x = make_tensor("normal", 20_000, 3)
    assert ql.calibrate(x, "entropy", convention="onnxruntime") == ort_histogram_range(x, "entropy", True, 128, 128)


@pytest.mark.parametrize("signed", [True, False], ids=["int8", "uint8"])
def test_clipped_values_saturate_like_quantize_data(signed):
    """Symmetric int8: the scale comes from [-127, 127] but QuantizeLinear saturates at -128."""
    x = np.array([-2.0, -1.0, 0.5, 1.0, 2.0, -1.004, 1.3], np.float32)
    qtype = TensorProto.INT8 if signed else TensorProto.UINT8
    zp, scale, q = quantize_data(x, qtype, True, rmin_override=np.array(-1.0, np.float32),
                                 rmax_override=np.array(1.0, np.float32))
    p = ql.qparams_from_range(-1.0, 1.0, bits=8, symmetric=True, signed=signed, convention="onnxruntime")
    assert (np.float32(p.scale), p.zero_point) == (np.float32(scale), int(zp))
    np.testing.assert_array_equal(ql.quantize(x, p), q)
