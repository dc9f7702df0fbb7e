"""Every bad input gets a ValueError/TypeError whose message says what was wrong and what is allowed."""

import numpy as np
import pytest

import quantlib as ql

GOOD = np.linspace(-1, 1, 64, dtype=np.float32)


@pytest.mark.parametrize(
    "x, exc, message",
    [
        (np.array([1.0, np.nan], np.float32), ValueError, r"1 non-finite value\(s\) \(1 NaN"),
        (np.array([1.0, np.inf, -np.inf]), ValueError, r"2 non-finite value\(s\) \(0 NaN, 2 ±Inf\)"),
        (np.array([], np.float32), ValueError, "is empty"),
        (np.float32(3.0), ValueError, "0-d scalar"),
        (np.array(["a", "b"]), TypeError, "must hold real numbers"),
        (np.array([1 + 2j]), TypeError, "complex dtype"),
        (np.array([object()], dtype=object), TypeError, "must hold real numbers"),
        (np.array([1e300]), ValueError, "beyond float32's range"),
        ([[1, 2], [3]], TypeError, "must be a numeric array"),
    ],
    ids=["nan", "inf", "empty", "0-d", "strings", "complex", "object", "float64-overflow", "ragged"],
)
def test_bad_tensors(x, exc, message):
    with pytest.raises(exc, match=message):
        ql.choose_qparams(x)
    with pytest.raises(exc, match=message):
        ql.Quantizer("symmetric")(x)


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(bits=0), ValueError, r"bits must be in \[1, 16\], got 0"),
        (dict(bits=1), ValueError, r"bits=1: a 1-bit grid cannot be symmetric: a 1-bit signed grid is \{-1, 0\}"),
        (dict(bits=1, symmetric=True, signed=False), ValueError, r"bits=1: a 1-bit grid cannot be symmetric"),
        (dict(bits=1, symmetric=False, narrow_range=True), ValueError,
         r"narrow_range at bits=1 would leave a single code \(1 bit has two: \[0, 1\]\); narrow_range needs bits >= 2"),
        (dict(bits=17), ValueError, r"bits must be in \[1, 16\], got 17"),
        (dict(bits=8.5), TypeError, "bits must be an integer"),
        (dict(bits=True), TypeError, "bits must be an integer"),
        (dict(calibration="kl"), ValueError, "unknown calibration method 'kl'; choose one of"),
        (dict(convention="tflite"), ValueError, "unknown convention 'tflite'"),
        (dict(calibration="entropy", num_bins=1), ValueError, r"num_bins must be in \[2, 1048576\], got 1"),
        (dict(calibration="entropy", num_bins=2**21), ValueError, r"num_bins must be in \[2, 1048576\]"),
        (dict(calibration="percentile", percentile=0), ValueError, r"percentile must be in \(0, 100\]"),
        (dict(calibration="percentile", percentile=100.5), ValueError, r"percentile must be in \(0, 100\]"),
        (dict(axis=3), ValueError, "axis 3 is out of range"),
        (dict(bogus=1), TypeError, "unknown calibration option"),
    ],
    ids=["bits-0", "bits-1-symmetric", "bits-1-symmetric-unsigned", "bits-1-narrow", "bits-17", "bits-float", "bits-bool", "method", "convention", "bins-1", "bins-huge",
         "pct-0", "pct-over", "axis", "unknown-option"],
)
def test_bad_settings(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        ql.choose_qparams(GOOD.reshape(8, 8), **kwargs)


def test_bad_rounding_and_overflow_names():
    p = ql.choose_qparams(GOOD)
    with pytest.raises(ValueError, match="unknown rounding 'up'; choose one of"):
        ql.quantize(GOOD, p, rounding="up")
    with pytest.raises(ValueError, match="unknown overflow 'clip'"):
        ql.quantize(GOOD, p, overflow="clip")


def test_unknown_scheme_and_setting():
    with pytest.raises(ValueError, match="unknown scheme 'int3'; choose one of"):
        ql.Quantizer("int3")
    with pytest.raises(ValueError, match=r"has no setting\(s\) \['bins'\]"):
        ql.Quantizer("histogram", bins=3)
    with pytest.raises(ValueError, match="out of range"):
        ql.Quantizer("histogram", num_bins=1)


def test_histogram_based_methods_are_per_tensor_only():
    with pytest.raises(ValueError, match="per-tensor only"):
        ql.calibrate(GOOD.reshape(8, 8), "entropy", axis=0)


def test_no_warnings_on_bad_input(recwarn):
    with pytest.raises(ValueError):
        ql.choose_qparams(np.array([np.nan] * 1000, np.float32))
    assert len(recwarn) == 0
